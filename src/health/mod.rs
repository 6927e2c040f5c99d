//! Health monitoring: probes the origins of monitored pools and publishes what it finds to
//! the query path.
//!
//! ```text
//!   config (Arc<Snapshot>) ──► plan: one Target per monitored origin, keyed by
//!                              zone + pool + probe address + monitor settings
//!   Target task: sleep until due ─► semaphore (max probes in flight) ─► Check::probe
//!                ─► Machine::record (hysteresis) ─► master HealthView (under a mutex)
//!   publisher task: up/down change ─► at once; RTT-only change ─► at most once a second
//!                ─► Published::publish(State { same config Arc, new health Arc, probes })
//! ```
//!
//! The query path never waits for any of this: it loads whatever `State` is current.
//! Before a configuration is first served (or swapped in by [`Monitoring::reconfigure`]),
//! every origin without a verdict is probed once and its result sets its state directly;
//! afterwards each origin is probed every `interval`, at a random phase so that probes are
//! spread over the interval.

pub mod machine;
pub mod probe;
mod stats;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hickory_proto::rr::Name;
use rand::RngExt;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::config::{Monitor, MonitorKind, OriginId};
use crate::state::{
    Failure, HealthView, OriginHealth, OriginStatus, PoolHealth, ProbeCell, ProbeRecord,
    ProbeResult, Published, Snapshot, State,
};
use machine::{Change, Machine, Thresholds};
pub use stats::ScheduleStats;

/// Origins found down by a first round that are logged one by one at info; the rest are
/// counted (a large outage at start should not flood the log).
const FIRST_ROUND_DOWN_LINES: usize = 20;

/// Probes this host could not make (see [`Failure::Local`]).
static LOCAL_ERRORS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Probes this host could not make since start (out of file descriptors, a panic): they
/// never count against an origin.
pub fn local_errors() -> u64 {
    LOCAL_ERRORS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Probes in flight at most, by default.
pub const DEFAULT_MAX_PROBES: usize = 256;

/// Called with each state as it is published, in order (under monitoring's lock: keep it
/// short). The transition log is one.
pub type PublishHook = Arc<dyn Fn(&State) + Send + Sync>;

/// How monitoring runs.
#[derive(Clone)]
pub struct Options {
    /// Probes (connections) in flight at most; further due probes wait for a slot.
    pub max_probes: usize,
    /// RTT-only changes are published at most this often.
    pub rtt_publish_interval: Duration,
    /// Told of every state published.
    pub on_publish: Option<PublishHook>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("max_probes", &self.max_probes)
            .field("rtt_publish_interval", &self.rtt_publish_interval)
            .field("on_publish", &self.on_publish.is_some())
            .finish()
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_probes: DEFAULT_MAX_PROBES,
            rtt_publish_interval: Duration::from_secs(1),
            on_publish: None,
        }
    }
}

/// An error from the drain API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound(pub String);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotFound {}

/// Running health monitoring. Dropping it stops probing; [`Monitoring::shutdown`] also waits
/// for the probes in flight to end.
pub struct Monitoring {
    inner: Arc<Inner>,
}

/// What makes an origin's probe state carry over a reload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TargetKey {
    zone: Name,
    pool: String,
    address: IpAddr,
    /// The monitor's settings, its name blanked (a renamed monitor is the same check).
    settings: Monitor,
}

struct Target {
    key: TargetKey,
    monitor_name: String,
    origin_name: String,
    thresholds: Thresholds,
    interval: Duration,
    check: probe::Check,
    cancel: CancellationToken,
    st: Mutex<TargetState>,
    /// What its probes found, as the published state shows it.
    record: Arc<ProbeCell>,
}

struct TargetState {
    /// The origin's index in the configuration currently served (changed only under the
    /// `current` lock).
    origin: OriginId,
    machine: Machine,
    rtt_ms: Option<f64>,
    /// The last load reading (none when the last passing probe carried none).
    load: Option<f64>,
}

struct Inner {
    state: Arc<Published>,
    /// The probing thread's runtime: every task of this module runs there.
    rt: tokio::runtime::Handle,
    opts: Options,
    limit: Arc<Semaphore>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    current: Mutex<Current>,
    /// One reconfiguration at a time.
    reconfiguring: tokio::sync::Mutex<()>,
    publish_now: Notify,
    tls: probe::TlsConfigs,
    lateness: stats::Lateness,
}

