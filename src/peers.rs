//! The peer poller of `serve --peer URL`: every poll interval it reads each peer's
//! `GET /v1/fleet` report (with the API token; bounded in time and size), hands the fleet's
//! observations to health monitoring, which folds them into the published health
//! ([`crate::fleet::fold`]) off the query path, and merges the peers' drain decisions into
//! this instance's drain store (saved under `--state-dir`).
//!
//! A peer is untrusted input: a report that is too large, late, malformed or of another
//! version is a failed poll (counted, shown in `/v1/status`), never a crash. Being cut off
//! from every peer is logged at WARN once when it happens, and at INFO when a peer answers
//! again.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::drains::now_ms;
use crate::fleet::{self, FleetData, PeerSlot, Report};
use crate::ops::Ops;
use crate::state::Snapshot;

/// A peer's report is read up to this size; a larger one is a failed poll.
pub const MAX_REPORT_BYTES: usize = 16 << 20;

/// Peers are polled at the shortest monitor interval, within these bounds; without monitors
/// at the upper one (for drains).
pub const MIN_POLL: Duration = Duration::from_millis(500);
/// See [`MIN_POLL`].
pub const MAX_POLL: Duration = Duration::from_secs(60);
/// The longest a poll may take (connecting, sending and reading the report).
pub const MAX_POLL_TIMEOUT: Duration = Duration::from_secs(10);

/// What the poller needs from `serve`'s flags (no `Debug`: it holds the token).
#[derive(Clone)]
pub struct PeerOptions {
    /// The peers' `--http` endpoints (ADDR:PORT or a URL).
    pub peers: Vec<String>,
    /// The API token, sent to peers as a bearer token.
    pub token: String,
    /// This instance's `--instance` name.
    pub instance: String,
    /// Its `--location`.
    pub location: Option<(f64, f64)>,
    /// `--quorum`.
    pub quorum: Option<u32>,
}

/// A `--peer` value as the URL of its report: `ADDR:PORT` gets `http://`.
pub fn report_url(peer: &str) -> String {
    let s = peer.trim().trim_end_matches('/');
    let base = if s.starts_with("http://") || s.starts_with("https://") {
        s.to_string()
    } else {
        format!("http://{s}")
    };
    format!("{base}/v1/fleet")
}

/// The poll interval for a configuration: its shortest monitor interval, bounded.
pub fn poll_interval(snap: &Snapshot) -> Duration {
    snap.steering
        .monitors
        .iter()
        .map(|m| m.interval)
        .min()
        .unwrap_or(MAX_POLL)
        .clamp(MIN_POLL, MAX_POLL)
}

/// Builds the HTTP client peers are polled with (certificates checked against the system's
/// roots for `https://` peers).
pub fn client() -> Result<reqwest::Client, String> {
    let tls = crate::health::probe::TlsConfigs::default();
    let cfg = tls.verified().unwrap_or_else(|_| tls.insecure());
    reqwest::Client::builder()
        .tls_backend_preconfigured(cfg)
        .no_proxy()
        .http1_only()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("geosteer-fleet/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the peers' HTTP client: {e}"))
}

