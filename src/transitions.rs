//! What changed between two published states, as an operator sees it: pools going down and up,
//! and load balancers answering from another pool. Logged here (origin/pool down at WARN, up
//! at INFO); the same values are what a notifier would send.
//!
//! A [`Summary`] of a state names everything by zone, pool and load balancer name (never by
//! index), so that two summaries compare across a reload. Load balancers are summarised per
//! *client group*: the clients whose ordered candidate pool list is the same. The first group
//! is `default_pools` — every client of `failover`, `random` and `dynamic`, and the clients of
//! `geo` and `proximity` whose location is unknown or matches no rule: the **active pool** of
//! the status page and of `geosteer_load_balancer_active_pool`. The other groups are the
//! distinct lists of a location policy's map.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hickory_proto::rr::Name;
use smallvec::SmallVec;
use tracing::{info, warn};

use crate::config::{Family, LoadBalancer, PoolId, SteeringConfig};
use crate::state::{HealthView, State};
use crate::steering::{self, Outcome, View};

/// One pool as the transition log and the gauges see it.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSummary {
    /// Its zone.
    pub zone: Name,
    /// Its name.
    pub name: String,
    /// Answered at all: enabled, not drained, at least `minimum_origins` healthy origins.
    pub up: bool,
    /// Origins that may be answered (enabled, not drained, healthy).
    pub healthy: usize,
    /// Its origins.
    pub total: usize,
    /// Healthy origins it needs.
    pub minimum: u32,
    /// Drained by an operator.
    pub drained: bool,
    /// Enabled in the configuration.
    pub enabled: bool,
}

/// One client group of a load balancer: its candidate list and the pools answering it now.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSummary {
    /// The candidate pools in order, by name.
    pub candidates: Vec<String>,
    /// The pools answering now (several only for `random`).
    pub answering: Vec<String>,
    /// How they were arrived at.
    pub outcome: Outcome,
    /// No candidate pool is up: `on_all_down` decides.
    pub all_down: bool,
}

/// One load balancer: its client groups, `default_pools` first.
#[derive(Debug, Clone, PartialEq)]
pub struct LbSummary {
    /// Its name.
    pub name: Name,
    /// The family summarised: A, unless none of its pools has an IPv4 origin.
    pub family: Family,
    /// `groups[0]` is `default_pools`; the others are the location map's distinct lists.
    pub groups: Vec<GroupSummary>,
    /// Every pool it may answer from, by name (zone of the load balancer).
    pub pools: Vec<String>,
}

impl LbSummary {
    /// The active pools: those answering `default_pools`.
    pub fn active(&self) -> &GroupSummary {
        &self.groups[0]
    }
}

/// Every pool and load balancer of one state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// By pool id of the state summarised.
    pub pools: Vec<PoolSummary>,
    /// By load balancer index of the state summarised.
    pub load_balancers: Vec<LbSummary>,
}

/// The family a load balancer is summarised in: A, unless none of its pools has an IPv4
/// origin (an IPv6-only load balancer).
pub fn main_family(cfg: &SteeringConfig, lb: &LoadBalancer) -> Family {
    let has_v4 = lb.pools().into_iter().any(|p| {
        cfg.pools[p as usize]
            .origins
            .clone()
            .any(|o| cfg.origins[o as usize].v4.is_some())
    });
    if has_v4 { Family::V4 } else { Family::V6 }
}

fn names(cfg: &SteeringConfig, pools: &[PoolId]) -> Vec<String> {
    pools
        .iter()
        .map(|&p| cfg.pools[p as usize].name.clone())
        .collect()
}

fn group(
    cfg: &SteeringConfig,
    lb: &LoadBalancer,
    candidates: &[PoolId],
    health: &HealthView,
    family: Family,
) -> GroupSummary {
    let (answering, outcome): (SmallVec<[PoolId; 4]>, Outcome) =
        steering::answering_pools(cfg, lb, candidates, health, family);
    let view = View::new(cfg, health);
    GroupSummary {
        candidates: names(cfg, candidates),
        answering: names(cfg, &answering),
        outcome,
        all_down: !candidates.iter().any(|&p| view.pool_up(p)),
    }
}

