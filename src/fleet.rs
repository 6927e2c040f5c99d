//! A fleet of instances that agree on health: what each publishes, and the pure function that
//! folds the fleet's observations into the health the query path steers by.
//!
//! Every instance (`serve --instance NAME --peer URL …`) publishes its own latest probe
//! observations per origin (`GET /v1/fleet`: up/down, last result, RTT, time) with its drain
//! decisions, and reads its peers' every poll interval ([`crate::peers`]). An origin counts as
//! down when at least a quorum of the instances that observed it within the last 3 intervals
//! (this one included) see it down: `--quorum N`, by default a majority of them ([`verdict`]).
//! Observations older than that are ignored, so an instance cut off from every peer is left
//! with its own view. Every instance computes the same function of the same observations, so
//! the fleet converges without a leader (Cloudflare decides its multi-region health checks the
//! same way).
//!
//! Times are kept in this instance's clock: a peer's observation time is taken relative to
//! the time the peer says it answered (`now_ms`), so clocks that disagree do not make fresh
//! observations stale.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::config::SteeringConfig;
use crate::drains;
use crate::geo::countries::{REGION_COORDINATES, REGION_SLOTS, REGIONS, UNKNOWN_REGION};
use crate::state::{FleetView, HealthView, Member, State};
use crate::steering::great_circle_km;

/// `format` of a fleet report.
pub const FORMAT: &str = "geosteer-fleet";
/// `version` of a fleet report.
pub const VERSION: u32 = 1;
/// Observations older than this many probe intervals are ignored.
pub const FRESH_INTERVALS: u32 = 3;
/// Observations taken from one report at most (the rest are ignored).
pub const MAX_OBSERVATIONS: usize = 100_000;
/// Drain decisions taken from one report at most.
pub const MAX_DRAINS: usize = 10_000;
/// Longest name (instance, zone, pool) taken from a peer.
pub const MAX_NAME: usize = 255;

/// One instance's verdict on one origin, as the quorum counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vote {
    /// It sees the origin down.
    pub down: bool,
    /// When it observed it, in this instance's Unix milliseconds.
    pub at_ms: u64,
}

/// What the quorum decided for one origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The origin counts as down.
    pub down: bool,
    /// Fresh votes that see it down.
    pub down_votes: u16,
    /// Fresh votes.
    pub reporting: u16,
    /// Down votes needed.
    pub needed: u16,
}

/// The quorum rule: of the `votes` no older than `max_age_ms` at `now_ms`, the origin is down
/// when at least `quorum` see it down — `None`: a majority of them; `Some(n)`: n of them,
/// or all of them when fewer than n report (so that an instance left alone judges by itself,
/// and a dead origin is not kept up for want of voters). No fresh vote: up.
pub fn verdict(votes: &[Vote], now_ms: u64, max_age_ms: u64, quorum: Option<u32>) -> Verdict {
    let (mut reporting, mut down_votes) = (0u16, 0u16);
    for v in votes {
        if now_ms.saturating_sub(v.at_ms) <= max_age_ms {
            reporting = reporting.saturating_add(1);
            down_votes = down_votes.saturating_add(u16::from(v.down));
        }
    }
    let needed = match quorum {
        _ if reporting == 0 => 0,
        None => reporting / 2 + 1,
        Some(n) => u16::try_from(n).unwrap_or(u16::MAX).clamp(1, reporting),
    };
    Verdict {
        down: reporting > 0 && down_votes >= needed,
        down_votes,
        reporting,
        needed,
    }
}

/// `--location`: `LAT,LON` in degrees, or a Cloudflare region code (its point in
/// [`REGION_COORDINATES`]).
pub fn parse_location(s: &str) -> Result<(f64, f64), String> {
    let s = s.trim();
    if let Some(i) = REGIONS.iter().position(|r| r.eq_ignore_ascii_case(s)) {
        return Ok(REGION_COORDINATES[i]);
    }
    let bad = || {
        format!(
            "{s:?}: expected LAT,LON in degrees (like 50.1,8.7) or a region code ({})",
            REGIONS.join(", ")
        )
    };
    let (lat, lon) = s.split_once(',').ok_or_else(bad)?;
    let lat: f64 = lat.trim().parse().map_err(|_| bad())?;
    let lon: f64 = lon.trim().parse().map_err(|_| bad())?;
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(format!(
            "{s:?}: latitude must be within ±90 and longitude within ±180"
        ));
    }
    Ok((lat, lon))
}

