//! Counters for the query path and the text that Prometheus scrapes.
//!
//! Each UDP socket task (and the TCP side) counts into its own [`Shard`]: the lock a query
//! takes is its own task's, so it is never contended except by a scrape, and no atomic cache
//! line bounces between cores. A scrape sums the shards.
//!
//! Label values (zone, load balancer and pool names) are interned to small numbers once, at
//! load time, so counting is array and hash-map work on integers; the ids stay the same
//! across reloads, so counters keep counting for names that survive a reload.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use rustc_hash::FxHashMap;

use crate::wire::WireError;

pub mod process;

/// Label value → id, and id → value.
type Interner = RwLock<(HashMap<String, u32>, Vec<String>)>;

/// Process-wide, append-only table of label values.
fn interner() -> &'static Interner {
    static T: OnceLock<Interner> = OnceLock::new();
    T.get_or_init(|| RwLock::new((HashMap::new(), Vec::new())))
}

/// The id of a label value (called at load time, not per query).
pub fn label_id(value: &str) -> u32 {
    if let Some(&id) = interner().read().expect("not poisoned").0.get(value) {
        return id;
    }
    let mut t = interner().write().expect("not poisoned");
    if let Some(&id) = t.0.get(value) {
        return id;
    }
    let id = t.1.len() as u32;
    t.1.push(value.to_string());
    t.0.insert(value.to_string(), id);
    id
}

fn label_value(id: u32) -> String {
    interner()
        .read()
        .expect("not poisoned")
        .1
        .get(id as usize)
        .cloned()
        .unwrap_or_default()
}

/// Query types counted by name; the rest are "other".
const TYPES: [RecordType; 15] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::CNAME,
    RecordType::MX,
    RecordType::NS,
    RecordType::SOA,
    RecordType::TXT,
    RecordType::SRV,
    RecordType::CAA,
    RecordType::PTR,
    RecordType::ANY,
    RecordType::DS,
    RecordType::DNSKEY,
    RecordType::HTTPS,
    RecordType::SVCB,
];
const RCODES: [ResponseCode; 7] = [
    ResponseCode::NoError,
    ResponseCode::FormErr,
    ResponseCode::ServFail,
    ResponseCode::NXDomain,
    ResponseCode::NotImp,
    ResponseCode::Refused,
    ResponseCode::BADVERS,
];

fn type_index(t: RecordType) -> u8 {
    TYPES.iter().position(|&x| x == t).unwrap_or(TYPES.len()) as u8
}

fn rcode_index(r: ResponseCode) -> u8 {
    RCODES.iter().position(|&x| x == r).unwrap_or(RCODES.len()) as u8
}

/// Zone label for queries outside every zone (REFUSED) or that could not be parsed.
pub const NO_ZONE: u32 = u32::MAX;

#[derive(Default)]
struct ShardData {
    /// (zone, type, rcode, transport) → queries.
    queries: FxHashMap<(u32, u8, u8, u8), u64>,
    /// (load balancer, pool or NO_ZONE for none) → steered answers.
    answers: FxHashMap<(u32, u32), u64>,
    ecs: [u64; 2],
    /// FORMERR answers by reason ([`WireError::index`]).
    malformed: [u64; WireError::ALL.len()],
    /// RRSIGs made on the query path (signature cache misses).
    signatures: u64,
    /// Response rate limiting: responses over the limit, slipped, dropped.
    rrl: [u64; 3],
}

/// What response rate limiting did with one response over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RrlAction {
    /// Sent all the same: log-only mode.
    LogOnly,
    /// Sent empty with TC=1 (the client may retry over TCP).
    Slipped,
    /// Not sent.
    Dropped,
}

/// One serving task's counters.
#[derive(Default)]
pub struct Shard {
    data: Mutex<ShardData>,
}

/// What one query contributes to the counters.
#[derive(Debug, Clone, Copy)]
pub struct QueryOutcome {
    /// The zone's label id, or [`NO_ZONE`].
    pub zone: u32,
    /// The question's type.
    pub qtype: RecordType,
    /// The response code sent.
    pub rcode: ResponseCode,
    /// Over TCP (else UDP).
    pub tcp: bool,
    /// Whether the query carried an ECS option.
    pub ecs: bool,
    /// (load balancer, pool) label ids for a steered answer; pool NO_ZONE when none.
    pub steered: Option<(u32, u32)>,
    /// Why the query got FORMERR.
    pub malformed: Option<WireError>,
}