impl Summary {
    /// Summarises `state`: its configuration with its health.
    pub fn of(state: &State) -> Self {
        let cfg = &state.config.steering;
        let health = &state.health;
        let view = View::new(cfg, health);
        let pools = cfg
            .pools
            .iter()
            .enumerate()
            .map(|(i, p)| PoolSummary {
                zone: p.zone.clone(),
                name: p.name.clone(),
                up: view.pool_up(i as PoolId),
                healthy: view.usable_count(i as PoolId),
                total: p.origins.len(),
                minimum: p.minimum_origins,
                drained: health.pools.get(i).is_some_and(|h| h.drained),
                enabled: p.enabled,
            })
            .collect();
        let load_balancers = cfg
            .load_balancers
            .iter()
            .enumerate()
            .map(|(i, lb)| {
                let family = main_family(cfg, lb);
                let mut groups = vec![group(cfg, lb, &lb.default_pools, health, family)];
                if let Some(compiled) = state.config.compiled.get(i) {
                    for list in compiled.lists() {
                        if *list != *lb.default_pools {
                            groups.push(group(cfg, lb, &list, health, family));
                        }
                    }
                }
                LbSummary {
                    name: lb.name.clone(),
                    family,
                    groups,
                    pools: names(cfg, &lb.pools()),
                }
            })
            .collect();
        Self {
            pools,
            load_balancers,
        }
    }
}

/// One change an operator is told about.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// A pool can no longer be answered (or could not be at start).
    PoolDown(PoolSummary),
    /// A pool can be answered again.
    PoolUp(PoolSummary),
    /// Clients of a load balancer are answered from other pools than before (or, at start,
    /// from a fallback or nothing).
    LoadBalancer {
        /// The load balancer.
        name: Name,
        /// Which of its clients.
        clients: Clients,
        /// The group now.
        now: GroupSummary,
        /// The pools it was answered from (empty at start).
        was: Vec<String>,
    },
}

/// The parts of the message about a load balancer's change, shared by the log line and the
/// notifications.
pub struct LbChangeText {
    /// Whose answers changed: empty for all clients, else " clients whose pools are [...]" or
    /// " clients of default_pools (...)".
    pub who: String,
    /// The clients' group in structured fields: `all`, `default_pools` or `candidates`.
    pub group: &'static str,
    /// How the answer is arrived at when not by steering: " (every pool down: ...)" or empty.
    pub how: &'static str,
    /// ", was pool x" (empty at start).
    pub was: String,
}

impl LbChangeText {
    /// The texts for `clients` now answered with `outcome`, having been answered from `was`.
    pub fn new(clients: &Clients, outcome: Outcome, was: &[String]) -> Self {
        let (who, group) = match clients {
            Clients::All => (String::new(), "all"),
            Clients::DefaultPools => (
                " clients of default_pools (location unknown or unmatched)".to_string(),
                "default_pools",
            ),
            Clients::Candidates(list) => (
                format!(" clients whose pools are [{}]", list.join(", ")),
                "candidates",
            ),
        };
        let how = match outcome {
            Outcome::Steered => "",
            Outcome::Fallback => " (every pool down: fallback_pool)",
            Outcome::AllDownIgnoringHealth => {
                " (every pool down: on_all_down = all, health ignored)"
            }
            Outcome::NoData => " (NODATA: every pool down or no address)",
        };
        let was = if was.is_empty() {
            String::new()
        } else {
            format!(", was {}", pool_list(was))
        };
        Self {
            who,
            group,
            how,
            was,
        }
    }
}

/// The clients of a load balancer a transition is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Clients {
    /// All of them: every client group changed alike (or there is only one).
    All,
    /// Those of `default_pools` (unknown location, no rule matched): the active pool.
    DefaultPools,
    /// Those whose candidate list is this one.
    Candidates(Vec<String>),
}

