//! TCP and UDP serving: pipelining, the idle timeout, graceful shutdown on signals, and the
//! promise that nothing is logged per query above debug.

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

fn mixed_queries() -> Vec<Message> {
    [
        ("www.example.com.", RecordType::A),
        ("www.example.com.", RecordType::AAAA),
        ("nope.example.com.", RecordType::A),
        ("www.example.com.", RecordType::MX),
        ("example.com.", RecordType::NS),
        ("www-alias.example.com.", RecordType::A),
        ("x.wild.example.com.", RecordType::TXT),
        ("www.sub.example.com.", RecordType::A),
        ("example.org.", RecordType::A),
        ("example.com.", RecordType::SOA),
    ]
    .iter()
    .map(|&(n, t)| query(n, t))
    .collect()
}

#[test]
fn pipelined_tcp_queries_are_answered_in_order_like_udp() {
    let s = Server::example();
    let queries: Vec<Message> = (0..5).flat_map(|_| mixed_queries()).collect();
    let mut c = tcp_connect(s.addr);
    // All of them in one write.
    let mut burst = Vec::new();
    for q in &queries {
        let p = encode(q);
        burst.extend_from_slice(&(p.len() as u16).to_be_bytes());
        burst.extend_from_slice(&p);
    }
    c.write_all(&burst).unwrap();
    for q in &queries {
        let r = decode(&tcp_recv(&mut c).expect("a reply per pipelined query"));
        assert_response_to(q, &r);
        let u = udp(s.addr, q);
        assert_eq!(r.metadata, u.metadata, "TCP answered unlike UDP for {q}");
        assert_eq!(r.answers, u.answers);
        assert_eq!(r.authorities, u.authorities);
        assert_eq!(r.additionals, u.additionals);
    }
    // A query dribbled in byte by byte on the same connection is still one query.
    let q = query("www.example.com.", RecordType::A);
    let p = encode(&q);
    let mut framed = (p.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&p);
    for b in framed {
        c.write_all(&[b]).unwrap();
        c.flush().unwrap();
    }
    let r = decode(&tcp_recv(&mut c).unwrap());
    assert_response_to(&q, &r);
    assert_eq!(rdata_strings(&r.answers), ["A 192.0.2.80"]);
}

#[test]
fn many_tcp_connections_at_once() {
    let s = Server::example();
    let mut conns: Vec<_> = (0..20).map(|_| tcp_connect(s.addr)).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        let q = query(&format!("n{i}.example.com."), RecordType::A);
        tcp_send(c, &encode(&q));
    }
    for c in conns.iter_mut() {
        let r = decode(&tcp_recv(c).unwrap());
        assert_eq!(rcode(&r), ResponseCode::NXDomain);
    }
}