/// What an instance publishes on `GET /v1/fleet`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// The instance's `--instance` name.
    pub instance: String,
    /// Its `--location`, `[latitude, longitude]`.
    #[serde(default)]
    pub location: Option<[f64; 2]>,
    /// When it made the report, in its Unix milliseconds.
    pub now_ms: u64,
    /// Its own latest observation of each monitored origin.
    #[serde(default)]
    pub observations: Vec<Observation>,
    /// Every drain decision it holds (drained or enabled again), as in its state file.
    #[serde(default)]
    pub drains: Vec<drains::Entry>,
}

/// One instance's latest observation of one origin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Observation {
    /// The zone of the origin's pool (`example.com.`).
    pub zone: String,
    /// The pool.
    pub pool: String,
    /// The origin's probe address.
    pub address: IpAddr,
    /// Its verdict from its own probes (after `consecutive_down`/`consecutive_up`).
    pub up: bool,
    /// Whether the last probe passed.
    #[serde(default)]
    pub ok: bool,
    /// The last probe's result, in words.
    #[serde(default)]
    pub result: String,
    /// Smoothed RTT of its successful probes.
    #[serde(default)]
    pub rtt_ms: Option<f64>,
    /// When the last probe finished, in its Unix milliseconds.
    pub at_ms: u64,
}

/// This instance's report, from the state it publishes now.
pub fn report(
    state: &State,
    instance: &str,
    location: Option<(f64, f64)>,
    now_ms: u64,
    drains: Vec<drains::Entry>,
) -> Report {
    let cfg = &state.config.steering;
    let mut observations = Vec::new();
    for (i, o) in cfg.origins.iter().enumerate() {
        let Some(Some(cell)) = state.probes.get(i) else {
            continue;
        };
        let Some(last) = cell.lock().unwrap_or_else(|e| e.into_inner()).last.clone() else {
            continue;
        };
        let h = state.health.origins.get(i).cloned().unwrap_or_default();
        let pool = &cfg.pools[o.pool as usize];
        observations.push(Observation {
            zone: pool.zone.to_string().to_ascii_lowercase(),
            pool: pool.name.clone(),
            address: o.probe_address(),
            up: h.local_up,
            ok: last.ok(),
            result: last.to_string(),
            rtt_ms: h.rtt_ms,
            at_ms: last
                .at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        });
    }
    Report {
        format: FORMAT.into(),
        version: VERSION,
        instance: instance.to_string(),
        location: location.map(|(a, b)| [a, b]),
        now_ms,
        observations,
        drains,
    }
}

/// An origin as reports name it: zone (lower case, with the final dot), pool, probe address.
pub type ObsKey = (String, String, IpAddr);

/// A peer's observation of one origin, in this instance's clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Obs {
    /// Its verdict.
    pub up: bool,
    /// Its smoothed RTT.
    pub rtt_ms: Option<f64>,
    /// When it observed it, in this instance's Unix milliseconds.
    pub at_ms: u64,
}

/// What a peer's report holds once checked.
#[derive(Debug, Clone, Default)]
pub struct Taken {
    /// Its name.
    pub instance: String,
    /// Its location.
    pub location: Option<(f64, f64)>,
    /// Its observations by origin.
    pub observations: HashMap<ObsKey, Obs>,
    /// Its drain decisions.
    pub drains: Vec<drains::Entry>,
}

