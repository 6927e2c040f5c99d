//! From the raw file to the typed model: every check, with the file and line of what fails.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use hickory_proto::rr::Name;
use toml::Spanned;

use super::schema::{
    LocationMap, PoolList, RawDuration, RawFile, RawLoadBalancer, RawMonitor, RawOrigin,
    RawOriginSteering, RawPool, RawRule, RawWebhook, WeightMap,
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
    read_str_with(
        path,
        text,
        zone,
        &Shared::default(),
        out,
        lookup_env,
        errors,
    );
}

/// [`read_file`] with the pools and monitors of `zones/_pools.toml` ([`read_shared`]) in
/// reach: a zone's file refers to them by name, as to its own.
pub fn read_file_with(
    path: &Path,
    zone: &Name,
    shared: &Shared,
    out: &mut SteeringConfig,
    lookup_env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) {
    match std::fs::read_to_string(path) {
        Ok(text) => read_str_with(path, &text, zone, shared, out, lookup_env, errors),
        Err(e) => errors.push(ConfigError::file(path, format!("cannot read: {e}"))),
    }
}

/// Reads the shared pools and monitors (`zones/_pools.toml`): pools and monitors only, in
/// the root zone `.`, for every zone's file to name.
pub fn read_shared(
    path: &Path,
    text: &str,
    out: &mut SteeringConfig,
    lookup_env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) -> Shared {
    let mut shared = Shared::default();
    let lines = Lines::new(text);
    let Some(raw) = parse(path, text, &lines, errors) else {
        return shared;
    };
    let root = Name::root();
    let mut cx = FileCx {
        path,
        lines,
        zone: &root,
        errors,
    };
    if let Some(key) = raw.load_balancers.keys().next() {
        cx.err(
            key,
            "load balancers belong in a zone's own file (<origin>.toml), not in _pools.toml",
        );
    }
    cx.monitors_and_pools(&raw, &mut shared, out, lookup_env);
    shared
}

/// [`read_str`] with shared pools and monitors in reach (see [`read_file_with`]).
pub fn read_str_with(
    path: &Path,
    text: &str,
    zone: &Name,
    shared: &Shared,
    out: &mut SteeringConfig,
    lookup_env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) {
    let lines = Lines::new(text);
    let raw: RawFile = match parse(path, text, &lines, errors) {
        Some(r) => r,
        None => return,
    };
    let mut cx = FileCx {
        path,
        lines,
        zone,
        errors,
    };

    let mut ids = Shared {
        monitors: shared.monitors.clone(),
        pools: shared.pools.clone(),
    };
    cx.monitors_and_pools(&raw, &mut ids, out, lookup_env);
    let pool_ids = ids.pools;

    let mut lb_names: HashMap<Name, usize> = HashMap::new();
    for (name, raw_lb) in &raw.load_balancers {
        let Some(lb) = cx.load_balancer(name, raw_lb, &pool_ids, out) else {
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
        // Cloudflare: a disabled load balancer stops steering, and the name is answered from
        // the zone's own records (NXDOMAIN or NODATA when it has none). It is checked, then
        // left out: nothing attaches it to the zone.
        if !raw_lb.enabled.unwrap_or(DEFAULT_LB_ENABLED) {
            continue;
        }
        out.load_balancers.push(lb);
    }

    if let Some(n) = &raw.notifications {
        for (name, w) in &n.webhooks {
            if let Some(webhook) = cx.webhook(name, w, lookup_env) {
                out.webhooks.push(webhook);
            }
        }
    }
}

/// Keys that are one knob under two spellings (Cloudflare's first).
const ALIASES: [[&str; 2]; 2] = [["steering_policy", "steering"], ["header", "headers"]];

/// The file as serde reads it, or its error (with the line of the key at fault).
fn parse(path: &Path, text: &str, lines: &Lines, errors: &mut Vec<ConfigError>) -> Option<RawFile> {
    match toml::from_str(text) {
        Ok(r) => Some(r),
        Err(e) => {
            let mut line = e.span().map_or(1, |s| lines.of(s.start));
            let mut msg = e.message().trim().to_string();
            // Both spellings of one knob: serde says "duplicate field" for the table; point
            // at the second spelling's line, and say why.
            if let (Some(span), Some(group)) = (
                e.span(),
                ALIASES
                    .iter()
                    .find(|g| msg.contains(&format!("duplicate field `{}`", g[0]))),
            ) {
                // The span may be the table's header only: look on to the next header.
                let from = span.start.min(text.len());
                let rest = &text[from..];
                let end = rest
                    .match_indices("\n[")
                    .map(|(i, _)| i)
                    .find(|&i| i >= span.end.saturating_sub(from))
                    .unwrap_or(rest.len());
                let table = &rest[..end];
                let at = table.lines().enumerate().filter(|(_, l)| {
                    let key = l.split('=').next().unwrap_or("").trim();
                    group.contains(&key)
                });
                if let Some((i, _)) = at.last() {
                    line = lines.of(span.start) + i;
                }
                msg = format!(
                    "{msg}: `{}` and `{}` are one setting (Cloudflare's name and geosteer's \
                     older one): give one",
                    group[0], group[1]
                );
            }
            errors.push(ConfigError::at(path, line, msg));
            None
        }
    }
}

/// The pools and monitors of `zones/_pools.toml`, by name, that every zone's file may use.
#[derive(Debug, Clone, Default)]
pub struct Shared {
    monitors: HashMap<String, MonitorId>,
    pools: HashMap<String, PoolId>,
}

struct FileCx<'a> {
    path: &'a Path,
    lines: Lines<'a>,
    zone: &'a Name,
    errors: &'a mut Vec<ConfigError>,
}

