//! Steering configuration: `zones/<origin>.toml` beside `zones/<origin>.zone`.
//!
//! The schema follows Cloudflare Load Balancing's names (load balancers, pools, origins,
//! monitors) so that its users recognise them. Parsing is strict: unknown keys, unknown pool
//! or monitor names, bad addresses, out-of-range numbers and unknown location codes are all
//! reported with file, line and reason.
//!
//! Three parts: the typed model that the rest of geosteer reads (here, with the defaults as
//! named constants), the raw file format as serde reads it (`schema`), and the validation
//! that turns one into the other (`validate`).

pub mod rules;
mod schema;
mod validate;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use hickory_proto::rr::Name;
use serde::Deserialize;

pub use validate::{
    Shared, is_host_name, parse_codes, parse_duration, read_file, read_file_with, read_shared,
    read_str, read_str_with, resolve_host,
};

/// The file in the zones directory whose pools and monitors every zone may use.
pub const SHARED_FILE: &str = "_pools.toml";

/// A pool's index in [`SteeringConfig::pools`].
pub type PoolId = u32;
/// An origin's index in [`SteeringConfig::origins`].
pub type OriginId = u32;
/// A monitor's index in [`SteeringConfig::monitors`].
pub type MonitorId = u32;

/// An address family: which of an origin's addresses a query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4: A records.
    V4,
    /// IPv6: AAAA records.
    V6,
}

// ------------------------------------------------------------------------------------------
// Defaults: what a key left out of the file means. The README's reference documents each; a
// test checks that it says the same.

/// Most addresses answered for one query, by default and at most (as Route 53 multivalue).
pub const MAX_ANSWERS: usize = 8;
/// `ttl` of a load balancer's answers, in seconds.
pub const DEFAULT_TTL: u32 = 30;
/// A pool's `minimum_origins`.
pub const DEFAULT_MINIMUM_ORIGINS: u32 = 1;
/// An origin's `weight`, and a pool's in `pool_weights`.
pub const DEFAULT_WEIGHT: f64 = 1.0;
/// `enabled` of pools and origins.
pub const DEFAULT_ENABLED: bool = true;
/// A monitor's `port`, for `http`.
pub const DEFAULT_HTTP_PORT: u16 = 80;
/// A monitor's `port`, for `https`.
pub const DEFAULT_HTTPS_PORT: u16 = 443;
/// How often a monitor probes each origin.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// How long one attempt of a probe may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Immediate re-tries before a probe counts as failed.
pub const DEFAULT_RETRIES: u32 = 1;
/// Failed probes in a row that take an up origin down.
pub const DEFAULT_CONSECUTIVE_DOWN: u32 = 2;
/// Successful probes in a row that bring a down origin back.
pub const DEFAULT_CONSECUTIVE_UP: u32 = 2;
/// An HTTP monitor's request method.
pub const DEFAULT_METHOD: &str = "GET";
/// An HTTP monitor's request path.
pub const DEFAULT_PATH: &str = "/";
/// The status codes an HTTP monitor counts as healthy.
pub const DEFAULT_EXPECTED_CODES: &str = "200";
/// Whether an HTTP monitor follows redirects.
pub const DEFAULT_FOLLOW_REDIRECTS: bool = false;
/// Whether an HTTPS monitor accepts any certificate.
pub const DEFAULT_ALLOW_INSECURE: bool = false;

/// How a load balancer chooses the pool (`steering`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// The first healthy pool of `default_pools` (Cloudflare `off`).
    Failover,
    /// Weighted random among the healthy pools of `default_pools`.
    Random,
    /// Most specific of subdivision, country, region, continent maps; then `default_pools`.
    Geo,
    /// Nearest healthy pool by great-circle distance.
    Proximity,
    /// Lowest probe round-trip time.
    Dynamic,
}

impl Policy {
    /// Whether the client's location can change the pool chosen.
    pub fn uses_location(self) -> bool {
        matches!(self, Policy::Geo | Policy::Proximity)
    }

    /// The policy a `steering_policy` value names (Cloudflare's names, and geosteer's older
    /// `failover` and `dynamic`).
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "failover" | "off" => Policy::Failover,
            // Cloudflare's least outstanding requests and least connections, DNS-only: a
            // DNS answer opens no connection, so every count is zero and the pool weights
            // decide, which is weighted random.
            "random" | "least_outstanding_requests" | "least_connections" => Policy::Random,
            "geo" => Policy::Geo,
            "proximity" => Policy::Proximity,
            "dynamic" | "dynamic_latency" => Policy::Dynamic,
            _ => return None,
        })
    }
}

