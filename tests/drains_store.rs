//! The drain store behind the running server (`Ops`): decisions made here and decisions taken
//! from elsewhere (another instance's, as a fleet would exchange them) merge by time, are
//! saved to the state file, and reach the published health at once.

use std::path::PathBuf;
use std::sync::Arc;

use geosteer::drains::{Drains, Entry, Key, now_ms};
use geosteer::health::{Monitoring, Options};
use geosteer::load;
use geosteer::metrics::Metrics;
use geosteer::ops::Ops;
use geosteer::state::{Published, Snapshot, State};
use hickory_proto::rr::Name;

const ZONE: &str = "$ORIGIN example.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@ IN NS ns1
ns1 IN A 127.0.0.53
";

const STEERING: &str = r#"
[pools.p]
origins = [ { address = "127.0.70.1", name = "a" }, { address = "127.0.70.2", name = "b" } ]
[pools.q]
origins = [ { address = "127.0.71.1" } ]
[load_balancers.www]
steering = "failover"
default_pools = ["p", "q"]
"#;

fn snapshot(dir: &std::path::Path) -> Arc<Snapshot> {
    std::fs::write(dir.join("example.test.zone"), ZONE).unwrap();
    std::fs::write(dir.join("example.test.toml"), STEERING).unwrap();
    let sources = load::Sources::new(dir, dir.join("none.mmdb"));
    Arc::new(load::load(&sources).unwrap_or_else(|e| panic!("{:?}", e.0)))
}

fn peer(pool: &str, origin: Option<&str>, drained: bool, at_ms: u64) -> Entry {
    Entry {
        key: Key {
            zone: "example.test.".into(),
            pool: pool.into(),
            origin: origin.map(String::from),
        },
        drained,
        at_ms,
        by: "ns2".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_and_peer_decisions_merge_by_time_and_are_kept() {
    let zones = tempfile::tempdir().unwrap();
    let state_dir = tempfile::tempdir().unwrap();
    let snap = snapshot(zones.path());
    let state = Arc::new(Published::new(State::new(snap.clone())));
    let monitoring = Monitoring::start(state.clone(), snap.clone(), Options::default()).await;
    let ops = Ops::new(
        load::Sources::new(zones.path(), PathBuf::from("none.mmdb")),
        state.clone(),
        monitoring,
        Arc::new(Metrics::default()),
        Drains::open(state_dir.path()).unwrap(),
        "ns1",
    );
    let zone = Name::from_ascii("example.test.").unwrap();

    // Here: origin b drained (by name), recorded under its address.
    let done = ops.set_drain(&zone, "p", Some("b"), true).await.unwrap();
    assert_eq!(done.entry.by, "ns1");
    assert_eq!(done.entry.key.origin.as_deref(), Some("127.0.70.2"));
    assert!(state.load().health.origins[1].drained);

    // From a peer: an older enable of b loses; a newer drain of pool q wins; an unknown
    // origin's drain is kept although nothing here matches it.
    let old = done.entry.at_ms - 1;
    let taken = ops
        .merge_drains(vec![
            peer("p", Some("127.0.70.2"), false, old),
            peer("q", None, true, now_ms() + 1000),
            peer("p", Some("127.0.70.9"), true, now_ms()),
        ])
        .await
        .unwrap();
    assert_eq!(taken, 2);
    let h = state.load().health.clone();
    assert!(h.origins[1].drained, "the older enable lost");
    assert!(h.pools[1].drained, "the peer's pool drain applies");
    // Merging the same again changes nothing.
    assert_eq!(
        ops.merge_drains(vec![peer("q", None, true, now_ms() - 5000)])
            .await
            .unwrap(),
        0
    );

    // All of it is in the state file, and a new store reads the same.
    let again = Drains::open(state_dir.path()).unwrap();
    let entries: Vec<&Entry> = again.entries().collect();
    assert_eq!(entries.len(), 3);
    assert_eq!(
        entries,
        ops.drain_entries().await.iter().collect::<Vec<_>>()
    );

    // Unknown names are refused before anything is written.
    assert!(ops.set_drain(&zone, "nope", None, true).await.is_err());
    assert!(ops.set_drain(&zone, "p", Some("zz"), true).await.is_err());
    assert_eq!(Drains::open(state_dir.path()).unwrap().entries().count(), 3);
    ops.monitoring.shutdown().await;
}
