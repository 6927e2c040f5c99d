//! Steering configuration: `zones/<origin>.toml` beside `zones/<origin>.zone`.
//!
//! The schema follows Cloudflare Load Balancing's names (load balancers, pools, origins,
//! monitors) so that its users recognise them. Parsing is strict: unknown keys, unknown pool
//! or monitor names, bad addresses, out-of-range numbers and unknown location codes are all
//! reported with file, line and reason. Values that errors may point at are kept `Spanned`.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use hickory_proto::rr::Name;
use serde::Deserialize;
use toml::Spanned;

use crate::error::ConfigError;
use crate::geo::countries;

pub type PoolId = u32;
pub type OriginId = u32;
pub type MonitorId = u32;

/// An address family: which of an origin's addresses a query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// Most addresses answered for one query, by default and at most (as Route 53 multivalue).
pub const MAX_ANSWERS: usize = 8;

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

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "failover" | "off" => Policy::Failover,
            "random" => Policy::Random,
            "geo" => Policy::Geo,
            "proximity" => Policy::Proximity,
            "dynamic" | "dynamic_latency" => Policy::Dynamic,
            _ => return None,
        })
    }
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OriginSteering {
    /// Weighted random order of the healthy origins.
    #[default]
    Random,
    /// A stable order per client network (/24, /56): rendezvous hashing.
    Hash,
}

