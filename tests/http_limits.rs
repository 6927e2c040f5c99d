//! The HTTP endpoint's bounds (issue 11): a connection cap, a deadline for a request's
//! headers (a client that never finishes them is closed, and cannot hold up shutdown), and a
//! body size limit; a reload runs to its end whatever its client does. With real sockets.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;

use common::*;

fn closed_by_server(c: &mut TcpStream) -> bool {
    c.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

#[test]
fn an_unfinished_request_header_is_closed_at_its_deadline() {
    let s = Server::start_owned(
        ZoneDir::example(),
        &["--http", "127.0.0.1:0", "--http-header-timeout", "1"],
    );
    let mut c = TcpStream::connect(s.http_addr()).unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    assert!(closed_by_server(&mut c), "a slowloris header kept open");
    // An idle connection that never sends anything too.
    let mut idle = TcpStream::connect(s.http_addr()).unwrap();
    assert!(closed_by_server(&mut idle), "an idle connection kept open");
    assert_eq!(http_get(s.http_addr(), "/healthz").0, 200);
}

#[test]
fn connections_beyond_the_cap_are_closed_at_once() {
    let s = Server::start_owned(
        ZoneDir::example(),
        &[
            "--http",
            "127.0.0.1:0",
            "--http-max-connections",
            "4",
            "--http-header-timeout",
            "30",
        ],
    );
    let addr = s.http_addr();
    let held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // Let the server take all four.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut fifth = TcpStream::connect(addr).unwrap();
    fifth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .ok();
    let mut text = String::new();
    fifth.set_read_timeout(Some(WAIT)).unwrap();
    let _ = fifth.read_to_string(&mut text);
    assert!(text.is_empty(), "a fifth connection was served: {text:?}");
    // Once the held ones go, the endpoint serves again, and counted the refusal.
    drop(held);
    let deadline = std::time::Instant::now() + WAIT;
    let m = loop {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(WAIT)).unwrap();
        c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        let _ = c.read_to_string(&mut text);
        if text.starts_with("HTTP/1.1 200") {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "never served again");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let rejected = metric(&m, "geosteer_http_connections_rejected_total").unwrap();
    assert!(rejected >= 1.0, "{m}");
}

#[test]
fn a_body_over_the_limit_is_refused() {
    let s = Server::start_owned(ZoneDir::example(), &["--http", "127.0.0.1:0"]);
    let mut c = TcpStream::connect(s.http_addr()).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.write_all(
        b"POST /v1/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut text = String::new();
    let _ = c.read_to_string(&mut text);
    assert!(text.starts_with("HTTP/1.1 413"), "{text:?}");
}

#[test]
fn shutdown_is_not_held_up_by_an_unfinished_request() {
    let mut s = Server::start_owned(
        ZoneDir::example(),
        &["--http", "127.0.0.1:0", "--http-header-timeout", "600"],
    );
    let mut c = TcpStream::connect(s.http_addr()).unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    s.signal(libc::SIGTERM);
    let status = s
        .wait_exit(WAIT)
        .expect("SIGTERM ends the process despite an unfinished request");
    assert!(status.success(), "{status:?}");
}

/// `POST /v1/reload` with `token`, then the connection closed `after` the request is sent,
/// without waiting for the answer.
fn reload_and_hang_up(addr: std::net::SocketAddr, token: &str, after: std::time::Duration) {
    let mut c = TcpStream::connect(addr).unwrap();
    write!(
        c,
        "POST /v1/reload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .unwrap();
    std::thread::sleep(after);
    drop(c);
}

/// The example zone with www at `www` and `filler` more names (a reload that takes a while).
fn example_with(www: &str, filler: usize) -> String {
    let mut zone = EXAMPLE_ZONE.replace("www     IN A    192.0.2.80", &format!("www IN A {www}"));
    assert_ne!(zone, EXAMPLE_ZONE);
    for i in 0..filler {
        zone.push_str(&format!("filler{i} IN A 192.0.2.{}\n", 1 + i % 250));
    }
    zone
}

#[test]
fn a_reload_whose_client_hangs_up_still_completes() {
    let zones = ZoneDir::example();
    let token = zones.write("token", "reload-token-3a9f");
    let s = Server::start(
        zones.path(),
        &[
            "--http",
            "127.0.0.1:0",
            "--api-token-file",
            token.to_str().unwrap(),
        ],
    );
    let http = s.http_addr();
    let www = |want: &str| {
        let deadline = std::time::Instant::now() + 3 * WAIT;
        loop {
            let r = udp(
                s.addr,
                &query("www.example.com.", hickory_proto::rr::RecordType::A),
            );
            if rdata_strings(&r.answers) == [format!("A {want}")] {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "www never became {want}: {:?}",
                rdata_strings(&r.answers)
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    // Gone as soon as the request is sent: before the server has even begun to handle it.
    zones.write("example.com.zone", &example_with("192.0.2.81", 0));
    reload_and_hang_up(http, "reload-token-3a9f", std::time::Duration::ZERO);
    www("192.0.2.81");
    // Gone while the server is loading a larger zone.
    zones.write("example.com.zone", &example_with("192.0.2.82", 20_000));
    reload_and_hang_up(
        http,
        "reload-token-3a9f",
        std::time::Duration::from_millis(50),
    );
    www("192.0.2.82");
    let (_, m) = http_get(http, "/metrics");
    assert_eq!(
        metric(&m, "geosteer_config_reloads_total{result=\"success\"}"),
        Some(2.0),
        "{m}"
    );
}
