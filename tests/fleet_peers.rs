//! Peers are untrusted input: an instance whose `--peer`s answer garbage, answer too much,
//! never answer, or answer a report of another version counts each as a failed poll, shows it,
//! judges by its own probes, and keeps serving. And `/v1/fleet` needs the API token. All on
//! loopback.

mod common;
#[path = "support/http.rs"]
mod http;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::rr::RecordType;
use http::Http;

const TOKEN: &str = "fleet-peers-token-5c1";

/// A fake peer: answers every connection with `respond`, until dropped.
struct FakePeer {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl FakePeer {
    fn start(respond: fn(&mut TcpStream, &AtomicBool)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        conn.set_nonblocking(false).unwrap();
                        let flag = flag.clone();
                        std::thread::spawn(move || {
                            // The request (whatever it is), then the answer.
                            conn.set_read_timeout(Some(Duration::from_millis(200)))
                                .unwrap();
                            let mut buf = [0u8; 4096];
                            let _ = conn.read(&mut buf);
                            respond(&mut conn, &flag);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        FakePeer { port, stop }
    }

    fn url(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn garbage(c: &mut TcpStream, _: &AtomicBool) {
    let _ =
        c.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"format\": [[[[");
}

/// 17 MiB, in chunks, until the reader hangs up.
fn flood(c: &mut TcpStream, _: &AtomicBool) {
    let head = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n[",
        17 << 20
    );
    let _ = c.write_all(head.as_bytes());
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..(17 * 16) {
        if c.write_all(&chunk).is_err() {
            return;
        }
    }
}

/// Never answers (until the test ends).
fn silent(_: &mut TcpStream, stop: &AtomicBool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn future_version(c: &mut TcpStream, _: &AtomicBool) {
    let body = r#"{"format":"geosteer-fleet","version":99,"instance":"x","now_ms":0}"#;
    let _ = write!(
        c,
        "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
}

#[test]
fn hostile_peers_are_failed_polls_and_the_server_keeps_serving() {
    // One monitored origin that is up: a listener of this test.
    let origin = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin_port = origin.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in origin.incoming() {
            drop(c);
        }
    });
    let zones = ZoneDir::example();
    zones.write(
        "example.com.toml",
        &format!(
            r#"
[monitors.tcp]
type = "tcp"
port = {origin_port}
interval = "1s"
timeout = "500ms"
[pools.p]
monitor = "tcp"
origins = [ {{ address = "127.0.0.1" }} ]
[load_balancers.lb]
steering = "failover"
default_pools = ["p"]
"#
        ),
    );
    let peers = [
        FakePeer::start(garbage),
        FakePeer::start(flood),
        FakePeer::start(silent),
        FakePeer::start(future_version),
    ];
    let mut args = vec![
        "--http".to_string(),
        "127.0.0.1:0".to_string(),
        "--instance".to_string(),
        "ns-test".to_string(),
    ];
    for p in &peers {
        args.push("--peer".into());
        args.push(p.url());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start_vars(
        zones.path(),
        &args,
        Some("info"),
        &[("GEOSTEER_API_TOKEN", TOKEN)],
    );
    let api = Http::new(http::http_addr(&server.stderr()));

    // Every peer fails, again and again; the server judges alone and says so.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = api.json("/v1/status");
        let members = st["fleet"]["members"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let failing = members
            .iter()
            .skip(1)
            .filter(|m| m["failed_polls"].as_u64() >= Some(2) && m["error"].is_string())
            .count();
        if failing == 4 && st["fleet"]["isolated"] == true {
            let errors: Vec<String> = members
                .iter()
                .skip(1)
                .map(|m| m["error"].as_str().unwrap().to_string())
                .collect();
            assert!(errors[0].contains("bad report"), "{errors:?}");
            assert!(errors[1].contains("over"), "{errors:?}");
            assert!(errors[2].contains("no report within"), "{errors:?}");
            assert!(errors[3].contains("version 99"), "{errors:?}");
            assert!(members.iter().skip(1).all(|m| m["reporting"] == false));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "peers never all failed: {st}\n{}",
            server.stderr().join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Still serving, from its own view.
    let r = udp(server.addr, &query("lb.example.com.", RecordType::A));
    assert_eq!(r.answers.len(), 1, "{r:?}");
    let (code, metrics) = api.get("/metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("geosteer_fleet_isolated 1"), "{metrics}");

    // /v1/fleet is for instances holding the token.
    assert_eq!(api.get("/v1/fleet").0, 401);
    let report = api.get_auth("/v1/fleet", "wrong");
    assert_eq!(report.0, 403);
    let (code, body) = api.get_auth("/v1/fleet", TOKEN);
    assert_eq!(code, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["format"], "geosteer-fleet");
    assert_eq!(report["instance"], "ns-test");
    let obs = &report["observations"][0];
    assert_eq!((&obs["pool"], &obs["up"]), (&"p".into(), &true.into()));
}
