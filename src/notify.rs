//! Notifications: origin, pool and load balancer transitions POSTed to webhooks.
//!
//! ```text
//!   publish hook (health monitoring, under its lock: short)
//!     Observed::of(state) ─► events(previous, now) ─► each webhook that wants the event:
//!                                                      its queue (bounded; full: the oldest
//!                                                      is dropped and counted)
//!   one task per webhook (main runtime)
//!     pop ─► POST (per-attempt timeout) ─► 2xx: sent
//!                                       ─► error, timeout, 408, 429, 5xx: again after a
//!                                          backoff (1 s, doubling, at most 60 s) until
//!                                          `attempts`; other 4xx: given up at once
//! ```
//!
//! Nothing here is on the query path, and probing never waits for a webhook: the hook only
//! compares two summaries and pushes onto queues. The payloads are documented in the README
//! (*Notifications*); [`generic`], [`slack`] and [`pagerduty`] build them.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::rr::Name;
use serde_json::{Map, Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::{EventClass, Webhook, WebhookFormat};
use crate::health::probe::TlsConfigs;
use crate::state::{Snapshot, State};
use crate::steering::Outcome;
use crate::transitions::{
    self, Clients, GroupSummary, LbChangeText, PoolSummary, Summary, Transition, pool_list,
};

/// Notifications waiting for one webhook, at most; beyond it the oldest is dropped.
pub const QUEUE_CAPACITY: usize = 256;
/// The wait before the second attempt; it doubles for each further one.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The version of the generic payload (`version`).
pub const PAYLOAD_VERSION: u32 = 1;

const USER_AGENT: &str = concat!("geosteer-notify/", env!("CARGO_PKG_VERSION"));

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ------------------------------------------------------------------------------------------
// What changed: a pure function of two observations.

/// One monitored origin, as notifications see it.
#[derive(Debug, Clone, PartialEq)]
pub struct OriginSummary {
    /// Its pool's zone.
    pub zone: Name,
    /// Its pool.
    pub pool: String,
    /// Its name.
    pub name: String,
    /// The address probed.
    pub address: IpAddr,
    /// Its monitor finds it healthy.
    pub up: bool,
    /// The last probe's outcome ("refused", "status 200", …), when there was one.
    pub reason: Option<String>,
}

/// Everything a notification may be about, in one published state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// The monitored origins (unmonitored ones never change).
    pub origins: Vec<OriginSummary>,
    /// Pools and load balancers.
    pub summary: Summary,
    /// The zone of each load balancer, as `summary.load_balancers`.
    pub lb_zones: Vec<Name>,
}