/// Reads until EOF or reset; returns true when the server closed the connection, false when
/// the read timed out with the connection still open.
fn closed_by_server(c: &mut std::net::TcpStream) -> bool {
    c.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

#[test]
fn idle_tcp_connections_are_closed_after_the_idle_timeout() {
    let s = Server::start_owned(ZoneDir::example(), &["--tcp-idle-timeout", "1"]);
    // A connection that never sends anything.
    let mut silent = tcp_connect(s.addr);
    // One that asks once and then goes quiet.
    let mut once = tcp_connect(s.addr);
    tcp_send(
        &mut once,
        &encode(&query("www.example.com.", RecordType::A)),
    );
    assert!(tcp_recv(&mut once).is_some());
    // One that starts a query and never finishes it.
    let mut partial = tcp_connect(s.addr);
    partial.write_all(&[0, 40, 0x12]).unwrap();

    assert!(closed_by_server(&mut silent), "silent connection left open");
    assert!(closed_by_server(&mut once), "idle connection left open");
    assert!(
        closed_by_server(&mut partial),
        "stalled partial query left open"
    );

    // The server itself is fine and still takes new connections.
    let r = tcp(s.addr, &query("www.example.com.", RecordType::A));
    assert_eq!(r.answers.len(), 1);
}

#[test]
fn an_active_connection_outlives_the_idle_timeout() {
    let s = Server::start_owned(ZoneDir::example(), &["--tcp-idle-timeout", "1"]);
    let mut c = tcp_connect(s.addr);
    // Twelve queries 250 ms apart: three seconds of use, never idle for a whole second.
    for _ in 0..12 {
        let q = query("www.example.com.", RecordType::A);
        tcp_send(&mut c, &encode(&q));
        let r = decode(&tcp_recv(&mut c).expect("connection closed while in use"));
        assert_response_to(&q, &r);
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn assert_stops_cleanly(sig: libc::c_int) {
    let mut s = Server::example();
    let mut c = tcp_connect(s.addr);
    let q1 = query("www.example.com.", RecordType::A);
    tcp_send(&mut c, &encode(&q1));
    assert!(tcp_recv(&mut c).is_some());

    // A second query, begun before the signal and finished after it.
    let q2 = query("mail.example.com.", RecordType::A);
    let p = encode(&q2);
    let mut framed = (p.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&p);
    c.write_all(&framed[..6]).unwrap();
    // Give the server a moment to read the length (ordering only; nothing is timed).
    std::thread::sleep(Duration::from_millis(500));
    s.signal(sig);
    s.wait_for_stderr("stopping");
    c.write_all(&framed[6..]).unwrap();
    let r = decode(&tcp_recv(&mut c).expect("in-flight query answered during shutdown"));
    assert_response_to(&q2, &r);
    assert_eq!(rdata_strings(&r.answers), ["A 192.0.2.25"]);
    // Then the connection is closed rather than kept for more.
    assert!(closed_by_server(&mut c));

    let status = s
        .wait_exit(WAIT)
        .expect("geosteer did not exit after the signal");
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    let log = s.stderr().join("\n");
    assert!(log.contains("stopped"), "{log}");

    // Nothing listens any more.
    assert!(std::net::TcpStream::connect_timeout(&s.addr, WAIT).is_err());
    let raw = encode(&query("www.example.com.", RecordType::A));
    assert!(udp_raw(s.addr, &raw, Duration::from_millis(500)).is_none());
}

#[test]
fn sigterm_finishes_in_flight_answers_and_exits_zero() {
    assert_stops_cleanly(libc::SIGTERM);
}

#[test]
fn sigint_finishes_in_flight_answers_and_exits_zero() {
    assert_stops_cleanly(libc::SIGINT);
}

/// A client that pipelines queries and never reads its replies fills the socket buffers; it
/// must not keep the server from stopping (or hold its connection slot forever).
#[test]
fn a_client_that_never_reads_does_not_block_shutdown() {
    let mut zone = EXAMPLE_ZONE.to_string();
    for i in 0..100 {
        zone.push_str(&format!("bigtxt IN TXT \"{i:03} {}\"\n", "x".repeat(200)));
    }
    let mut s = Server::start_owned(
        ZoneDir::with_zone("example.com", &zone),
        &["--tcp-idle-timeout", "1"],
    );
    let mut c = tcp_connect(s.addr);
    let p = encode(&query("bigtxt.example.com.", RecordType::TXT));
    let mut framed = (p.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&p);
    // Each reply is about 21 kB; 2,000 of them (42 MB) overflow any loopback socket buffers.
    // Writes stop succeeding once the server stops reading; that is fine.
    c.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    for _ in 0..2000 {
        if c.write_all(&framed).is_err() {
            break;
        }
    }
    // Wait until the server has stopped writing, i.e. is stuck on the full buffers: our receive
    // queue stops growing. (An ordering aid: if the server were not stuck yet, the test would
    // only be weaker, never wrong.)
    let mut last = -1;
    let mut stable = 0;
    let deadline = std::time::Instant::now() + WAIT;
    while stable < 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let n = unread_bytes(&c);
        if n == last && n > 0 {
            stable += 1;
        } else {
            stable = 0;
        }
        last = n;
    }
    assert!(
        stable >= 5,
        "the server never filled the connection's buffers"
    );
    s.signal(libc::SIGTERM);
    let status = s
        .wait_exit(Duration::from_secs(30))
        .expect("geosteer did not exit while a client was not reading");
    assert_eq!(status.code(), Some(0));
    let _ = c.shutdown(Shutdown::Both);
}

/// Bytes waiting in our receive queue (FIONREAD).
fn unread_bytes(c: &std::net::TcpStream) -> libc::c_int {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which is valid.
    let rc = unsafe { libc::ioctl(c.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(rc, 0, "ioctl(FIONREAD)");
    n
}

/// Lines the server may log at INFO: startup and shutdown only.
const LIFECYCLE: [&str; 4] = ["loaded ", "listening on ", "stopping", "stopped"];

#[test]
fn nothing_is_logged_per_query_at_info() {
    for rust_log in [
        Some("info"),
        Some("info,hickory_server=info,hickory_proto=info"),
        None,
    ] {
        let zones = ZoneDir::example();
        // RUST_LOG unset: the default filter, INFO for geosteer.
        let mut s = Server::start_env(zones.path(), &["--tcp-idle-timeout", "1"], rust_log);
        let startup = s.stderr().len();
        assert!(startup >= 2, "startup lines expected: {:?}", s.stderr());
        for q in mixed_queries() {
            udp(s.addr, &q);
            tcp(s.addr, &q);
            let mut e = q.clone();
            e.edns = Some(hickory_proto::op::Edns::new());
            udp(s.addr, &e);
        }
        // Errors and oddities too: FORMERR, dropped packets, truncation, an idle close.
        let _ = udp_raw(
            s.addr,
            &[0x12, 0x34, 0, 0, 0, 1],
            Duration::from_millis(200),
        );
        let _ = udp_raw(s.addr, &[0xab; 40], Duration::from_millis(200));
        let mut c = tcp_connect(s.addr);
        assert!(closed_by_server(&mut c));
        s.signal(libc::SIGTERM);
        let status = s.wait_exit(WAIT).expect("exit");
        assert!(status.success());
        let lines = s.stderr();
        for line in &lines {
            assert!(
                LIFECYCLE.iter().any(|l| line.contains(l)),
                "unexpected log line with RUST_LOG={rust_log:?}: {line}\nall:\n{}",
                lines.join("\n")
            );
        }
        drop(zones);
    }
}

#[test]
fn ipv6_loopback_is_served_like_ipv4() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback (::1)");
        return;
    }
    let s = Server::start_owned(ZoneDir::example(), &["--listen", "[::1]:0"]);
    s.wait_for_stderr("listening on [::1]:");
    let addrs = s.listening();
    assert_eq!(addrs.len(), 2, "{addrs:?}");
    let v6 = *addrs.iter().find(|a| a.is_ipv6()).unwrap();
    assert_ne!(v6.port(), 0);
    for q in mixed_queries() {
        let a = udp(s.addr, &q);
        let b = udp(v6, &q);
        let c = tcp(v6, &q);
        assert_response_to(&q, &b);
        assert_eq!(a.metadata, b.metadata);
        assert_eq!(a.answers, b.answers);
        assert_eq!(b.answers, c.answers);
        assert_eq!(b.authorities, c.authorities);
    }
}

/// A stop request that arrives the moment the server says it is listening is still graceful.
#[test]
fn a_signal_right_after_startup_still_exits_zero() {
    for i in 0..10 {
        let mut s = Server::example();
        s.signal(if i % 2 == 0 {
            libc::SIGTERM
        } else {
            libc::SIGINT
        });
        let status = s.wait_exit(WAIT).expect("exit");
        assert_eq!(
            status.code(),
            Some(0),
            "run {i}: {status:?} (killed by the signal instead of stopping)"
        );
    }
}