impl Shard {
    /// Counts one query.
    pub fn count(&self, q: &QueryOutcome) {
        let mut d = self
            .data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let proto = u8::from(q.tcp);
        *d.queries
            .entry((q.zone, type_index(q.qtype), rcode_index(q.rcode), proto))
            .or_default() += 1;
        d.ecs[usize::from(q.ecs)] += 1;
        if let Some(key) = q.steered {
            *d.answers.entry(key).or_default() += 1;
        }
        if let Some(why) = q.malformed {
            d.malformed[why.index()] += 1;
        }
    }

    /// Counts RRSIG RRsets made while answering (not found in a signature cache).
    pub fn count_signatures(&self, n: u64) {
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .signatures += n;
    }
    /// Counts one response over the rate limit, and what was done with it.
    pub fn count_rrl(&self, action: RrlAction) {
        let mut d = self
            .data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        d.rrl[0] += 1;
        match action {
            RrlAction::LogOnly => {}
            RrlAction::Slipped => d.rrl[1] += 1,
            RrlAction::Dropped => d.rrl[2] += 1,
        }
    }
}

/// Rare events, counted process-wide with relaxed atomics (none of them is per query).
#[derive(Default)]
pub struct Events {
    /// TCP connections closed at accept: over the total limit, over the per-client limit.
    pub tcp_rejected: [AtomicU64; 2],
    /// TCP connections closed for taking too long over a query (or a reply).
    pub tcp_timeouts: AtomicU64,
    /// HTTP connections closed at accept: over the connection limit.
    pub http_rejected: AtomicU64,
    /// Accept errors on the DNS or HTTP listeners (EMFILE and the like).
    pub accept_errors: AtomicU64,
}

/// Configuration reloads, for the `geosteer_config_*` metrics.
#[derive(Debug, Clone, Default)]
pub struct ReloadStats {
    /// The generation served.
    pub generation: u64,
    /// When the configuration was last loaded or a reload tried (Unix time).
    pub last_reload_unix: f64,
    /// Whether that load succeeded.
    pub last_reload_ok: bool,
    /// Successful reloads.
    pub reloads_ok: u64,
    /// Rejected reloads.
    pub reloads_failed: u64,
}

/// Where the count of dropped log lines comes from.
type LogDrops = Box<dyn Fn() -> u64 + Send + Sync>;

/// All counters of the process.
#[derive(Default)]
pub struct Metrics {
    shards: Mutex<Vec<Arc<Shard>>>,
    /// Configuration loads and reloads, as the reload operation records them.
    pub reloads: Mutex<ReloadStats>,
    /// Rare events: panics, connections refused, local probe errors.
    pub events: Events,
    log_drops: OnceLock<LogDrops>,
    notifications: OnceLock<Render>,
}

/// Renders families that live elsewhere (the notifier's).
type Render = Box<dyn Fn(&mut String) + Send + Sync>;

impl Metrics {
    /// A new shard for one serving task.
    pub fn shard(&self) -> Arc<Shard> {
        let s = Arc::new(Shard::default());
        self.shards.lock().expect("not poisoned").push(s.clone());
        s
    }

    /// Where `geosteer_log_lines_dropped_total` reads its count (set once, at start).
    pub fn set_log_drops(&self, f: impl Fn() -> u64 + Send + Sync + 'static) {
        let _ = self.log_drops.set(Box::new(f));
    }

    /// Where the notification families are rendered from (set once, at start).
    pub fn set_notifications(&self, f: impl Fn(&mut String) + Send + Sync + 'static) {
        let _ = self.notifications.set(Box::new(f));
    }

    /// The notification families, when a notifier is set.
    pub fn render_notifications(&self, out: &mut String) {
        if let Some(f) = self.notifications.get() {
            f(out);
        }
    }