impl Observed {
    /// What `state` shows.
    pub fn of(state: &State) -> Self {
        let cfg = &state.config.steering;
        let origins = cfg
            .origins
            .iter()
            .enumerate()
            .filter_map(|(i, o)| {
                let cell = state.probes.get(i)?.as_ref()?;
                let reason = lock(cell).last.as_ref().map(|r| match &r.outcome {
                    Ok(s) => s.to_string(),
                    Err(f) => f.to_string(),
                });
                let pool = &cfg.pools[o.pool as usize];
                Some(OriginSummary {
                    zone: pool.zone.clone(),
                    pool: pool.name.clone(),
                    name: o.name.clone(),
                    address: o.probe_address(),
                    up: state.health.origins.get(i).is_some_and(|h| h.up),
                    reason,
                })
            })
            .collect();
        // A load balancer's pools are those of its own file: their zone is its zone.
        let lb_zones = cfg
            .load_balancers
            .iter()
            .map(|lb| cfg.pools[lb.fallback_pool as usize].zone.clone())
            .collect();
        Self {
            origins,
            summary: Summary::of(state),
            lb_zones,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// An origin's monitor finds it down.
    OriginDown,
    /// An origin's monitor finds it up again.
    OriginUp,
    /// A pool can no longer be answered.
    PoolDown,
    /// A pool can be answered again.
    PoolUp,
    /// A load balancer answers (a group of) its clients from another pool.
    LoadBalancerPoolChanged,
    /// No candidate pool of a load balancer is up: `on_all_down` answers (the fallback pool,
    /// every origin, or NODATA).
    LoadBalancerAllPoolsDown,
    /// A load balancer that was answering with `on_all_down` steers normally again.
    LoadBalancerRecovered,
}

impl EventKind {
    /// Its name in payloads (`event`).
    pub fn name(self) -> &'static str {
        match self {
            EventKind::OriginDown => "origin_down",
            EventKind::OriginUp => "origin_up",
            EventKind::PoolDown => "pool_down",
            EventKind::PoolUp => "pool_up",
            EventKind::LoadBalancerPoolChanged => "load_balancer_pool_changed",
            EventKind::LoadBalancerAllPoolsDown => "load_balancer_all_pools_down",
            EventKind::LoadBalancerRecovered => "load_balancer_recovered",
        }
    }

    /// Which `events` entry it belongs to.
    pub fn class(self) -> EventClass {
        match self {
            EventKind::OriginDown | EventKind::OriginUp => EventClass::Origin,
            EventKind::PoolDown | EventKind::PoolUp => EventClass::Pool,
            _ => EventClass::LoadBalancer,
        }
    }

    /// A problem starts (PagerDuty: trigger) rather than ends (resolve).
    pub fn is_problem(self) -> bool {
        matches!(
            self,
            EventKind::OriginDown | EventKind::PoolDown | EventKind::LoadBalancerAllPoolsDown
        )
    }
}

/// One notification, before it is stamped with a time and an id.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The zone of the origin, pool or load balancer.
    pub zone: Name,
    /// `info`, `warning`, `error` or `critical` (PagerDuty's severities).
    pub severity: &'static str,
    /// One line that says it all.
    pub summary: String,
    /// What it is about, the same for its down and its up event (PagerDuty's `dedup_key`).
    pub subject: String,
    /// Found in the first state (at start, or when the first webhook is configured) rather
    /// than by a change.
    pub at_start: bool,
    /// The fields of its kind (README: *Notifications*).
    pub details: Map<String, Value>,
}

fn origin_event(o: &OriginSummary, at_start: bool) -> Event {
    let kind = if o.up {
        EventKind::OriginUp
    } else {
        EventKind::OriginDown
    };
    let who = if o.name == o.address.to_string() {
        format!("origin {}", o.name)
    } else {
        format!("origin {} ({})", o.name, o.address)
    };
    let state = if o.up { "UP" } else { "DOWN" };
    let reason = o
        .reason
        .as_deref()
        .map_or(String::new(), |r| format!(": {r}"));
    let mut details = Map::new();
    details.insert("pool".into(), json!(o.pool));
    details.insert("origin".into(), json!(o.name));
    details.insert("address".into(), json!(o.address.to_string()));
    if let Some(r) = &o.reason {
        details.insert("reason".into(), json!(r));
    }
    Event {
        kind,
        zone: o.zone.clone(),
        severity: if o.up { "info" } else { "warning" },
        summary: format!("{who} in pool {} of {}: {state}{reason}", o.pool, o.zone),
        subject: format!("origin/{}/{}/{}", o.zone, o.pool, o.address),
        at_start,
        details,
    }
}

fn pool_event(kind: EventKind, p: &PoolSummary, at_start: bool) -> Event {
    let planned = p.drained || !p.enabled;
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
    let up = kind == EventKind::PoolUp;
    let mut details = Map::new();
    details.insert("pool".into(), json!(p.name));
    details.insert("healthy_origins".into(), json!(p.healthy));
    details.insert("origins".into(), json!(p.total));
    details.insert("minimum_origins".into(), json!(p.minimum));
    details.insert("drained".into(), json!(p.drained));
    details.insert("enabled".into(), json!(p.enabled));
    Event {
        kind,
        zone: p.zone.clone(),
        severity: if up || planned { "info" } else { "error" },
        summary: format!(
            "pool {} of {}: {} ({why})",
            p.name,
            p.zone,
            if up { "UP" } else { "DOWN" }
        ),
        subject: format!("pool/{}/{}", p.zone, p.name),
        at_start,
        details,
    }
}

