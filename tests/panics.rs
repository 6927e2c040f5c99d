//! The panic policy (README, "Panics"), with panics injected through the test-only hook
//! `GEOSTEER_TEST_PANIC`: a panic while answering is answered SERVFAIL, counted, logged at
//! most once in a while, and the socket or connection goes on serving; a panic anywhere
//! else (here: the TCP accept loop) aborts the process so that its supervisor restarts it;
//! a panicking health probe is a local error that leaves the origin's state as it was.

mod common;

use std::net::{TcpListener, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

fn panicking_server(what: &str, extra: &[&str]) -> Server {
    let zones = ZoneDir::example();
    let mut s = Server::start_vars(
        zones.path(),
        extra,
        Some("info"),
        &[("GEOSTEER_TEST_PANIC", what)],
    );
    s.keep(zones);
    s
}

#[test]
fn a_panic_while_answering_is_servfail_and_serving_goes_on() {
    // One client socket: SO_REUSEPORT hashes its datagrams to one server socket, so the
    // panics and the good queries go through the same thread.
    let s = panicking_server("query", &["--http", "127.0.0.1:0"]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = [0u8; 1500];
    for i in 0..5u16 {
        let mut q = query("panic.example.com.", RecordType::A);
        q.metadata.id = 100 + i;
        sock.send_to(&encode(&q), s.addr).unwrap();
        let (n, _) = sock
            .recv_from(&mut buf)
            .expect("an answer to the panicking query");
        let r = decode(&buf[..n]);
        assert_eq!(r.metadata.id, 100 + i);
        assert_eq!(rcode(&r), ResponseCode::ServFail);
        // The same thread answers the next query.
        let mut q = query("www.example.com.", RecordType::A);
        q.metadata.id = 200 + i;
        sock.send_to(&encode(&q), s.addr).unwrap();
        let (n, _) = sock.recv_from(&mut buf).expect("the thread goes on");
        let ok = decode(&buf[..n]);
        assert_eq!(ok.metadata.id, 200 + i);
        assert_eq!(rdata_strings(&ok.answers), ["A 192.0.2.80"]);
    }
    // TCP: SERVFAIL, and the connection stays usable.
    let mut c = tcp_connect(s.addr);
    tcp_send(&mut c, &encode(&query("panic.example.com.", RecordType::A)));
    let r = decode(&tcp_recv(&mut c).expect("a TCP answer"));
    assert_eq!(rcode(&r), ResponseCode::ServFail);
    tcp_send(&mut c, &encode(&query("www.example.com.", RecordType::A)));
    let r = decode(&tcp_recv(&mut c).expect("the connection goes on"));
    assert_eq!(rdata_strings(&r.answers), ["A 192.0.2.80"]);

    let (code, m) = http_get(s.http_addr(), "/metrics");
    assert_eq!(code, 200);
    assert_eq!(
        metric(&m, "geosteer_panics_total{where=\"udp\"}"),
        Some(5.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "geosteer_panics_total{where=\"tcp\"}"),
        Some(1.0),
        "{m}"
    );
    // Six panics, one log line (at most one every 10 s).
    s.wait_for_stderr("caught a panic");
    let lines = s
        .stderr()
        .iter()
        .filter(|l| l.contains("panicked at") || l.contains("caught a panic"))
        .count();
    assert_eq!(lines, 1, "{:#?}", s.stderr());
}

#[test]
fn a_panic_in_the_accept_loop_ends_the_process_for_the_supervisor() {
    let mut s = panicking_server("accept", &[]);
    // Still answering UDP until then.
    let ok = udp(s.addr, &query("www.example.com.", RecordType::A));
    assert_eq!(rcode(&ok), ResponseCode::NoError);
    let _c = std::net::TcpStream::connect(s.addr).unwrap();
    let status = s
        .wait_exit(WAIT)
        .expect("the process ends after a panic outside any caught scope");
    assert!(!status.success(), "{status:?}");
    assert!(
        s.stderr().iter().any(|l| l.contains("aborting")),
        "{:#?}",
        s.stderr()
    );
}

#[test]
fn without_the_hook_armed_nothing_panics() {
    let s = Server::example();
    let r = udp(s.addr, &query("panic.example.com.", RecordType::A));
    assert_eq!(rcode(&r), ResponseCode::NXDomain);
}

const ZONE: &str = "$ORIGIN example.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@ IN NS ns1
ns1 IN A 127.0.0.53
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_probe_is_a_local_error_and_keeps_the_origin_state() {
    use geosteer::health::{Monitoring, Options};
    use geosteer::panics::{Inject, Site, arm, caught};
    use geosteer::state::{Published, State};

    let listener = TcpListener::bind("127.0.51.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = ZoneDir::new();
    dir.write("example.test.zone", ZONE);
    dir.write(
        "example.test.toml",
        &format!(
            r#"
[monitors.tcp]
type = "tcp"
port = {port}
interval = "2s"
timeout = "1s"
retries = 0
consecutive_down = 1
[pools.p]
monitor = "tcp"
origins = [ {{ address = "127.0.51.1" }} ]
[load_balancers.www]
steering = "failover"
default_pools = ["p"]
"#
        ),
    );
    let snap = Arc::new(
        geosteer::load::load(&geosteer::load::Sources::new(
            dir.path(),
            dir.path().join("none.mmdb"),
        ))
        .unwrap_or_else(|e| panic!("{:?}", e.0)),
    );
    let state = Arc::new(Published::new(State::new(snap.clone())));
    let monitoring = Monitoring::start(state.clone(), snap, Options::default()).await;
    assert!(
        state.load().health.origins[0].up,
        "up after the first round"
    );

    let before = (caught(Site::Probe), geosteer::health::local_errors());
    arm(Some(Inject::Probe));
    // Every probe now panics; with consecutive_down 1 one failure would mark it down.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    arm(None);
    let after = (caught(Site::Probe), geosteer::health::local_errors());
    assert!(
        after.0 > before.0,
        "probes panicked: {before:?} → {after:?}"
    );
    assert!(
        after.1 >= after.0 - before.0 + before.1,
        "{before:?} → {after:?}"
    );
    assert!(
        state.load().health.origins[0].up,
        "a local error does not count against the origin"
    );
    let status = monitoring.status();
    assert!(
        status[0]
            .last
            .as_ref()
            .is_some_and(|r| r.to_string().contains("local error")),
        "{:?}",
        status[0].last
    );
    monitoring.shutdown().await;
    drop(listener);
}