#[derive(Debug, Clone)]
pub struct Origin {
    pub name: String,
    pub pool: PoolId,
    pub v4: Option<Ipv4Addr>,
    pub v6: Option<Ipv6Addr>,
    pub weight: f64,
    pub enabled: bool,
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

#[derive(Debug, Clone)]
pub struct Pool {
    pub name: String,
    /// The zone whose configuration file defines the pool (pool names are per file).
    pub zone: Name,
    /// The pool's origins: a contiguous range of ids.
    pub origins: std::ops::Range<OriginId>,
    pub minimum_origins: u32,
    pub coordinates: Option<(f64, f64)>,
    pub monitor: Option<MonitorId>,
    pub origin_steering: OriginSteering,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MonitorKind {
    Tcp,
    Http(HttpCheck),
    Https(HttpCheck),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpCheck {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// Inclusive status-code ranges that count as healthy.
    pub expected_codes: Vec<(u16, u16)>,
    pub expected_body: Option<String>,
    pub follow_redirects: bool,
    pub allow_insecure: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Monitor {
    pub name: String,
    pub zone: Name,
    pub kind: MonitorKind,
    pub port: u16,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub consecutive_down: u32,
    pub consecutive_up: u32,
}

/// The location rules of a `geo` load balancer, each key mapped to an ordered pool list.
#[derive(Debug, Clone, Default)]
pub struct GeoRules {
    pub subdivision: HashMap<String, Vec<PoolId>>,
    pub country: HashMap<String, Vec<PoolId>>,
    pub region: HashMap<String, Vec<PoolId>>,
    pub continent: HashMap<String, Vec<PoolId>>,
}

#[derive(Debug, Clone)]
pub struct LoadBalancer {
    pub name: Name,
    pub ttl: u32,
    pub policy: Policy,
    pub default_pools: Vec<PoolId>,
    pub fallback_pool: PoolId,
    pub on_all_down: OnAllDown,
    pub max_answers: usize,
    pub rules: GeoRules,
    /// For `random`: the weight of each of `default_pools`, in the same order.
    pub pool_weights: Vec<f64>,
    /// Where it was defined, for messages.
    pub file: std::path::PathBuf,
    pub line: usize,
}

impl LoadBalancer {
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
        for &p in self
            .default_pools
            .iter()
            .chain(mapped)
            .chain(std::iter::once(&self.fallback_pool))
        {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }
}

/// All steering configuration of all zones, with global ids.
#[derive(Debug, Clone, Default)]
pub struct SteeringConfig {
    pub monitors: Vec<Monitor>,
    pub pools: Vec<Pool>,
    pub origins: Vec<Origin>,
    pub load_balancers: Vec<LoadBalancer>,
}

// ------------------------------------------------------------------------------------------
// The file format.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    monitors: BTreeMap<Spanned<String>, RawMonitor>,
    #[serde(default)]
    pools: BTreeMap<Spanned<String>, RawPool>,
    #[serde(default)]
    load_balancers: BTreeMap<Spanned<String>, RawLoadBalancer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMonitor {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    port: Option<Spanned<i64>>,
    interval: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    retries: Option<Spanned<i64>>,
    consecutive_down: Option<Spanned<i64>>,
    consecutive_up: Option<Spanned<i64>>,
    method: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    #[serde(default)]
    headers: BTreeMap<String, Spanned<String>>,
    body: Option<Spanned<String>>,
    expected_codes: Option<Spanned<String>>,
    expected_body: Option<Spanned<String>>,
    #[serde(default)]
    follow_redirects: bool,
    #[serde(default)]
    allow_insecure: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    origins: Spanned<Vec<RawOrigin>>,
    minimum_origins: Option<Spanned<i64>>,
    latitude: Option<Spanned<f64>>,
    longitude: Option<Spanned<f64>>,
    monitor: Option<Spanned<String>>,
    #[serde(default)]
    origin_steering: OriginSteering,
    #[serde(default = "yes")]
    enabled: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrigin {
    name: Option<Spanned<String>>,
    address: Spanned<String>,
    address_v6: Option<Spanned<String>>,
    weight: Option<Spanned<f64>>,
    #[serde(default = "yes")]
    enabled: bool,
}

type PoolList = Spanned<Vec<Spanned<String>>>;
type LocationMap = BTreeMap<Spanned<String>, PoolList>;
type CodeCheck = fn(&str) -> bool;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoadBalancer {
    ttl: Option<Spanned<i64>>,
    steering: Spanned<String>,
    default_pools: PoolList,
    fallback_pool: Option<Spanned<String>>,
    #[serde(default)]
    on_all_down: OnAllDown,
    max_answers: Option<Spanned<i64>>,
    #[serde(default)]
    subdivision_pools: LocationMap,
    #[serde(default)]
    country_pools: LocationMap,
    #[serde(default)]
    region_pools: LocationMap,
    #[serde(default)]
    continent_pools: LocationMap,
    #[serde(default)]
    pool_weights: BTreeMap<Spanned<String>, Spanned<f64>>,
}

fn yes() -> bool {
    true
}

/// Byte offset → 1-based line number.
struct Lines<'a> {
    text: &'a str,
}

impl Lines<'_> {
    fn of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count()
            + 1
    }
}

/// Reads one zone's steering file, adding its monitors, pools, origins and load balancers
/// to `out`. `lookup_env` resolves `${VAR}` in monitor headers and bodies.
pub fn read_file(
    path: &Path,
    zone: &Name,
    out: &mut SteeringConfig,
    lookup_env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) {
    match std::fs::read_to_string(path) {
        Ok(text) => read_str(path, &text, zone, out, lookup_env, errors),
        Err(e) => errors.push(ConfigError::file(path, format!("cannot read: {e}"))),
    }
}

/// [`read_file`] on text already read; `path` is used in messages.
pub fn read_str(
    path: &Path,
    text: &str,
    zone: &Name,
    out: &mut SteeringConfig,
    lookup_env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) {
    let lines = Lines { text };
    let raw: RawFile = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let line = e.span().map_or(1, |s| lines.of(s.start));
            errors.push(ConfigError::at(path, line, e.message().trim().to_string()));
            return;
        }
    };
    let mut cx = FileCx {
        path,
        lines,
        zone,
        errors,
    };