/// What a load balancer answers when no candidate pool is usable (`on_all_down`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnAllDown {
    /// Answer from `fallback_pool`, whatever its health (Cloudflare's rule).
    #[default]
    Fallback,
    /// Steer as if every enabled origin were healthy (Route 53's fail-open).
    All,
    /// Answer NOERROR with no addresses.
    Nodata,
}

/// How the origins of a pool are ordered in an answer (`origin_steering`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OriginSteering {
    /// Weighted random order of the healthy origins. Cloudflare's
    /// `least_outstanding_requests` and `least_connections` mean the same for DNS answers
    /// (no request or connection passes through the load balancer: all counts are zero and
    /// the weights decide).
    #[default]
    #[serde(alias = "least_outstanding_requests", alias = "least_connections")]
    Random,
    /// A stable order per client network (/24, /56): rendezvous hashing.
    Hash,
}

// ------------------------------------------------------------------------------------------
// Cloudflare's `location_strategy` (issue 15): where a load balancer takes the client's
// location from.

/// `location_strategy.prefer_ecs`: when the EDNS Client Subnet address stands for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PreferEcs {
    /// Always, when the query carries ECS (geosteer's default).
    #[default]
    Always,
    /// Never: the resolver's address is the client's location, and the ECS scope is 0.
    Never,
    /// Only for `proximity` steering (Cloudflare's default).
    Proximity,
    /// Only for `geo` steering.
    Geo,
}

impl PreferEcs {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "always" => PreferEcs::Always,
            "never" => PreferEcs::Never,
            "proximity" => PreferEcs::Proximity,
            "geo" => PreferEcs::Geo,
            _ => return None,
        })
    }
}

/// `location_strategy.mode`: where the location comes from when ECS is not used. A DNS-only
/// server has no point of presence, so both mean the resolver's address; the value is kept so
/// that `explain` can show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LocationMode {
    /// Cloudflare: the data centre that answered; geosteer: the resolver's address.
    #[default]
    Pop,
    /// The resolver's address.
    ResolverIp,
}

/// The `prefer_ecs` value geosteer applies when a load balancer gives none.
pub const DEFAULT_PREFER_ECS: &str = "always";
/// The `mode` value of `location_strategy` when none is given.
pub const DEFAULT_LOCATION_MODE: &str = "pop";
/// `random_steering.default_weight`: the weight of a pool `pool_weights` does not name.
pub const DEFAULT_POOL_WEIGHT: f64 = 1.0;
/// `enabled` of load balancers.
pub const DEFAULT_LB_ENABLED: bool = true;

/// One origin of a pool: an address (or an IPv4 and an IPv6 address of one machine).
#[derive(Debug, Clone)]
pub struct Origin {
    /// Its name (the address when the file gives none).
    pub name: String,
    /// The pool it belongs to.
    pub pool: PoolId,
    /// Its IPv4 address, if any.
    pub v4: Option<Ipv4Addr>,
    /// Its IPv6 address, if any.
    pub v6: Option<Ipv6Addr>,
    /// Its share among the pool's origins, 0..=1.
    pub weight: f64,
    /// Answered at all (false: left out whatever its health).
    pub enabled: bool,
    /// Its own Host header for monitor probes (Cloudflare's origin `header.Host`), which wins
    /// over the monitor's.
    pub host_header: Option<String>,
    /// The host name it was given by, whose addresses `v4` and `v6` are (resolved at load;
    /// `serve` resolves it again every `--resolve-interval`).
    pub host: Option<String>,
}

impl Origin {
    /// The address health checks probe: IPv4 when there is one (a dual-stack origin is one
    /// machine, so one probe speaks for both families).
    pub fn probe_address(&self) -> IpAddr {
        match (self.v4, self.v6) {
            (Some(a), _) => IpAddr::V4(a),
            (None, Some(a)) => IpAddr::V6(a),
            (None, None) => unreachable!("config ensures every origin has an address"),
        }
    }
}