struct Current {
    config: Arc<Snapshot>,
    /// The master copy of what the query path sees.
    view: HealthView,
    targets: HashMap<TargetKey, Arc<Target>>,
    /// Per origin id: its target, if monitored.
    by_origin: Vec<Option<Arc<Target>>>,
    /// Per origin id: its target's probe record, as published.
    probes: Arc<[Option<Arc<ProbeCell>>]>,
    drained_origins: HashSet<(Name, String, IpAddr)>,
    drained_pools: HashSet<(Name, String)>,
    /// An up/down change not yet published.
    state_dirty: bool,
    /// An RTT change not yet published.
    rtt_dirty: bool,
    publishes: u64,
    /// The fleet's observations (with peers): folded into each published view.
    fleet: Option<Arc<crate::fleet::FleetData>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Monitoring {
    /// Probes every monitored origin of `config` once (the first round), publishes
    /// `State { config, health }` into `state`, and starts probing on schedule. Returns when
    /// the first round is done: open the sockets after this.
    ///
    /// Probing runs on a thread of its own (a single-threaded runtime), so that probe tasks
    /// never queue in front of the query path's tasks.
    pub async fn start(state: Arc<Published>, config: Arc<Snapshot>, opts: Options) -> Self {
        let shutdown = CancellationToken::new();
        let rt = probe_runtime(shutdown.clone());
        let inner = Arc::new(Inner {
            state,
            rt,
            limit: Arc::new(Semaphore::new(opts.max_probes.max(1))),
            opts,
            shutdown,
            tracker: TaskTracker::new(),
            current: Mutex::new(Current {
                view: HealthView::all_up(&config.steering),
                by_origin: vec![None; config.steering.origins.len()],
                probes: vec![None; config.steering.origins.len()].into(),
                config: config.clone(),
                targets: HashMap::new(),
                drained_origins: HashSet::new(),
                drained_pools: HashSet::new(),
                state_dirty: false,
                rtt_dirty: false,
                publishes: 0,
                fleet: None,
            }),
            reconfiguring: tokio::sync::Mutex::new(()),
            publish_now: Notify::new(),
            tls: probe::TlsConfigs::default(),
            lateness: stats::Lateness::default(),
        });
        inner.clone().install(config).await;
        inner.tracker.spawn_on(inner.clone().publisher(), &inner.rt);
        Self { inner }
    }

    /// Switches to a new configuration: origins that still exist (same zone, pool, probe
    /// address and monitor settings) keep their state and schedule; new ones are probed
    /// once before the switch; removed ones stop being probed. Publishes
    /// `State { config, health }` and returns the health it was published with.
    pub async fn reconfigure(&self, config: Arc<Snapshot>) -> Arc<HealthView> {
        self.inner.clone().install(config).await
    }

    /// Drains (or undrains) one origin of a pool, found by name or address, at once.
    /// The drain is kept across reloads while the origin exists.
    pub fn set_origin_drain(
        &self,
        zone: &Name,
        pool: &str,
        origin: &str,
        drained: bool,
    ) -> Result<(), NotFound> {
        let inner = &self.inner;
        let mut cur = lock(&inner.current);
        let p = find_pool(&cur.config, zone, pool)?;
        let range = cur.config.steering.pools[p].origins.clone();
        let found = range.clone().find(|&o| {
            let origin_cfg = &cur.config.steering.origins[o as usize];
            origin_cfg.name == origin
                || [origin_cfg.v4.map(IpAddr::V4), origin_cfg.v6.map(IpAddr::V6)]
                    .into_iter()
                    .flatten()
                    .any(|a| a.to_string() == origin)
        });
        let Some(o) = found else {
            return Err(NotFound(format!(
                "pool {pool} of {zone} has no origin named {origin}"
            )));
        };
        let address = cur.config.steering.origins[o as usize].probe_address();
        let key = (
            cur.config.steering.pools[p].zone.clone(),
            pool.to_string(),
            address,
        );
        if drained {
            cur.drained_origins.insert(key);
        } else {
            cur.drained_origins.remove(&key);
        }
        cur.view.origins[o as usize].drained = drained;
        let action = if drained { "drained" } else { "undrained" };
        info!(
            event = if drained { "origin_drained" } else { "origin_undrained" },
            zone = %zone,
            pool,
            origin,
            address = %address,
            "origin {origin} of pool {pool} ({zone}) {action}"
        );
        inner.publish(&mut cur);
        Ok(())
    }

    /// Drains (or undrains) a whole pool, at once. Kept across reloads while the pool exists.
    pub fn set_pool_drain(&self, zone: &Name, pool: &str, drained: bool) -> Result<(), NotFound> {
        let inner = &self.inner;
        let mut cur = lock(&inner.current);
        let p = find_pool(&cur.config, zone, pool)?;
        let key = (cur.config.steering.pools[p].zone.clone(), pool.to_string());
        if drained {
            cur.drained_pools.insert(key);
        } else {
            cur.drained_pools.remove(&key);
        }
        cur.view.pools[p].drained = drained;
        let action = if drained { "drained" } else { "undrained" };
        info!(
            event = if drained { "pool_drained" } else { "pool_undrained" },
            zone = %zone,
            pool,
            "pool {pool} ({zone}) {action}"
        );
        inner.publish(&mut cur);
        Ok(())
    }

    /// Replaces every drain at once (the drain store's view: origins by zone, pool and probe
    /// address; pools by zone and name) and publishes once. Drains that match nothing in the
    /// configuration are kept and apply if it comes to have them.
    pub fn replace_drains(
        &self,
        origins: HashSet<(Name, String, IpAddr)>,
        pools: HashSet<(Name, String)>,
    ) {
        let inner = &self.inner;
        let mut cur = lock(&inner.current);
        cur.drained_origins = origins;
        cur.drained_pools = pools;
        let s = &cur.config.steering;
        let origin_flags: Vec<bool> = s
            .origins
            .iter()
            .map(|o| {
                let p = &s.pools[o.pool as usize];
                cur.drained_origins
                    .contains(&(p.zone.clone(), p.name.clone(), o.probe_address()))
            })
            .collect();
        let pool_flags: Vec<bool> = s
            .pools
            .iter()
            .map(|p| {
                cur.drained_pools
                    .contains(&(p.zone.clone(), p.name.clone()))
            })
            .collect();
        for (h, d) in cur.view.origins.iter_mut().zip(origin_flags) {
            h.drained = d;
        }
        for (h, d) in cur.view.pools.iter_mut().zip(pool_flags) {
            h.drained = d;
        }
        inner.publish(&mut cur);
    }

    /// Takes the fleet's latest observations (the peer poller's, every poll interval) and
    /// publishes the health they fold into with this instance's own.
    pub fn set_fleet(&self, data: Arc<crate::fleet::FleetData>) {
        let mut cur = lock(&self.inner.current);
        cur.fleet = Some(data);
        self.inner.publish(&mut cur);
    }

    /// Every origin of the configuration published last, by origin id.
    pub fn status(&self) -> Vec<OriginStatus> {
        self.inner.state.load().origin_status()
    }

    /// How late scheduled probes have started so far.
    pub fn schedule_stats(&self) -> ScheduleStats {
        self.inner.lateness.summary()
    }

    /// How many times a new `State` has been published.
    pub fn publishes(&self) -> u64 {
        lock(&self.inner.current).publishes
    }

    /// Stops probing and waits for the probe tasks to end.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
    }
}

