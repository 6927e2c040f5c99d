//! What the fuzz targets check, as plain functions: the cargo-fuzz targets
//! (`fuzz_targets/*.rs`, nightly) call them on generated inputs, and `tests/fuzz_corpus.rs`
//! (stable, in CI) replays the seeds under `fuzz/corpus/` through them. Each panics when an
//! input finds a bug.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use geosteer::dns::{Identity, Responder, Transport};
use geosteer::load;
use geosteer::metrics::{Metrics, Shard};
use geosteer::state::{Published, State};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::RecordType;

/// The repository's root (from the fuzz crate or the main one).
pub fn root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if here.join("zones").is_dir() {
        here
    } else {
        here.join("..")
    }
}

struct Fixture {
    responder: Responder,
    shard: Arc<Shard>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let root = root();
        let snapshot = load::load(&load::Sources::new(
            root.join("zones"),
            root.join("geoip/sample-city.mmdb"),
        ))
        .expect("the shipped example loads");
        let state = Arc::new(Published::new(State::new(Arc::new(load::for_serving(
            snapshot,
        )))));
        let identity = Identity {
            server_id: Some("fuzz.example".into()),
            version: Some("geosteer fuzz".into()),
            nsid: Some(b"fuzz".to_vec()),
        };
        let metrics = Arc::new(Metrics::default());
        let shard = metrics.shard();
        let responder = Responder::with_identity(state, &identity).with_metrics(metrics);
        Fixture { responder, shard }
    })
}

/// Client addresses from the sample database's regions, loopback and unknown space.
fn client(b: u8) -> IpAddr {
    match b % 8 {
        0 => IpAddr::V4(Ipv4Addr::new(193, 0, 6, 139)),
        1 => IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
        2 => IpAddr::V4(Ipv4Addr::new(202, 12, 27, 33)),
        3 => IpAddr::V4(Ipv4Addr::LOCALHOST),
        4 => IpAddr::V6(Ipv6Addr::LOCALHOST),
        5 => IpAddr::V6("2001:67c:2e8::1".parse().unwrap()),
        6 => IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
        _ => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(b))),
    }
}

/// The whole query path, bytes in and response out, through the function the UDP loop's
/// answerer calls, with the shipped example loaded. The first two input bytes choose the
/// transport and the client address; the rest is the packet. Beyond "no panic", every
/// response must be one: at least a header, the query's ID, QR set, within the transport's
/// limit, and decodable by an independent decoder (hickory's).
pub fn query(data: &[u8]) {
    let Some((&[ctl, addr], packet)) = data.split_first_chunk::<2>() else {
        return;
    };
    let f = fixture();
    let transport = if ctl & 1 == 0 {
        Transport::Udp
    } else {
        Transport::Tcp
    };
    let src = SocketAddr::new(client(addr), 40000 + u16::from(ctl));
    let mut out = Vec::new();
    if !f
        .responder
        .respond_counted(packet, src, transport, &mut out, Some(&f.shard))
    {
        return;
    }
    assert!(out.len() >= 12, "a response shorter than a header");
    assert_eq!(out[..2], packet[..2], "ID echoed");
    assert_ne!(out[2] & 0x80, 0, "QR set");
    match transport {
        Transport::Udp => assert!(out.len() <= 1232, "{} bytes over UDP", out.len()),
        Transport::Tcp => assert!(out.len() <= 65535),
    }
    if let Err(e) = Message::from_vec(&out) {
        panic!("the response does not decode ({e}): {out:02x?}");
    }
}

/// A scratch directory per thread of the process (tests run in parallel).
fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("a scratch directory")
}

fn scratch_dir() -> &'static Mutex<tempfile::TempDir> {
    static D: OnceLock<Mutex<tempfile::TempDir>> = OnceLock::new();
    D.get_or_init(|| Mutex::new(scratch()))
}

/// The zone master-file reader, on arbitrary file contents: everything `geosteer check` does
/// with a zone file (reading, `$INCLUDE`, the checks of the zone as a whole), through
/// `load::load` on a directory holding just that file.
pub fn zone_file(data: &[u8]) {
    let dir = scratch_dir().lock().unwrap_or_else(|e| e.into_inner());
    std::fs::write(dir.path().join("example.com.zone"), data).expect("write the zone file");
    let sources = load::Sources::new(dir.path(), PathBuf::from("/nonexistent.mmdb"));
    let _ = load::load_with_env(&sources, &|_| None);
}

/// The steering TOML loader, on arbitrary file contents beside the shipped example zone,
/// with the sample GeoIP database; a configuration that loads is then queried for each of
/// its load-balanced names from clients in several regions (steering on fuzzed
/// configuration).
pub fn steering_toml(data: &[u8]) {
    static D: OnceLock<Mutex<tempfile::TempDir>> = OnceLock::new();
    let dir = D
        .get_or_init(|| {
            let d = scratch();
            std::fs::copy(
                root().join("zones/example.com.zone"),
                d.path().join("example.com.zone"),
            )
            .expect("copy the example zone");
            Mutex::new(d)
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    std::fs::write(dir.path().join("example.com.toml"), data).expect("write the toml");
    let sources = load::Sources::new(dir.path(), root().join("geoip/sample-city.mmdb"));
    // Every ${VAR} resolves, unless its name is long (the unset-variable error path).
    let Ok(snapshot) = load::load_with_env(&sources, &|k| (k.len() < 6).then(|| "x".into())) else {
        return;
    };
    drop(dir);
    let names: Vec<_> = snapshot
        .steering
        .load_balancers
        .iter()
        .map(|lb| lb.name.clone())
        .collect();
    let responder = Responder::new(Arc::new(Published::new(State::new(Arc::new(snapshot)))));
    let clients: [SocketAddr; 4] = [
        "193.0.6.139:1".parse().unwrap(),
        "8.8.8.8:1".parse().unwrap(),
        "202.12.27.33:1".parse().unwrap(),
        "[2001:67c:2e8::1]:1".parse().unwrap(),
    ];
    let mut out = Vec::new();
    for name in names.iter().take(8) {
        for qtype in [RecordType::A, RecordType::AAAA] {
            let mut m = Message::new(1, MessageType::Query, OpCode::Query);
            m.add_query(Query::query(name.clone(), qtype));
            let q = m.to_vec().expect("encode");
            for src in clients {
                assert!(responder.respond(&q, src, Transport::Udp, &mut out));
                Message::from_vec(&out).expect("the response decodes");
            }
        }
    }
}
