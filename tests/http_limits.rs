//! The HTTP endpoint's bounds (issue 11): a connection cap, a deadline for a request's
//! headers (a client that never finishes them is closed, and cannot hold up shutdown), and a
//! body size limit. With real sockets.

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