impl Drop for Monitoring {
    fn drop(&mut self) {
        self.inner.shutdown.cancel();
    }
}

/// Starts the probing thread: a single-threaded runtime that runs until `shutdown`.
fn probe_runtime(shutdown: CancellationToken) -> tokio::runtime::Handle {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot start the health-probing runtime");
    let handle = rt.handle().clone();
    std::thread::Builder::new()
        .name("geosteer-health".into())
        .spawn(move || rt.block_on(shutdown.cancelled()))
        .expect("cannot start the health-probing thread");
    handle
}

fn find_pool(cfg: &Snapshot, zone: &Name, pool: &str) -> Result<usize, NotFound> {
    cfg.steering
        .pools
        .iter()
        .position(|p| p.name == pool && p.zone == *zone)
        .ok_or_else(|| NotFound(format!("no pool {pool} in zone {zone}")))
}

/// The monitored origins of a configuration: enabled origins of enabled pools that have a
/// monitor.
fn plan(cfg: &Snapshot) -> Vec<(OriginId, TargetKey, &Monitor)> {
    let s = &cfg.steering;
    let mut out = Vec::new();
    for pool in &s.pools {
        let Some(m) = pool.monitor else { continue };
        if !pool.enabled {
            continue;
        }
        let monitor = &s.monitors[m as usize];
        let settings = Monitor {
            name: String::new(),
            ..monitor.clone()
        };
        for o in pool.origins.clone() {
            let origin = &s.origins[o as usize];
            if !origin.enabled {
                continue;
            }
            let key = TargetKey {
                zone: pool.zone.clone(),
                pool: pool.name.clone(),
                address: origin.probe_address(),
                settings: with_origin_host(&settings, origin.host_header.as_deref()),
            };
            out.push((o, key, monitor));
        }
    }
    out
}