    /// The query-path families in Prometheus text format.
    pub fn render_queries(&self, out: &mut String) {
        let mut queries: HashMap<(u32, u8, u8, u8), u64> = HashMap::new();
        let mut answers: HashMap<(u32, u32), u64> = HashMap::new();
        let mut ecs = [0u64; 2];
        let mut malformed = [0u64; WireError::ALL.len()];
        let mut signatures = 0u64;
        let mut rrl = [0u64; 3];
        for shard in self.shards.lock().expect("not poisoned").iter() {
            let d = shard
                .data
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (k, v) in &d.queries {
                *queries.entry(*k).or_default() += v;
            }
            for (k, v) in &d.answers {
                *answers.entry(*k).or_default() += v;
            }
            ecs[0] += d.ecs[0];
            ecs[1] += d.ecs[1];
            for (sum, n) in malformed.iter_mut().zip(d.malformed) {
                *sum += n;
            }
            signatures += d.signatures;
            for (sum, n) in rrl.iter_mut().zip(d.rrl) {
                *sum += n;
            }
        }
        family(
            out,
            "geosteer_queries_total",
            "counter",
            "DNS queries answered, by zone, query type, response code and protocol.",
        );
        let mut rows: Vec<_> = queries.into_iter().collect();
        rows.sort();
        for ((zone, t, r, p), v) in rows {
            let zone = if zone == NO_ZONE {
                String::new()
            } else {
                label_value(zone)
            };
            let qtype = TYPES
                .get(t as usize)
                .map_or("other".to_string(), |t| t.to_string());
            let rcode = RCODES
                .get(r as usize)
                .map_or("other".to_string(), |r| rcode_name(*r).to_string());
            let proto = if p == 0 { "udp" } else { "tcp" };
            sample(
                out,
                "geosteer_queries_total",
                &[
                    ("zone", &zone),
                    ("type", &qtype),
                    ("rcode", &rcode),
                    ("protocol", proto),
                ],
                v as f64,
            );
        }
        family(
            out,
            "geosteer_answers_total",
            "counter",
            "A/AAAA answers for load-balanced names, by load balancer and the pool answered from (none: no addresses).",
        );
        let mut rows: Vec<_> = answers.into_iter().collect();
        rows.sort();
        for ((lb, pool), v) in rows {
            let pool = if pool == NO_ZONE {
                "none".to_string()
            } else {
                label_value(pool)
            };
            sample(
                out,
                "geosteer_answers_total",
                &[("load_balancer", &label_value(lb)), ("pool", &pool)],
                v as f64,
            );
        }
        family(
            out,
            "geosteer_ecs_queries_total",
            "counter",
            "Queries with and without an EDNS Client Subnet option.",
        );
        sample(
            out,
            "geosteer_ecs_queries_total",
            &[("ecs", "absent")],
            ecs[0] as f64,
        );
        sample(
            out,
            "geosteer_ecs_queries_total",
            &[("ecs", "present")],
            ecs[1] as f64,
        );

        family(
            out,
            "geosteer_malformed_queries_total",
            "counter",
            "Queries answered FORMERR, by why they are malformed.",
        );
        for why in WireError::ALL {
            sample(
                out,
                "geosteer_malformed_queries_total",
                &[("reason", why.reason())],
                malformed[why.index()] as f64,
            );
        }

        family(
            out,
            "geosteer_dnssec_online_signatures_total",
            "counter",
            "RRsets signed while answering (steered answers, wildcard expansions, denial proofs not found in a signature cache).",
        );
        sample(
            out,
            "geosteer_dnssec_online_signatures_total",
            &[],
            signatures as f64,
        );
        for (i, (name, help)) in [
            (
                "geosteer_rrl_limited_total",
                "UDP responses over the response rate limit (in log-only mode too).",
            ),
            (
                "geosteer_rrl_slipped_total",
                "Rate-limited responses sent empty with TC=1 instead.",
            ),
            (
                "geosteer_rrl_dropped_total",
                "Rate-limited responses not sent.",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            family(out, name, "counter", help);
            sample(out, name, &[], rrl[i] as f64);
        }
        self.render_events(out);

        let r = self.reloads.lock().expect("not poisoned").clone();
        family(
            out,
            "geosteer_config_generation",
            "gauge",
            "Configuration generation being served (1 at start, +1 per successful reload).",
        );
        sample(out, "geosteer_config_generation", &[], r.generation as f64);
        family(
            out,
            "geosteer_config_last_reload_timestamp_seconds",
            "gauge",
            "When the configuration was last loaded or a reload last tried (Unix time).",
        );
        sample(
            out,
            "geosteer_config_last_reload_timestamp_seconds",
            &[],
            r.last_reload_unix,
        );
        family(
            out,
            "geosteer_config_last_reload_success",
            "gauge",
            "1 if the last load or reload succeeded, 0 if it was rejected.",
        );
        sample(
            out,
            "geosteer_config_last_reload_success",
            &[],
            if r.last_reload_ok { 1.0 } else { 0.0 },
        );
        family(
            out,
            "geosteer_config_reloads_total",
            "counter",
            "Reloads tried, by result.",
        );
        sample(
            out,
            "geosteer_config_reloads_total",
            &[("result", "success")],
            r.reloads_ok as f64,
        );
        sample(
            out,
            "geosteer_config_reloads_total",
            &[("result", "failure")],
            r.reloads_failed as f64,
        );
    }
}

impl Metrics {
    fn render_events(&self, out: &mut String) {
        let e = &self.events;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        family(
            out,
            "geosteer_panics_total",
            "counter",
            "Panics caught, by where: udp and tcp (query answered SERVFAIL), http (connection closed), probe (a local error), reload (failed).",
        );
        for site in crate::panics::Site::ALL {
            sample(
                out,
                "geosteer_panics_total",
                &[("where", site.label())],
                crate::panics::caught(site) as f64,
            );
        }
        family(
            out,
            "geosteer_tcp_connections_rejected_total",
            "counter",
            "DNS TCP connections closed at once: over --tcp-max-connections (total) or --tcp-max-per-client (per_client).",
        );
        for (i, limit) in ["total", "per_client"].into_iter().enumerate() {
            sample(
                out,
                "geosteer_tcp_connections_rejected_total",
                &[("limit", limit)],
                n(&e.tcp_rejected[i]),
            );
        }
        for (name, help, v) in [
            (
                "geosteer_tcp_timeouts_total",
                "DNS TCP connections closed for not completing a query, or not taking a reply, in time.",
                &e.tcp_timeouts,
            ),
            (
                "geosteer_http_connections_rejected_total",
                "HTTP connections closed at once: over the connection limit.",
                &e.http_rejected,
            ),
            (
                "geosteer_accept_errors_total",
                "Errors accepting connections (out of file descriptors, say).",
                &e.accept_errors,
            ),
            (
                "geosteer_probe_local_errors_total",
                "Health probes this host could not make (no socket, no file descriptor); the origin's state was kept.",
                &AtomicU64::new(crate::health::local_errors()),
            ),
        ] {
            family(out, name, "counter", help);
            sample(out, name, &[], n(v));
        }
        family(
            out,
            "geosteer_log_lines_dropped_total",
            "counter",
            "Log lines dropped because stderr could not keep up (logging never waits).",
        );
        let drops = self.log_drops.get().map_or(0, |f| f());
        sample(out, "geosteer_log_lines_dropped_total", &[], drops as f64);
    }
}

/// The rcode as dig writes it.
pub fn rcode_name(r: ResponseCode) -> &'static str {
    match r {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::BADVERS => "BADVERS",
        _ => "other",
    }
}