/// Whether the clients `clients` of load balancer `name` were answered by `on_all_down` in
/// `old`.
fn was_all_down(old: &Summary, name: &Name, clients: &Clients) -> bool {
    let Some(lb) = old.load_balancers.iter().find(|l| &l.name == name) else {
        return false;
    };
    let down = |g: &GroupSummary| g.outcome != Outcome::Steered;
    match clients {
        Clients::All => lb.groups.iter().any(down),
        Clients::DefaultPools => lb.groups.first().is_some_and(down),
        Clients::Candidates(list) => lb
            .groups
            .iter()
            .find(|g| &g.candidates == list)
            .is_some_and(down),
    }
}

fn lb_event(
    new: &Observed,
    old: Option<&Observed>,
    name: &Name,
    clients: &Clients,
    now: &GroupSummary,
    was: &[String],
) -> Event {
    let kind = if now.outcome != Outcome::Steered {
        EventKind::LoadBalancerAllPoolsDown
    } else if old.is_some_and(|o| was_all_down(&o.summary, name, clients)) {
        EventKind::LoadBalancerRecovered
    } else {
        EventKind::LoadBalancerPoolChanged
    };
    let zone = new
        .summary
        .load_balancers
        .iter()
        .position(|l| &l.name == name)
        .and_then(|i| new.lb_zones.get(i))
        .cloned()
        .unwrap_or_else(|| name.base_name());
    let LbChangeText {
        who,
        group,
        how,
        was: was_text,
    } = LbChangeText::new(clients, now.outcome, was);
    let mut details = Map::new();
    details.insert("load_balancer".into(), json!(name.to_string()));
    details.insert("clients".into(), json!(group));
    if let Clients::Candidates(list) = clients {
        details.insert("candidates".into(), json!(list));
    }
    details.insert("pools".into(), json!(now.answering));
    details.insert("previous_pools".into(), json!(was));
    details.insert("outcome".into(), json!(now.outcome.name()));
    let subject = if kind == EventKind::LoadBalancerPoolChanged {
        format!("load_balancer/{name}/pool")
    } else {
        format!("load_balancer/{name}")
    };
    Event {
        kind,
        zone,
        severity: match kind {
            EventKind::LoadBalancerAllPoolsDown => "critical",
            EventKind::LoadBalancerPoolChanged => "warning",
            _ => "info",
        },
        summary: format!(
            "load balancer {name} now answers{who} from {}{how}{was_text}",
            pool_list(&now.answering)
        ),
        subject,
        at_start: old.is_none(),
        details,
    }
}

/// The notifications from `old` to `new`: origins first, then pools, then load balancers.
/// Without `old` (the first state): what is down, and the load balancers answered by
/// `on_all_down`. Origins, pools and load balancers new in a reload are no transitions.
pub fn events(old: Option<&Observed>, new: &Observed) -> Vec<Event> {
    let mut out = Vec::new();
    match old {
        None => {
            for o in new.origins.iter().filter(|o| !o.up) {
                out.push(origin_event(o, true));
            }
        }
        Some(old) => {
            let before: HashMap<(&Name, &str, &str, IpAddr), bool> = old
                .origins
                .iter()
                .map(|o| ((&o.zone, o.pool.as_str(), o.name.as_str(), o.address), o.up))
                .collect();
            for o in &new.origins {
                let key = (&o.zone, o.pool.as_str(), o.name.as_str(), o.address);
                if before.get(&key).is_some_and(|&up| up != o.up) {
                    out.push(origin_event(o, false));
                }
            }
        }
    }
    let at_start = old.is_none();
    for t in transitions::diff(old.map(|o| &o.summary), &new.summary) {
        out.push(match &t {
            Transition::PoolDown(p) => pool_event(EventKind::PoolDown, p, at_start),
            Transition::PoolUp(p) => pool_event(EventKind::PoolUp, p, at_start),
            Transition::LoadBalancer {
                name,
                clients,
                now,
                was,
            } => lb_event(new, old, name, clients, now, was),
        });
    }
    out
}