/// Reads one report, within `timeout` and [`MAX_REPORT_BYTES`].
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    timeout: Duration,
) -> Result<Report, String> {
    let read = async {
        let mut r = client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !r.status().is_success() {
            return Err(format!("HTTP status {}", r.status()));
        }
        if r.content_length()
            .is_some_and(|n| n > MAX_REPORT_BYTES as u64)
        {
            return Err(format!("report over {MAX_REPORT_BYTES} bytes"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = r.chunk().await.map_err(|e| e.without_url().to_string())? {
            if body.len() + chunk.len() > MAX_REPORT_BYTES {
                return Err(format!("report over {MAX_REPORT_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice::<Report>(&body).map_err(|e| format!("bad report: {e}"))
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(r) => r.map_err(|e| short(&e)),
        Err(_) => Err(format!("no report within {} ms", timeout.as_millis())),
    }
}

/// An error message of bounded length (a peer's text may end up in one).
fn short(s: &str) -> String {
    const MAX: usize = 200;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Polls the peers until `shutdown`: see the module documentation.
pub async fn run(ops: Arc<Ops>, opts: PeerOptions, shutdown: CancellationToken) {
    let client = match client() {
        Ok(c) => c,
        Err(e) => {
            warn!("fleet: {e}; peers are not polled");
            return;
        }
    };
    let mut data = FleetData {
        instance: opts.instance.clone(),
        location: opts.location,
        quorum: opts.quorum,
        poll_interval: poll_interval(&ops.current()),
        peers: opts
            .peers
            .iter()
            .map(|p| PeerSlot {
                url: report_url(p),
                ..PeerSlot::default()
            })
            .collect(),
    };
    let mut was_isolated = false;
    // Peers that start with this one may not answer its first polls: being alone is only
    // said once some peer has answered, or after the grace of 3 poll intervals.
    let started = tokio::time::Instant::now();
    let mut heard = false;
    // Per peer: its failure was logged (once per transition, and not during the grace).
    let mut down_logged = vec![false; data.peers.len()];
    loop {
        let round = tokio::time::Instant::now();
        let interval = poll_interval(&ops.current());
        data.poll_interval = interval;
        let timeout = interval.min(MAX_POLL_TIMEOUT);
        let mut polls = tokio::task::JoinSet::new();
        for (i, p) in data.peers.iter().enumerate() {
            let (client, url, token) = (client.clone(), p.url.clone(), opts.token.clone());
            polls.spawn(async move { (i, fetch(&client, &url, &token, timeout).await) });
        }
        let mut results = Vec::with_capacity(data.peers.len());
        while let Some(r) = polls.join_next().await {
            if let Ok(x) = r {
                results.push(x);
            }
        }
        let now = now_ms();
        let grace_over = started.elapsed() >= interval * fleet::FRESH_INTERVALS;
        let mut drains = Vec::new();
        for (i, result) in results {
            let slot = &mut data.peers[i];
            match result.and_then(|report| fleet::take(report, now)) {
                Ok(taken) => {
                    if std::mem::take(&mut down_logged[i]) {
                        info!(
                            event = "peer_up",
                            peer = %slot.url,
                            "fleet: peer {} ({}) answers again",
                            taken.instance,
                            slot.url
                        );
                    }
                    slot.name = Some(taken.instance);
                    slot.location = taken.location;
                    slot.last_ok_ms = Some(now);
                    slot.error = None;
                    slot.observations = Arc::new(taken.observations);
                    drains.extend(taken.drains);
                }
                Err(e) => {
                    if !down_logged[i] && (slot.last_ok_ms.is_some() || grace_over) {
                        down_logged[i] = true;
                        warn!(
                            event = "peer_down",
                            peer = %slot.url,
                            "fleet: peer {}: {e}",
                            slot.url
                        );
                    }
                    slot.failures += 1;
                    slot.error = Some(e);
                }
            }
        }
        take_drains(&ops, drains).await;
        ops.monitoring.set_fleet(Arc::new(data.clone()));
        heard |= data.peers.iter().any(|p| p.last_ok_ms.is_some());
        let settled = heard || grace_over;
        let isolated = data.isolated(now_ms());
        if settled && isolated != was_isolated {
            if isolated {
                warn!(
                    event = "fleet_isolated",
                    "fleet: no peer has reported for {} s: origins are judged by this \
                     instance's own probes alone",
                    (interval * fleet::FRESH_INTERVALS).as_secs_f64()
                );
            } else {
                info!(
                    event = "fleet_joined",
                    "fleet: peers report again: origins are judged by the fleet's quorum"
                );
            }
            was_isolated = isolated;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            // Rounds start an interval apart, however long the polls took.
            _ = tokio::time::sleep_until(round + interval) => {}
        }
    }
}

/// Merges the peers' drain decisions about pools of this configuration (the others would
/// only grow the store: they come again once the configuration has the pool).
async fn take_drains(ops: &Ops, entries: Vec<crate::drains::Entry>) {
    if entries.is_empty() {
        return;
    }
    let snap = ops.current();
    let pools: HashSet<(String, &str)> = snap
        .steering
        .pools
        .iter()
        .map(|p| (p.zone.to_string().to_ascii_lowercase(), p.name.as_str()))
        .collect();
    let known: Vec<_> = entries
        .into_iter()
        .filter(|e| pools.contains(&(e.key.zone.to_ascii_lowercase(), e.key.pool.as_str())))
        .collect();
    match ops.merge_drains(known).await {
        Ok(0) => {}
        Ok(n) => info!(
            "fleet: {n} drain decision{} taken from peers",
            if n == 1 { "" } else { "s" }
        ),
        Err(e) => warn!("fleet: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_values_become_report_urls() {
        assert_eq!(report_url("10.0.0.2:9153"), "http://10.0.0.2:9153/v1/fleet");
        assert_eq!(
            report_url("https://ns2.example.net:9153/"),
            "https://ns2.example.net:9153/v1/fleet"
        );
        assert_eq!(short(&"é".repeat(300)).chars().count(), 101);
    }
}