/// `monitor` as it probes one origin: an origin's own Host header (Cloudflare's origin
/// `header.Host`) replaces the monitor's.
fn with_origin_host(monitor: &Monitor, host: Option<&str>) -> Monitor {
    let Some(host) = host else {
        return monitor.clone();
    };
    let mut m = monitor.clone();
    if let MonitorKind::Http(h) | MonitorKind::Https(h) = &mut m.kind {
        h.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("host"));
        h.headers.push(("Host".to_string(), host.to_string()));
    }
    m
}

impl Inner {
    /// Shared by start and reconfigure.
    async fn install(self: Arc<Self>, config: Arc<Snapshot>) -> Arc<HealthView> {
        let _one_at_a_time = self.reconfiguring.lock().await;
        let planned = plan(&config);

        // New targets: built (outside the lock: an HTTP check builds a client) and probed
        // before anything is switched.
        let is_new: Vec<bool> = {
            let cur = lock(&self.current);
            planned
                .iter()
                .map(|(_, key, _)| !cur.targets.contains_key(key))
                .collect()
        };
        let new_targets: Vec<Arc<Target>> = planned
            .iter()
            .zip(&is_new)
            .filter(|(_, new)| **new)
            .map(|((o, key, monitor), _)| {
                let origin = &config.steering.origins[*o as usize];
                let check = probe::Check::new(&key.settings, key.address, &self.tls);
                if let Some(e) = check.invalid() {
                    warn!(
                        "monitor {} cannot probe {} in pool {}: {e}",
                        monitor.name, key.address, key.pool
                    );
                }
                Arc::new(Target {
                    key: key.clone(),
                    monitor_name: monitor.name.clone(),
                    origin_name: origin.name.clone(),
                    thresholds: Thresholds {
                        consecutive_down: monitor.consecutive_down,
                        consecutive_up: monitor.consecutive_up,
                    },
                    interval: monitor.interval,
                    check,
                    cancel: self.shutdown.child_token(),
                    st: Mutex::new(TargetState {
                        origin: *o,
                        machine: Machine::default(),
                        rtt_ms: None,
                        load: None,
                    }),
                    record: Arc::new(ProbeCell::new(ProbeRecord::new(&monitor.name))),
                })
            })
            .collect();
        let first_round_done = self.first_round(&new_targets).await;

        let mut cur = lock(&self.current);
        let new_keys: HashMap<&TargetKey, &Arc<Target>> =
            new_targets.iter().map(|t| (&t.key, t)).collect();
        let mut targets = HashMap::with_capacity(planned.len());
        let mut by_origin = vec![None; config.steering.origins.len()];
        for (o, key, _) in &planned {
            let Some(t) = cur
                .targets
                .get(key)
                .or_else(|| new_keys.get(key).copied())
                .cloned()
            else {
                continue;
            };
            lock(&t.st).origin = *o;
            by_origin[*o as usize] = Some(t.clone());
            targets.insert(key.clone(), t);
        }
        let mut retired = 0;
        for (key, t) in &cur.targets {
            if !targets.contains_key(key) {
                t.cancel.cancel();
                retired += 1;
            }
        }
        // Drains are an operator's decision: they stay, also for origins and pools that are
        // not in this configuration, and apply again if those come back (the drain store
        // keeps them across restarts too).
        cur.view = build_view(
            &config,
            &by_origin,
            &cur.drained_origins,
            &cur.drained_pools,
        );
        cur.config = config;
        cur.targets = targets;
        cur.probes = by_origin
            .iter()
            .map(|t| t.as_ref().map(|t| t.record.clone()))
            .collect();
        cur.by_origin = by_origin;
        self.publish(&mut cur);
        let view = self.state.load().health.clone();
        let added = new_targets.len();
        let kept = cur.targets.len().saturating_sub(added);
        drop(cur);

        for t in new_targets {
            // Each origin gets a random phase within the interval, so that probes are spread
            // evenly over it from the first round on (never all at once).
            let phase = rand::rng().random_range(0.0..1.0);
            let due = first_round_done + t.interval.mul_f64(phase);
            self.tracker.spawn_on(self.clone().run(t, due), &self.rt);
        }
        if kept > 0 || retired > 0 {
            info!("health: {added} origins added, {kept} kept, {retired} no longer probed");
        }
        view
    }