// ------------------------------------------------------------------------------------------
// Payloads.

/// An event as sent: with its time, an id and the instance that saw it.
#[derive(Debug, Clone)]
pub struct Notice {
    /// The event.
    pub event: Event,
    /// When it was found.
    pub time: SystemTime,
    /// Unique per notification (the same in each attempt, so receivers can drop repeats).
    pub id: String,
    /// This instance's name (`--identity`).
    pub instance: Arc<str>,
}

/// RFC 3339, UTC, whole seconds.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let s = crate::dnssec::time::format(secs); // YYYYMMDDHHMMSS
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[8..10],
        &s[10..12],
        &s[12..14]
    )
}

/// The generic payload (`format = "generic"`).
pub fn generic(n: &Notice) -> Value {
    let e = &n.event;
    let mut m = Map::new();
    m.insert("version".into(), json!(PAYLOAD_VERSION));
    m.insert("id".into(), json!(n.id));
    m.insert("event".into(), json!(e.kind.name()));
    m.insert("class".into(), json!(e.kind.class().name()));
    m.insert("severity".into(), json!(e.severity));
    m.insert("summary".into(), json!(e.summary));
    m.insert("instance".into(), json!(&*n.instance));
    m.insert("time".into(), json!(rfc3339(n.time)));
    m.insert("zone".into(), json!(e.zone.to_string()));
    m.insert("at_start".into(), json!(e.at_start));
    for (k, v) in &e.details {
        m.insert(k.clone(), v.clone());
    }
    Value::Object(m)
}

/// A Slack incoming webhook's payload (`format = "slack"`): `{"text": …}`.
pub fn slack(n: &Notice) -> Value {
    let e = &n.event;
    let icon = if e.kind.is_problem() {
        ":red_circle:"
    } else if matches!(
        e.kind,
        EventKind::OriginUp | EventKind::PoolUp | EventKind::LoadBalancerRecovered
    ) {
        ":large_green_circle:"
    } else {
        ":large_yellow_circle:"
    };
    json!({ "text": format!("{icon} geosteer {}: {}", n.instance, e.summary) })
}

/// A PagerDuty Events API v2 event (`format = "pagerduty"`): a problem triggers, its end
/// resolves the same `dedup_key`. `None` for a plain pool change, which is not an incident
/// (the pool_down that caused it is).
pub fn pagerduty(n: &Notice, routing_key: &str) -> Option<Value> {
    let e = &n.event;
    if e.kind == EventKind::LoadBalancerPoolChanged {
        return None;
    }
    let component = e
        .details
        .get("origin")
        .or_else(|| e.details.get("pool"))
        .or_else(|| e.details.get("load_balancer"))
        .cloned()
        .unwrap_or(Value::Null);
    let summary: String = e.summary.chars().take(1024).collect();
    Some(json!({
        "routing_key": routing_key,
        "event_action": if e.kind.is_problem() { "trigger" } else { "resolve" },
        "dedup_key": format!("geosteer/{}/{}", n.instance, e.subject),
        "client": "geosteer",
        "payload": {
            "summary": summary,
            "source": &*n.instance,
            "severity": e.severity,
            "timestamp": rfc3339(n.time),
            "component": component,
            "group": e.zone.to_string(),
            "class": e.kind.name(),
            "custom_details": generic(n),
        },
    }))
}

/// The body `webhook` is sent for `n`, if any.
pub fn body(webhook: &Webhook, n: &Notice) -> Option<Value> {
    match webhook.format {
        WebhookFormat::Generic => Some(generic(n)),
        WebhookFormat::Slack => Some(slack(n)),
        WebhookFormat::PagerDuty => pagerduty(n, webhook.routing_key.as_ref()?.expose()),
    }
}

// ------------------------------------------------------------------------------------------
// Queues and delivery.

/// A bounded FIFO: when full, a push drops the oldest entry.
#[derive(Debug)]
pub struct Queue<T> {
    items: VecDeque<T>,
    capacity: usize,
}

