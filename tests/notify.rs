//! Notifications end to end: the real `geosteer serve` binary probing TCP listeners on
//! loopback, and webhook receivers in this process (a small HTTP/1.1 server on 127.0.0.1 that
//! records each request and answers 200, 503, or nothing at all).
//!
//! Origins are 127.0.43.x addresses on fixed ports of this file's range (43001-43009; probes
//! cannot use port 0); receivers and the DNS and HTTP endpoints use ephemeral ports. States
//! are awaited by polling with a deadline, never by fixed sleeps, and nothing here asserts a
//! duration.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

mod common;

use common::TcpOrigin;
use serde_json::Value;

const ZONE: &str = "$ORIGIN example.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@ IN NS ns1
ns1 IN A 127.0.0.53
";

/// How long any one state change or delivery may take to show: a bound against hangs.
const DEADLINE: Duration = Duration::from_secs(30);

const NAME: &str = "www.example.test.";

/// Pools a, b, c of one origin each (a1, b1, c1 at `ips`), probed over TCP on `port` every
/// second, one failed or successful probe changing the state; www fails over from a to b,
/// with c as the fallback. `notifications` is appended.
fn steering(ips: [&str; 3], port: u16, notifications: &str) -> String {
    format!(
        r#"
[monitors.tcp]
type = "tcp"
port = {port}
interval = "1s"
timeout = "500ms"
retries = 0
consecutive_down = 1
consecutive_up = 1

[pools.a]
monitor = "tcp"
origins = [ {{ name = "a1", address = "{}" }} ]
[pools.b]
monitor = "tcp"
origins = [ {{ name = "b1", address = "{}" }} ]
[pools.c]
monitor = "tcp"
origins = [ {{ name = "c1", address = "{}" }} ]

[load_balancers.www]
steering = "failover"
default_pools = ["a", "b"]
fallback_pool = "c"
{notifications}
"#,
        ips[0], ips[1], ips[2]
    )
}

// ------------------------------------------------------------------------------------------
// The server under test.

