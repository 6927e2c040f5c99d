//! From the raw file to the typed model: every check, with the file and line of what fails.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use hickory_proto::rr::Name;
use toml::Spanned;

use super::schema::{
    LocationMap, PoolList, RawFile, RawLoadBalancer, RawMonitor, RawOrigin, RawPool, RawRule,
};
use super::*;
use crate::error::ConfigError;
use crate::geo::countries;

type CodeCheck = fn(&str) -> bool;

/// Byte offset → 1-based line number.
struct Lines<'a> {
    /// The text itself.
    text: &'a str,
    /// Offsets of the newlines, in order.
    newlines: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            newlines: text
                .bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        }
    }

    /// The line (from 1) of a byte offset: one more than the newlines before it. A binary
    /// search, as a file of a thousand load balancers asks for a line per item.
    fn of(&self, offset: usize) -> usize {
        self.newlines.partition_point(|&nl| nl < offset) + 1
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
    let lines = Lines::new(text);
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
            None if kind_name == "https" => DEFAULT_HTTPS_PORT,
            None => DEFAULT_HTTP_PORT,
        };
        let interval = self.duration(&m.interval, "interval", DEFAULT_INTERVAL);
        let timeout = self.duration(&m.timeout, "timeout", DEFAULT_TIMEOUT);
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
        let retries = self.count(&m.retries, "retries", DEFAULT_RETRIES, 0);
        let consecutive_down = self.count(
            &m.consecutive_down,
            "consecutive_down",
            DEFAULT_CONSECUTIVE_DOWN,
            1,
        );
        let consecutive_up = self.count(
            &m.consecutive_up,
            "consecutive_up",
            DEFAULT_CONSECUTIVE_UP,
            1,
        );
        let kind = match kind_name {
            "https" => MonitorKind::Https(self.http_check(name, m, lookup_env)),
            "http" => MonitorKind::Http(self.http_check(name, m, lookup_env)),
            _ => {
                self.no_http_keys(m);
                MonitorKind::Tcp
            }
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

    /// A probe count: `default` when absent, else within `min..=100`.
    fn count(&mut self, v: &Option<Spanned<i64>>, what: &str, default: u32, min: i64) -> u32 {
        v.as_ref()
            .map_or(Some(default), |v| self.int_in::<u32>(v, what, min..=100))
            .unwrap_or(default)
    }

    /// The request and the expected response of an `http` or `https` monitor.
    fn http_check(
        &mut self,
        name: &Spanned<String>,
        m: &RawMonitor,
        lookup_env: &dyn Fn(&str) -> Option<String>,
    ) -> HttpCheck {
        let mut headers = Vec::new();
        for (k, v) in &m.headers {
            if let Some(value) = self.expand_env(v, lookup_env) {
                headers.push((k.clone(), value));
            }
        }
        let body = m.body.as_ref().and_then(|b| self.expand_env(b, lookup_env));
        let expected_codes = match &m.expected_codes {
            None => parse_codes(DEFAULT_EXPECTED_CODES).expect("the default parses"),
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
            .map_or(DEFAULT_PATH.to_string(), |p| p.get_ref().clone());
        if !path.starts_with('/') {
            self.err(m.path.as_ref().unwrap_or(name), "path must start with /");
        }
        HttpCheck {
            method: m
                .method
                .as_ref()
                .map_or(DEFAULT_METHOD.into(), |s| s.get_ref().to_ascii_uppercase()),
            path,
            headers,
            body,
            expected_codes,
            expected_body: m.expected_body.as_ref().map(|s| s.get_ref().clone()),
            follow_redirects: m.follow_redirects.unwrap_or(DEFAULT_FOLLOW_REDIRECTS),
            allow_insecure: m.allow_insecure.unwrap_or(DEFAULT_ALLOW_INSECURE),
            load: m.load.as_ref().and_then(|l| self.load_signal(l)),
        }
    }

    /// `load = { json = "a.b" | header = "X-Load", full = N }`.
    fn load_signal(&mut self, l: &Spanned<super::schema::RawLoadSignal>) -> Option<LoadSignal> {
        let raw = l.get_ref();
        let source = match (&raw.json, &raw.header) {
            (Some(path), None) => {
                let parts: Vec<String> = path.split('.').map(str::to_string).collect();
                if parts.iter().any(String::is_empty) {
                    self.err(l, format!("load json path {path:?} has an empty part"));
                    return None;
                }
                LoadSource::Json(parts)
            }
            (None, Some(h)) => {
                let ok = !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                if !ok {
                    self.err(l, format!("load header {h:?} is not a header name"));
                    return None;
                }
                LoadSource::Header(h.to_ascii_lowercase())
            }
            _ => {
                self.err(
                    l,
                    "load needs exactly one of json = \"path\" or header = \"Name\"",
                );
                return None;
            }
        };
        let full = match &raw.full {
            Some(f) => {
                let v = f.get_ref().value();
                if !(v.is_finite() && v > 0.0) {
                    self.err(f, format!("load full {v} must be above 0"));
                    return None;
                }
                v
            }
            None => DEFAULT_LOAD_FULL,
        };
        Some(LoadSignal::new(source, full))
    }

    /// A `tcp` monitor: each key that only HTTP monitors have is an error.
    fn no_http_keys(&mut self, m: &RawMonitor) {
        let http_only = [
            ("method", m.method.as_ref().map(|s| s.span())),
            ("path", m.path.as_ref().map(|s| s.span())),
            ("body", m.body.as_ref().map(|s| s.span())),
            (
                "expected_codes",
                m.expected_codes.as_ref().map(|s| s.span()),
            ),
            ("expected_body", m.expected_body.as_ref().map(|s| s.span())),
            ("load", m.load.as_ref().map(|s| s.span())),
        ];
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
            .map_or(Some(DEFAULT_MINIMUM_ORIGINS), |m| {
                self.int_in::<u32>(m, "minimum_origins", 1..=1000)
            })
            .unwrap_or(DEFAULT_MINIMUM_ORIGINS);
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
            origin_steering: p.origin_steering.unwrap_or_default(),
            enabled: p.enabled.unwrap_or(DEFAULT_ENABLED),
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
            None => DEFAULT_WEIGHT,
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
            enabled: o.enabled.unwrap_or(DEFAULT_ENABLED),
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
        let name = self.load_balancer_name(key)?;
        let ctx = format!("load balancer {}", key.get_ref());
        let Some(policy) = Policy::parse(lb.steering.get_ref()) else {
            self.err(
                &lb.steering,
                format!(
                    "steering {:?} is not one of failover, random, geo, proximity, dynamic, \
                     least_outstanding_requests, least_connections",
                    lb.steering.get_ref()
                ),
            );
            return None;
        };
        let ttl = lb
            .ttl
            .as_ref()
            .map_or(Some(DEFAULT_TTL), |t| {
                self.int_in::<u32>(t, "ttl", 0..=86400)
            })
            .unwrap_or(DEFAULT_TTL);
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
        let rules = self.geo_rules(&ctx, lb, policy, pools);
        let pool_weights = self.pool_weights(&ctx, lb, policy, pools, &default_pools);
        let subnet_pools = self.subnet_pools(&ctx, lb, pools);
        let asn_pools = self.asn_pools(&ctx, lb, pools);
        let mut rule_networks = rules::RuleSet::default();
        let custom_rules = self.custom_rules(&ctx, &lb.rules, pools, &mut rule_networks);
        for r in &custom_rules {
            if r.overrides.policy != Some(Policy::Proximity) {
                continue;
            }
            for &p in r.overrides.default_pools.as_ref().unwrap_or(&default_pools) {
                if cfg.pools[p as usize].coordinates.is_none() {
                    self.errors.push(ConfigError::at(
                        self.path,
                        r.line,
                        format!(
                            "{ctx}, {}: proximity steering needs latitude and longitude on pool {}",
                            r.name, cfg.pools[p as usize].name
                        ),
                    ));
                }
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
            on_all_down: lb.on_all_down.unwrap_or_default(),
            max_answers,
            rules,
            pool_weights,
            subnet_pools,
            asn_pools,
            custom_rules,
            rule_networks,
            file: self.path.to_path_buf(),
            line: self.line(key),
        })
    }

    /// A load balancer's name: in the zone, and not a wildcard.
    fn load_balancer_name(&mut self, key: &Spanned<String>) -> Option<Name> {
        match Name::parse(key.get_ref(), Some(self.zone)) {
            Ok(n) if !self.zone.zone_of(&n) => {
                self.err(
                    key,
                    format!("load balancer {n} is outside zone {}", self.zone),
                );
                None
            }
            Ok(n) if n.is_wildcard() => {
                self.err(key, "a load balancer cannot be a wildcard name");
                None
            }
            Ok(n) => Some(n),
            Err(e) => {
                self.err(
                    key,
                    format!("bad load balancer name {:?}: {e}", key.get_ref()),
                );
                None
            }
        }
    }

    /// The location maps (`…_pools`), which only `geo` steering may have.
    fn geo_rules(
        &mut self,
        ctx: &str,
        lb: &RawLoadBalancer,
        policy: Policy,
        pools: &HashMap<String, PoolId>,
    ) -> GeoRules {
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
        rules
    }

    /// `subnet_pools`: CIDR → pool list.
    fn subnet_pools(
        &mut self,
        ctx: &str,
        lb: &RawLoadBalancer,
        pools: &HashMap<String, PoolId>,
    ) -> Vec<(ipnet::IpNet, Vec<PoolId>)> {
        let mut out: Vec<(ipnet::IpNet, Vec<PoolId>)> = Vec::new();
        for (key, list) in &lb.subnet_pools {
            let text = key.get_ref().trim();
            let net = match text.parse::<ipnet::IpNet>() {
                Ok(n) => n,
                Err(_) => match text.parse::<IpAddr>() {
                    Ok(a) => ipnet::IpNet::from(a),
                    Err(_) => {
                        self.err(
                            key,
                            format!("{ctx}: subnet_pools key {text:?} is not a network (CIDR)"),
                        );
                        continue;
                    }
                },
            };
            if net.trunc() != net {
                self.err(
                    key,
                    format!(
                        "{ctx}: subnet_pools key {text:?} has host bits set (the network is {})",
                        net.trunc()
                    ),
                );
                continue;
            }
            if let ipnet::IpNet::V6(n) = net
                && n.prefix_len() >= 96
                && n.network().to_ipv4_mapped().is_some()
            {
                self.err(
                    key,
                    format!("{ctx}: {text:?} is IPv4-mapped: write its IPv4 form"),
                );
                continue;
            }
            if let Some((first, _)) = out.iter().find(|x| x.0 == net) {
                self.err(key, format!("{ctx}: network {first} is mapped twice"));
                continue;
            }
            let ids = self.pool_list(list, pools, &format!("{ctx}, subnet {net}"));
            out.push((net, ids));
        }
        out
    }

    /// `asn_pools`: AS number (`64500` or `AS64500`) → pool list.
    fn asn_pools(
        &mut self,
        ctx: &str,
        lb: &RawLoadBalancer,
        pools: &HashMap<String, PoolId>,
    ) -> Vec<(u32, Vec<PoolId>)> {
        let mut out: Vec<(u32, Vec<PoolId>)> = Vec::new();
        for (key, list) in &lb.asn_pools {
            let text = key.get_ref().trim();
            let digits = text
                .strip_prefix("AS")
                .or_else(|| text.strip_prefix("as"))
                .unwrap_or(text);
            let Ok(asn) = digits.parse::<u32>() else {
                self.err(
                    key,
                    format!("{ctx}: asn_pools key {text:?} is not an AS number"),
                );
                continue;
            };
            if out.iter().any(|x| x.0 == asn) {
                self.err(key, format!("{ctx}: AS{asn} is mapped twice"));
                continue;
            }
            let ids = self.pool_list(list, pools, &format!("{ctx}, AS{asn}"));
            out.push((asn, ids));
        }
        out
    }

    /// Custom rules, in priority order (then file order); disabled ones left out.
    fn custom_rules(
        &mut self,
        ctx: &str,
        raw: &[RawRule],
        pools: &HashMap<String, PoolId>,
        set: &mut rules::RuleSet,
    ) -> Vec<CustomRule> {
        let mut order: Vec<(i64, usize)> = Vec::new();
        for (i, r) in raw.iter().enumerate() {
            let prio = match &r.priority {
                Some(p) => self
                    .int_in::<u32>(p, "priority", 0..=i64::from(u32::MAX))
                    .map_or(0, i64::from),
                None => 0,
            };
            order.push((prio, i));
        }
        order.sort();
        let mut out = Vec::new();
        for (_, i) in order {
            let r = &raw[i];
            if r.disabled == Some(true) {
                continue;
            }
            let name = r
                .name
                .as_ref()
                .map_or_else(|| format!("rule {}", i + 1), |n| n.get_ref().clone());
            let rctx = format!("{ctx}, {name}");
            let line = r
                .condition
                .as_ref()
                .map(|c| self.line(c))
                .or_else(|| r.name.as_ref().map(|n| self.line(n)))
                .or_else(|| r.overrides.as_ref().map(|o| self.line(o)))
                .unwrap_or(1);
            let condition = match &r.condition {
                None => rules::Condition::True,
                Some(c) => match rules::parse(c.get_ref(), set) {
                    Ok(c) => c,
                    Err(e) => {
                        let (line, col) = self.position_in_string(c, e.offset);
                        self.errors.push(ConfigError::at_column(
                            self.path,
                            line,
                            col,
                            format!("{rctx}: condition: {}", e.message),
                        ));
                        continue;
                    }
                },
            };
            let mut overrides = RuleOverrides::default();
            if let Some(o) = &r.overrides {
                let o = o.get_ref();
                if let Some(list) = &o.default_pools {
                    overrides.default_pools = Some(self.pool_list(list, pools, &rctx));
                }
                if let Some(f) = &o.fallback_pool {
                    match pools.get(f.get_ref()) {
                        Some(&id) => overrides.fallback_pool = Some(id),
                        None => self.err(
                            f,
                            format!("{rctx}: unknown fallback pool {:?}", f.get_ref()),
                        ),
                    }
                }
                if let Some(p) = &o.steering_policy {
                    match Policy::parse(p.get_ref()) {
                        Some(policy) => overrides.policy = Some(policy),
                        None => self.err(
                            p,
                            format!("{rctx}: unknown steering policy {:?}", p.get_ref()),
                        ),
                    }
                }
                if let Some(t) = &o.ttl {
                    overrides.ttl = self.int_in::<u32>(t, "ttl", 0..=86400);
                }
                let weights = o.pool_weights.as_ref().map(|w| (w, None)).or_else(|| {
                    o.random_steering
                        .as_ref()
                        .map(|rs| (&rs.pool_weights, rs.default_weight.as_ref()))
                });
                if let Some((map, default)) = weights {
                    let mut named = Vec::new();
                    for (pool, w) in map {
                        let x = *w.get_ref();
                        if !(0.0..=1.0).contains(&x) {
                            self.err(w, format!("weight {x} is out of range (0..=1)"));
                            continue;
                        }
                        match pools.get(pool.get_ref()) {
                            Some(&id) => named.push((id, x)),
                            None => {
                                self.err(pool, format!("{rctx}: unknown pool {:?}", pool.get_ref()))
                            }
                        }
                    }
                    let default = match default {
                        Some(d) if !(0.0..=1.0).contains(d.get_ref()) => {
                            self.err(
                                d,
                                format!("default_weight {} is out of range (0..=1)", d.get_ref()),
                            );
                            DEFAULT_WEIGHT
                        }
                        Some(d) => *d.get_ref(),
                        None => DEFAULT_WEIGHT,
                    };
                    overrides.pool_weights = Some((named, default));
                }
            }
            out.push(CustomRule {
                name,
                condition,
                terminates: r.terminates.unwrap_or(false),
                overrides,
                line,
            });
        }
        out
    }

    /// The line and column (1-based, in characters) of byte `offset` of a string value's
    /// contents. Exact when the value has no escapes; otherwise the string's start.
    fn position_in_string(&self, s: &Spanned<String>, offset: usize) -> (usize, usize) {
        let text = self.lines.text;
        let span = s.span();
        let raw = text.get(span.start..span.end).unwrap_or("");
        let quote = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
            3
        } else {
            1
        };
        let mut start = (span.start + quote).min(text.len());
        // A newline right after an opening triple quote is not part of the value.
        if quote == 3 {
            if text[start..].starts_with("\r\n") {
                start += 2;
            } else if text[start..].starts_with('\n') {
                start += 1;
            }
        }
        let value = s.get_ref();
        let at = if text.get(start..start + value.len()) == Some(value.as_str()) {
            start + offset.min(value.len())
        } else {
            span.start.min(text.len())
        };
        let line = self.lines.of(at);
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        (line, text[line_start..at].chars().count() + 1)
    }

    /// `pool_weights`, which only `random` steering may have, in `default_pools` order.
    fn pool_weights(
        &mut self,
        ctx: &str,
        lb: &RawLoadBalancer,
        policy: Policy,
        pools: &HashMap<String, PoolId>,
        default_pools: &[PoolId],
    ) -> Vec<f64> {
        let mut weights = vec![DEFAULT_WEIGHT; default_pools.len()];
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
                    Some(i) => weights[i] = x,
                    None => self.err(
                        pool,
                        format!("{ctx}: pool {:?} is not in default_pools", pool.get_ref()),
                    ),
                },
                None => self.err(pool, format!("{ctx}: unknown pool {:?}", pool.get_ref())),
            }
        }
        weights
    }
}

/// "10s", "500ms", "2m", "1h", "14d", or "1m30s".
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
            "d" => Duration::from_secs(n.checked_mul(86_400)?),
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