impl<T> Queue<T> {
    /// An empty queue of at most `capacity` (at least 1) entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            items: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Appends `item`; returns the entry dropped to make room, if any.
    pub fn push(&mut self, item: T) -> Option<T> {
        let dropped = if self.items.len() >= self.capacity {
            self.items.pop_front()
        } else {
            None
        };
        self.items.push_back(item);
        dropped
    }

    /// The oldest entry.
    pub fn pop(&mut self) -> Option<T> {
        self.items.pop_front()
    }

    /// Entries waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether none is waiting.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    retries: AtomicU64,
}

/// One webhook and its delivery task.
struct Hook {
    cfg: Mutex<Arc<Webhook>>,
    queue: Mutex<Queue<Arc<Notice>>>,
    wake: Notify,
    cancel: CancellationToken,
    counters: Counters,
    /// Its last notification was given up: the next failure is logged at debug only.
    failing: AtomicBool,
}

impl Hook {
    fn cfg(&self) -> Arc<Webhook> {
        lock(&self.cfg).clone()
    }

    fn push(&self, n: Arc<Notice>) {
        if lock(&self.queue).push(n).is_some() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.wake.notify_one();
    }
}

/// Why an attempt failed; `permanent` when trying again cannot help.
struct Failed {
    reason: String,
    permanent: bool,
}

/// The innermost cause of a reqwest error, without the URL (it may hold a key).
fn reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut inner: &dyn std::error::Error = e;
    while let Some(s) = inner.source() {
        inner = s;
    }
    let text = inner.to_string();
    if e.is_connect() {
        format!("cannot connect: {text}")
    } else {
        text
    }
}

fn client(w: &Webhook, tls: &TlsConfigs) -> Result<reqwest::Client, String> {
    let https = reqwest::Url::parse(w.url.expose()).is_ok_and(|u| u.scheme() == "https");
    // Plain http never uses TLS here (redirects are not followed).
    let tls_config = if https {
        tls.verified()?
    } else {
        tls.insecure()
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config)
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
        .connect_timeout(w.timeout)
        .timeout(w.timeout)
        .build()
        .map_err(|e| reason(&e))
}

async fn attempt(client: &reqwest::Client, w: &Webhook, body: &[u8]) -> Result<(), Failed> {
    let mut req = client
        .post(w.url.expose())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_vec());
    if let Some((name, value)) = &w.secret_header {
        req = req.header(name.as_str(), value.expose());
    }
    match req.send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => {
            let s = r.status();
            Err(Failed {
                reason: format!("status {}", s.as_u16()),
                permanent: s.is_client_error() && s.as_u16() != 408 && s.as_u16() != 429,
            })
        }
        Err(e) => Err(Failed {
            reason: reason(&e),
            permanent: e.is_builder(),
        }),
    }
}