/// Checks a peer's report received at `received_ms` (this instance's clock) and takes what it
/// holds: bad values are left out, never trusted (a peer is input like any other).
pub fn take(report: Report, received_ms: u64) -> Result<Taken, String> {
    if report.format != FORMAT {
        return Err(format!("not a fleet report (format {:?})", report.format));
    }
    if report.version != VERSION {
        return Err(format!(
            "report version {} (this geosteer reads {VERSION})",
            report.version
        ));
    }
    if report.instance.is_empty() || report.instance.len() > MAX_NAME {
        return Err("the report's instance name is empty or too long".into());
    }
    let location = report
        .location
        .map(|[a, b]| (a, b))
        .filter(|(a, b)| (-90.0..=90.0).contains(a) && (-180.0..=180.0).contains(b));
    let mut observations = HashMap::with_capacity(report.observations.len().min(1024));
    for o in report.observations.into_iter().take(MAX_OBSERVATIONS) {
        if o.zone.len() > MAX_NAME || o.pool.len() > MAX_NAME {
            continue;
        }
        // Its age by its own clock, then placed on ours.
        let age = report.now_ms.saturating_sub(o.at_ms);
        let at_ms = received_ms.saturating_sub(age);
        let rtt_ms = o.rtt_ms.filter(|r| r.is_finite() && *r >= 0.0);
        observations.insert(
            (o.zone.to_ascii_lowercase(), o.pool, o.address),
            Obs {
                up: o.up,
                rtt_ms,
                at_ms,
            },
        );
    }
    let drains = report
        .drains
        .into_iter()
        .take(MAX_DRAINS)
        .filter(|e| {
            e.key.zone.len() <= MAX_NAME
                && e.key.pool.len() <= MAX_NAME
                && e.by.len() <= MAX_NAME
                && e.key
                    .origin
                    .as_ref()
                    .is_none_or(|a| a.parse::<IpAddr>().is_ok())
        })
        .collect();
    Ok(Taken {
        instance: report.instance,
        location,
        observations,
        drains,
    })
}

/// One peer as the poller last found it.
#[derive(Debug, Clone, Default)]
pub struct PeerSlot {
    /// Its `--peer` URL.
    pub url: String,
    /// Its name, once it has reported.
    pub name: Option<String>,
    /// Its location, as it reported it.
    pub location: Option<(f64, f64)>,
    /// When it last answered with a good report, in this instance's Unix milliseconds.
    pub last_ok_ms: Option<u64>,
    /// Why the last poll failed, if it did.
    pub error: Option<String>,
    /// Polls that failed since start.
    pub failures: u64,
    /// Its observations, from its last good report.
    pub observations: Arc<HashMap<ObsKey, Obs>>,
}

/// Everything the fold needs besides this instance's own view.
#[derive(Debug, Clone)]
pub struct FleetData {
    /// This instance's name.
    pub instance: String,
    /// Its location.
    pub location: Option<(f64, f64)>,
    /// `--quorum`.
    pub quorum: Option<u32>,
    /// How often peers are polled: a peer that has not answered within
    /// [`FRESH_INTERVALS`] of these is not reporting.
    pub poll_interval: Duration,
    /// The peers, in `--peer` order.
    pub peers: Vec<PeerSlot>,
}

impl FleetData {
    /// Whether `peer` reported within [`FRESH_INTERVALS`] poll intervals of `now_ms`.
    pub fn reporting(&self, peer: &PeerSlot, now_ms: u64) -> bool {
        let max = (self.poll_interval * FRESH_INTERVALS).as_millis() as u64;
        peer.last_ok_ms
            .is_some_and(|t| now_ms.saturating_sub(t) <= max)
    }

    /// Peers are configured and none reports: this instance judges alone.
    pub fn isolated(&self, now_ms: u64) -> bool {
        !self.peers.is_empty() && !self.peers.iter().any(|p| self.reporting(p, now_ms))
    }
}