impl FileCx<'_> {
    /// A file's monitors, then its pools, added to `out` and named in `ids` (which holds the
    /// shared ones already: a name defined in both is an error).
    fn monitors_and_pools(
        &mut self,
        raw: &RawFile,
        ids: &mut Shared,
        out: &mut SteeringConfig,
        lookup_env: &dyn Fn(&str) -> Option<String>,
    ) {
        let shared_monitors = ids.monitors.clone();
        for (name, m) in &raw.monitors {
            if shared_monitors.contains_key(name.get_ref()) {
                self.err(
                    name,
                    format!(
                        "monitor {} is already defined in _pools.toml (shared): give this one \
                         another name",
                        name.get_ref()
                    ),
                );
                continue;
            }
            if let Some(monitor) = self.monitor(name, m, lookup_env) {
                ids.monitors
                    .insert(name.get_ref().clone(), out.monitors.len() as MonitorId);
                out.monitors.push(monitor);
            }
        }
        let shared_pools = ids.pools.clone();
        for (name, p) in &raw.pools {
            if shared_pools.contains_key(name.get_ref()) {
                self.err(
                    name,
                    format!(
                        "pool {} is already defined in _pools.toml (shared): give this one \
                         another name",
                        name.get_ref()
                    ),
                );
                continue;
            }
            if let Some(pool) = self.pool(name, p, &ids.monitors, out) {
                ids.pools
                    .insert(name.get_ref().clone(), out.pools.len() as PoolId);
                out.pools.push(pool);
            }
        }
    }

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

    /// Whether a weight lies in 0..=1; reports it (as `what`, the key's name) when not.
    fn weight_in_range(&mut self, w: &Spanned<f64>, what: &str) -> bool {
        let x = *w.get_ref();
        let ok = (0.0..=1.0).contains(&x);
        if !ok {
            self.err(w, format!("{what} {x} is out of range (0..=1)"));
        }
        ok
    }

    /// A duration: integer seconds (Cloudflare's form), or text with a unit ("500ms").
    fn duration(
        &mut self,
        v: &Option<Spanned<RawDuration>>,
        what: &str,
        default: Duration,
    ) -> Duration {
        let Some(v) = v else { return default };
        match v.get_ref() {
            RawDuration::Seconds(n) if (1..=86_400).contains(n) => Duration::from_secs(*n as u64),
            RawDuration::Seconds(n) => {
                self.err(v, format!("{what} {n} is out of range (1..=86400 seconds)"));
                default
            }
            RawDuration::Text(t) => match parse_duration(t) {
                Some(d) if !d.is_zero() => d,
                _ => {
                    self.err(
                        v,
                        format!(
                            "{what} {t:?} is not a duration (write seconds, e.g. 10, or \
                             text with a unit, e.g. \"500ms\")"
                        ),
                    );
                    default
                }
            },
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
        if let Some(z) = &m.probe_zone
            && Name::from_ascii(z.get_ref()).is_err()
        {
            self.err(
                z,
                format!("probe_zone {:?} is not a domain name", z.get_ref()),
            );
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
        for (k, vs) in &m.header {
            for v in vs.get_ref().values() {
                if let Some(value) = self.expand_env(v, vs, lookup_env) {
                    headers.push((k.clone(), value));
                }
            }
        }
        let body = m
            .body
            .as_ref()
            .and_then(|b| self.expand_env(b.get_ref(), b, lookup_env));
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

    /// The value of the environment variable a `*_env` key names; unset (or empty) is an
    /// error naming the variable, never its value.
    fn env_value(
        &mut self,
        key: &str,
        var: &Spanned<String>,
        lookup_env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<Secret> {
        let name = var.get_ref();
        if name.is_empty() || name.contains(['=', '\0', '$', '{', '}']) {
            self.err(
                var,
                format!("{key} {name:?} is not the name of an environment variable"),
            );
            return None;
        }
        match lookup_env(name) {
            Some(v) if !v.is_empty() => Some(Secret::new(v)),
            Some(_) => {
                self.err(var, format!("environment variable {name} ({key}) is empty"));
                None
            }
            None => {
                self.err(
                    var,
                    format!("environment variable {name} ({key}) is not set"),
                );
                None
            }
        }
    }

    /// One webhook of `[notifications.webhooks]`.
    fn webhook(
        &mut self,
        name: &Spanned<String>,
        w: &RawWebhook,
        lookup_env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<Webhook> {
        let before = self.errors.len();
        let label = name.get_ref();
        let url = match (&w.url, &w.url_env) {
            (Some(u), None) => {
                if let Err(e) = check_webhook_url(u.get_ref()) {
                    self.err(u, format!("webhook {label}: {e}"));
                }
                Some(Secret::new(u.get_ref().clone()))
            }
            (None, Some(var)) => {
                let v = self.env_value("url_env", var, lookup_env);
                if let Some(v) = &v
                    && let Err(e) = check_webhook_url(v.expose())
                {
                    self.err(
                        var,
                        format!(
                            "webhook {label}: {} holds no usable URL: {e}",
                            var.get_ref()
                        ),
                    );
                }
                v
            }
            (Some(_), Some(var)) => {
                self.err(
                    var,
                    format!("webhook {label}: give url or url_env, not both"),
                );
                None
            }
            (None, None) => {
                self.err(
                    name,
                    format!(
                        "webhook {label} needs url (or url_env: an environment variable \
                         holding it)"
                    ),
                );
                None
            }
        };
        let format = match &w.format {
            None => DEFAULT_NOTIFY_FORMAT,
            Some(f) => WebhookFormat::parse(f.get_ref()).unwrap_or_else(|| {
                self.err(
                    f,
                    format!(
                        "webhook {label}: format {:?} is not one of generic, slack, pagerduty",
                        f.get_ref()
                    ),
                );
                DEFAULT_NOTIFY_FORMAT
            }),
        };
        let events = match &w.events {
            None => EventClass::ALL.to_vec(),
            Some(list) => {
                if list.get_ref().is_empty() {
                    self.err(
                        list,
                        format!("webhook {label}: events is empty (leave it out for every event)"),
                    );
                }
                let mut out = Vec::new();
                for e in list.get_ref() {
                    match EventClass::parse(e.get_ref()) {
                        Some(c) if !out.contains(&c) => out.push(c),
                        Some(_) => self.err(
                            e,
                            format!("webhook {label}: event {:?} is listed twice", e.get_ref()),
                        ),
                        None => self.err(
                            e,
                            format!(
                                "webhook {label}: event {:?} is not one of origin, pool, \
                                 load_balancer",
                                e.get_ref()
                            ),
                        ),
                    }
                }
                out
            }
        };
        let secret_header = match (&w.secret_header, &w.secret_env) {
            (None, None) => None,
            (Some(h), Some(var)) => {
                let valid = reqwest::header::HeaderName::from_bytes(h.get_ref().as_bytes())
                    .is_ok_and(|n| {
                        n != reqwest::header::HOST
                            && n != reqwest::header::CONTENT_TYPE
                            && n != reqwest::header::CONTENT_LENGTH
                    });
                if !valid {
                    self.err(
                        h,
                        format!(
                            "webhook {label}: secret_header {:?} is not a header name geosteer \
                             may set",
                            h.get_ref()
                        ),
                    );
                }
                let value = self.env_value("secret_env", var, lookup_env);
                if let Some(v) = &value
                    && reqwest::header::HeaderValue::from_str(v.expose()).is_err()
                {
                    self.err(
                        var,
                        format!(
                            "webhook {label}: {} holds characters a header value cannot have",
                            var.get_ref()
                        ),
                    );
                }
                value.map(|v| (h.get_ref().clone(), v))
            }
            (Some(h), None) => {
                self.err(
                    h,
                    format!(
                        "webhook {label}: secret_header needs secret_env, the environment \
                         variable holding its value (never the value itself)"
                    ),
                );
                None
            }
            (None, Some(var)) => {
                self.err(
                    var,
                    format!("webhook {label}: secret_env needs secret_header, the header's name"),
                );
                None
            }
        };
        let routing_key = match (&w.routing_key_env, format) {
            (Some(var), WebhookFormat::PagerDuty) => {
                self.env_value("routing_key_env", var, lookup_env)
            }
            (Some(var), _) => {
                self.err(
                    var,
                    format!(
                        "webhook {label}: routing_key_env applies to format = \"pagerduty\" only"
                    ),
                );
                None
            }
            (None, WebhookFormat::PagerDuty) => {
                let line = w
                    .format
                    .as_ref()
                    .map_or_else(|| self.line(name), |f| self.line(f));
                self.errors.push(ConfigError::at(
                    self.path,
                    line,
                    format!(
                        "webhook {label}: format \"pagerduty\" needs routing_key_env, the \
                         environment variable holding the integration key"
                    ),
                ));
                None
            }
            (None, _) => None,
        };
        let timeout = self.duration(&w.timeout, "timeout", DEFAULT_NOTIFY_TIMEOUT);
        if let Some(t) = &w.timeout
            && timeout > Duration::from_secs(300)
        {
            self.err(t, format!("webhook {label}: timeout is longer than 300s"));
        }
        let attempts = w
            .attempts
            .as_ref()
            .map_or(Some(DEFAULT_NOTIFY_ATTEMPTS), |a| {
                self.int_in::<u32>(a, "attempts", 1..=20)
            })
            .unwrap_or(DEFAULT_NOTIFY_ATTEMPTS);
        let url = url?;
        (self.errors.len() == before).then(|| Webhook {
            name: label.clone(),
            zone: Some(self.zone.clone()),
            url,
            events,
            format,
            secret_header,
            routing_key,
            timeout,
            attempts,
        })
    }

    /// `${VAR}` → the variable's value; a missing variable is an error naming it, so that a
    /// secret never has to be written into the file.
    fn expand_env<T>(
        &mut self,
        s: &str,
        v: &Spanned<T>,
        lookup_env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<String> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
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
                            "unknown monitor {:?} (not defined in this file or _pools.toml)",
                            m.get_ref()
                        ),
                    );
                    None
                }
            },
        };
        let origin_steering = self.origin_steering(p);
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
            origin_steering,
            enabled: p.enabled.unwrap_or(DEFAULT_ENABLED),
        })
    }

    /// `origin_steering = "hash"` or Cloudflare's `origin_steering = { policy = "hash" }`.
    fn origin_steering(&mut self, p: &RawPool) -> OriginSteering {
        let Some(v) = &p.origin_steering else {
            return OriginSteering::default();
        };
        let name = match v.get_ref() {
            RawOriginSteering::Name(n) => n.as_str(),
            RawOriginSteering::Table(t) => t.policy.as_deref().unwrap_or("random"),
        };
        match name {
            // Cloudflare's least outstanding requests and least connections mean weighted
            // random for DNS answers (see `OriginSteering::Random`).
            "random" | "least_outstanding_requests" | "least_connections" => OriginSteering::Random,
            "hash" => OriginSteering::Hash,
            other => {
                self.err(
                    v,
                    format!(
                        "origin_steering policy {other:?} is not one of random, hash, \
                         least_outstanding_requests, least_connections"
                    ),
                );
                OriginSteering::default()
            }
        }
    }

    /// An origin's `header`: Cloudflare allows only `Host`, with one value.
    fn origin_host(&mut self, o: &RawOrigin) -> Option<String> {
        let mut host = None;
        for (k, v) in &o.header {
            if !k.get_ref().eq_ignore_ascii_case("host") {
                self.err(
                    k,
                    format!(
                        "origin header {:?}: only Host can be set per origin (other headers \
                         go on the monitor)",
                        k.get_ref()
                    ),
                );
                continue;
            }
            match v.get_ref().values().as_slice() {
                [one] if !one.is_empty() => host = Some((*one).clone()),
                _ => self.err(k, "origin header Host takes exactly one non-empty value"),
            }
        }
        host
    }

    fn origin(&mut self, o: &RawOrigin, pool: PoolId) -> Option<Origin> {
        let before = self.errors.len();
        let mut v4 = None;
        let mut v6 = None;
        let mut host = None;
        match o.address.get_ref().parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => v4 = Some(a),
            Ok(IpAddr::V6(a)) => v6 = Some(a),
            Err(_) if is_host_name(o.address.get_ref()) => {
                // An origin by host name (Cloudflare's flattening in DNS-only mode): its first
                // IPv4 and first IPv6 address, as the system resolver gives them now; `serve`
                // resolves again every --resolve-interval and reloads on a change.
                let name = o.address.get_ref();
                match resolve_host(name) {
                    Ok((a4, a6)) => {
                        v4 = a4;
                        v6 = a6;
                        host = Some(name.clone());
                    }
                    Err(e) => self.err(
                        &o.address,
                        format!(
                            "{name:?} is not an IP address, and as a host name it does not \
                             resolve: {e}"
                        ),
                    ),
                }
            }
            Err(_) => self.err(
                &o.address,
                format!(
                    "{:?} is not an IP address or a host name",
                    o.address.get_ref()
                ),
            ),
        }
        if let (Some(_), Some(a6)) = (&host, &o.address_v6) {
            self.err(
                a6,
                "address_v6 is for an origin given by IP address; a host name's IPv6 address \
                 comes from the resolver",
            );
        } else if let Some(a6) = &o.address_v6 {
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
                self.weight_in_range(w, "weight");
                *w.get_ref()
            }
        };
        // An origin by host name is probed with that name as its Host header, unless it
        // gives its own.
        let host_header = self.origin_host(o).or_else(|| host.clone());
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
            host_header,
            host,
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
        let any_map = !(lb.subdivision_pools.is_empty()
            && lb.country_pools.is_empty()
            && lb.region_pools.is_empty()
            && lb.continent_pools.is_empty());
        let policy = match lb.steering_policy.as_ref().map(|s| s.get_ref().as_str()) {
            // Cloudflare: "" (or none) is geo when a location map is set, else off.
            None | Some("") if any_map => Policy::Geo,
            None | Some("") => Policy::Failover,
            Some(s) => match Policy::parse(s) {
                Some(p) => p,
                None => {
                    let at = lb.steering_policy.as_ref().expect("Some");
                    self.err(
                        at,
                        format!(
                            "steering_policy {s:?} is not one of off, geo, random, \
                             dynamic_latency, proximity (or failover, dynamic)"
                        ),
                    );
                    return None;
                }
            },
        };
        let (prefer_ecs, location_mode) = self.location_strategy(lb);
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
        let rules = self.geo_rules(key, &ctx, lb, policy, pools);
        let pool_weights = self.pool_weights(&ctx, lb, policy, pools, &default_pools);
        let subnet_pools = self.subnet_pools(&ctx, lb, pools);
        let asn_pools = self.asn_pools(&ctx, lb, pools);
        let mut rule_networks = rules::RuleSet::default();
        let empty_policy = if any_map {
            Policy::Geo
        } else {
            Policy::Failover
        };
        // The load balancer's policy when it names one; Cloudflare's "" (or none) is decided
        // by the maps, the rule's as the load balancer's.
        let explicit_policy = lb
            .steering_policy
            .as_ref()
            .filter(|s| !s.get_ref().is_empty())
            .map(|_| policy);
        let custom_rules = self.custom_rules(
            &ctx,
            &lb.rules,
            pools,
            &mut rule_networks,
            empty_policy,
            explicit_policy,
        );
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
            prefer_ecs,
            location_mode,
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
        key: &Spanned<String>,
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
            let line = lb
                .steering_policy
                .as_ref()
                .map_or_else(|| self.line(key), |s| self.line(s));
            self.errors.push(ConfigError::at(
                self.path,
                line,
                format!("{ctx}: location maps (…_pools) need steering_policy = \"geo\""),
            ));
        }
        for (kind, map, valid) in maps {
            let target = match kind {
                "subdivision" => &mut rules.subdivision,
                "country" => &mut rules.country,
                "region" => &mut rules.region,
                _ => &mut rules.continent,
            };
            *target = self.location_map(ctx, kind, map, valid, pools);
        }
        rules
    }

    /// One location map (`country_pools`, …): code → pool list, codes checked.
    fn location_map(
        &mut self,
        ctx: &str,
        kind: &str,
        map: &LocationMap,
        valid: CodeCheck,
        pools: &HashMap<String, PoolId>,
    ) -> HashMap<String, Vec<PoolId>> {
        let mut out = HashMap::new();
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
            if out.insert(code_text.clone(), ids).is_some() {
                self.err(code, format!("{ctx}: {kind} {code_text} is mapped twice"));
            }
        }
        out
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
        empty_policy: Policy,
        explicit_policy: Option<Policy>,
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
                let maps: [(&str, &Option<Spanned<LocationMap>>, CodeCheck); 4] = [
                    (
                        "subdivision",
                        &o.subdivision_pools,
                        countries::is_subdivision,
                    ),
                    ("country", &o.country_pools, countries::is_country),
                    ("region", &o.region_pools, countries::is_region),
                    ("continent", &o.continent_pools, countries::is_continent),
                ];
                let mut first_map = None;
                for (kind, map, valid) in maps {
                    let Some(map) = map else { continue };
                    first_map.get_or_insert(self.line(map));
                    let m = self.location_map(&rctx, kind, map.get_ref(), valid, pools);
                    let target = match kind {
                        "subdivision" => &mut overrides.location_maps.subdivision,
                        "country" => &mut overrides.location_maps.country,
                        "region" => &mut overrides.location_maps.region,
                        _ => &mut overrides.location_maps.continent,
                    };
                    *target = Some(m);
                }
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
                    // "" as on the load balancer: geo when it (or this rule) has a location
                    // map, else off.
                    let parsed = match p.get_ref().as_str() {
                        "" if first_map.is_some() => Some(Policy::Geo),
                        "" => Some(empty_policy),
                        s => Policy::parse(s),
                    };
                    match parsed {
                        Some(policy) if first_map.is_some() && policy != Policy::Geo => self.err(
                            p,
                            format!(
                                "{rctx}: location maps in overrides (country_pools, \
                                 region_pools, …) need steering_policy \"geo\", not {:?}",
                                p.get_ref()
                            ),
                        ),
                        Some(policy) => overrides.policy = Some(policy),
                        None => self.err(
                            p,
                            format!("{rctx}: unknown steering policy {:?}", p.get_ref()),
                        ),
                    }
                } else if let Some(line) = first_map {
                    match explicit_policy {
                        // Cloudflare's "" on the load balancer: geo once a map is set.
                        None => overrides.policy = Some(Policy::Geo),
                        Some(Policy::Geo) => {}
                        Some(other) => self.errors.push(ConfigError::at(
                            self.path,
                            line,
                            format!(
                                "{rctx}: location maps in overrides (country_pools, \
                                 region_pools, …) need steering_policy \"geo\" (the load \
                                 balancer's is {:?}): set it in the overrides too",
                                crate::status_page::policy_name(other)
                            ),
                        )),
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
                        if !self.weight_in_range(w, "weight") {
                            continue;
                        }
                        let x = *w.get_ref();
                        match pools.get(pool.get_ref()) {
                            Some(&id) => named.push((id, x)),
                            None => {
                                self.err(pool, format!("{rctx}: unknown pool {:?}", pool.get_ref()))
                            }
                        }
                    }
                    let default = match default {
                        Some(d) if !self.weight_in_range(d, "default_weight") => {
                            DEFAULT_POOL_WEIGHT
                        }
                        Some(d) => *d.get_ref(),
                        None => DEFAULT_POOL_WEIGHT,
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

    /// `random_steering` (or geosteer's older `pool_weights`), which only `random` steering
    /// may have, in `default_pools` order.
    fn pool_weights(
        &mut self,
        ctx: &str,
        lb: &RawLoadBalancer,
        policy: Policy,
        pools: &HashMap<String, PoolId>,
        default_pools: &[PoolId],
    ) -> Vec<f64> {
        let (map, default_weight): (Option<&WeightMap>, Option<&Spanned<f64>>) =
            match (&lb.pool_weights, &lb.random_steering) {
                (Some(old), Some(rs)) => {
                    self.err(
                        old,
                        format!(
                            "{ctx}: pool_weights and random_steering both given (line {}): \
                             write random_steering.pool_weights only",
                            self.line(rs)
                        ),
                    );
                    return vec![DEFAULT_POOL_WEIGHT; default_pools.len()];
                }
                (Some(old), None) => (Some(old.get_ref()), None),
                (None, Some(rs)) => (
                    Some(&rs.get_ref().pool_weights),
                    rs.get_ref().default_weight.as_ref(),
                ),
                (None, None) => (None, None),
            };
        let default = match default_weight {
            None => DEFAULT_POOL_WEIGHT,
            Some(w) if self.weight_in_range(w, "default_weight") => *w.get_ref(),
            Some(_) => DEFAULT_POOL_WEIGHT,
        };
        let mut weights = vec![default; default_pools.len()];
        let Some(map) = map else { return weights };
        if policy != Policy::Random {
            if let Some(first) = map.keys().next() {
                self.err(
                    first,
                    format!("{ctx}: pool weights need steering_policy = \"random\""),
                );
            } else if let Some(w) = default_weight {
                self.err(
                    w,
                    format!("{ctx}: random_steering needs steering_policy = \"random\""),
                );
            }
        }
        for (pool, w) in map {
            if !self.weight_in_range(w, "weight") {
                continue;
            }
            let x = *w.get_ref();
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

    /// Cloudflare's `location_strategy = { prefer_ecs, mode }`.
    fn location_strategy(&mut self, lb: &RawLoadBalancer) -> (PreferEcs, LocationMode) {
        let Some(ls) = &lb.location_strategy else {
            return (PreferEcs::default(), LocationMode::default());
        };
        let ls = ls.get_ref();
        let prefer = match &ls.prefer_ecs {
            None => PreferEcs::default(),
            Some(v) => PreferEcs::parse(v.get_ref()).unwrap_or_else(|| {
                self.err(
                    v,
                    format!(
                        "prefer_ecs {:?} is not one of always, never, proximity, geo",
                        v.get_ref()
                    ),
                );
                PreferEcs::default()
            }),
        };
        let mode = match ls.mode.as_ref().map(|m| (m, m.get_ref().as_str())) {
            None => LocationMode::default(),
            Some((_, "pop")) => LocationMode::Pop,
            Some((_, "resolver_ip")) => LocationMode::ResolverIp,
            Some((m, other)) => {
                self.err(m, format!("mode {other:?} is not one of pop, resolver_ip"));
                LocationMode::default()
            }
        };
        (prefer, mode)
    }
}

/// Whether `s` is written as a host name (letters, digits, `-`, `_`, dots; a last label that
/// is not all digits, so that a mistyped IPv4 address is not looked up).
pub fn is_host_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    let labels_ok = s.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    let last = s.rsplit('.').next().unwrap_or("");
    labels_ok && !last.bytes().all(|b| b.is_ascii_digit())
}

/// A host name's first IPv4 and first IPv6 address, from the system resolver (getaddrinfo:
/// /etc/hosts, then DNS). Blocking: called while loading, never on the query path.
pub fn resolve_host(name: &str) -> Result<(Option<std::net::Ipv4Addr>, Option<Ipv6Addr>), String> {
    use std::net::ToSocketAddrs;
    let addrs = (name, 0).to_socket_addrs().map_err(|e| e.to_string())?;
    let mut v4 = None;
    let mut v6 = None;
    for a in addrs {
        match a.ip() {
            IpAddr::V4(a) if v4.is_none() => v4 = Some(a),
            IpAddr::V6(a) if v6.is_none() => v6 = Some(a),
            _ => {}
        }
    }
    if v4.is_none() && v6.is_none() {
        return Err("no addresses".into());
    }
    Ok((v4, v6))
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