/// Delivers `hook`'s notifications one at a time, in order, until it is cancelled.
async fn deliver(hook: Arc<Hook>, tls: Arc<TlsConfigs>) {
    let mut built: Option<(Arc<Webhook>, Result<reqwest::Client, String>)> = None;
    loop {
        let next = lock(&hook.queue).pop();
        let Some(notice) = next else {
            tokio::select! {
                biased;
                _ = hook.cancel.cancelled() => return,
                _ = hook.wake.notified() => {}
            }
            continue;
        };
        let mut backoff = FIRST_BACKOFF;
        let mut n = 0;
        loop {
            n += 1;
            // A reload may change the webhook between attempts: each uses the current one.
            let w = hook.cfg();
            if !built.as_ref().is_some_and(|(b, _)| Arc::ptr_eq(b, &w)) {
                built = Some((w.clone(), client(&w, &tls)));
            }
            let Some(value) = body(&w, &notice) else {
                break; // nothing to send in this format
            };
            let bytes = serde_json::to_vec(&value).unwrap_or_default();
            let result = match built.as_ref().map(|(_, c)| c) {
                Some(Ok(c)) => {
                    tokio::select! {
                        biased;
                        _ = hook.cancel.cancelled() => return,
                        r = attempt(c, &w, &bytes) => r,
                    }
                }
                Some(Err(e)) => Err(Failed {
                    reason: e.clone(),
                    permanent: true,
                }),
                None => unreachable!("built above"),
            };
            match result {
                Ok(()) => {
                    hook.counters.sent.fetch_add(1, Ordering::Relaxed);
                    if hook.failing.swap(false, Ordering::Relaxed) {
                        info!(
                            "notifications: webhook {} takes notifications again",
                            w.name
                        );
                    }
                    break;
                }
                Err(f) if f.permanent || n >= w.attempts => {
                    hook.counters.failed.fetch_add(1, Ordering::Relaxed);
                    let event = notice.event.kind.name();
                    if hook.failing.swap(true, Ordering::Relaxed) {
                        debug!(
                            "notifications: {event} to webhook {} given up after {n} attempts: {}",
                            w.name, f.reason
                        );
                    } else {
                        warn!(
                            "notifications: {event} to webhook {} given up after {n} attempts: {} \
                             (further failures are logged at debug until one succeeds)",
                            w.name, f.reason
                        );
                    }
                    break;
                }
                Err(f) => {
                    hook.counters.retries.fetch_add(1, Ordering::Relaxed);
                    debug!(
                        "notifications: webhook {} attempt {n} failed: {}; again in {backoff:?}",
                        w.name, f.reason
                    );
                    tokio::select! {
                        biased;
                        _ = hook.cancel.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// The notifier.

struct Inner {
    /// The configuration the webhooks were taken from.
    config: Option<Arc<Snapshot>>,
    last: Option<Observed>,
    hooks: Vec<Arc<Hook>>,
}

/// Turns published states into notifications: give [`Notifier::observe`] each state as it
/// is published (the publish hook of health monitoring), like the transition log.
pub struct Notifier {
    instance: Arc<str>,
    /// The `serve --notify-webhook` webhooks, added to those of every configuration.
    flags: Vec<Webhook>,
    rt: tokio::runtime::Handle,
    tls: Arc<TlsConfigs>,
    next_id: AtomicU64,
    started: u64,
    inner: Mutex<Inner>,
}

impl Notifier {
    /// A notifier for the instance named `instance`, whose delivery tasks run on `rt`;
    /// `flags` are the webhooks of the command line.
    pub fn new(instance: &str, flags: Vec<Webhook>, rt: tokio::runtime::Handle) -> Arc<Self> {
        Arc::new(Self {
            instance: instance.into(),
            flags,
            rt,
            tls: Arc::default(),
            next_id: AtomicU64::new(1),
            started: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            inner: Mutex::new(Inner {
                config: None,
                last: None,
                hooks: Vec::new(),
            }),
        })
    }

    /// Compares `state` with the one seen before and queues what changed for each webhook
    /// that wants it. A new configuration's webhooks apply from this state on.
    pub fn observe(&self, state: &State) {
        let mut inner = lock(&self.inner);
        if !inner
            .config
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(c, &state.config))
        {
            self.reconfigure(&mut inner, &state.config.steering.webhooks);
            inner.config = Some(state.config.clone());
        }
        if inner.hooks.is_empty() {
            // Nobody to tell: a webhook configured later hears what is down then.
            inner.last = None;
            return;
        }
        let now = Observed::of(state);
        if inner.last.as_ref() == Some(&now) {
            return;
        }
        let found = events(inner.last.as_ref(), &now);
        inner.last = Some(now);
        let time = SystemTime::now();
        for event in found {
            let wanting: Vec<&Arc<Hook>> = inner
                .hooks
                .iter()
                .filter(|h| h.cfg().wants(event.kind.class(), &event.zone))
                .collect();
            if wanting.is_empty() {
                continue;
            }
            let id = format!(
                "{}-{}-{}",
                self.instance,
                self.started,
                self.next_id.fetch_add(1, Ordering::Relaxed)
            );
            let notice = Arc::new(Notice {
                event,
                time,
                id,
                instance: self.instance.clone(),
            });
            for h in wanting {
                h.push(notice.clone());
            }
        }
    }

    /// Makes the webhooks those of the command line and `configured`: unchanged ones keep
    /// their queue and counters, changed ones (same zone and name) too, with the new settings
    /// from their next attempt; removed ones stop, their queue dropped.
    fn reconfigure(&self, inner: &mut Inner, configured: &[Webhook]) {
        let mut next: Vec<Arc<Hook>> = Vec::new();
        for w in self.flags.iter().chain(configured) {
            let existing = inner.hooks.iter().find(|h| {
                let c = h.cfg();
                c.zone == w.zone && c.name == w.name
            });
            let hook = match existing {
                Some(h) => {
                    if *h.cfg() != *w {
                        *lock(&h.cfg) = Arc::new(w.clone());
                        info!("notifications: webhook {} changed", w.name);
                    }
                    h.clone()
                }
                None => {
                    let h = Arc::new(Hook {
                        cfg: Mutex::new(Arc::new(w.clone())),
                        queue: Mutex::new(Queue::new(QUEUE_CAPACITY)),
                        wake: Notify::new(),
                        cancel: CancellationToken::new(),
                        counters: Counters::default(),
                        failing: AtomicBool::new(false),
                    });
                    self.rt.spawn(deliver(h.clone(), self.tls.clone()));
                    let zone = w
                        .zone
                        .as_ref()
                        .map_or("every zone".into(), |z| z.to_string());
                    let events: Vec<&str> = w.events.iter().map(|e| e.name()).collect();
                    info!(
                        "notifications: webhook {} ({}, {}: {})",
                        w.name,
                        w.format.name(),
                        zone,
                        events.join(", ")
                    );
                    h
                }
            };
            next.push(hook);
        }
        for h in &inner.hooks {
            if !next.iter().any(|n| Arc::ptr_eq(n, h)) {
                h.cancel.cancel();
                info!("notifications: webhook {} removed", h.cfg().name);
            }
        }
        inner.hooks = next;
    }

    /// The notification families in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        use crate::metrics::{family, sample};
        let hooks = lock(&self.inner).hooks.clone();
        let labels: Vec<(String, String)> = hooks
            .iter()
            .map(|h| {
                let c = h.cfg();
                (
                    c.zone.as_ref().map_or(String::new(), |z| z.to_string()),
                    c.name.clone(),
                )
            })
            .collect();
        type Counter = (&'static str, &'static str, fn(&Counters) -> &AtomicU64);
        let counters: [Counter; 4] = [
            (
                "geosteer_notifications_sent_total",
                "Notifications the webhook accepted (2xx).",
                |c| &c.sent,
            ),
            (
                "geosteer_notifications_failed_total",
                "Notifications given up: every attempt failed, or the webhook refused it (4xx).",
                |c| &c.failed,
            ),
            (
                "geosteer_notifications_dropped_total",
                "Notifications dropped unsent because the webhook's queue was full.",
                |c| &c.dropped,
            ),
            (
                "geosteer_notification_retries_total",
                "Delivery attempts that failed and were tried again.",
                |c| &c.retries,
            ),
        ];
        for (name, help, get) in counters {
            family(out, name, "counter", help);
            for (h, (zone, webhook)) in hooks.iter().zip(&labels) {
                sample(
                    out,
                    name,
                    &[("zone", zone.as_str()), ("webhook", webhook.as_str())],
                    get(&h.counters).load(Ordering::Relaxed) as f64,
                );
            }
        }
        let name = "geosteer_notification_queue_length";
        family(
            out,
            name,
            "gauge",
            "Notifications waiting for the webhook (not counting the one being sent).",
        );
        for (h, (zone, webhook)) in hooks.iter().zip(&labels) {
            let len = lock(&h.queue).len();
            sample(
                out,
                name,
                &[("zone", zone.as_str()), ("webhook", webhook.as_str())],
                len as f64,
            );
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        for h in &lock(&self.inner).hooks {
            h.cancel.cancel();
        }
    }
}

#[cfg(test)]
mod tests;