/// The health the query path steers by: `own` (this instance's probes and the drains) with
/// each monitored origin's `up` decided by the quorum of the fleet's fresh observations, and
/// the RTTs of every instance. `intervals` gives each origin's monitor interval (`None`: not
/// monitored, always up, not voted on). A pure function of its arguments.
pub fn fold(
    cfg: &SteeringConfig,
    own: &HealthView,
    intervals: &[Option<Duration>],
    data: &FleetData,
    now_ms: u64,
) -> HealthView {
    let reporting: Vec<bool> = data
        .peers
        .iter()
        .map(|p| data.reporting(p, now_ms))
        .collect();
    let mut out = own.clone();
    let members = 1 + data.peers.len();
    let mut rtt = vec![vec![None; cfg.origins.len()]; members];
    let mut votes = vec![(0u16, 0u16); cfg.origins.len()];
    for (i, o) in cfg.origins.iter().enumerate() {
        let Some(h) = out.origins.get_mut(i) else {
            continue;
        };
        rtt[0][i] = h.rtt_ms;
        let Some(interval) = intervals.get(i).copied().flatten() else {
            continue;
        };
        let max_age = (interval * FRESH_INTERVALS).as_millis() as u64;
        let pool = &cfg.pools[o.pool as usize];
        let key: ObsKey = (
            pool.zone.to_string().to_ascii_lowercase(),
            pool.name.clone(),
            o.probe_address(),
        );
        let mut ballot: SmallVec<[Vote; 8]> = SmallVec::new();
        ballot.push(Vote {
            down: !h.local_up,
            at_ms: now_ms,
        });
        for (p, peer) in data.peers.iter().enumerate() {
            if !reporting[p] {
                continue;
            }
            let Some(obs) = peer.observations.get(&key) else {
                continue;
            };
            ballot.push(Vote {
                down: !obs.up,
                at_ms: obs.at_ms,
            });
            if now_ms.saturating_sub(obs.at_ms) <= max_age {
                rtt[p + 1][i] = obs.rtt_ms;
            }
        }
        let v = verdict(&ballot, now_ms, max_age, data.quorum);
        h.up = !v.down;
        votes[i] = (v.down_votes, v.reporting);
    }
    let mut list = Vec::with_capacity(members);
    list.push(Member {
        name: data.instance.clone(),
        url: None,
        location: data.location,
        reporting: true,
        last_ok_ms: Some(now_ms),
        error: None,
        failures: 0,
    });
    for (p, peer) in data.peers.iter().enumerate() {
        list.push(Member {
            name: peer.name.clone().unwrap_or_else(|| peer.url.clone()),
            url: Some(peer.url.clone()),
            location: peer.location,
            reporting: reporting[p],
            last_ok_ms: peer.last_ok_ms,
            error: peer.error.clone(),
            failures: peer.failures,
        });
    }
    let region_instance = nearest_by_region(&list);
    let by_region = region_instance.iter().any(|&m| m != region_instance[0]);
    out.fleet = Some(Arc::new(FleetView {
        members: list,
        isolated: data.isolated(now_ms),
        quorum: data.quorum,
        rtt,
        region_instance,
        by_region,
        votes,
    }));
    out
}