    /// Probes `targets` once each (at most `max_probes` at a time) and records the results.
    /// Returns when all are done.
    async fn first_round(&self, targets: &[Arc<Target>]) -> tokio::time::Instant {
        if targets.is_empty() {
            return tokio::time::Instant::now();
        }
        let started = Instant::now();
        let longest = targets
            .iter()
            .map(|t| t.key.settings.timeout * (t.key.settings.retries + 1))
            .max()
            .unwrap_or_default();
        info!(
            "health: probing {} origins before serving them (each within {:?})",
            targets.len(),
            longest
        );
        let mut set = tokio::task::JoinSet::new();
        for t in targets {
            let t = t.clone();
            let limit = self.limit.clone();
            let cancel = t.cancel.clone();
            set.spawn_on(
                async move {
                    let _permit = limit.acquire_owned().await.expect("never closed");
                    tokio::select! {
                        biased;
                        _ = cancel.cancelled() => None,
                        r = t.check.probe() => Some((t, r)),
                    }
                },
                &self.rt,
            );
        }
        let (mut up, mut down) = (0usize, 0usize);
        while let Some(r) = set.join_next().await {
            let Ok(Some((t, result))) = r else { continue };
            let ok = result.ok();
            self.record(&t, result, down < FIRST_ROUND_DOWN_LINES);
            if ok {
                up += 1;
            } else {
                down += 1;
            }
        }
        if down > FIRST_ROUND_DOWN_LINES {
            info!(
                "health: … and {} more origins down at start \
                 (RUST_LOG=geosteer::health=debug lists each)",
                down - FIRST_ROUND_DOWN_LINES
            );
        }
        info!(
            "health: first probe round done in {:.0} ms: {up} up, {down} down",
            started.elapsed().as_secs_f64() * 1000.0
        );
        tokio::time::Instant::now()
    }

    /// Applies one probe's result to its target: counters, state, RTT, and the log line of
    /// a change. Returns what changed and whether the RTT moved.
    fn record(&self, t: &Target, result: ProbeResult, log_initial: bool) -> (Change, bool) {
        let mut st = lock(&t.st);
        let local = matches!(result.outcome, Err(Failure::Local(_)));
        let change = if local {
            // This host's trouble, not the origin's: counted, the state kept.
            LOCAL_ERRORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Change::None
        } else {
            st.machine.record(result.ok(), t.thresholds)
        };
        let mut rtt_moved = false;
        if let Ok(success) = &result.outcome {
            let sample = result.time.as_secs_f64() * 1000.0;
            st.rtt_ms = Some(machine::ewma(st.rtt_ms, sample));
            // A load reading is published like an RTT sample (at most once per interval).
            st.load = success.load();
            rtt_moved = true;
        }
        // Formatted only when a line is actually logged.
        let who = Who(t);
        let reason = Reason(&result);
        let (k, origin) = (&t.key, &t.origin_name);
        match change {
            Change::Initial(true) => debug!("{who}: up: {result}"),
            Change::Initial(false) if log_initial => warn!(
                event = "origin_down",
                zone = %k.zone,
                pool = %k.pool,
                origin = %origin,
                address = %k.address,
                reason = %reason,
                monitor = %t.monitor_name,
                at_start = true,
                "{who}: DOWN at start: {reason} ({} attempts, monitor {})",
                result.attempts,
                t.monitor_name
            ),
            Change::Initial(false) => debug!("{who}: DOWN at start: {result}"),
            Change::Flipped(false) => warn!(
                event = "origin_down",
                zone = %k.zone,
                pool = %k.pool,
                origin = %origin,
                address = %k.address,
                reason = %reason,
                monitor = %t.monitor_name,
                failures = st.machine.failures,
                "{who}: DOWN: {reason}; {} failed probes in a row (consecutive_down {}), \
                 monitor {}",
                st.machine.failures,
                t.thresholds.consecutive_down,
                t.monitor_name
            ),
            Change::Flipped(true) => info!(
                event = "origin_up",
                zone = %k.zone,
                pool = %k.pool,
                origin = %origin,
                address = %k.address,
                reason = %reason,
                monitor = %t.monitor_name,
                successes = st.machine.successes,
                "{who}: UP: {reason}; {} successful probes in a row (consecutive_up {}), \
                 monitor {}",
                st.machine.successes,
                t.thresholds.consecutive_up,
                t.monitor_name
            ),
            Change::None => debug!("{who}: {result}"),
        }
        let mut record = lock(&t.record);
        record.successes = st.machine.successes;
        record.failures = st.machine.failures;
        if change.changes_state() {
            record.since = Some(result.at);
        }
        if let Err(f) = &result.outcome {
            record.failures_by_reason[f.reason_index()] += 1;
        }
        record.last = Some(result);
        (change, rtt_moved)
    }

