//! Running-server operations: reload, drains, readiness, and the data behind the status and
//! metrics endpoints. SIGHUP and the HTTP API both come here.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::rr::Name;
use tracing::{error, info, warn};

use crate::dnssec::cache::SigCaches;
use crate::drains::{self, Drains};
use crate::error::ConfigErrors;
use crate::health::Monitoring;
use crate::load::{self, Sources};
use crate::metrics::Metrics;
use crate::state::{Published, Snapshot};

/// The running server as the API and signals see it.
pub struct Ops {
    /// Where reloads read from.
    pub sources: Sources,
    /// The published state.
    pub state: Arc<Published>,
    /// Health monitoring: the state's only writer.
    pub monitoring: Monitoring,
    /// The process's counters.
    pub metrics: Arc<Metrics>,
    /// Set once the configuration is loaded and the sockets are bound.
    pub ready: AtomicBool,
    /// The query path's signature caches (for their metrics).
    pub caches: Arc<SigCaches>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    /// Told when a reload publishes a new configuration (the signature refresh task then
    /// looks at its keys).
    reloaded: tokio::sync::Notify,
    /// Operators' drains, and where they are kept. Locked for the whole of a change
    /// (decide, save, apply), so that changes are saved and applied in one order.
    drains: tokio::sync::Mutex<Drains>,
    /// This instance's name, recorded with the drains decided here.
    instance: String,
    /// This instance's `--location` (latitude, longitude), published to peers.
    location: Option<(f64, f64)>,
}

/// Why a drain request failed.
#[derive(Debug)]
pub enum DrainError {
    /// No such zone, pool or origin.
    NotFound(String),
    /// The state file could not be written; nothing changed.
    Storage(String),
}

impl std::fmt::Display for DrainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DrainError::NotFound(m) | DrainError::Storage(m) => f.write_str(m),
        }
    }
}

/// A drain request that was carried out.
#[derive(Debug, Clone)]
pub struct Drained {
    /// The pool's zone.
    pub zone: Name,
    /// The origin's probe address, for an origin drain.
    pub address: Option<IpAddr>,
    /// The decision as recorded.
    pub entry: drains::Entry,
}

/// A successful reload.
#[derive(Debug, Clone)]
pub struct Reloaded {
    /// The generation now served.
    pub generation: u64,
    /// What it serves, in one line.
    pub summary: String,
}