/// A pool: a group of origins that steering chooses as one.
#[derive(Debug, Clone)]
pub struct Pool {
    /// Its name, unique within its file.
    pub name: String,
    /// The zone whose configuration file defines the pool (pool names are per file).
    pub zone: Name,
    /// The pool's origins: a contiguous range of ids.
    pub origins: std::ops::Range<OriginId>,
    /// Healthy origins it needs to count as up.
    pub minimum_origins: u32,
    /// Latitude and longitude, for proximity steering.
    pub coordinates: Option<(f64, f64)>,
    /// The monitor that probes its origins (none: always healthy).
    pub monitor: Option<MonitorId>,
    /// How its origins are ordered in an answer.
    pub origin_steering: OriginSteering,
    /// Answered at all (false: skipped whatever its health).
    pub enabled: bool,
}

/// What a monitor probes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MonitorKind {
    /// A TCP connection to the origin's port.
    Tcp,
    /// An HTTP request.
    Http(HttpCheck),
    /// An HTTP request over TLS.
    Https(HttpCheck),
}

/// The request an HTTP(S) monitor sends and the response it expects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpCheck {
    /// Request method, upper case.
    pub method: String,
    /// Request path, starting with `/`.
    pub path: String,
    /// Request headers, `${VAR}` already expanded.
    pub headers: Vec<(String, String)>,
    /// Request body, `${VAR}` already expanded.
    pub body: Option<String>,
    /// Inclusive status-code ranges that count as healthy.
    pub expected_codes: Vec<(u16, u16)>,
    /// A case-insensitive substring the body must contain.
    pub expected_body: Option<String>,
    /// Follow redirects rather than judge the first response.
    pub follow_redirects: bool,
    /// Accept any certificate.
    pub allow_insecure: bool,
    /// Where to read the origin's load from a passing response (`load`), if anywhere.
    pub load: Option<LoadSignal>,
}

/// An HTTP monitor's load signal: a number read from each passing response that lowers the
/// origin's weight as it rises. With `full` = F and a reading L, the origin's weight is
/// multiplied by `1 - clamp(L, 0, F) / F`: idle at 0, nothing at F or above.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoadSignal {
    /// Where the number is.
    pub source: LoadSource,
    /// The reading at which the origin counts as full, as `f64` bits (so the monitor stays
    /// `Eq` and `Hash`).
    full_bits: u64,
}

/// Where a load reading is in a response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LoadSource {
    /// A JSON body's field, by its path of object keys (`load.current` → `["load",
    /// "current"]`).
    Json(Vec<String>),
    /// A response header (its name, lower case).
    Header(String),
}

/// `full` when a load signal leaves it out: the reading is a fraction.
pub const DEFAULT_LOAD_FULL: f64 = 1.0;

impl LoadSignal {
    /// A signal read from `source`, full at `full` (> 0).
    pub fn new(source: LoadSource, full: f64) -> Self {
        Self {
            source,
            full_bits: full.to_bits(),
        }
    }

    /// The reading at which the origin counts as full.
    pub fn full(&self) -> f64 {
        f64::from_bits(self.full_bits)
    }

    /// The factor a reading multiplies the origin's weight by: `1 - clamp(load, 0, full) /
    /// full`, in 0..=1 (a reading that is not a number leaves the weight alone).
    pub fn factor(&self, load: f64) -> f64 {
        if !load.is_finite() {
            return 1.0;
        }
        1.0 - load.clamp(0.0, self.full()) / self.full()
    }
}

/// A health monitor: what to probe, and how often and how strictly.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Monitor {
    /// Its name, unique within its file.
    pub name: String,
    /// The zone whose configuration file defines it.
    pub zone: Name,
    /// What it probes.
    pub kind: MonitorKind,
    /// The port probed on each origin.
    pub port: u16,
    /// How often each origin is probed.
    pub interval: Duration,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// Immediate re-tries before a probe counts as failed.
    pub retries: u32,
    /// Failed probes in a row that take an up origin down.
    pub consecutive_down: u32,
    /// Successful probes in a row that bring a down origin back.
    pub consecutive_up: u32,
}

/// The location rules of a `geo` load balancer, each key mapped to an ordered pool list.
#[derive(Debug, Clone, Default)]
pub struct GeoRules {
    /// By subdivision code (`US-CA`).
    pub subdivision: HashMap<String, Vec<PoolId>>,
    /// By country code (`DE`).
    pub country: HashMap<String, Vec<PoolId>>,
    /// By Cloudflare region code (`WEU`).
    pub region: HashMap<String, Vec<PoolId>>,
    /// By continent code (`EU`).
    pub continent: HashMap<String, Vec<PoolId>>,
}

