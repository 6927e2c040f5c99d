//! Every resource a DNS TCP client can hold is bounded (issue 11): the time a query may take
//! once begun (not reset by each byte), connections per client address and in all (the one
//! idle the longest makes room), replies waiting for a client that does not read, and a
//! zero-length message closes. All with real sockets on loopback addresses.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use hickory_proto::rr::RecordType;

/// Whether the server closed `c` (EOF or reset) within `WAIT`.
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

/// A TCP connection to `to` from the loopback address `from`.
fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    sock.bind(&SocketAddr::new(from, 0).into())?;
    sock.connect_timeout(&to.into(), WAIT)?;
    Ok(sock.into())
}

fn framed(m: &hickory_proto::op::Message) -> Vec<u8> {
    let q = encode(m);
    let mut f = (q.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(&q);
    f
}

/// Raises this process's open-file limit to the hard limit (for many connections).
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

#[test]
fn a_query_trickled_a_byte_at_a_time_is_cut_off_by_its_deadline() {
    // The idle timeout is long and would be reset by every byte if it were the only bound.
    let s = Server::start_owned(
        ZoneDir::example(),
        &["--tcp-idle-timeout", "60", "--tcp-query-timeout", "1"],
    );
    let q = framed(&query("www.example.com.", RecordType::A));
    let mut c = tcp_connect(s.addr);
    c.set_read_timeout(Some(Duration::from_millis(250)))
        .unwrap();
    let mut sent = 0;
    let mut closed = false;
    let mut buf = [0u8; 64];
    // A byte every 250 ms: the whole query would take ~9 s.
    while sent < q.len() - 1 {
        if c.write_all(&q[sent..sent + 1]).is_err() {
            closed = true;
            break;
        }
        sent += 1;
        match c.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    assert!(
        closed,
        "a slowloris query of {} bytes was still open after {sent} bytes",
        q.len()
    );
    assert!(sent < q.len() - 1);
    // Others are served meanwhile and after.
    let r = tcp(s.addr, &query("www.example.com.", RecordType::A));
    assert_eq!(rdata_strings(&r.answers), ["A 192.0.2.80"]);
}

#[test]
fn a_zero_length_message_closes_the_connection() {
    let s = Server::example();
    let mut c = tcp_connect(s.addr);
    c.write_all(&[0, 0]).unwrap();
    assert!(closed_by_server(&mut c));
    // A query after a zero-length message in the same write is not answered either.
    let mut c = tcp_connect(s.addr);
    let mut bytes = vec![0, 0];
    bytes.extend(framed(&query("www.example.com.", RecordType::A)));
    c.write_all(&bytes).unwrap();
    assert!(closed_by_server(&mut c));
}

#[test]
fn connections_per_client_address_are_capped() {
    let s = Server::start_owned(
        ZoneDir::example(),
        &["--tcp-max-per-client", "4", "--http", "127.0.0.1:0"],
    );
    let a: IpAddr = "127.0.0.1".parse().unwrap();
    let mut held: Vec<TcpStream> = (0..4).map(|_| connect_from(a, s.addr).unwrap()).collect();
    // Each of the four is served.
    for c in &mut held {
        tcp_send(c, &encode(&query("www.example.com.", RecordType::A)));
        assert!(tcp_recv(c).is_some());
    }
    // The fifth from the same address is closed at once …
    let mut fifth = connect_from(a, s.addr).unwrap();
    assert!(closed_by_server(&mut fifth), "a fifth connection kept open");
    // … while another address is served.
    let mut other = connect_from("127.0.0.2".parse().unwrap(), s.addr).unwrap();
    tcp_send(
        &mut other,
        &encode(&query("www.example.com.", RecordType::A)),
    );
    assert!(tcp_recv(&mut other).is_some());
    let (_, m) = http_get(s.http_addr(), "/metrics");
    assert_eq!(
        metric(
            &m,
            "geosteer_tcp_connections_rejected_total{limit=\"per_client\"}"
        ),
        Some(1.0),
        "{m}"
    );
}

#[test]
fn at_the_total_cap_the_connection_idle_the_longest_makes_room() {
    let s = Server::start_owned(
        ZoneDir::example(),
        &["--tcp-max-connections", "8", "--tcp-max-per-client", "100"],
    );
    let mut idle: Vec<TcpStream> = Vec::new();
    for _ in 0..8 {
        let mut c = tcp_connect(s.addr);
        // Answered, so it is surely admitted (in order) before the next one connects.
        tcp_send(&mut c, &encode(&query("www.example.com.", RecordType::A)));
        assert!(tcp_recv(&mut c).is_some());
        idle.push(c);
    }
    // A ninth client is served: the oldest idle connection was closed for it.
    let r = tcp(s.addr, &query("www.example.com.", RecordType::A));
    assert_eq!(rdata_strings(&r.answers), ["A 192.0.2.80"]);
    assert!(
        closed_by_server(&mut idle[0]),
        "the oldest idle one was kept"
    );
    // The others are still open and served.
    let last = idle.last_mut().unwrap();
    tcp_send(last, &encode(&query("www.example.com.", RecordType::A)));
    assert!(tcp_recv(last).is_some());
}

#[test]
fn two_thousand_idle_connections_leave_udp_and_a_fresh_tcp_client_answered() {
    if raise_fd_limit() < 2200 {
        eprintln!("SKIPPED: the open-file limit is below 2,200 and cannot be raised");
        return;
    }
    let s = Server::example();
    let mut conns = Vec::with_capacity(2000);
    // 40 addresses × 50 connections: under the per-address cap (64), over the total (1024).
    for i in 0..2000u32 {
        let from = IpAddr::from([127, 0, 10 + (i / 50) as u8, 1]);
        match connect_from(from, s.addr) {
            Ok(c) => conns.push(c),
            Err(e) => panic!("connection {i}: {e}"),
        }
    }
    // UDP is answered.
    let r = udp(s.addr, &query("www.example.com.", RecordType::A));
    assert_eq!(rdata_strings(&r.answers), ["A 192.0.2.80"]);
    // So is a fresh TCP client, from an address with no connection yet.
    let mut c = connect_from("127.0.99.1".parse().unwrap(), s.addr).unwrap();
    tcp_send(&mut c, &encode(&query("www.example.com.", RecordType::A)));
    let r = decode(&tcp_recv(&mut c).expect("a fresh TCP client is answered"));
    assert_eq!(rdata_strings(&r.answers), ["A 192.0.2.80"]);
}

/// The server's resident memory, KiB.
fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn clients_that_pipeline_and_never_read_hold_bounded_memory() {
    // A big RRset: each answer is ~16 KiB, ~500 times its query.
    let mut zone = String::from(
        "$ORIGIN big.test.\n$TTL 60\n@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n",
    );
    for i in 0..64 {
        zone.push_str(&format!("t IN TXT \"{i:03}{}\"\n", "x".repeat(240)));
    }
    let dir = ZoneDir::with_zone("big.test", &zone);
    let s = Server::start_owned(dir, &["--tcp-max-per-client", "100"]);
    let before = rss_kib(s.pid());
    let q = framed(&query("t.big.test.", RecordType::TXT));
    let burst: Vec<u8> = q.iter().copied().cycle().take(q.len() * 2000).collect();
    let mut conns = Vec::new();
    for _ in 0..50 {
        let mut c = tcp_connect(s.addr);
        c.set_nonblocking(true).unwrap();
        // Write until the server stops taking queries (it stops reading once the replies it
        // holds reach the cap), at most 2000 queries' worth (32 MB of answers each).
        let mut at = 0;
        let mut stuck = 0;
        while at < burst.len() && stuck < 20 {
            match c.write(&burst[at..]) {
                Ok(n) => {
                    at += n;
                    stuck = 0;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    stuck += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("write: {e}"),
            }
        }
        conns.push(c);
    }
    std::thread::sleep(Duration::from_millis(500));
    let grown = rss_kib(s.pid()).saturating_sub(before);
    // Without the cap the replies to every query read pile up: hundreds of MB here. With it,
    // each connection holds at most ~2 × 64 KiB of replies and its buffers.
    assert!(
        grown < 32 * 1024,
        "RSS grew by {grown} KiB for 50 connections that never read"
    );
    // And others are still served.
    drop(conns);
    let r = udp(s.addr, &query("ns1.big.test.", RecordType::A));
    assert_eq!(rdata_strings(&r.answers), ["A 192.0.2.1"]);
}