/// How long a reload may take to load before it is abandoned (and the reload lock released).
pub const RELOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Ops {
    /// `snapshot` is generation 1, already published in `state` by `monitoring`. `drains`
    /// are applied by [`Ops::apply_drains`]; `instance` names this instance in them.
    pub fn new(
        sources: Sources,
        state: Arc<Published>,
        monitoring: Monitoring,
        metrics: Arc<Metrics>,
        drains: Drains,
        instance: &str,
    ) -> Self {
        {
            let mut r = metrics.reloads.lock().expect("not poisoned");
            r.generation = state.load().config.generation;
            r.last_reload_unix = now_unix();
            r.last_reload_ok = true;
        }
        Self {
            sources,
            state,
            monitoring,
            metrics,
            ready: AtomicBool::new(false),
            caches: Arc::default(),
            reloading: tokio::sync::Mutex::new(()),
            reloaded: tokio::sync::Notify::new(),
            drains: tokio::sync::Mutex::new(drains),
            instance: instance.to_string(),
            location: None,
        }
    }

    /// Places this instance at `location` (`--location`), for its peers.
    pub fn with_location(mut self, location: Option<(f64, f64)>) -> Self {
        self.location = location;
        self
    }

    /// This instance's `--location`.
    pub fn location(&self) -> Option<(f64, f64)> {
        self.location
    }

    /// What this instance publishes to its peers (`GET /v1/fleet`): its own observations and
    /// every drain decision it holds.
    pub async fn fleet_report(&self) -> crate::fleet::Report {
        let drains = self.drain_entries().await;
        let state = self.state.current();
        crate::fleet::report(
            &state,
            &self.instance,
            self.location,
            drains::now_ms(),
            drains,
        )
    }

    /// Reports `caches` (the responder's) in the metrics.
    pub fn with_signature_caches(mut self, caches: Arc<SigCaches>) -> Self {
        self.caches = caches;
        self
    }

    /// The configuration currently published.
    pub fn current(&self) -> Arc<Snapshot> {
        self.state.load().config.clone()
    }

    /// Marks the server ready (`/readyz`).
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Whether the server is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Re-reads zones, steering configuration and the GeoIP database and, when everything is
    /// valid, switches to it atomically: queries in flight finish on the old snapshot, the
    /// next ones see the new. New origins are probed before the switch; origins that remain
    /// keep their health and drains. A failed reload changes nothing.
    pub async fn reload(&self) -> Result<Reloaded, ConfigErrors> {
        let _one = self.reloading.lock().await;
        crate::systemd::reloading();
        let sources = self.sources.clone();
        let current = self.current();
        let generation = current.generation + 1;
        let replaced = Arc::downgrade(&current);
        // Loading reads files and walks the GeoIP database: keep it off the async workers. It
        // is bounded (zone files and $INCLUDE work have limits), and the lock is released after
        // RELOAD_TIMEOUT whatever happens, so no reload can block the next ones for good.
        let task = tokio::task::spawn_blocking(move || {
            // A panic while loading fails the reload (counted); the old config stays.
            crate::panics::catch(crate::panics::Site::Reload, || {
                load::reload(&sources, &current).map(load::for_serving)
            })
        });
        let failed = |why: String| {
            Err(ConfigErrors(vec![crate::error::ConfigError::file(
                &self.sources.zones,
                why,
            )]))
        };
        let loaded = match tokio::time::timeout(RELOAD_TIMEOUT, task).await {
            Ok(Ok(Some(loaded))) => loaded,
            Ok(Ok(None)) => failed("loading panicked (a bug: please report it)".into()),
            Ok(Err(e)) => failed(format!("reload task failed: {e}")),
            Err(_) => failed(format!(
                "loading took longer than {} s; abandoned",
                RELOAD_TIMEOUT.as_secs()
            )),
        };
        let mut stats = self.metrics.reloads.lock().expect("not poisoned").clone();
        stats.last_reload_unix = now_unix();
        let result = match loaded {
            Ok(mut snap) => {
                snap.generation = generation;
                let summary = snap.summary();
                self.monitoring.reconfigure(Arc::new(snap)).await;
                // The previous snapshot is gone now (queries in flight held it at most for
                // their answer): give its memory back to the system, not to the arenas.
                self.reloaded.notify_waiters();
                let _ = tokio::task::spawn_blocking(load::release_freed_memory).await;
                // A query in flight, an API request or a signing task may hold the replaced
                // snapshot a little longer, and memory it frees then would stay in the
                // allocator's arenas: give it back again once the snapshot is gone (bounded).
                tokio::spawn(async move {
                    for _ in 0..1200 {
                        if replaced.strong_count() == 0 {
                            let _ = tokio::task::spawn_blocking(load::release_freed_memory).await;
                            return;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                });
                info!("reloaded: generation {generation}: {summary}");
                stats.generation = generation;
                stats.last_reload_ok = true;
                stats.reloads_ok += 1;
                Ok(Reloaded {
                    generation,
                    summary,
                })
            }
            Err(errors) => {
                for e in &errors.0 {
                    error!(
                        "reload rejected, still serving generation {}: {e}",
                        generation - 1
                    );
                }
                stats.last_reload_ok = false;
                stats.reloads_failed += 1;
                Err(errors)
            }
        };
        *self.metrics.reloads.lock().expect("not poisoned") = stats;
        crate::systemd::reloaded(match &result {
            Ok(_) => "serving (reloaded)",
            Err(_) => "serving (reload rejected: the previous configuration)",
        });
        result
    }

    /// Drains (or ends the drain of) a pool, or one origin of it given by name or address:
    /// recorded in the drain store, saved to the state file if there is one, then applied.
    /// When the file cannot be written, nothing changes.
    pub async fn set_drain(
        &self,
        zone: &Name,
        pool: &str,
        origin: Option<&str>,
        drained: bool,
    ) -> Result<Drained, DrainError> {
        let mut store = self.drains.lock().await;
        let snap = self.current();
        let cfg = &snap.steering;
        let p = cfg
            .pools
            .iter()
            .find(|p| p.name == pool && p.zone == *zone)
            .ok_or_else(|| DrainError::NotFound(format!("no pool {pool} in zone {zone}")))?;
        let address = match origin {
            None => None,
            Some(o) => {
                let found = p.origins.clone().find(|&i| {
                    let c = &cfg.origins[i as usize];
                    c.name == o
                        || [c.v4.map(IpAddr::V4), c.v6.map(IpAddr::V6)]
                            .into_iter()
                            .flatten()
                            .any(|a| a.to_string() == o)
                });
                let Some(i) = found else {
                    return Err(DrainError::NotFound(format!(
                        "pool {pool} of {zone} has no origin named {o}"
                    )));
                };
                Some(cfg.origins[i as usize].probe_address())
            }
        };
        let key = drains::Key {
            zone: p.zone.to_string(),
            pool: pool.to_string(),
            origin: address.map(|a| a.to_string()),
        };
        let next = store.with(key.clone(), drained, &self.instance);
        let entry = next.get(&key).cloned().expect("just recorded");
        let saved = if next.path().is_some() {
            let to_save = next.to_json();
            let path = next.path().map(PathBuf::from);
            tokio::task::spawn_blocking(move || save_text(path.as_deref(), &to_save))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
        } else {
            Ok(())
        };
        if let Err(e) = saved {
            let path = next
                .path()
                .map_or(String::new(), |p| p.display().to_string());
            error!("{path}: cannot save the drain of {pool}: {e}; nothing changed");
            return Err(DrainError::Storage(format!(
                "{path}: cannot save the drain: {e}; nothing changed"
            )));
        }
        *store = next;
        let zone = p.zone.clone();
        // Monitoring logs the drain itself.
        let applied = match address {
            Some(a) => self
                .monitoring
                .set_origin_drain(&zone, pool, &a.to_string(), drained),
            None => self.monitoring.set_pool_drain(&zone, pool, drained),
        };
        applied.map_err(|e| DrainError::NotFound(e.to_string()))?;
        Ok(Drained {
            zone,
            address,
            entry,
        })
    }

    /// Applies every drain of the store to monitoring at once (at start; and after a merge).
    /// Drains that match nothing in the configuration are kept, and said so.
    pub async fn apply_drains(&self) {
        let store = self.drains.lock().await;
        self.apply_locked(&store);
    }

    fn apply_locked(&self, store: &Drains) {
        let snap = self.current();
        let cfg = &snap.steering;
        let mut origins = HashSet::new();
        let mut pools = HashSet::new();
        for key in store.drained() {
            let Ok(zone) = Name::from_ascii(&key.zone) else {
                warn!(
                    "drain of a pool in zone {:?}: not a zone name; ignored",
                    key.zone
                );
                continue;
            };
            let pool = cfg
                .pools
                .iter()
                .find(|p| p.zone == zone && p.name == key.pool);
            match &key.origin {
                None => {
                    if pool.is_none() {
                        warn!(
                            "pool {} of {zone} is drained but not in the configuration; \
                             the drain is kept",
                            key.pool
                        );
                    }
                    pools.insert((zone, key.pool.clone()));
                }
                Some(o) => {
                    let Ok(address) = o.parse::<IpAddr>() else {
                        warn!(
                            "drain of origin {o:?} of pool {}: not an address; ignored",
                            key.pool
                        );
                        continue;
                    };
                    let known = pool.is_some_and(|p| {
                        p.origins
                            .clone()
                            .any(|i| cfg.origins[i as usize].probe_address() == address)
                    });
                    if !known {
                        warn!(
                            "origin {address} of pool {} of {zone} is drained but not in the \
                             configuration; the drain is kept",
                            key.pool
                        );
                    }
                    origins.insert((zone, key.pool.clone(), address));
                }
            }
        }
        let n = origins.len() + pools.len();
        if n > 0 {
            info!(
                "{n} drain{} applied from {}",
                if n == 1 { "" } else { "s" },
                store
                    .path()
                    .map_or("memory".to_string(), |p| p.display().to_string())
            );
        }
        self.monitoring.replace_drains(origins, pools);
    }

    /// Takes drain decisions made elsewhere (another instance's), keeping for each pool or
    /// origin the latest; saves and applies when any was newer. Returns how many were taken.
    pub async fn merge_drains(&self, entries: Vec<drains::Entry>) -> Result<usize, DrainError> {
        let mut store = self.drains.lock().await;
        let mut next = Drains::in_memory();
        for e in store.entries() {
            next.merge(e.clone());
        }
        let taken = entries
            .into_iter()
            .filter(|e| next.merge(e.clone()))
            .count();
        if taken == 0 {
            return Ok(0);
        }
        let next = next.at(store.path());
        let text = next.to_json();
        let path = next.path().map(PathBuf::from);
        tokio::task::spawn_blocking(move || save_text(path.as_deref(), &text))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
            .map_err(|e| DrainError::Storage(format!("cannot save the drains: {e}")))?;
        *store = next;
        self.apply_locked(&store);
        Ok(taken)
    }

    /// This instance's name (`--identity`, else the host name).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Where the drains are kept (`--state-dir`), if anywhere.
    pub async fn drains_path(&self) -> Option<String> {
        self.drains
            .lock()
            .await
            .path()
            .map(|p| p.display().to_string())
    }

    /// Every drain decision held, drained or not (for the status API and peers).
    pub async fn drain_entries(&self) -> Vec<drains::Entry> {
        self.drains.lock().await.entries().cloned().collect()
    }

    /// The zones that have a pool named `pool` (for drain requests that do not name one).
    pub fn zones_with_pool(&self, pool: &str) -> Vec<Name> {
        let snap = self.current();
        let mut zones: Vec<Name> = snap
            .steering
            .pools
            .iter()
            .filter(|p| p.name == pool)
            .map(|p| p.zone.clone())
            .collect();
        zones.dedup();
        zones
    }

    /// Keeps the signatures of the current configuration fresh, until the task is dropped:
    /// sleeps until the earliest signature is due (less the pre-refresh) or a key's next
    /// timing event (publish, activate, retire, delete: how a rollover proceeds), re-signs
    /// what is due and publishes it. A reload starts over with the new configuration, whose
    /// signatures were made at load. Wakes at least hourly, so that a clock step is noticed.
    pub async fn keep_signatures_fresh(self: Arc<Self>) {
        // After a zone failed to sign, not before this (its old signatures keep serving).
        let mut retry_after = 0u64;
        loop {
            let snap = self.current();
            let reloaded = self.reloaded.notified();
            let now = crate::dnssec::time::now();
            let wake = snap
                .signing
                .as_ref()
                .and_then(|s| s.next_wake(now))
                .unwrap_or(u64::MAX)
                .max(retry_after);
            let delay = wake.saturating_sub(now).min(3600);
            let snap = if delay > 0 {
                // Not held while asleep: the snapshot a reload replaces is freed at the swap
                // (a million-record zone's worth), not up to an hour later.
                drop(snap);
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(delay)) => {}
                    _ = reloaded => continue,
                }
                self.current()
            } else {
                snap
            };
            let Some(signing_snap) = snap.signing.as_ref().map(|_| snap.clone()) else {
                continue;
            };
            let done = tokio::task::spawn_blocking(move || {
                let zones: Vec<&crate::zone::Zone> = signing_snap.zones.iter().collect();
                signing_snap
                    .signing
                    .as_ref()
                    .map(|s| s.refresh(&zones, crate::dnssec::time::now()))
                    .unwrap_or_default()
            })
            .await
            .unwrap_or_default();
            if done.zones > 0 {
                info!(
                    "dnssec: re-signed {} zone{}: {} new signatures",
                    done.zones,
                    if done.zones == 1 { "" } else { "s" },
                    done.made
                );
            }
            for (zone, e) in &done.failed {
                error!("dnssec: cannot re-sign {zone}, its signatures stay as they are: {e}");
            }
            retry_after = if done.failed.is_empty() {
                0
            } else {
                crate::dnssec::time::now() + 60
            };
        }
    }
}