/// A load-balanced name: the policy and pools its A and AAAA answers come from.
#[derive(Debug, Clone)]
pub struct LoadBalancer {
    /// The name it answers for.
    pub name: Name,
    /// TTL of its answers.
    pub ttl: u32,
    /// How it chooses the pool.
    pub policy: Policy,
    /// The pools tried, in order (after the location rules, for `geo`).
    pub default_pools: Vec<PoolId>,
    /// The pool of last resort (`on_all_down = "fallback"`).
    pub fallback_pool: PoolId,
    /// What to answer when no pool is usable.
    pub on_all_down: OnAllDown,
    /// Most addresses in one answer.
    pub max_answers: usize,
    /// For `geo`: the location rules.
    pub rules: GeoRules,
    /// For `random`: the weight of each of `default_pools`, in the same order.
    pub pool_weights: Vec<f64>,
    /// When the ECS address stands for the client (`location_strategy.prefer_ecs`).
    pub prefer_ecs: PreferEcs,
    /// `location_strategy.mode` (both modes locate by the resolver's address here).
    pub location_mode: LocationMode,
    /// `subnet_pools`: client networks and their pool lists; the most specific network
    /// containing the client wins.
    pub subnet_pools: Vec<(ipnet::IpNet, Vec<PoolId>)>,
    /// `asn_pools`: AS numbers and their pool lists.
    pub asn_pools: Vec<(u32, Vec<PoolId>)>,
    /// Custom rules, in evaluation order.
    pub custom_rules: Vec<CustomRule>,
    /// The network sets the rules' `ip.src` tests refer to.
    pub rule_networks: rules::RuleSet,
    /// Where it was defined, for messages.
    pub file: std::path::PathBuf,
    /// The line it was defined at.
    pub line: usize,
}

impl LoadBalancer {
    /// Whether this load balancer takes the client's location from the ECS address (when the
    /// query has one): `prefer_ecs` against the steering policy.
    pub fn uses_ecs(&self) -> bool {
        match self.prefer_ecs {
            PreferEcs::Always => true,
            PreferEcs::Never => false,
            PreferEcs::Proximity => self.policy == Policy::Proximity,
            PreferEcs::Geo => self.policy == Policy::Geo,
        }
    }

    /// Every pool this load balancer may answer from, without repeats.
    pub fn pools(&self) -> Vec<PoolId> {
        let mut out: Vec<PoolId> = Vec::new();
        let maps = [
            &self.rules.subdivision,
            &self.rules.country,
            &self.rules.region,
            &self.rules.continent,
        ];
        let mapped = maps.into_iter().flat_map(|m| m.values().flatten());
        let subnets = self.subnet_pools.iter().flat_map(|x| &x.1);
        let asns = self.asn_pools.iter().flat_map(|x| &x.1);
        let overridden = self.custom_rules.iter().flat_map(|r| {
            r.overrides
                .default_pools
                .iter()
                .flatten()
                .chain(&r.overrides.fallback_pool)
                .chain(r.overrides.location_maps.pools())
        });
        for &p in self
            .default_pools
            .iter()
            .chain(mapped)
            .chain(subnets)
            .chain(asns)
            .chain(overridden)
            .chain(std::iter::once(&self.fallback_pool))
        {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }
}

/// One custom rule of a load balancer (`[[load_balancers."name".rules]]`).
#[derive(Debug, Clone)]
pub struct CustomRule {
    /// Its name (`rule N` when the file gives none), for `explain`.
    pub name: String,
    /// When it applies.
    pub condition: rules::Condition,
    /// A match stops evaluation of the rules after it.
    pub terminates: bool,
    /// What a match changes.
    pub overrides: RuleOverrides,
    /// The line it was defined at.
    pub line: usize,
}

/// What a matching custom rule changes; `None` keeps the load balancer's own (or an earlier
/// matching rule's) setting.
#[derive(Debug, Clone, Default)]
pub struct RuleOverrides {
    /// `default_pools` (Cloudflare's `pools` is accepted too).
    pub default_pools: Option<Vec<PoolId>>,
    /// `fallback_pool`.
    pub fallback_pool: Option<PoolId>,
    /// `steering_policy`.
    pub policy: Option<Policy>,
    /// `ttl`.
    pub ttl: Option<u32>,
    /// Pool weights for `random` steering (`pool_weights`, or `random_steering =
    /// { pool_weights, default_weight }`): named pools, and the weight of the others.
    pub pool_weights: Option<(Vec<(PoolId, f64)>, f64)>,
    /// Location maps (`country_pools`, `region_pools`, `subdivision_pools`,
    /// `continent_pools`): each one given replaces that map of the load balancer; the
    /// others stay. A rule with one steers `geo` (checked at load).
    pub location_maps: LocationMapOverrides,
}

/// The location maps a rule replaces; `None` keeps the load balancer's.
#[derive(Debug, Clone, Default)]
pub struct LocationMapOverrides {
    /// `subdivision_pools`.
    pub subdivision: Option<HashMap<String, Vec<PoolId>>>,
    /// `country_pools`.
    pub country: Option<HashMap<String, Vec<PoolId>>>,
    /// `region_pools`.
    pub region: Option<HashMap<String, Vec<PoolId>>>,
    /// `continent_pools`.
    pub continent: Option<HashMap<String, Vec<PoolId>>>,
}

impl LocationMapOverrides {
    /// Whether any map is replaced.
    pub fn any(&self) -> bool {
        self.subdivision.is_some()
            || self.country.is_some()
            || self.region.is_some()
            || self.continent.is_some()
    }

