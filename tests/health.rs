//! Health monitoring end to end: the real `geosteer serve` binary probing real listeners on
//! loopback, queried over UDP.
//!
//! Every origin is a distinct 127.0.0.0/8 address with a fixed high port per test (probes
//! cannot use port 0). States are awaited by polling with a deadline, never by fixed sleeps;
//! the only timing assertion is the failover-time bound.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

mod common;

use common::TcpOrigin;

const ZONE: &str = "$ORIGIN example.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@ IN NS ns1
ns1 IN A 127.0.0.53
";

/// How long any one state change may take to show in answers.
const DEADLINE: Duration = Duration::from_secs(20);

// ------------------------------------------------------------------------------------------
// The server under test.

struct Server {
    child: Child,
    dns: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    dir: PathBuf,
}

impl Server {
    fn start(name: &str, steering: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("geosteer-health-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("example.test.zone"), ZONE).unwrap();
        std::fs::write(dir.join("example.test.toml"), steering).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_geosteer"))
            .arg("serve")
            .arg("--zones")
            .arg(&dir)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--geoip")
            .arg(dir.join("no-database-needed.mmdb"))
            .arg("--udp-sockets")
            .arg("1")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    if let Ok(a) = addr.parse::<SocketAddr>() {
                        let _ = tx.send(a);
                    }
                }
                lines.lock().unwrap().push(line);
            }
        });
        let dns = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start:\n{}", log.lock().unwrap().join("\n"));
            }
        };
        Self {
            child,
            dns,
            log,
            dir,
        }
    }

    /// The A records answered for `name`, as a set.
    fn a(&self, name: &str) -> BTreeSet<Ipv4Addr> {
        common::a_records(self.dns, name).unwrap_or_else(|| panic!("no answer from {}", self.dns))
    }

    /// Polls until `name` is answered with exactly `want`; returns how long that took.
    fn await_answer(&self, name: &str, want: &[&str], what: &str) -> Duration {
        let want: BTreeSet<Ipv4Addr> = want.iter().map(|a| a.parse().unwrap()).collect();
        let start = Instant::now();
        let mut last = BTreeSet::new();
        while start.elapsed() < DEADLINE {
            last = self.a(name);
            if last == want {
                return start.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{what}: wanted {want:?}, still {last:?} after {DEADLINE:?}; server log:\n{}",
            self.log()
        );
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Whether some log line contains all of `parts`.
    fn logged(&self, parts: &[&str]) -> bool {
        self.log
            .lock()
            .unwrap()
            .iter()
            .any(|l| parts.iter().all(|p| l.contains(p)))
    }

    fn assert_logged(&self, parts: &[&str]) {
        // The log line is written before the answer changes, but read by another thread.
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if self.logged(parts) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no log line with {parts:?}:\n{}", self.log());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ------------------------------------------------------------------------------------------
// HTTP stand-in origins (hyper), whose behaviour the test switches.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// 200 with the expected body (in another case).
    Healthy,
    Status503,
    /// 200, but not the expected body.
    WrongBody,
    /// Never answers within the monitor's timeout.
    Hang,
    /// Healthy after this many milliseconds.
    Delay(u64),
}

struct HttpOrigin {
    mode: Arc<Mutex<Mode>>,
    /// Host header and method of the last request.
    seen: Arc<Mutex<Option<(String, String)>>>,
}

impl HttpOrigin {
    fn start(rt: &tokio::runtime::Runtime, ip: &str, port: u16, mode: Mode) -> Self {
        let addr = SocketAddr::new(ip.parse().unwrap(), port);
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(addr))
            .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
        let mode = Arc::new(Mutex::new(mode));
        let seen = Arc::new(Mutex::new(None));
        let (m, s) = (mode.clone(), seen.clone());
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (m, s) = (m.clone(), s.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let (m, s) = (m.clone(), s.clone());
                        async move { respond(req, &m, &s).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self { mode, seen }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

type Body = http_body_util::Full<hyper::body::Bytes>;

async fn respond(
    req: hyper::Request<hyper::body::Incoming>,
    mode: &Mutex<Mode>,
    seen: &Mutex<Option<(String, String)>>,
) -> Result<hyper::Response<Body>, std::convert::Infallible> {
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    *seen.lock().unwrap() = Some((host, req.method().to_string()));
    let m = *mode.lock().unwrap();
    let (status, body) = match m {
        Mode::Healthy => (200, "status: HEALTHY"),
        Mode::Status503 => (503, "status: healthy, but overloaded"),
        Mode::WrongBody => (200, "status: starting"),
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            (200, "status: healthy")
        }
        Mode::Delay(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            (200, "status: healthy")
        }
    };
    Ok(hyper::Response::builder()
        .status(status)
        .body(Body::new(body.into()))
        .unwrap())
}

/// A self-signed certificate for origin.tls.test (valid until 2126), made for these tests.
const TEST_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBpDCCAUqgAwIBAgIUCChmBs5k+UVZp1Qe+dJHlTBa1wIwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPb3JpZ2luLnRscy50ZXN0MCAXDTI2MTEyNjE1MTcyMloYDzIx
MjYxMTAyMTUxNzIyWjAaMRgwFgYDVQQDDA9vcmlnaW4udGxzLnRlc3QwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAASWbu8yjpHyzCF7l/3htp4rW0O90Xd5ALQTmNQ9
0924BGEZaxKZbtVfK24APhSLrtbMKY29un27S/Nvl4ah1Py9o2wwajAdBgNVHQ4E
FgQU6YHEIBGUS7mv0RjiiNm0KZsiZDMwHwYDVR0jBBgwFoAU6YHEIBGUS7mv0Rji
iNm0KZsiZDMwGgYDVR0RBBMwEYIPb3JpZ2luLnRscy50ZXN0MAwGA1UdEwEB/wQC
MAAwCgYIKoZIzj0EAwIDSAAwRQIga01GzJRH/C7t8zCmCY4mPc8+FRsz6+h/smxE
PdvOBDACIQC+idH9Mjv0Rr28pqHF9Pet9AkcbOyg8/MgFxWZupmGrg==
-----END CERTIFICATE-----
";
const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg5gDSextZ0pCJsSDO
0KsLWBCXB5rL5RrNLFDiopIfhp2hRANCAASWbu8yjpHyzCF7l/3htp4rW0O90Xd5
ALQTmNQ90924BGEZaxKZbtVfK24APhSLrtbMKY29un27S/Nvl4ah1Py9
-----END PRIVATE KEY-----
";

/// An HTTPS origin with [`TEST_CERT`] that answers like a healthy [`HttpOrigin`]; records the
/// SNI name of each handshake.
fn start_https(rt: &tokio::runtime::Runtime, ip: &str, port: u16) -> Arc<Mutex<Vec<String>>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = vec![CertificateDer::from_pem_slice(TEST_CERT.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(TEST_KEY.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let addr = SocketAddr::new(ip.parse().unwrap(), port);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(addr))
        .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
    let sni = Arc::new(Mutex::new(Vec::new()));
    let names = sni.clone();
    rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, names) = (acceptor.clone(), names.clone());
            tokio::spawn(async move {
                // Failed handshakes (a client that rejects the certificate) end here.
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let name = tls.get_ref().1.server_name().unwrap_or("").to_string();
                names.lock().unwrap().push(name);
                let mode = Arc::new(Mutex::new(Mode::Healthy));
                let seen = Arc::new(Mutex::new(None));
                let svc = hyper::service::service_fn(move |req| {
                    let (m, s) = (mode.clone(), seen.clone());
                    async move { respond(req, &m, &s).await }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    sni
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

// ------------------------------------------------------------------------------------------

/// A TCP monitor: an origin whose listener closes is dropped after consecutive_down probes;
/// the pool fails over below minimum_origins; origins return after consecutive_up; with
/// every pool down the fallback pool answers whatever its health.
#[test]
fn tcp_listener_closed_and_reopened() {
    const PORT: u16 = 39101;
    let mut a1 = TcpOrigin::new("127.0.10.1", PORT);
    let mut a2 = TcpOrigin::new("127.0.10.2", PORT);
    let mut a3 = TcpOrigin::new("127.0.10.3", PORT);
    let mut b1 = TcpOrigin::new("127.0.11.1", PORT);
    let mut c1 = TcpOrigin::new("127.0.12.1", PORT);
    let server = Server::start(
        "tcp",
        &format!(
            r#"
[monitors.tcp]
type = "tcp"
port = {PORT}
interval = "1s"
timeout = "500ms"
retries = 1
consecutive_down = 2
consecutive_up = 2

[pools.a]
monitor = "tcp"
minimum_origins = 2
origins = [ {{ address = "127.0.10.1" }}, {{ address = "127.0.10.2" }}, {{ address = "127.0.10.3" }} ]
[pools.b]
monitor = "tcp"
origins = [ {{ address = "127.0.11.1" }} ]
[pools.c]
monitor = "tcp"
origins = [ {{ address = "127.0.12.1" }} ]

[load_balancers.www]
steering = "failover"
default_pools = ["a", "b"]
fallback_pool = "c"
"#
        ),
    );
    let name = "www.example.test.";
    let pool_a = ["127.0.10.1", "127.0.10.2", "127.0.10.3"];
    server.await_answer(name, &pool_a, "all up");

    a3.close();
    server.await_answer(name, &["127.0.10.1", "127.0.10.2"], "one origin closed");
    server.assert_logged(&[
        "origin 127.0.10.3 in pool a",
        "DOWN: refused",
        "2 failed probes in a row (consecutive_down 2)",
    ]);

    a2.close();
    server.await_answer(name, &["127.0.11.1"], "pool a below minimum_origins");

    a2.open();
    a3.open();
    server.await_answer(name, &pool_a, "origins back");
    server.assert_logged(&[
        "origin 127.0.10.2 in pool a",
        "UP: connected",
        "2 successful probes in a row (consecutive_up 2)",
    ]);

    // Every pool down, the fallback pool too: it answers whatever its health.
    for o in [&mut a1, &mut a2, &mut a3, &mut b1, &mut c1] {
        o.close();
    }
    server.await_answer(name, &["127.0.12.1"], "all down: fallback pool");
    server.assert_logged(&["origin 127.0.12.1 in pool c", "DOWN: refused"]);

    b1.open();
    server.await_answer(name, &["127.0.11.1"], "pool b back");
}

/// An HTTP monitor against a real HTTP server: 200, then 503, then a wrong body, then no
/// answer within the timeout; each takes the origin out and 200 brings it back.
#[test]
fn http_origin_status_body_and_timeout() {
    const PORT: u16 = 39102;
    let rt = runtime();
    let w1 = HttpOrigin::start(&rt, "127.0.20.1", PORT, Mode::Healthy);
    let w2 = HttpOrigin::start(&rt, "127.0.20.2", PORT, Mode::Healthy);
    let backup = HttpOrigin::start(&rt, "127.0.21.1", PORT, Mode::Healthy);
    let last = HttpOrigin::start(&rt, "127.0.22.1", PORT, Mode::Healthy);
    let server = Server::start(
        "http",
        &format!(
            r#"
[monitors.web]
type = "http"
port = {PORT}
method = "POST"
path = "/health?full=1"
headers = {{ Host = "origin.example.test", Authorization = "Basic dGVzdDp0ZXN0" }}
body = '{{"operation":"system_information"}}'
expected_codes = "200"
expected_body = "healthy"
interval = "1s"
timeout = "400ms"
retries = 1
consecutive_down = 2
consecutive_up = 2

[pools.web]
monitor = "web"
minimum_origins = 2
origins = [ {{ address = "127.0.20.1" }}, {{ address = "127.0.20.2" }} ]
[pools.backup]
monitor = "web"
origins = [ {{ address = "127.0.21.1" }} ]
[pools.last]
monitor = "web"
origins = [ {{ address = "127.0.22.1" }} ]

[load_balancers.app]
steering = "failover"
default_pools = ["web", "backup"]
fallback_pool = "last"
"#
        ),
    );
    let name = "app.example.test.";
    let web = ["127.0.20.1", "127.0.20.2"];
    server.await_answer(name, &web, "all healthy");
    assert_eq!(
        w1.seen.lock().unwrap().clone(),
        Some(("origin.example.test".to_string(), "POST".to_string())),
        "the probe carries the monitor's Host header and method"
    );

    for (mode, reason) in [
        (Mode::Status503, "status 503"),
        (Mode::WrongBody, "body mismatch"),
        (Mode::Hang, "timeout"),
    ] {
        w1.set(mode);
        server.await_answer(name, &["127.0.21.1"], &format!("{mode:?}: fail over"));
        server.assert_logged(&["origin 127.0.20.1 in pool web", "DOWN", reason]);
        w1.set(Mode::Healthy);
        server.await_answer(name, &web, &format!("{mode:?}: back"));
    }

    for o in [&w1, &w2, &backup, &last] {
        o.set(Mode::Status503);
    }
    server.await_answer(name, &["127.0.22.1"], "all down: fallback pool");
    last.set(Mode::Healthy);
    backup.set(Mode::Healthy);
    server.await_answer(name, &["127.0.21.1"], "backup back");
}

/// Origin killed → first answer without it, with interval 1 s and consecutive_down 2: at
/// most interval × (consecutive_down + 1) + 1 s.
#[test]
fn failover_time_is_bounded() {
    const PORT: u16 = 39103;
    let mut a = TcpOrigin::new("127.0.30.1", PORT);
    let _b = TcpOrigin::new("127.0.31.1", PORT);
    let server = Server::start(
        "failover-time",
        &format!(
            r#"
[monitors.tcp]
type = "tcp"
port = {PORT}
interval = "1s"
timeout = "500ms"
consecutive_down = 2
consecutive_up = 2
[pools.a]
monitor = "tcp"
origins = [ {{ address = "127.0.30.1" }} ]
[pools.b]
monitor = "tcp"
origins = [ {{ address = "127.0.31.1" }} ]
[load_balancers.www]
steering = "failover"
default_pools = ["a", "b"]
"#
        ),
    );
    let name = "www.example.test.";
    server.await_answer(name, &["127.0.30.1"], "a up");

    a.close();
    let took = server.await_answer(name, &["127.0.31.1"], "failed over to b");
    let (interval, consecutive_down) = (Duration::from_secs(1), 2);
    let bound = interval * (consecutive_down + 1) + Duration::from_secs(1);
    println!("failover time (origin killed → first answer without it): {took:?} (bound {bound:?})");
    assert!(took <= bound, "failover took {took:?}, more than {bound:?}");
}

/// Dynamic steering picks the pool whose probes answer faster, and follows when the delays
/// swap.
#[test]
fn dynamic_prefers_the_faster_pool() {
    const PORT: u16 = 39104;
    let rt = runtime();
    let x = HttpOrigin::start(&rt, "127.0.40.1", PORT, Mode::Delay(5));
    let y = HttpOrigin::start(&rt, "127.0.41.1", PORT, Mode::Delay(80));
    let server = Server::start(
        "dynamic",
        &format!(
            r#"
[monitors.web]
type = "http"
port = {PORT}
path = "/"
expected_body = "healthy"
interval = "1s"
timeout = "900ms"
[pools.x]
monitor = "web"
origins = [ {{ address = "127.0.40.1" }} ]
[pools.y]
monitor = "web"
origins = [ {{ address = "127.0.41.1" }} ]
[load_balancers.fast]
steering = "dynamic"
default_pools = ["y", "x"]
"#
        ),
    );
    let name = "fast.example.test.";
    server.await_answer(name, &["127.0.40.1"], "x is faster");
    x.set(Mode::Delay(80));
    y.set(Mode::Delay(5));
    server.await_answer(name, &["127.0.41.1"], "y is faster after the swap");
    x.set(Mode::Delay(5));
    y.set(Mode::Delay(80));
    server.await_answer(name, &["127.0.40.1"], "x is faster again");
}

/// HTTPS: the certificate is verified against the system's roots (a self-signed one fails
/// with a TLS error) unless allow_insecure; the Host header is sent as SNI.
#[test]
fn https_monitor_verifies_certificates_unless_insecure() {
    const PORT: u16 = 39106;
    let rt = runtime();
    let strict_sni = start_https(&rt, "127.0.70.1", PORT);
    let insecure_sni = start_https(&rt, "127.0.70.2", PORT);
    let server = Server::start(
        "https",
        &format!(
            r#"
[monitors.strict]
type = "https"
port = {PORT}
headers = {{ Host = "origin.tls.test" }}
interval = "1s"
timeout = "900ms"
[monitors.insecure]
type = "https"
port = {PORT}
headers = {{ Host = "origin.tls.test" }}
expected_body = "healthy"
allow_insecure = true
interval = "1s"
timeout = "900ms"
[pools.strict]
monitor = "strict"
origins = [ {{ address = "127.0.70.1" }} ]
[pools.insecure]
monitor = "insecure"
origins = [ {{ address = "127.0.70.2" }} ]
[load_balancers.secure]
steering = "failover"
default_pools = ["strict", "insecure"]
"#
        ),
    );
    server.await_answer(
        "secure.example.test.",
        &["127.0.70.2"],
        "strict down, insecure up",
    );
    server.assert_logged(&["origin 127.0.70.1 in pool strict", "DOWN"]);
    // On a machine without CA certificates the strict check cannot even be set up; it is
    // down all the same, for that reason.
    assert!(
        server.logged(&["origin 127.0.70.1 in pool strict", "DOWN", "TLS error"])
            || server.logged(&["pool strict", "cannot load the system's CA certificates"]),
        "{}",
        server.log()
    );
    assert!(
        insecure_sni
            .lock()
            .unwrap()
            .iter()
            .any(|n| n == "origin.tls.test"),
        "the Host header is sent as SNI"
    );
    // The strict check never completes a handshake, so its server records no name.
    assert!(strict_sni.lock().unwrap().is_empty());
}