// Origins by host name (issue 15, item 6).
impl Ops {
    /// Resolves the host names of the current configuration's origins every `interval`, and
    /// reloads when one resolves to other addresses than those answered now. A name that
    /// fails to resolve fails the reload, so the addresses it had keep being answered (and
    /// the error is logged). Runs until the task is dropped; does nothing without such
    /// origins (it looks again after each interval, for a reload that adds some).
    pub async fn keep_hosts_fresh(self: Arc<Self>, interval: std::time::Duration) {
        loop {
            tokio::time::sleep(interval).await;
            let snap = self.current();
            let hosts: Vec<(
                String,
                Option<std::net::Ipv4Addr>,
                Option<std::net::Ipv6Addr>,
            )> = snap
                .steering
                .origins
                .iter()
                .filter_map(|o| o.host.clone().map(|h| (h, o.v4, o.v6)))
                .collect();
            if hosts.is_empty() {
                continue;
            }
            let changed = tokio::task::spawn_blocking(move || {
                hosts
                    .into_iter()
                    .find_map(|(h, v4, v6)| match crate::config::resolve_host(&h) {
                        Ok(now) if now == (v4, v6) => None,
                        Ok((n4, n6)) => Some(format!(
                            "origin host {h} now resolves to {}",
                            [n4.map(|a| a.to_string()), n6.map(|a| a.to_string())]
                                .into_iter()
                                .flatten()
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                        Err(e) => Some(format!("origin host {h} does not resolve: {e}")),
                    })
            })
            .await
            .ok()
            .flatten();
            if let Some(why) = changed {
                info!("{why}: reloading");
                // A failed reload logs its errors and keeps the configuration answered now.
                let _ = self.reload().await;
            }
        }
    }
}

/// Writes a drains file's text atomically where `path` says (nothing without one).
fn save_text(path: Option<&Path>, text: &str) -> std::io::Result<()> {
    match path {
        Some(p) => drains::write_atomically(p, text),
        None => Ok(()),
    }
}
