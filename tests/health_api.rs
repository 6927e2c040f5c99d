//! The monitoring API used by reloads and the future status API: state carried across
//! `reconfigure`, new origins probed before the switch, drains applied at once. Probes go to
//! listeners on distinct loopback addresses.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

use geosteer::health::{Monitoring, Options};
use geosteer::load;
use geosteer::state::{HealthView, Published, Snapshot, State};
use hickory_proto::rr::Name;

const ZONE: &str = "$ORIGIN example.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@ IN NS ns1
ns1 IN A 127.0.0.53
";

const PORT: u16 = 39105;

fn snapshot(name: &str, steering: &str) -> Arc<Snapshot> {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("geosteer-health-api-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("example.test.zone"), ZONE).unwrap();
    std::fs::write(dir.join("example.test.toml"), steering).unwrap();
    let snap = load::load(&load::Sources::new(dir.clone(), dir.join("none.mmdb")))
        .unwrap_or_else(|e| panic!("{:?}", e.0));
    let _ = std::fs::remove_dir_all(&dir);
    Arc::new(snap)
}

fn listen(ip: &str) -> TcpListener {
    // The kernel completes connections in the backlog; nothing needs to accept them.
    TcpListener::bind(SocketAddr::new(ip.parse().unwrap(), PORT)).unwrap()
}

fn steering(origins: &[&str], consecutive_up: u32) -> String {
    let list: Vec<String> = origins
        .iter()
        .map(|a| format!("{{ address = \"{a}\" }}"))
        .collect();
    format!(
        r#"
[monitors.tcp]
type = "tcp"
port = {PORT}
interval = "30s"
timeout = "1s"
retries = 0
consecutive_up = {consecutive_up}
[pools.p]
monitor = "tcp"
origins = [ {} ]
[pools.unmonitored]
origins = [ {{ address = "127.0.59.9" }} ]
[load_balancers.www]
steering = "failover"
default_pools = ["p", "unmonitored"]
"#,
        list.join(", ")
    )
}

/// Health of the origin with probe address `ip`.
fn up(snap: &Snapshot, h: &HealthView, ip: &str) -> bool {
    let ip: IpAddr = ip.parse().unwrap();
    let i = snap
        .steering
        .origins
        .iter()
        .position(|o| o.probe_address() == ip)
        .unwrap();
    h.origins[i].up
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconfigure_keeps_state_and_probes_new_origins_first() {
    let _a = listen("127.0.50.1");
    let first = snapshot("reconf-1", &steering(&["127.0.50.1", "127.0.50.2"], 2));
    let state = Arc::new(Published::new(State::new(first.clone())));
    let monitoring = Monitoring::start(state.clone(), first.clone(), Options::default()).await;

    // The first round decided both before start returned.
    let h = state.load().health.clone();
    assert!(up(&first, &h, "127.0.50.1"));
    assert!(!up(&first, &h, "127.0.50.2"));
    assert!(
        up(&first, &h, "127.0.59.9"),
        "a pool without a monitor is always healthy"
    );
    let status = monitoring.status();
    assert_eq!(status.len(), 3);
    assert!(status[0].last.as_ref().is_some_and(|r| r.ok()));
    assert_eq!(status[0].monitor.as_deref(), Some("tcp"));
    assert_eq!(
        status[1].last.as_ref().map(|r| r.to_string()),
        Some("failed: refused".to_string())
    );
    assert!(status[2].monitor.is_none());

    // 50.2 starts listening, but is not probed again before its schedule (30 s): a reload
    // that keeps it keeps its state. 50.3 is new, listening, and comes first, so every
    // origin's index changes.
    let _b = listen("127.0.50.2");
    let _c = listen("127.0.50.3");
    let second = snapshot(
        "reconf-2",
        &steering(&["127.0.50.3", "127.0.50.1", "127.0.50.2"], 2),
    );
    let h = monitoring.reconfigure(second.clone()).await;
    let published = state.load();
    assert!(Arc::ptr_eq(&published.config, &second));
    assert!(
        up(&second, &h, "127.0.50.3"),
        "new origin probed before the switch"
    );
    assert!(up(&second, &h, "127.0.50.1"), "kept: up");
    assert!(!up(&second, &h, "127.0.50.2"), "kept: down");
    assert_eq!(published.health.origins.len(), h.origins.len());
    for (a, b) in published.health.origins.iter().zip(&h.origins) {
        assert_eq!(a.up, b.up);
    }

    // Changed monitor settings make a new check: probed afresh, now up.
    let third = snapshot(
        "reconf-3",
        &steering(&["127.0.50.3", "127.0.50.1", "127.0.50.2"], 3),
    );
    let h = monitoring.reconfigure(third.clone()).await;
    assert!(
        up(&third, &h, "127.0.50.2"),
        "re-probed with the new settings"
    );

    monitoring.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drains_apply_at_once_and_survive_reloads() {
    let _a = listen("127.0.51.1");
    let _b = listen("127.0.51.2");
    let cfg = snapshot("drain", &steering(&["127.0.51.1", "127.0.51.2"], 2));
    let state = Arc::new(Published::new(State::new(cfg.clone())));
    let monitoring = Monitoring::start(state.clone(), cfg.clone(), Options::default()).await;
    let zone = Name::from_ascii("example.test.").unwrap();

    monitoring
        .set_origin_drain(&zone, "p", "127.0.51.2", true)
        .unwrap();
    let h = state.load().health.clone();
    assert!(!h.origins[0].drained);
    assert!(h.origins[1].drained, "origin drain published at once");

    monitoring
        .set_pool_drain(&zone, "unmonitored", true)
        .unwrap();
    assert!(state.load().health.pools[1].drained);

    assert!(monitoring.set_pool_drain(&zone, "nope", true).is_err());
    assert!(
        monitoring
            .set_origin_drain(&zone, "p", "127.0.99.99", true)
            .is_err()
    );

    // Same origins in another order: drains follow the origin, not the index.
    let reordered = snapshot("drain-2", &steering(&["127.0.51.2", "127.0.51.1"], 2));
    let h = monitoring.reconfigure(reordered).await;
    assert!(h.origins[0].drained && !h.origins[1].drained);
    assert!(h.pools[1].drained);

    monitoring
        .set_origin_drain(&zone, "p", "127.0.51.2", false)
        .unwrap();
    assert!(!state.load().health.origins[0].drained);
    monitoring.shutdown().await;
}

/// RTT-only changes are published at most once a second, however many origins report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtt_changes_are_coalesced() {
    let addrs: Vec<String> = (1..=50).map(|i| format!("127.0.52.{i}")).collect();
    let _listeners: Vec<TcpListener> = addrs.iter().map(|a| listen(a)).collect();
    let refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let text = steering(&refs, 2)
        .replace("interval = \"30s\"", "interval = \"1s\"")
        .replace("timeout = \"1s\"", "timeout = \"500ms\"");
    let cfg = snapshot("coalesce", &text);
    let state = Arc::new(Published::new(State::new(cfg.clone())));
    let monitoring = Monitoring::start(state.clone(), cfg, Options::default()).await;
    let start = std::time::Instant::now();
    let before = monitoring.publishes();

    // Wait (bounded) until at least 150 scheduled probes have succeeded, each an RTT change.
    while monitoring.schedule_stats().probes < 150 {
        assert!(start.elapsed() < std::time::Duration::from_secs(20));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let publishes = monitoring.publishes() - before;
    let seconds = start.elapsed().as_secs_f64();
    assert!(
        (publishes as f64) <= seconds.ceil() + 1.0,
        "{publishes} publishes in {seconds:.1} s for 150 RTT updates"
    );
    assert!(publishes >= 1, "RTT changes are published");
    let h = state.load().health.clone();
    assert!(h.origins[..50].iter().all(|o| o.up && o.rtt_ms.is_some()));
    monitoring.shutdown().await;
}
