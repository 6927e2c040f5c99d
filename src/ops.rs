//! Running-server operations: reload, drains, readiness, and the data behind the status and
//! metrics endpoints. SIGHUP and the HTTP API both come here.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::rr::Name;
use tracing::{error, info};

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
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
}

/// A successful reload.
#[derive(Debug, Clone)]
pub struct Reloaded {
    /// The generation now served.
    pub generation: u64,
    /// What it serves, in one line.
    pub summary: String,
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Ops {
    /// `snapshot` is generation 1, already published in `state` by `monitoring`.
    pub fn new(
        sources: Sources,
        state: Arc<Published>,
        monitoring: Monitoring,
        metrics: Arc<Metrics>,
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
            reloading: tokio::sync::Mutex::new(()),
        }
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
        let sources = self.sources.clone();
        let current = self.current();
        let generation = current.generation + 1;
        // Loading reads files and walks the GeoIP database: keep it off the async workers.
        let loaded = tokio::task::spawn_blocking(move || load::reload(&sources, &current))
            .await
            .unwrap_or_else(|e| {
                Err(ConfigErrors(vec![crate::error::ConfigError::file(
                    &self.sources.zones,
                    format!("reload task failed: {e}"),
                )]))
            });
        let mut stats = self.metrics.reloads.lock().expect("not poisoned").clone();
        stats.last_reload_unix = now_unix();
        let result = match loaded {
            Ok(mut snap) => {
                snap.generation = generation;
                let summary = snap.summary();
                self.monitoring.reconfigure(Arc::new(snap)).await;
                // The previous snapshot is gone now (queries in flight held it at most for
                // their answer): give its memory back to the system, not to the arenas.
                let _ = tokio::task::spawn_blocking(load::release_freed_memory).await;
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
        result
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
}