/// The transitions of one load balancer's changed groups (`(index, now, was)`): one for all
/// of its clients when every group changed to the same answer, else one per group.
fn lb_transitions(
    lb: &LbSummary,
    changed: Vec<(usize, &GroupSummary, Vec<String>)>,
    out: &mut Vec<Transition>,
) {
    let Some(first) = changed.first() else {
        return;
    };
    let alike = changed.len() == lb.groups.len()
        && changed
            .iter()
            .all(|c| c.1.answering == first.1.answering && c.1.outcome == first.1.outcome);
    if alike {
        let was_alike = changed.iter().all(|c| c.2 == first.2);
        out.push(Transition::LoadBalancer {
            name: lb.name.clone(),
            clients: Clients::All,
            now: first.1.clone(),
            was: if was_alike {
                first.2.clone()
            } else {
                Vec::new()
            },
        });
        return;
    }
    for (i, now, was) in changed {
        out.push(Transition::LoadBalancer {
            name: lb.name.clone(),
            clients: if i == 0 {
                Clients::DefaultPools
            } else {
                Clients::Candidates(now.candidates.clone())
            },
            now: now.clone(),
            was,
        });
    }
}

/// The transitions from `old` to `new`; with no `old` (the first state), what an operator
/// must hear about at start: the pools down and the load balancers not steering normally.
pub fn diff(old: Option<&Summary>, new: &Summary) -> Vec<Transition> {
    let mut out = Vec::new();
    let Some(old) = old else {
        for p in new.pools.iter().filter(|p| !p.up && p.enabled) {
            out.push(Transition::PoolDown(p.clone()));
        }
        for lb in &new.load_balancers {
            let changed = lb
                .groups
                .iter()
                .enumerate()
                .filter(|(_, g)| g.outcome != Outcome::Steered)
                .map(|(i, g)| (i, g, Vec::new()))
                .collect();
            lb_transitions(lb, changed, &mut out);
        }
        return out;
    };
    let old_pools: HashMap<(&Name, &str), &PoolSummary> = old
        .pools
        .iter()
        .map(|p| ((&p.zone, p.name.as_str()), p))
        .collect();
    for p in &new.pools {
        let Some(before) = old_pools.get(&(&p.zone, p.name.as_str())) else {
            continue; // new in this configuration: nothing changed for anyone
        };
        match (before.up, p.up) {
            (true, false) => out.push(Transition::PoolDown(p.clone())),
            (false, true) => out.push(Transition::PoolUp(p.clone())),
            _ => {}
        }
    }
    let old_lbs: HashMap<&Name, &LbSummary> =
        old.load_balancers.iter().map(|l| (&l.name, l)).collect();
    for lb in &new.load_balancers {
        let Some(before) = old_lbs.get(&lb.name) else {
            continue;
        };
        let mut changed = Vec::new();
        for (i, g) in lb.groups.iter().enumerate() {
            let was = before.groups.iter().find(|b| b.candidates == g.candidates);
            if let Some(was) = was
                && (was.answering != g.answering || was.outcome != g.outcome)
            {
                changed.push((i, g, was.answering.clone()));
            }
        }
        lb_transitions(lb, changed, &mut out);
    }
    out
}

/// "pool a", "pools a, b (random)" or "no pool", as messages name the pools answered from.
pub fn pool_list(pools: &[String]) -> String {
    match pools {
        [] => "no pool".to_string(),
        [one] => format!("pool {one}"),
        many => format!("pools {} (random)", many.join(", ")),
    }
}