    let mut monitor_ids: HashMap<String, MonitorId> = HashMap::new();
    for (name, m) in &raw.monitors {
        if let Some(monitor) = cx.monitor(name, m, lookup_env) {
            monitor_ids.insert(name.get_ref().clone(), out.monitors.len() as MonitorId);
            out.monitors.push(monitor);
        }
    }

    let mut pool_ids: HashMap<String, PoolId> = HashMap::new();
    for (name, p) in &raw.pools {
        if let Some(pool) = cx.pool(name, p, &monitor_ids, out) {
            pool_ids.insert(name.get_ref().clone(), out.pools.len() as PoolId);
            out.pools.push(pool);
        }
    }

    let mut lb_names: HashMap<Name, usize> = HashMap::new();
    for (name, lb) in &raw.load_balancers {
        let Some(lb) = cx.load_balancer(name, lb, &pool_ids, out) else {
            continue;
        };
        let line = cx.line(name);
        if let Some(prev) = lb_names.insert(lb.name.clone(), line) {
            cx.err(
                name,
                format!(
                    "load balancer {} is defined twice (first at line {prev})",
                    lb.name
                ),
            );
            continue;
        }
        out.load_balancers.push(lb);
    }
}

struct FileCx<'a> {
    path: &'a Path,
    lines: Lines<'a>,
    zone: &'a Name,
    errors: &'a mut Vec<ConfigError>,
}