/// `# HELP` and `# TYPE` lines.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One sample line, label values escaped as the text format requires.
pub fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            for c in v.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        out.push('}');
    }
    // The text format spells the special values NaN, +Inf and -Inf.
    let _ = match value {
        v if v.is_nan() => writeln!(out, " NaN"),
        v if v == f64::INFINITY => writeln!(out, " +Inf"),
        v if v == f64::NEG_INFINITY => writeln!(out, " -Inf"),
        v => writeln!(out, " {v}"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_ids_are_stable_and_values_escaped() {
        let a = label_id("example.com.");
        assert_eq!(label_id("example.com."), a);
        assert_ne!(label_id("example.org."), a);
        let mut s = String::new();
        sample(&mut s, "m", &[("l", "a\"b\\c\nd")], 1.0);
        assert_eq!(s, "m{l=\"a\\\"b\\\\c\\nd\"} 1\n");
    }

    #[test]
    fn shards_are_summed() {
        let m = Metrics::default();
        let zone = label_id("sum.test.");
        let q = QueryOutcome {
            zone,
            qtype: RecordType::A,
            rcode: ResponseCode::NoError,
            tcp: false,
            ecs: true,
            steered: None,
            malformed: None,
        };
        m.shard().count(&q);
        let s2 = m.shard();
        s2.count(&q);
        s2.count(&QueryOutcome {
            rcode: ResponseCode::NXDomain,
            ecs: false,
            tcp: true,
            ..q
        });
        s2.count(&QueryOutcome {
            rcode: ResponseCode::FormErr,
            malformed: Some(WireError::BadEcs),
            ..q
        });
        let mut out = String::new();
        m.render_queries(&mut out);
        assert!(out.contains(
            "geosteer_queries_total{zone=\"sum.test.\",type=\"A\",rcode=\"NOERROR\",protocol=\"udp\"} 2\n"
        ), "{out}");
        assert!(out.contains("rcode=\"NXDOMAIN\",protocol=\"tcp\"} 1\n"));
        assert!(out.contains("geosteer_ecs_queries_total{ecs=\"present\"} 3\n"));
        assert!(out.contains("geosteer_malformed_queries_total{reason=\"bad_ecs\"} 1\n"));
        assert!(out.contains("geosteer_malformed_queries_total{reason=\"truncated\"} 0\n"));
        assert!(out.contains("geosteer_ecs_queries_total{ecs=\"absent\"} 1\n"));
    }
}