impl Transition {
    /// Logs the transition: down (and any answer that is not a normal steering) at WARN, the
    /// rest at INFO. The message says it all in text logs; the fields are for JSON logs.
    pub fn log(&self) {
        match self {
            Transition::PoolDown(p) => {
                let why = if !p.enabled {
                    "disabled".to_string()
                } else if p.drained {
                    "drained".to_string()
                } else {
                    format!(
                        "{}/{} origins healthy, minimum {}",
                        p.healthy, p.total, p.minimum
                    )
                };
                // The same line at either level (a tracing level is fixed at the call site).
                macro_rules! pool_down {
                    ($level:ident) => {
                        $level!(
                            event = "pool_down",
                            zone = %p.zone,
                            pool = %p.name,
                            healthy_origins = p.healthy,
                            origins = p.total,
                            minimum_origins = p.minimum,
                            drained = p.drained,
                            "pool {} of {}: DOWN ({why})",
                            p.name,
                            p.zone
                        )
                    };
                }
                // An operator's drain is planned: INFO; health taking a pool down: WARN.
                if p.drained || !p.enabled {
                    pool_down!(info);
                } else {
                    pool_down!(warn);
                }
            }
            Transition::PoolUp(p) => info!(
                event = "pool_up",
                zone = %p.zone,
                pool = %p.name,
                healthy_origins = p.healthy,
                origins = p.total,
                minimum_origins = p.minimum,
                "pool {} of {}: UP ({}/{} origins healthy, minimum {})",
                p.name,
                p.zone,
                p.healthy,
                p.total,
                p.minimum
            ),
            Transition::LoadBalancer {
                name,
                clients,
                now,
                was,
            } => {
                let LbChangeText {
                    who,
                    group,
                    how,
                    was: was_text,
                } = LbChangeText::new(clients, now.outcome, was);
                let pool = now.answering.join(",");
                let previous = was.join(",");
                let msg = format_args!(
                    "load balancer {name} now answers{who} from {}{how}{was_text}",
                    pool_list(&now.answering)
                );
                if now.outcome == Outcome::Steered {
                    info!(
                        event = "load_balancer_pool",
                        load_balancer = %name,
                        pool,
                        previous_pool = previous,
                        outcome = now.outcome.name(),
                        clients = group,
                        "{msg}"
                    );
                } else {
                    warn!(
                        event = "load_balancer_pool",
                        load_balancer = %name,
                        pool,
                        previous_pool = previous,
                        outcome = now.outcome.name(),
                        clients = group,
                        "{msg}"
                    );
                }
            }
        }
    }
}

/// Renders the pool and load balancer gauges of `summary` in Prometheus text format.
pub fn render_gauges(summary: &Summary, out: &mut String) {
    use crate::metrics::{family, sample};
    type Gauge = (&'static str, &'static str, fn(&PoolSummary) -> f64);
    let pool_gauges: [Gauge; 3] = [
        (
            "geosteer_pool_up",
            "1 when the pool may be answered: enabled, not drained, at least minimum_origins healthy origins.",
            |p| f64::from(p.up),
        ),
        (
            "geosteer_pool_healthy_origins",
            "Origins of the pool that may be answered: enabled, not drained, healthy.",
            |p| p.healthy as f64,
        ),
        ("geosteer_pool_origins", "Origins of the pool.", |p| {
            p.total as f64
        }),
    ];
    for (name, help, value) in pool_gauges {
        family(out, name, "gauge", help);
        for p in &summary.pools {
            let zone = p.zone.to_string();
            sample(
                out,
                name,
                &[("zone", zone.as_str()), ("pool", p.name.as_str())],
                value(p),
            );
        }
    }
    family(
        out,
        "geosteer_load_balancer_active_pool",
        "gauge",
        "1 for the pool that answers the load balancer's default_pools clients now (every client \
         of failover, random and dynamic; unknown or unmatched locations of geo and proximity), \
         0 for its other pools. random: 1 for every pool that may be drawn.",
    );
    for lb in &summary.load_balancers {
        let name = lb.name.to_string();
        let active = lb.active();
        for p in &lb.pools {
            let on = active.answering.iter().any(|a| a == p);
            sample(
                out,
                "geosteer_load_balancer_active_pool",
                &[("load_balancer", name.as_str()), ("pool", p.as_str())],
                f64::from(on),
            );
        }
    }
    family(
        out,
        "geosteer_load_balancer_all_pools_down",
        "gauge",
        "1 when no pool of default_pools is usable and on_all_down decides the answer.",
    );
    for lb in &summary.load_balancers {
        let name = lb.name.to_string();
        let down = lb.active().all_down;
        sample(
            out,
            "geosteer_load_balancer_all_pools_down",
            &[("load_balancer", name.as_str())],
            f64::from(down),
        );
    }
}

/// Logs the transitions between consecutive published states: give [`Watcher::observe`] each
/// state as it is published (health monitoring does, through its publish hook).
#[derive(Default)]
pub struct Watcher {
    last: Mutex<Option<Summary>>,
}