impl FileCx<'_> {
    fn line<T>(&self, s: &Spanned<T>) -> usize {
        self.lines.of(s.span().start)
    }

    fn err<T>(&mut self, at: &Spanned<T>, msg: impl Into<String>) {
        let line = self.line(at);
        self.errors.push(ConfigError::at(self.path, line, msg));
    }

    fn int_in<T>(
        &mut self,
        v: &Spanned<i64>,
        what: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<T>
    where
        T: TryFrom<i64>,
    {
        let n = *v.get_ref();
        if !range.contains(&n) {
            self.err(
                v,
                format!(
                    "{what} {n} is out of range ({}..={})",
                    range.start(),
                    range.end()
                ),
            );
            return None;
        }
        T::try_from(n).ok()
    }

    fn duration(&mut self, v: &Option<Spanned<String>>, what: &str, default: Duration) -> Duration {
        let Some(v) = v else { return default };
        match parse_duration(v.get_ref()) {
            Some(d) if !d.is_zero() => d,
            _ => {
                self.err(
                    v,
                    format!(
                        "{what} {:?} is not a duration (write e.g. \"10s\" or \"500ms\")",
                        v.get_ref()
                    ),
                );
                default
            }
        }
    }

    fn monitor(
        &mut self,
        name: &Spanned<String>,
        m: &RawMonitor,
        lookup_env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<Monitor> {
        let before = self.errors.len();
        let kind_name = m.kind.get_ref().as_str();
        let is_http = matches!(kind_name, "http" | "https");
        if !is_http && kind_name != "tcp" {
            self.err(
                &m.kind,
                format!("monitor type {kind_name:?} is not one of tcp, http, https"),
            );
            return None;
        }
        let port = match &m.port {
            Some(p) => self.int_in::<u16>(p, "port", 1..=65535).unwrap_or(0),
            None if kind_name == "tcp" => {
                self.err(name, format!("tcp monitor {} needs a port", name.get_ref()));
                0
            }
            None if kind_name == "https" => 443,
            None => 80,
        };
        let interval = self.duration(&m.interval, "interval", Duration::from_secs(10));
        let timeout = self.duration(&m.timeout, "timeout", Duration::from_secs(5));
        if timeout >= interval {
            let at = m.timeout.as_ref().or(m.interval.as_ref());
            let line = at.map_or_else(|| self.line(name), |a| self.line(a));
            self.errors.push(ConfigError::at(
                self.path,
                line,
                format!(
                    "monitor {}: timeout ({timeout:?}) must be shorter than interval ({interval:?})",
                    name.get_ref()
                ),
            ));
        }
        let count =
            |cx: &mut Self, v: &Option<Spanned<i64>>, what: &str, default: u32, min: i64| {
                v.as_ref()
                    .map_or(Some(default), |v| cx.int_in::<u32>(v, what, min..=100))
                    .unwrap_or(default)
            };
        let retries = count(self, &m.retries, "retries", 1, 0);
        let consecutive_down = count(self, &m.consecutive_down, "consecutive_down", 2, 1);
        let consecutive_up = count(self, &m.consecutive_up, "consecutive_up", 2, 1);

        let http_only = [
            ("method", m.method.as_ref().map(|s| s.span())),
            ("path", m.path.as_ref().map(|s| s.span())),
            ("body", m.body.as_ref().map(|s| s.span())),
            (
                "expected_codes",
                m.expected_codes.as_ref().map(|s| s.span()),
            ),
            ("expected_body", m.expected_body.as_ref().map(|s| s.span())),
        ];
        let kind = if is_http {
            let mut headers = Vec::new();
            for (k, v) in &m.headers {
                if let Some(value) = self.expand_env(v, lookup_env) {
                    headers.push((k.clone(), value));
                }
            }
            let body = m.body.as_ref().and_then(|b| self.expand_env(b, lookup_env));
            let expected_codes = match &m.expected_codes {
                None => vec![(200, 200)],
                Some(c) => match parse_codes(c.get_ref()) {
                    Some(codes) => codes,
                    None => {
                        self.err(
                            c,
                            format!(
                                "expected_codes {:?}: write codes, ranges or classes, e.g. \
                                 \"200\", \"2xx\", \"200,301-302\"",
                                c.get_ref()
                            ),
                        );
                        Vec::new()
                    }
                },
            };
            let path = m
                .path
                .as_ref()
                .map_or("/".to_string(), |p| p.get_ref().clone());
            if !path.starts_with('/') {
                self.err(m.path.as_ref().unwrap_or(name), "path must start with /");
            }
            let check = HttpCheck {
                method: m
                    .method
                    .as_ref()
                    .map_or("GET".into(), |s| s.get_ref().to_ascii_uppercase()),
                path,
                headers,
                body,
                expected_codes,
                expected_body: m.expected_body.as_ref().map(|s| s.get_ref().clone()),
                follow_redirects: m.follow_redirects,
                allow_insecure: m.allow_insecure,
            };
            if kind_name == "https" {
                MonitorKind::Https(check)
            } else {
                MonitorKind::Http(check)
            }
        } else {
            for (key, span) in http_only {
                if let Some(span) = span {
                    let line = self.lines.of(span.start);
                    self.errors.push(ConfigError::at(
                        self.path,
                        line,
                        format!("{key} applies to http and https monitors only"),
                    ));
                }
            }
            MonitorKind::Tcp
        };
        (self.errors.len() == before).then(|| Monitor {
            name: name.get_ref().clone(),
            zone: self.zone.clone(),
            kind,
            port,
            interval,
            timeout,
            retries,
            consecutive_down,
            consecutive_up,
        })
    }

    /// `${VAR}` → the variable's value; a missing variable is an error naming it, so that a
    /// secret never has to be written into the file.
    fn expand_env(
        &mut self,
        v: &Spanned<String>,
        lookup_env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<String> {
        let s = v.get_ref();
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                self.err(v, "unterminated ${ in value");
                return None;
            };
            let var = &after[..end];
            match lookup_env(var) {
                Some(val) => out.push_str(&val),
                None => {
                    self.err(v, format!("environment variable {var} is not set"));
                    return None;
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }

    fn pool(
        &mut self,
        name: &Spanned<String>,
        p: &RawPool,
        monitors: &HashMap<String, MonitorId>,
        out: &mut SteeringConfig,
    ) -> Option<Pool> {
        let before = self.errors.len();
        let pool_id = out.pools.len() as PoolId;
        if p.origins.get_ref().is_empty() {
            self.err(
                &p.origins,
                format!("pool {} has no origins", name.get_ref()),
            );
        }
        let first = out.origins.len() as OriginId;
        let mut origins = Vec::new();
        let mut seen: HashMap<IpAddr, usize> = HashMap::new();
        for o in p.origins.get_ref() {
            let Some(origin) = self.origin(o, pool_id) else {
                continue;
            };
            for addr in [origin.v4.map(IpAddr::V4), origin.v6.map(IpAddr::V6)]
                .into_iter()
                .flatten()
            {
                let line = self.line(&o.address);
                if let Some(prev) = seen.insert(addr, line) {
                    self.err(
                        &o.address,
                        format!(
                            "origin {addr} appears twice in pool {} (first at line {prev})",
                            name.get_ref()
                        ),
                    );
                }
            }
            origins.push(origin);
        }
        let minimum_origins = p
            .minimum_origins
            .as_ref()
            .map_or(Some(1), |m| {
                self.int_in::<u32>(m, "minimum_origins", 1..=1000)
            })
            .unwrap_or(1);
        if let Some(m) = &p.minimum_origins
            && *m.get_ref() as usize > p.origins.get_ref().len()
            && !p.origins.get_ref().is_empty()
        {
            self.err(
                m,
                format!(
                    "minimum_origins {} is more than pool {}'s {} origins",
                    m.get_ref(),
                    name.get_ref(),
                    p.origins.get_ref().len()
                ),
            );
        }
        let coordinates = match (&p.latitude, &p.longitude) {
            (None, None) => None,
            (Some(lat), Some(lon)) => {
                if !(-90.0..=90.0).contains(lat.get_ref()) {
                    self.err(lat, "latitude must be within -90..=90");
                }
                if !(-180.0..=180.0).contains(lon.get_ref()) {
                    self.err(lon, "longitude must be within -180..=180");
                }
                Some((*lat.get_ref(), *lon.get_ref()))
            }
            (Some(x), None) | (None, Some(x)) => {
                self.err(x, "give both latitude and longitude, or neither");
                None
            }
        };
        let monitor = match &p.monitor {
            None => None,
            Some(m) => match monitors.get(m.get_ref()) {
                Some(&id) => Some(id),
                None => {
                    self.err(
                        m,
                        format!(
                            "unknown monitor {:?} (not defined in this file)",
                            m.get_ref()
                        ),
                    );
                    None
                }
            },
        };
        if self.errors.len() != before {
            return None;
        }
        out.origins.extend(origins);
        Some(Pool {
            name: name.get_ref().clone(),
            zone: self.zone.clone(),
            origins: first..out.origins.len() as OriginId,
            minimum_origins,
            coordinates,
            monitor,
            origin_steering: p.origin_steering,
            enabled: p.enabled,
        })
    }

    fn origin(&mut self, o: &RawOrigin, pool: PoolId) -> Option<Origin> {
        let before = self.errors.len();
        let mut v4 = None;
        let mut v6 = None;
        match o.address.get_ref().parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => v4 = Some(a),
            Ok(IpAddr::V6(a)) => v6 = Some(a),
            Err(_) => self.err(
                &o.address,
                format!("{:?} is not an IP address", o.address.get_ref()),
            ),
        }
        if let Some(a6) = &o.address_v6 {
            match a6.get_ref().parse::<Ipv6Addr>() {
                Ok(a) if v6.is_none() => v6 = Some(a),
                Ok(_) => self.err(
                    a6,
                    "address_v6 is for an origin whose address is IPv4; this one is IPv6 already",
                ),
                Err(_) => self.err(a6, format!("{:?} is not an IPv6 address", a6.get_ref())),
            }
        }
        let weight = match &o.weight {
            None => 1.0,
            Some(w) => {
                let x = *w.get_ref();
                if !(0.0..=1.0).contains(&x) {
                    self.err(w, format!("weight {x} is out of range (0..=1)"));
                }
                x
            }
        };
        if self.errors.len() != before {
            return None;
        }
        let name = o
            .name
            .as_ref()
            .map_or_else(|| o.address.get_ref().clone(), |n| n.get_ref().clone());
        Some(Origin {
            name,
            pool,
            v4,
            v6,
            weight,
            enabled: o.enabled,
        })
    }

    fn pool_list(
        &mut self,
        list: &PoolList,
        pools: &HashMap<String, PoolId>,
        context: &str,
    ) -> Vec<PoolId> {
        if list.get_ref().is_empty() {
            self.err(list, format!("{context}: the pool list is empty"));
        }
        let mut out = Vec::new();
        for p in list.get_ref() {
            match pools.get(p.get_ref()) {
                Some(&id) if out.contains(&id) => self.err(
                    p,
                    format!("{context}: pool {:?} is listed twice", p.get_ref()),
                ),
                Some(&id) => out.push(id),
                None => self.err(p, format!("{context}: unknown pool {:?}", p.get_ref())),
            }
        }
        out
    }

    fn load_balancer(
        &mut self,
        key: &Spanned<String>,
        lb: &RawLoadBalancer,
        pools: &HashMap<String, PoolId>,
        cfg: &SteeringConfig,
    ) -> Option<LoadBalancer> {
        let before = self.errors.len();
        let name = match Name::parse(key.get_ref(), Some(self.zone)) {
            Ok(n) if !self.zone.zone_of(&n) => {
                self.err(
                    key,
                    format!("load balancer {n} is outside zone {}", self.zone),
                );
                return None;
            }
            Ok(n) if n.is_wildcard() => {
                self.err(key, "a load balancer cannot be a wildcard name");
                return None;
            }
            Ok(n) => n,
            Err(e) => {
                self.err(
                    key,
                    format!("bad load balancer name {:?}: {e}", key.get_ref()),
                );
                return None;
            }
        };
        let ctx = format!("load balancer {}", key.get_ref());
        let Some(policy) = Policy::parse(lb.steering.get_ref()) else {
            self.err(
                &lb.steering,
                format!(
                    "steering {:?} is not one of failover, random, geo, proximity, dynamic",
                    lb.steering.get_ref()
                ),
            );
            return None;
        };
        let ttl = lb
            .ttl
            .as_ref()
            .map_or(Some(30), |t| self.int_in::<u32>(t, "ttl", 0..=86400))
            .unwrap_or(30);
        let max_answers = lb
            .max_answers
            .as_ref()
            .map_or(Some(MAX_ANSWERS), |m| {
                self.int_in::<usize>(m, "max_answers", 1..=MAX_ANSWERS as i64)
            })
            .unwrap_or(MAX_ANSWERS);
        let default_pools = self.pool_list(&lb.default_pools, pools, &ctx);
        let fallback_pool = match &lb.fallback_pool {
            Some(f) => match pools.get(f.get_ref()) {
                Some(&id) => id,
                None => {
                    self.err(f, format!("{ctx}: unknown fallback pool {:?}", f.get_ref()));
                    0
                }
            },
            // Cloudflare requires one; the first default pool is the natural last resort.
            None => default_pools.first().copied().unwrap_or(0),
        };

        let mut rules = GeoRules::default();
        let maps: [(&str, &LocationMap, CodeCheck); 4] = [
            (
                "subdivision",
                &lb.subdivision_pools,
                countries::is_subdivision,
            ),
            ("country", &lb.country_pools, countries::is_country),
            ("region", &lb.region_pools, countries::is_region),
            ("continent", &lb.continent_pools, countries::is_continent),
        ];
        let any_map = maps.iter().any(|(_, m, _)| !m.is_empty());
        if any_map && policy != Policy::Geo {
            self.err(
                &lb.steering,
                format!("{ctx}: location maps (…_pools) need steering = \"geo\""),
            );
        }
        for (kind, map, valid) in maps {
            for (code, list) in map {
                let code_text = code.get_ref().to_ascii_uppercase();
                if !valid(&code_text) {
                    self.err(
                        code,
                        format!("{ctx}: unknown {kind} code {:?}", code.get_ref()),
                    );
                    continue;
                }
                let ids = self.pool_list(list, pools, &format!("{ctx}, {kind} {code_text}"));
                let target = match kind {
                    "subdivision" => &mut rules.subdivision,
                    "country" => &mut rules.country,
                    "region" => &mut rules.region,
                    _ => &mut rules.continent,
                };
                if target.insert(code_text.clone(), ids).is_some() {
                    self.err(code, format!("{ctx}: {kind} {code_text} is mapped twice"));
                }
            }
        }

        let mut pool_weights = vec![1.0; default_pools.len()];
        if !lb.pool_weights.is_empty() && policy != Policy::Random {
            let first = lb.pool_weights.keys().next().expect("not empty");
            self.err(
                first,
                format!("{ctx}: pool_weights need steering = \"random\""),
            );
        }
        for (pool, w) in &lb.pool_weights {
            let x = *w.get_ref();
            if !(0.0..=1.0).contains(&x) {
                self.err(w, format!("weight {x} is out of range (0..=1)"));
                continue;
            }
            match pools.get(pool.get_ref()) {
                Some(id) => match default_pools.iter().position(|p| p == id) {
                    Some(i) => pool_weights[i] = x,
                    None => self.err(
                        pool,
                        format!("{ctx}: pool {:?} is not in default_pools", pool.get_ref()),
                    ),
                },
                None => self.err(pool, format!("{ctx}: unknown pool {:?}", pool.get_ref())),
            }
        }

        if policy == Policy::Proximity {
            for &p in &default_pools {
                if cfg.pools[p as usize].coordinates.is_none() {
                    self.err(
                        &lb.default_pools,
                        format!(
                            "{ctx}: proximity steering needs latitude and longitude on pool {}",
                            cfg.pools[p as usize].name
                        ),
                    );
                }
            }
        }
        if self.errors.len() != before {
            return None;
        }
        Some(LoadBalancer {
            name,
            ttl,
            policy,
            default_pools,
            fallback_pool,
            on_all_down: lb.on_all_down,
            max_answers,
            rules,
            pool_weights,
            file: self.path.to_path_buf(),
            line: self.line(key),
        })
    }
}

/// "10s", "500ms", "2m", "1h", or "1m30s".
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.checked_mul(60)?),
            "h" => Duration::from_secs(n.checked_mul(3600)?),
            _ => return None,
        };
        total = total.checked_add(unit)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// "200", "2xx", "200,301-302" → inclusive ranges.
pub fn parse_codes(s: &str) -> Option<Vec<(u16, u16)>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        let range = if let Some(class) = part.strip_suffix("xx") {
            let d: u16 = class.parse().ok()?;
            if !(1..=5).contains(&d) || class.len() != 1 {
                return None;
            }
            (d * 100, d * 100 + 99)
        } else if let Some((a, b)) = part.split_once('-') {
            (a.trim().parse().ok()?, b.trim().parse().ok()?)
        } else {
            let c: u16 = part.parse().ok()?;
            (c, c)
        };
        if range.0 > range.1 || range.0 < 100 || range.1 > 599 {
            return None;
        }
        out.push(range);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("5 s"), None);
    }

    #[test]
    fn status_codes() {
        assert_eq!(parse_codes("200"), Some(vec![(200, 200)]));
        assert_eq!(parse_codes("2xx"), Some(vec![(200, 299)]));
        assert_eq!(
            parse_codes("200,301-302"),
            Some(vec![(200, 200), (301, 302)])
        );
        assert_eq!(parse_codes("20x"), None);
        assert_eq!(parse_codes("302-301"), None);
        assert_eq!(parse_codes("6xx"), None);
    }
}