/// For each region, the reporting member nearest its point (ties: the earlier member; this
/// instance when no reporting member has a location). An unknown region gets this instance.
pub fn nearest_by_region(members: &[Member]) -> [u8; REGION_SLOTS] {
    let mut out = [0u8; REGION_SLOTS];
    for (r, at) in REGION_COORDINATES.iter().enumerate() {
        let mut best: Option<(f64, usize)> = None;
        for (m, member) in members.iter().enumerate().take(u8::MAX as usize) {
            let Some(loc) = member.location.filter(|_| member.reporting) else {
                continue;
            };
            let d = great_circle_km(*at, loc);
            if best.is_none_or(|(b, _)| d < b) {
                best = Some((d, m));
            }
        }
        out[r] = best.map_or(0, |(_, m)| m as u8);
    }
    out[UNKNOWN_REGION as usize] = 0;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every vote of a ballot: absent, or up/down and fresh/stale.
    #[derive(Clone, Copy, Debug)]
    enum Slot {
        Absent,
        Vote { down: bool, fresh: bool },
    }

    const NOW: u64 = 1_000_000;
    const MAX_AGE: u64 = 3_000;

    fn slots() -> [Slot; 5] {
        [
            Slot::Absent,
            Slot::Vote {
                down: false,
                fresh: true,
            },
            Slot::Vote {
                down: true,
                fresh: true,
            },
            Slot::Vote {
                down: false,
                fresh: false,
            },
            Slot::Vote {
                down: true,
                fresh: false,
            },
        ]
    }

    fn ballot(slots: &[Slot]) -> Vec<Vote> {
        slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match *s {
                Slot::Absent => None,
                Slot::Vote { down, fresh } => Some(Vote {
                    down,
                    // Fresh ones at various ages up to the limit itself; stale ones just past it.
                    at_ms: if fresh {
                        NOW - (i as u64 * 700).min(MAX_AGE)
                    } else {
                        NOW - MAX_AGE - 1 - i as u64 * 1000
                    },
                }),
            })
            .collect()
    }

    /// Every ballot of up to five instances (5^5 of them), with each quorum setting.
    fn every_case(mut check: impl FnMut(&[Slot], Option<u32>, Verdict)) {
        let all = slots();
        for n in 0..=5u32 {
            for code in 0..5usize.pow(n) {
                let mut c = code;
                let case: Vec<Slot> = (0..n)
                    .map(|_| {
                        let s = all[c % 5];
                        c /= 5;
                        s
                    })
                    .collect();
                for quorum in [None, Some(0), Some(1), Some(2), Some(3), Some(4), Some(7)] {
                    let v = verdict(&ballot(&case), NOW, MAX_AGE, quorum);
                    check(&case, quorum, v);
                }
            }
        }
    }

    #[test]
    fn the_quorum_counts_fresh_votes_only_and_follows_its_rule() {
        let mut cases = 0;
        every_case(|case, quorum, v| {
            cases += 1;
            let fresh: Vec<bool> = case
                .iter()
                .filter_map(|s| match *s {
                    Slot::Vote { down, fresh: true } => Some(down),
                    _ => None,
                })
                .collect();
            let n = fresh.len() as u16;
            let down = fresh.iter().filter(|d| **d).count() as u16;
            assert_eq!((v.reporting, v.down_votes), (n, down), "{case:?}");
            let expect_down = match quorum {
                _ if n == 0 => false,
                None => 2 * down > n,
                Some(q) => down >= (q as u16).clamp(1, n),
            };
            assert_eq!(v.down, expect_down, "{case:?} quorum {quorum:?}: {v:?}");
            // Stale votes never matter: the same ballot without them gives the same verdict.
            let only_fresh: Vec<Slot> = case
                .iter()
                .copied()
                .filter(|s| matches!(s, Slot::Vote { fresh: true, .. }))
                .collect();
            assert_eq!(
                verdict(&ballot(&only_fresh), NOW, MAX_AGE, quorum).down,
                v.down,
                "{case:?}"
            );
            // The order of the votes does not matter.
            let mut reversed = ballot(case);
            reversed.reverse();
            assert_eq!(verdict(&reversed, NOW, MAX_AGE, quorum), v, "{case:?}");
            // Unanimous fresh votes decide; a lone fresh vote is that instance's own view.
            if n > 0 && (down == 0 || down == n) {
                assert_eq!(v.down, down == n, "{case:?} {quorum:?}");
            }
        });
        assert_eq!(cases, (0..=5).map(|n| 5usize.pow(n)).sum::<usize>() * 7);
    }

    #[test]
    fn one_more_down_vote_never_brings_an_origin_up() {
        every_case(|case, quorum, v| {
            for (i, s) in case.iter().enumerate() {
                if let Slot::Vote { down: false, fresh } = *s {
                    let mut worse = case.to_vec();
                    worse[i] = Slot::Vote { down: true, fresh };
                    let w = verdict(&ballot(&worse), NOW, MAX_AGE, quorum);
                    assert!(!v.down || w.down, "{case:?} → {worse:?} ({quorum:?})");
                }
            }
        });
    }

    #[test]
    fn the_issues_cases() {
        let fresh = |down: bool| Vote { down, at_ms: NOW };
        let (up, down) = (fresh(false), fresh(true));
        // Three instances, quorum 2: unreachable from one stays up, from two goes down.
        assert!(!verdict(&[down, up, up], NOW, MAX_AGE, Some(2)).down);
        assert!(verdict(&[down, down, up], NOW, MAX_AGE, Some(2)).down);
        // The default is a majority of those reporting: 2 of 3, 3 of 4, 2 of 2.
        assert_eq!(verdict(&[up, up, up], NOW, MAX_AGE, None).needed, 2);
        assert_eq!(verdict(&[up, up, up, up], NOW, MAX_AGE, None).needed, 3);
        assert!(!verdict(&[down, up], NOW, MAX_AGE, None).down);
        // Cut off from both peers (their votes stale): its own view.
        let old = |down: bool| Vote {
            down,
            at_ms: NOW - MAX_AGE - 1,
        };
        assert!(verdict(&[down, old(false), old(false)], NOW, MAX_AGE, Some(2)).down);
        assert!(!verdict(&[up, old(true), old(true)], NOW, MAX_AGE, Some(2)).down);
        // A vote from a clock ahead of ours counts as fresh, not as stale.
        assert!(
            verdict(
                &[
                    down,
                    Vote {
                        down: true,
                        at_ms: NOW + 5
                    }
                ],
                NOW,
                MAX_AGE,
                None
            )
            .down
        );
    }

    #[test]
    fn locations_parse_as_coordinates_or_regions() {
        assert_eq!(parse_location("50.1,8.7"), Ok((50.1, 8.7)));
        assert_eq!(parse_location(" -33.9 , 151.2 "), Ok((-33.9, 151.2)));
        assert_eq!(parse_location("weu"), Ok(REGION_COORDINATES[2]));
        assert_eq!(parse_location("NEAS"), Ok(REGION_COORDINATES[12]));
        for bad in ["", "50.1", "91,0", "0,181", "WEST", "a,b"] {
            assert!(parse_location(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_region_goes_to_the_nearest_reporting_instance() {
        let member = |name: &str, loc: Option<(f64, f64)>, reporting: bool| Member {
            name: name.into(),
            location: loc,
            reporting,
            ..Member::default()
        };
        let weu = REGION_COORDINATES[2];
        let enam = REGION_COORDINATES[1];
        let oc = REGION_COORDINATES[6];
        let members = [
            member("me", Some(weu), true),
            member("us", Some(enam), true),
            member("au", Some(oc), false),
        ];
        let t = nearest_by_region(&members);
        let slot = |code: &str| t[REGIONS.iter().position(|r| *r == code).unwrap()];
        assert_eq!(slot("WEU"), 0);
        assert_eq!(slot("ENAM"), 1);
        assert_eq!(slot("WNAM"), 1);
        // Not reporting: its region goes to the nearest that does.
        assert_ne!(slot("OC"), 2);
        assert_eq!(t[UNKNOWN_REGION as usize], 0);
        // Nobody has a location: this instance everywhere.
        let none = [member("me", None, true), member("us", None, true)];
        assert!(nearest_by_region(&none).iter().all(|&m| m == 0));
    }

    #[test]
    fn a_peer_report_is_checked_and_put_on_our_clock() {
        let report = Report {
            format: FORMAT.into(),
            version: VERSION,
            instance: "ns2".into(),
            location: Some([95.0, 0.0]),
            now_ms: 50_000,
            observations: vec![Observation {
                zone: "Example.COM.".into(),
                pool: "p".into(),
                address: "198.19.0.1".parse().unwrap(),
                up: false,
                ok: false,
                result: "refused".into(),
                rtt_ms: Some(f64::NAN),
                at_ms: 48_000,
            }],
            drains: vec![drains::Entry {
                key: drains::Key {
                    zone: "example.com.".into(),
                    pool: "p".into(),
                    origin: Some("not an address".into()),
                },
                drained: true,
                at_ms: 1,
                by: "ns2".into(),
            }],
        };
        let t = take(report.clone(), 1_000_000).unwrap();
        // A latitude of 95 is no location; a NaN RTT is none; the bad drain is left out.
        assert_eq!(t.location, None);
        assert!(t.drains.is_empty());
        let key = (
            "example.com.".to_string(),
            "p".to_string(),
            "198.19.0.1".parse().unwrap(),
        );
        let obs = t.observations[&key];
        assert_eq!(obs.at_ms, 1_000_000 - 2_000);
        assert_eq!(obs.rtt_ms, None);
        let wrong = Report {
            format: "x".into(),
            ..report
        };
        assert!(take(wrong, 0).is_err());
    }

    fn config() -> SteeringConfig {
        let zone = hickory_proto::rr::Name::from_ascii("example.com.").unwrap();
        let mut cfg = SteeringConfig::default();
        let mut errors = Vec::new();
        crate::config::read_str(
            std::path::Path::new("t.toml"),
            r#"
[pools.p]
origins = [ { address = "198.19.0.1" }, { address = "198.19.0.2" } ]
[pools.q]
origins = [ { address = "198.19.0.3" } ]
"#,
            &zone,
            &mut cfg,
            &|_| None,
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        cfg
    }

    fn peer(url: &str, last_ok_ms: Option<u64>, obs: &[(&str, bool, u64)]) -> PeerSlot {
        PeerSlot {
            url: url.into(),
            name: Some(url.into()),
            last_ok_ms,
            observations: Arc::new(
                obs.iter()
                    .map(|&(a, up, at_ms)| {
                        (
                            (
                                "example.com.".to_string(),
                                "p".to_string(),
                                a.parse().unwrap(),
                            ),
                            Obs {
                                up,
                                rtt_ms: Some(7.0),
                                at_ms,
                            },
                        )
                    })
                    .collect(),
            ),
            ..PeerSlot::default()
        }
    }

    #[test]
    fn the_fold_applies_the_quorum_to_monitored_origins_only() {
        let cfg = config();
        let mut own = HealthView::all_up(&cfg);
        // This instance sees 198.19.0.1 down; 198.19.0.3 is not monitored.
        own.origins[0].up = false;
        own.origins[0].local_up = false;
        let sec = Duration::from_secs(1);
        let intervals = [Some(sec), Some(sec), None];
        let data = |peers: Vec<PeerSlot>| FleetData {
            instance: "me".into(),
            location: None,
            quorum: Some(2),
            poll_interval: sec,
            peers,
        };
        // Both peers see it up: up (1 of 3 down). One peer sees .2 down: up too.
        let d = data(vec![
            peer(
                "a",
                Some(NOW),
                &[("198.19.0.1", true, NOW), ("198.19.0.2", false, NOW)],
            ),
            peer("b", Some(NOW), &[("198.19.0.1", true, NOW)]),
        ]);
        let v = fold(&cfg, &own, &intervals, &d, NOW);
        assert!(v.origins[0].up && !v.origins[0].local_up);
        assert!(v.origins[1].up);
        let f = v.fleet.as_ref().unwrap();
        assert_eq!(f.votes[..2], [(1, 3), (1, 2)]);
        assert_eq!(f.votes[2], (0, 0));
        assert!(!f.isolated);
        assert_eq!(f.rtt[1][0], Some(7.0));
        // A second instance sees it down: down.
        let d = data(vec![
            peer("a", Some(NOW), &[("198.19.0.1", false, NOW)]),
            peer("b", Some(NOW), &[("198.19.0.1", true, NOW)]),
        ]);
        assert!(!fold(&cfg, &own, &intervals, &d, NOW).origins[0].up);
        // Its observation is stale (older than 3 intervals): not counted, up again.
        let d = data(vec![
            peer("a", Some(NOW), &[("198.19.0.1", false, NOW - 3_001)]),
            peer("b", Some(NOW), &[("198.19.0.1", true, NOW)]),
        ]);
        let v = fold(&cfg, &own, &intervals, &d, NOW);
        assert!(v.origins[0].up);
        assert_eq!(v.fleet.as_ref().unwrap().rtt[1][0], None);
        // No peer has reported for 3 poll intervals: isolated, its own view decides.
        let d = data(vec![
            peer("a", Some(NOW - 3_001), &[("198.19.0.1", true, NOW)]),
            peer("b", None, &[]),
        ]);
        let v = fold(&cfg, &own, &intervals, &d, NOW);
        assert!(!v.origins[0].up);
        assert!(v.fleet.as_ref().unwrap().isolated);
        // Drains are this instance's view's, whatever the fleet says.
        own.origins[2].drained = true;
        assert!(fold(&cfg, &own, &intervals, &d, NOW).origins[2].drained);
    }
}