    /// The pools of every replaced map.
    pub fn pools(&self) -> impl Iterator<Item = &PoolId> {
        [
            &self.subdivision,
            &self.country,
            &self.region,
            &self.continent,
        ]
        .into_iter()
        .flatten()
        .flat_map(|m| m.values().flatten())
    }
}

impl LoadBalancer {
    /// This load balancer with a rule's overrides applied.
    pub fn overridden(&self, o: &RuleOverrides) -> LoadBalancer {
        let mut lb = self.clone();
        if let Some(p) = &o.default_pools {
            lb.default_pools = p.clone();
            lb.pool_weights = vec![DEFAULT_POOL_WEIGHT; lb.default_pools.len()];
        }
        if let Some(f) = o.fallback_pool {
            lb.fallback_pool = f;
        }
        if let Some(p) = o.policy {
            lb.policy = p;
        }
        if let Some(t) = o.ttl {
            lb.ttl = t;
        }
        let maps = &o.location_maps;
        for (given, target) in [
            (&maps.subdivision, &mut lb.rules.subdivision),
            (&maps.country, &mut lb.rules.country),
            (&maps.region, &mut lb.rules.region),
            (&maps.continent, &mut lb.rules.continent),
        ] {
            if let Some(m) = given {
                target.clone_from(m);
            }
        }
        if let Some((named, default)) = &o.pool_weights {
            lb.pool_weights = lb
                .default_pools
                .iter()
                .map(|p| named.iter().find(|x| x.0 == *p).map_or(*default, |x| x.1))
                .collect();
        }
        lb
    }

    /// Whether anything about the client beyond its location database entry can change the
    /// answer: subnet or AS maps, or custom rules.
    pub fn has_client_rules(&self) -> bool {
        !self.subnet_pools.is_empty() || !self.asn_pools.is_empty() || !self.custom_rules.is_empty()
    }
}

/// All steering configuration of all zones, with global ids.
#[derive(Debug, Clone, Default)]
pub struct SteeringConfig {
    /// Every monitor, by [`MonitorId`].
    pub monitors: Vec<Monitor>,
    /// Every pool, by [`PoolId`].
    pub pools: Vec<Pool>,
    /// Every origin, by [`OriginId`]; a pool's origins are contiguous.
    pub origins: Vec<Origin>,
    /// Every load balancer, in the order the files define them.
    pub load_balancers: Vec<LoadBalancer>,
    /// The webhooks of every zone's `[notifications]`.
    pub webhooks: Vec<Webhook>,
}

// ------------------------------------------------------------------------------------------
// Notifications: webhooks told of origin, pool and load balancer transitions.

/// How long one delivery attempt of a notification may take, by default.
pub const DEFAULT_NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);
/// Delivery attempts of one notification, by default (the first one included).
pub const DEFAULT_NOTIFY_ATTEMPTS: u32 = 5;
/// A webhook's `format`.
pub const DEFAULT_NOTIFY_FORMAT: WebhookFormat = WebhookFormat::Generic;