struct Server {
    child: Child,
    dns: SocketAddr,
    http: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    dir: PathBuf,
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("geosteer-notify-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Server {
    fn start(name: &str, steering: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = temp_dir(name);
        std::fs::write(dir.join("example.test.zone"), ZONE).unwrap();
        std::fs::write(dir.join("example.test.toml"), steering).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_geosteer"));
        cmd.arg("serve")
            .arg("--zones")
            .arg(&dir)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--http")
            .arg("127.0.0.1:0")
            .arg("--geoip")
            .arg(dir.join("no-database-needed.mmdb"))
            .arg("--udp-sockets")
            .arg("1")
            .arg("--identity")
            .arg("ns-test")
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                for (tag, what) in [("listening on ", 0), ("http endpoint on ", 1)] {
                    if let Some(rest) = line.split(tag).nth(1) {
                        let addr = rest.split_whitespace().next().unwrap_or_default();
                        if let Ok(a) = addr.parse::<SocketAddr>() {
                            let _ = tx.send((what, a));
                        }
                    }
                }
                lines.lock().unwrap().push(line);
            }
        });
        let (mut dns, mut http) = (None, None);
        while dns.is_none() || http.is_none() {
            match rx.recv_timeout(DEADLINE) {
                Ok((0, a)) => dns = Some(a),
                Ok((_, a)) => http = Some(a),
                Err(_) => {
                    let _ = child.kill();
                    panic!("server did not start:\n{}", log.lock().unwrap().join("\n"));
                }
            }
        }
        Self {
            child,
            dns: dns.unwrap(),
            http: http.unwrap(),
            log,
            dir,
        }
    }

    /// The A records answered for `name`; panics when five tries in a row get no answer.
    fn a(&self, name: &str) -> BTreeSet<Ipv4Addr> {
        common::a_records(self.dns, name)
            .unwrap_or_else(|| panic!("no answer from {}:\n{}", self.dns, self.log()))
    }

    /// Polls until `NAME` is answered with exactly `want`.
    fn await_answer(&self, want: &str, what: &str) {
        let want: BTreeSet<Ipv4Addr> = [want.parse().unwrap()].into();
        let start = Instant::now();
        let mut last = BTreeSet::new();
        while start.elapsed() < DEADLINE {
            last = self.a(NAME);
            if last == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{what}: wanted {want:?}, still {last:?}; server log:\n{}",
            self.log()
        );
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn await_log(&self, part: &str) {
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            if self.log.lock().unwrap().iter().any(|l| l.contains(part)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no log line with {part:?}:\n{}", self.log());
    }

    /// GET /metrics.
    fn metrics(&self) -> String {
        let mut s = TcpStream::connect(self.http).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// The value of the metrics sample line starting with `series`, if any.
    fn metric(&self, series: &str) -> Option<f64> {
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
    }

    /// Polls until the sample `series` has the value `want`.
    fn await_metric(&self, series: &str, want: f64) {
        let start = Instant::now();
        while self.metric(series) != Some(want) {
            assert!(
                start.elapsed() < DEADLINE,
                "{series} is not {want}:\n{}",
                self.metrics()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
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
// Webhook receivers.

/// How a receiver answers a request to one path.
#[derive(Clone, Copy, Debug)]
enum Behaviour {
    /// 200.
    Ok,
    /// 503 to the first N requests to the path, then 200.
    FailFirst(usize),
    /// 503 always.
    Fail,
    /// Reads the request and never answers (until the receiver is dropped).
    Hang,
}

#[derive(Clone, Debug)]
struct Request {
    path: String,
    /// Lower-cased names.
    headers: Vec<(String, String)>,
    body: Value,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    fn start(behaviour: fn(&str) -> Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (got.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (g, s) = (g.clone(), s.clone());
                        std::thread::spawn(move || serve_one(conn, behaviour, &g, &s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self { addr, got, stop }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self, path: &str) -> Vec<Request> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// The JSON bodies received on `path`, once `done` holds for them.
    fn await_bodies(
        &self,
        path: &str,
        server: &Server,
        what: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let bodies: Vec<Value> = self.requests(path).into_iter().map(|r| r.body).collect();
            if done(&bodies) {
                return bodies;
            }
            if start.elapsed() > DEADLINE {
                panic!(
                    "{what}: {path} got {bodies:#?}\nserver log:\n{}",
                    server.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve_one(
    mut conn: TcpStream,
    behaviour: fn(&str) -> Behaviour,
    got: &Mutex<Vec<Request>>,
    stop: &AtomicBool,
) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let seen = {
        let mut g = got.lock().unwrap();
        g.push(Request {
            path: path.clone(),
            headers,
            body,
        });
        g.iter().filter(|r| r.path == path).count()
    };
    let status = match behaviour(&path) {
        Behaviour::Ok => "200 OK",
        Behaviour::FailFirst(n) if seen <= n => "503 Service Unavailable",
        Behaviour::FailFirst(_) => "200 OK",
        Behaviour::Fail => "503 Service Unavailable",
        Behaviour::Hang => {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

fn events(bodies: &[Value]) -> Vec<&str> {
    bodies.iter().filter_map(|b| b["event"].as_str()).collect()
}

fn has(bodies: &[Value], event: &str, key: &str, value: &str) -> bool {
    bodies
        .iter()
        .any(|b| b["event"] == event && b[key].as_str() == Some(value))
}

// ------------------------------------------------------------------------------------------

/// An origin goes down and comes back, then every pool goes down: each webhook gets the
/// documented payload of each transition, in its format, with its secret header, and only the
/// events it asked for.
#[test]
fn transitions_reach_each_webhook_in_its_format() {
    const PORT: u16 = 43001;
    let ips = ["127.0.43.1", "127.0.43.2", "127.0.43.3"];
    let mut a1 = TcpOrigin::new(ips[0], PORT);
    let mut b1 = TcpOrigin::new(ips[1], PORT);
    let _c1 = TcpOrigin::new(ips[2], PORT);
    let rx = Receiver::start(|_| Behaviour::Ok);
    let notifications = format!(
        r#"
[notifications.webhooks.ops]
url = "{}"
secret_header = "X-Geosteer-Token"
secret_env = "NOTIFY_TEST_TOKEN"

[notifications.webhooks.chat]
url_env = "NOTIFY_TEST_SLACK_URL"
format = "slack"
events = ["pool", "load_balancer"]

[notifications.webhooks.pager]
url = "{}"
format = "pagerduty"
routing_key_env = "NOTIFY_TEST_PD_KEY"
"#,
        rx.url("/generic"),
        rx.url("/pagerduty")
    );
    let slack_url = rx.url("/slack");
    let flag_url = rx.url("/flag");
    let server = Server::start(
        "formats",
        &steering(ips, PORT, &notifications),
        &["--notify-webhook", &flag_url],
        &[
            ("NOTIFY_TEST_TOKEN", "token-from-env"),
            ("NOTIFY_TEST_SLACK_URL", &slack_url),
            ("NOTIFY_TEST_PD_KEY", "pd-routing-key"),
        ],
    );
    server.await_answer(ips[0], "all up");

    // a1 down: pool a down, www answers from b.
    a1.close();
    server.await_answer(ips[1], "a1 down");
    let generic = rx.await_bodies("/generic", &server, "a1 down", |b| {
        events(b).contains(&"load_balancer_pool_changed")
    });
    assert_eq!(
        events(&generic),
        ["origin_down", "pool_down", "load_balancer_pool_changed"]
    );
    let (origin, pool, lb) = (&generic[0], &generic[1], &generic[2]);
    assert_eq!(origin["version"], 1);
    assert_eq!(origin["class"], "origin");
    assert_eq!(origin["severity"], "warning");
    assert_eq!(origin["instance"], "ns-test");
    assert_eq!(origin["zone"], "example.test.");
    assert_eq!(origin["pool"], "a");
    assert_eq!(origin["origin"], "a1");
    assert_eq!(origin["address"], ips[0]);
    assert_eq!(origin["reason"], "refused");
    assert_eq!(origin["at_start"], false);
    assert!(origin["time"].as_str().unwrap().ends_with('Z'));
    assert!(origin["id"].as_str().unwrap().starts_with("ns-test-"));
    assert_eq!(pool["class"], "pool");
    assert_eq!(pool["severity"], "error");
    assert_eq!(pool["healthy_origins"], 0);
    assert_eq!(pool["minimum_origins"], 1);
    assert_eq!(
        pool["summary"],
        "pool a of example.test.: DOWN (0/1 origins healthy, minimum 1)"
    );
    assert_eq!(lb["load_balancer"], NAME);
    assert_eq!(lb["pools"], serde_json::json!(["b"]));
    assert_eq!(lb["previous_pools"], serde_json::json!(["a"]));
    assert_eq!(lb["outcome"], "steered");
    assert_eq!(lb["clients"], "all");
    for r in rx.requests("/generic") {
        assert_eq!(r.header("x-geosteer-token"), Some("token-from-env"));
        assert_eq!(r.header("content-type"), Some("application/json"));
    }

    // b1 down too: every candidate down, the fallback pool c answers.
    b1.close();
    server.await_answer(ips[2], "a1 and b1 down");
    let generic = rx.await_bodies("/generic", &server, "all down", |b| {
        events(b).contains(&"load_balancer_all_pools_down")
    });
    let all_down = generic
        .iter()
        .find(|b| b["event"] == "load_balancer_all_pools_down")
        .unwrap();
    assert_eq!(all_down["outcome"], "fallback");
    assert_eq!(all_down["pools"], serde_json::json!(["c"]));
    assert_eq!(all_down["severity"], "critical");
    assert!(has(&generic, "pool_down", "pool", "b"));

    // a1 back: www steers to a again; then b1.
    a1.open();
    server.await_answer(ips[0], "a1 back");
    b1.open();
    let generic = rx.await_bodies("/generic", &server, "ups", |b| {
        has(b, "pool_up", "pool", "b")
    });
    assert!(has(&generic, "origin_up", "origin", "a1"));
    assert!(has(&generic, "origin_up", "origin", "b1"));
    assert!(has(&generic, "pool_up", "pool", "a"));
    let recovered = generic
        .iter()
        .find(|b| b["event"] == "load_balancer_recovered")
        .expect("a recovery");
    assert_eq!(recovered["pools"], serde_json::json!(["a"]));
    assert_eq!(recovered["severity"], "info");

    // The command line's webhook gets the same generic events.
    let flag = rx.await_bodies("/flag", &server, "flag webhook", |b| {
        has(b, "pool_up", "pool", "b")
    });
    assert_eq!(events(&flag), events(&generic));
    assert!(rx.requests("/flag")[0].header("x-geosteer-token").is_none());

    // Slack: text only, pool and load balancer events only.
    let slack = rx.await_bodies("/slack", &server, "slack", |b| {
        b.iter().any(|v| {
            v["text"]
                .as_str()
                .is_some_and(|t| t.contains("pool b of example.test.: UP"))
        })
    });
    for v in &slack {
        let text = v["text"].as_str().expect("a text field");
        assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
        assert!(text.contains("geosteer ns-test: "), "{text}");
        assert!(
            !text.contains(": origin "),
            "origin events were not asked for: {text}"
        );
    }
    assert!(slack.iter().any(|v| {
        v["text"]
            .as_str()
            .unwrap()
            .contains("pool a of example.test.: DOWN")
    }));

    // PagerDuty: trigger, then resolve of the same dedup_key; no plain pool changes.
    let pd = rx.await_bodies("/pagerduty", &server, "pagerduty", |b| {
        b.iter()
            .any(|v| v["event_action"] == "resolve" && v["payload"]["class"] == "pool_up")
            && b.iter()
                .filter(|v| v["payload"]["class"] == "pool_up")
                .count()
                == 2
    });
    for v in &pd {
        assert_eq!(v["routing_key"], "pd-routing-key");
        assert_ne!(v["payload"]["class"], "load_balancer_pool_changed");
        assert_eq!(v["payload"]["source"], "ns-test");
    }
    let trigger = pd
        .iter()
        .find(|v| v["payload"]["class"] == "origin_down")
        .unwrap();
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["payload"]["severity"], "warning");
    let resolve = pd
        .iter()
        .find(|v| v["payload"]["class"] == "origin_up" && v["dedup_key"] == trigger["dedup_key"])
        .expect("the origin's resolve");
    assert_eq!(resolve["event_action"], "resolve");

    // The secret is in no log line.
    assert!(!server.log().contains("token-from-env"));
    assert!(!server.log().contains("pd-routing-key"));
}

/// A webhook that answers 503 twice gets the notification a third time (the same id), and
/// the next ones after it; one that always fails is given up after `attempts`; the counters
/// say so.
#[test]
fn a_failing_webhook_gets_the_notification_again() {
    const PORT: u16 = 43002;
    let ips = ["127.0.43.11", "127.0.43.12", "127.0.43.13"];
    let mut a1 = TcpOrigin::new(ips[0], PORT);
    let _b1 = TcpOrigin::new(ips[1], PORT);
    let _c1 = TcpOrigin::new(ips[2], PORT);
    let rx = Receiver::start(|path| match path {
        "/flaky" => Behaviour::FailFirst(2),
        _ => Behaviour::Fail,
    });
    let notifications = format!(
        r#"
[notifications.webhooks.flaky]
url = "{}"
events = ["origin", "pool"]

[notifications.webhooks.broken]
url = "{}"
events = ["origin"]
attempts = 2
"#,
        rx.url("/flaky"),
        rx.url("/broken")
    );
    let server = Server::start("retry", &steering(ips, PORT, &notifications), &[], &[]);
    server.await_answer(ips[0], "all up");
    a1.close();
    server.await_answer(ips[1], "a1 down");

    let flaky = rx.await_bodies("/flaky", &server, "retries", |b| {
        events(b).contains(&"pool_down")
    });
    assert_eq!(
        events(&flaky),
        ["origin_down", "origin_down", "origin_down", "pool_down"]
    );
    assert!(flaky[..3].iter().all(|b| b["id"] == flaky[0]["id"]));
    assert_ne!(flaky[3]["id"], flaky[0]["id"]);

    // Counters are polled: a receiver records a request before the server reads the answer.
    for (name, webhook, want) in [
        ("geosteer_notifications_failed_total", "broken", 1.0),
        ("geosteer_notifications_sent_total", "broken", 0.0),
        ("geosteer_notification_retries_total", "broken", 1.0),
        ("geosteer_notifications_sent_total", "flaky", 2.0),
        ("geosteer_notification_retries_total", "flaky", 2.0),
        ("geosteer_notifications_failed_total", "flaky", 0.0),
        ("geosteer_notifications_dropped_total", "flaky", 0.0),
    ] {
        server.await_metric(
            &format!("{name}{{zone=\"example.test.\",webhook=\"{webhook}\"}}"),
            want,
        );
    }
    // Exactly `attempts` requests for the given-up notification.
    assert_eq!(rx.requests("/broken").len(), 2);
    server.await_log("to webhook broken given up after 2 attempts: status 503");
}

/// A webhook that never answers holds up neither the answers nor the probes (answers follow
/// the origin down and back while it hangs), nor the other webhooks.
#[test]
fn a_hanging_webhook_blocks_neither_answers_nor_probing() {
    const PORT: u16 = 43003;
    let ips = ["127.0.43.21", "127.0.43.22", "127.0.43.23"];
    let mut a1 = TcpOrigin::new(ips[0], PORT);
    let _b1 = TcpOrigin::new(ips[1], PORT);
    let _c1 = TcpOrigin::new(ips[2], PORT);
    let rx = Receiver::start(|path| match path {
        "/hang" => Behaviour::Hang,
        _ => Behaviour::Ok,
    });
    let notifications = format!(
        r#"
[notifications.webhooks.stuck]
url = "{}"
timeout = "3s"
attempts = 3

[notifications.webhooks.fine]
url = "{}"
"#,
        rx.url("/hang"),
        rx.url("/ok")
    );
    let server = Server::start("hang", &steering(ips, PORT, &notifications), &[], &[]);
    server.await_answer(ips[0], "all up");
    a1.close();
    // The stuck webhook has the first notification and holds on to it.
    rx.await_bodies("/hang", &server, "hang", |b| !b.is_empty());
    server.await_answer(ips[1], "a1 down while a webhook hangs");
    for _ in 0..50 {
        assert!(!server.a(NAME).is_empty(), "answered while a webhook hangs");
    }
    a1.open();
    server.await_answer(ips[0], "a1 back while a webhook hangs");
    let fine = rx.await_bodies("/ok", &server, "the other webhook", |b| {
        has(b, "origin_up", "origin", "a1")
    });
    assert_eq!(
        &events(&fine)[..3],
        ["origin_down", "pool_down", "load_balancer_pool_changed"]
    );
}

/// A reload that changes a webhook's URL sends the next notifications to the new one; one
/// that removes the webhook stops them.
#[test]
fn a_reload_applies_changed_notifications() {
    const PORT: u16 = 43004;
    let ips = ["127.0.43.31", "127.0.43.32", "127.0.43.33"];
    let mut a1 = TcpOrigin::new(ips[0], PORT);
    let _b1 = TcpOrigin::new(ips[1], PORT);
    let _c1 = TcpOrigin::new(ips[2], PORT);
    let rx = Receiver::start(|_| Behaviour::Ok);
    let hook = |path: &str| {
        format!(
            "[notifications.webhooks.ops]\nurl = \"{}\"\nevents = [\"pool\"]\n",
            rx.url(path)
        )
    };
    let server = Server::start("reload", &steering(ips, PORT, &hook("/first")), &[], &[]);
    server.await_answer(ips[0], "all up");
    a1.close();
    server.await_answer(ips[1], "a1 down");
    rx.await_bodies("/first", &server, "before the reload", |b| {
        has(b, "pool_down", "pool", "a")
    });

    std::fs::write(
        server.dir.join("example.test.toml"),
        steering(ips, PORT, &hook("/second")),
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    server.await_log("reloaded: generation 2");
    a1.open();
    server.await_answer(ips[0], "a1 back");
    let second = rx.await_bodies("/second", &server, "after the reload", |b| {
        has(b, "pool_up", "pool", "a")
    });
    assert_eq!(events(&second), ["pool_up"]);
    assert_eq!(
        events(&rx.await_bodies("/first", &server, "", |_| true)),
        ["pool_down"]
    );

    std::fs::write(
        server.dir.join("example.test.toml"),
        steering(ips, PORT, ""),
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    server.await_log("reloaded: generation 3");
    server.await_log("notifications: webhook ops removed");
}

// ------------------------------------------------------------------------------------------
// `geosteer check`.

fn check(dir: &Path, env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_geosteer"));
    cmd.arg("check")
        .arg("--zones")
        .arg(dir)
        .arg("--geoip")
        .arg(dir.join("no-database-needed.mmdb"))
        .env("RUST_LOG", "error");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Each mistake in `[notifications]` is reported with the file, its line and the reason; the
/// value of a secret never appears.
#[test]
fn check_rejects_bad_notifications_with_file_and_line() {
    let base = steering(["127.0.43.41", "127.0.43.42", "127.0.43.43"], 43005, "");
    let bad = [
        (
            "url = \"ftp://127.0.0.1/\"",
            "scheme is \"ftp\": use http or https",
        ),
        ("url = \"no url\"", "the webhook URL is not a URL"),
        (
            "format = \"teams\"",
            "format \"teams\" is not one of generic, slack, pagerduty",
        ),
        (
            "events = [\"origins\"]",
            "event \"origins\" is not one of origin, pool, load_balancer",
        ),
        (
            "secret_header = \"X-Token\"",
            "secret_header needs secret_env",
        ),
        (
            "secret_env = \"NOTIFY_UNSET_VARIABLE\"",
            "secret_env needs secret_header",
        ),
        ("timeout = \"soon\"", "timeout \"soon\" is not a duration"),
        ("attempts = 0", "attempts 0 is out of range (1..=20)"),
        (
            "url_env = \"NOTIFY_UNSET_VARIABLE\"",
            "environment variable NOTIFY_UNSET_VARIABLE (url_env) is not set",
        ),
        (
            "format = \"pagerduty\"",
            "format \"pagerduty\" needs routing_key_env",
        ),
        (
            "routing_key_env = \"NOTIFY_TEST_KEY\"",
            "routing_key_env applies to format = \"pagerduty\" only",
        ),
        ("colour = \"red\"", "unknown field `colour`"),
    ];
    let dir = temp_dir("check");
    std::fs::write(dir.join("example.test.zone"), ZONE).unwrap();
    let path = dir.join("example.test.toml");
    for (i, (line, reason)) in bad.iter().enumerate() {
        // One webhook per mistake, complete but for it.
        let mut text = format!("{base}\n[notifications.webhooks.w{i}]\n");
        if !line.starts_with("url") {
            text.push_str("url = \"http://127.0.0.1:9/\"\n");
        }
        text.push_str(line);
        text.push('\n');
        let at = text.lines().count();
        std::fs::write(&path, &text).unwrap();
        let (code, stderr) = check(&dir, &[("NOTIFY_TEST_KEY", "secret-key-value")]);
        assert_eq!(code, 1, "{line}: accepted:\n{stderr}");
        let want = format!("{}:{at}: ", path.display());
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&want) && l.contains(reason)),
            "{line}: wanted {want:?} with {reason:?}, got:\n{stderr}"
        );
        assert!(!stderr.contains("secret-key-value"), "{stderr}");
    }

    // And a complete one passes, its secrets from the environment.
    let good = format!(
        "{base}\n[notifications.webhooks.pd]\nurl = \"https://events.pagerduty.com/v2/enqueue\"\n\
         format = \"pagerduty\"\nrouting_key_env = \"NOTIFY_TEST_KEY\"\nevents = [\"pool\"]\n\
         timeout = \"5s\"\nattempts = 3\n\
         [notifications.webhooks.ops]\nurl = \"http://127.0.0.1:9/hook\"\n\
         secret_header = \"Authorization\"\nsecret_env = \"NOTIFY_TEST_KEY\"\n"
    );
    std::fs::write(&path, good).unwrap();
    let (code, stderr) = check(&dir, &[("NOTIFY_TEST_KEY", "secret-key-value")]);
    assert_eq!(code, 0, "{stderr}");
    // Without the variable, it is an error that names it.
    let (code, stderr) = check(&dir, &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("environment variable NOTIFY_TEST_KEY (routing_key_env) is not set"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