impl Watcher {
    /// A watcher that has seen nothing yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Compares `state` with the one seen before and logs what changed.
    pub fn observe(&self, state: &State) {
        let now = Summary::of(state);
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_ref() == Some(&now) {
            return;
        }
        for t in diff(last.as_ref(), &now) {
            t.log();
        }
        *last = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(name: &str, up: bool) -> PoolSummary {
        PoolSummary {
            zone: Name::from_ascii("example.com.").unwrap(),
            name: name.into(),
            up,
            healthy: usize::from(up),
            total: 1,
            minimum: 1,
            drained: false,
            enabled: true,
        }
    }

    fn lb(groups: &[(&[&str], &[&str], Outcome)]) -> LbSummary {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        LbSummary {
            name: Name::from_ascii("www.example.com.").unwrap(),
            family: Family::V4,
            pools: vec!["us".into(), "eu".into()],
            groups: groups
                .iter()
                .map(|(c, a, o)| GroupSummary {
                    candidates: s(c),
                    answering: s(a),
                    outcome: *o,
                    all_down: *o != Outcome::Steered,
                })
                .collect(),
        }
    }

    #[test]
    fn pools_and_load_balancers_that_change_are_reported() {
        let old = Summary {
            pools: vec![pool("us", true), pool("eu", true)],
            load_balancers: vec![lb(&[
                (&["us", "eu"], &["us"], Outcome::Steered),
                (&["eu", "us"], &["eu"], Outcome::Steered),
            ])],
        };
        assert!(diff(Some(&old), &old).is_empty());
        let new = Summary {
            pools: vec![pool("us", true), pool("eu", false)],
            load_balancers: vec![lb(&[
                (&["us", "eu"], &["us"], Outcome::Steered),
                (&["eu", "us"], &["us"], Outcome::Steered),
            ])],
        };
        let t = diff(Some(&old), &new);
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(t[0], Transition::PoolDown(pool("eu", false)));
        match &t[1] {
            Transition::LoadBalancer {
                clients, now, was, ..
            } => {
                assert_eq!(
                    clients,
                    &Clients::Candidates(vec!["eu".into(), "us".into()])
                );
                assert_eq!(now.answering, ["us"]);
                assert_eq!(was, &["eu"]);
            }
            other => panic!("{other:?}"),
        }
        let back = diff(Some(&new), &old);
        assert!(matches!(&back[0], Transition::PoolUp(p) if p.name == "eu"));
    }

    #[test]
    fn names_new_in_a_reload_are_not_transitions() {
        let old = Summary {
            pools: vec![pool("us", true)],
            load_balancers: vec![],
        };
        let new = Summary {
            pools: vec![pool("us", true), pool("ap", false)],
            load_balancers: vec![lb(&[(&["ap"], &[], Outcome::NoData)])],
        };
        assert!(diff(Some(&old), &new).is_empty());
    }

    #[test]
    fn the_first_state_reports_what_is_down() {
        let first = Summary {
            pools: vec![pool("us", false), pool("eu", true)],
            load_balancers: vec![lb(&[(&["us"], &["us"], Outcome::Fallback)])],
        };
        let t = diff(None, &first);
        assert_eq!(t.len(), 2);
        assert!(matches!(&t[0], Transition::PoolDown(p) if p.name == "us"));
        assert!(matches!(&t[1], Transition::LoadBalancer { now, .. }
            if now.outcome == Outcome::Fallback));
    }

    #[test]
    fn a_change_alike_for_every_client_is_one_transition() {
        let old = Summary {
            pools: vec![pool("us", true), pool("eu", true)],
            load_balancers: vec![lb(&[
                (&["us", "eu"], &["us"], Outcome::Steered),
                (&["eu", "us"], &["eu"], Outcome::Steered),
            ])],
        };
        let new = Summary {
            pools: vec![pool("us", false), pool("eu", false)],
            load_balancers: vec![lb(&[
                (&["us", "eu"], &["us"], Outcome::Fallback),
                (&["eu", "us"], &["us"], Outcome::Fallback),
            ])],
        };
        let t = diff(Some(&old), &new);
        let lbs: Vec<_> = t
            .iter()
            .filter(|t| matches!(t, Transition::LoadBalancer { .. }))
            .collect();
        assert_eq!(lbs.len(), 1, "{t:?}");
        assert!(
            matches!(lbs[0], Transition::LoadBalancer { clients: Clients::All, was, .. }
            if was.is_empty())
        );
    }
}