    /// A scheduled probe's result: record it, and update the master view for the publisher.
    fn apply(&self, t: &Target, result: ProbeResult) {
        let (change, rtt_moved) = self.record(t, result, true);
        let mut cur = lock(&self.current);
        if t.cancel.is_cancelled() {
            return; // retired by a reconfiguration meanwhile
        }
        let st = lock(&t.st);
        let o = st.origin as usize;
        if let Some(h) = cur.view.origins.get_mut(o) {
            h.up = st.machine.up.unwrap_or(false);
            h.local_up = h.up;
            h.rtt_ms = st.rtt_ms;
            h.load = st.load;
        }
        drop(st);
        if change.changes_state() {
            cur.state_dirty = true;
            drop(cur);
            self.publish_now.notify_one();
        } else if rtt_moved {
            cur.rtt_dirty = true;
        }
    }

    /// Stores `State { config, health }` from the master copy. Called with `current` locked,
    /// so that publications are ordered.
    fn publish(&self, cur: &mut Current) {
        let health = match &cur.fleet {
            None => cur.view.clone(),
            Some(data) => {
                let intervals: Vec<Option<Duration>> = cur
                    .by_origin
                    .iter()
                    .map(|t| t.as_ref().map(|t| t.interval))
                    .collect();
                crate::fleet::fold(
                    &cur.config.steering,
                    &cur.view,
                    &intervals,
                    data,
                    crate::drains::now_ms(),
                )
            }
        };
        let state = State {
            config: cur.config.clone(),
            health: Arc::new(health),
            probes: cur.probes.clone(),
        };
        if let Some(hook) = &self.opts.on_publish {
            hook(&state);
        }
        self.state.publish(state);
        cur.state_dirty = false;
        cur.rtt_dirty = false;
        cur.publishes += 1;
    }

    /// Publishes up/down changes as soon as they are recorded (several that arrive together
    /// go out in one swap) and RTT-only changes at most once per `rtt_publish_interval`.
    async fn publisher(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.opts.rtt_publish_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let urgent = tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return,
                _ = self.publish_now.notified() => true,
                _ = tick.tick() => false,
            };
            let mut cur = lock(&self.current);
            if cur.state_dirty || (!urgent && cur.rtt_dirty) {
                self.publish(&mut cur);
            }
        }
    }

    /// One target's schedule: probe at `due`, then every `interval`.
    async fn run(self: Arc<Self>, t: Arc<Target>, mut due: tokio::time::Instant) {
        loop {
            tokio::select! {
                biased;
                _ = t.cancel.cancelled() => return,
                _ = tokio::time::sleep_until(due) => {}
            }
            let permit = tokio::select! {
                biased;
                _ = t.cancel.cancelled() => return,
                p = self.limit.clone().acquire_owned() => p.expect("never closed"),
            };
            let start = tokio::time::Instant::now();
            self.lateness.record(start.saturating_duration_since(due));
            let result = tokio::select! {
                biased;
                _ = t.cancel.cancelled() => return,
                r = t.check.probe() => r,
            };
            drop(permit);
            self.apply(&t, result);
            due += t.interval;
            let now = tokio::time::Instant::now();
            if due < now {
                // The probe took longer than the interval (re-tries): skip the missed slots.
                let behind = (now - due).as_nanos() / t.interval.as_nanos().max(1) + 1;
                due += t.interval * u32::try_from(behind).unwrap_or(u32::MAX);
            }
        }
    }
}