/// What a webhook is told about (`events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventClass {
    /// An origin going down or up.
    Origin,
    /// A pool going down or up.
    Pool,
    /// A load balancer answering from another pool, or from its fallback.
    LoadBalancer,
}

impl EventClass {
    /// Every class: what a webhook gets when `events` is left out.
    pub const ALL: [EventClass; 3] = [
        EventClass::Origin,
        EventClass::Pool,
        EventClass::LoadBalancer,
    ];

    /// Its name in the file and in payloads.
    pub fn name(self) -> &'static str {
        match self {
            EventClass::Origin => "origin",
            EventClass::Pool => "pool",
            EventClass::LoadBalancer => "load_balancer",
        }
    }

    /// The class an `events` entry names.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// The body a webhook is sent (`format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookFormat {
    /// geosteer's own JSON object (README: *Notifications*).
    Generic,
    /// `{"text": …}`: a Slack (or Mattermost, Teams workflow) incoming webhook.
    Slack,
    /// A PagerDuty Events API v2 event: trigger on down, resolve on up.
    PagerDuty,
}

impl WebhookFormat {
    /// Its name in the file.
    pub fn name(self) -> &'static str {
        match self {
            WebhookFormat::Generic => "generic",
            WebhookFormat::Slack => "slack",
            WebhookFormat::PagerDuty => "pagerduty",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            WebhookFormat::Generic,
            WebhookFormat::Slack,
            WebhookFormat::PagerDuty,
        ]
        .into_iter()
        .find(|f| f.name() == s)
    }
}

/// A value taken from the environment (a token, a URL with a key in it): never printed, not
/// even by `Debug`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the request that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// One webhook that notifications are POSTed to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Webhook {
    /// Its name: the key in `[notifications.webhooks]`, or `notify-webhook-N` for the N-th
    /// `serve --notify-webhook`.
    pub name: String,
    /// The zone whose events it gets (`None`: every zone, for `serve --notify-webhook`).
    pub zone: Option<Name>,
    /// Where to POST (an `http` or `https` URL). A secret when it came from `url_env`: some
    /// services put the key in the URL.
    pub url: Secret,
    /// What it is told about.
    pub events: Vec<EventClass>,
    /// The body's shape.
    pub format: WebhookFormat,
    /// A header sent with every request, its value from the environment.
    pub secret_header: Option<(String, Secret)>,
    /// PagerDuty's integration (routing) key, from the environment.
    pub routing_key: Option<Secret>,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// Attempts in all before a notification is given up.
    pub attempts: u32,
}

impl Webhook {
    /// A `serve --notify-webhook URL`: generic JSON, every event of every zone, the default
    /// timeout and attempts. `n` counts from 1.
    pub fn from_flag(n: usize, url: &str) -> Result<Self, String> {
        check_webhook_url(url)?;
        Ok(Self {
            name: format!("notify-webhook-{n}"),
            zone: None,
            url: Secret::new(url),
            events: EventClass::ALL.to_vec(),
            format: DEFAULT_NOTIFY_FORMAT,
            secret_header: None,
            routing_key: None,
            timeout: DEFAULT_NOTIFY_TIMEOUT,
            attempts: DEFAULT_NOTIFY_ATTEMPTS,
        })
    }

    /// Whether it is told about `class` events of `zone`.
    pub fn wants(&self, class: EventClass, zone: &Name) -> bool {
        self.events.contains(&class) && self.zone.as_ref().is_none_or(|z| z == zone)
    }
}

/// Why `url` cannot be a webhook's URL (the URL itself is left out of the message: it may
/// hold a key).
pub fn check_webhook_url(url: &str) -> Result<(), String> {
    let u = reqwest::Url::parse(url).map_err(|e| format!("the webhook URL is not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!(
            "the webhook URL's scheme is {:?}: use http or https",
            u.scheme()
        ));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("the webhook URL has no host".into());
    }
    Ok(())
}

#[cfg(test)]
mod cloudflare_tests;

impl SteeringConfig {
    /// The load signal of the monitor that probes origin `o`, if it has one.
    pub fn load_signal(&self, o: OriginId) -> Option<&LoadSignal> {
        let pool = &self.pools[self.origins.get(o as usize)?.pool as usize];
        match &self.monitors[pool.monitor? as usize].kind {
            MonitorKind::Http(c) | MonitorKind::Https(c) => c.load.as_ref(),
            MonitorKind::Tcp => None,
        }
    }
}