/// "origin NAME (ADDRESS) in pool POOL of ZONE", for log lines.
struct Who<'a>(&'a Target);

impl std::fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (t, k) = (self.0, &self.0.key);
        write!(f, "origin {}", t.origin_name)?;
        if t.origin_name != k.address.to_string() {
            write!(f, " ({})", k.address)?;
        }
        write!(f, " in pool {} of {}", k.pool, k.zone)
    }
}

/// A probe's outcome without the timing: "connected", "status 503", "refused", …
struct Reason<'a>(&'a ProbeResult);

impl std::fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0.outcome {
            Ok(s) => s.fmt(f),
            Err(e) => e.fmt(f),
        }
    }
}

fn build_view(
    config: &Snapshot,
    by_origin: &[Option<Arc<Target>>],
    drained_origins: &HashSet<(Name, String, IpAddr)>,
    drained_pools: &HashSet<(Name, String)>,
) -> HealthView {
    let s = &config.steering;
    let origins = s
        .origins
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let pool = &s.pools[o.pool as usize];
            let drained = drained_origins.contains(&(
                pool.zone.clone(),
                pool.name.clone(),
                o.probe_address(),
            ));
            match &by_origin[i] {
                Some(t) => {
                    let st = lock(&t.st);
                    let up = st.machine.up.unwrap_or(false);
                    OriginHealth {
                        up,
                        drained,
                        rtt_ms: st.rtt_ms,
                        local_up: up,
                        load: st.load,
                    }
                }
                // Not monitored: always healthy (steering still leaves disabled ones out).
                None => OriginHealth {
                    up: true,
                    drained,
                    rtt_ms: None,
                    local_up: true,
                    load: None,
                },
            }
        })
        .collect();
    let pools = s
        .pools
        .iter()
        .map(|p| PoolHealth {
            drained: drained_pools.contains(&(p.zone.clone(), p.name.clone())),
        })
        .collect();
    HealthView {
        origins,
        pools,
        fleet: None,
    }
}

#[cfg(test)]
mod origin_host_tests {
    use super::*;
    use crate::config::HttpCheck;

    fn monitor(headers: Vec<(String, String)>) -> Monitor {
        Monitor {
            name: "m".into(),
            zone: Name::root(),
            kind: MonitorKind::Http(HttpCheck {
                method: "GET".into(),
                path: "/".into(),
                headers,
                body: None,
                expected_codes: vec![(200, 200)],
                expected_body: None,
                follow_redirects: false,
                allow_insecure: false,
                load: None,
            }),
            port: 80,
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
            retries: 0,
            consecutive_down: 1,
            consecutive_up: 1,
        }
    }

    fn headers(m: &Monitor) -> Vec<(String, String)> {
        match &m.kind {
            MonitorKind::Http(h) | MonitorKind::Https(h) => h.headers.clone(),
            MonitorKind::Tcp => Vec::new(),
        }
    }

    #[test]
    fn an_origin_host_replaces_the_monitor_host() {
        let m = monitor(vec![
            ("host".into(), "monitor.example".into()),
            ("X-A".into(), "1".into()),
        ]);
        let got = with_origin_host(&m, Some("db1.example"));
        assert_eq!(
            headers(&got),
            vec![
                ("X-A".to_string(), "1".to_string()),
                ("Host".to_string(), "db1.example".to_string())
            ]
        );
        // Without one, the monitor's own; and two origins with other hosts are two targets.
        assert_eq!(with_origin_host(&m, None), m);
        assert_ne!(
            with_origin_host(&m, Some("a.example")),
            with_origin_host(&m, Some("b.example"))
        );
    }
}
