//! `geosteer import cloudflare`: Cloudflare Load Balancing's configuration (the JSON of its v4
//! API's load balancer, pool and monitor lists) turned into one zone's steering file.
//!
//! What is written uses the canonical (Cloudflare) names of the steering file, so it reads
//! like the JSON it came from. Every field that geosteer cannot honour is reported as a
//! [`Note`] with the reason, never dropped silently; metadata that is not configuration (ids,
//! creation and modification times, `zone_name`) is not reported. Pools and monitors that
//! several load balancers use are written once and named by each.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use hickory_proto::rr::Name;
use serde_json::{Map, Value};

use crate::config::rules::{self, RuleSet};
use crate::geo::countries;

/// Something the import could not carry over as it was, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// What it is about: `load balancer www.example.com`, `pool eu`, `monitor harperdb`.
    pub subject: String,
    /// The field, or the whole object.
    pub field: String,
    /// Why it is not honoured, or what was done instead.
    pub reason: String,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.subject, self.field, self.reason)
    }
}

/// The result of an import: the steering file's text and the notes for stderr.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The `zones/<zone>.toml` text.
    pub toml: String,
    /// Everything not carried over as it was.
    pub notes: Vec<Note>,
    /// Load balancers written.
    pub load_balancers: usize,
    /// Pools written.
    pub pools: usize,
    /// Monitors written.
    pub monitors: usize,
}

/// The objects of a saved API response: `{"success": true, "result": [...]}` as `curl`
/// saves it, or the bare `result` array. `what` names the list in messages.
pub fn result_list(text: &str, what: &str) -> Result<Vec<Map<String, Value>>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("{what}: not JSON: {e}"))?;
    let list = match v {
        Value::Array(a) => a,
        Value::Object(mut o) => {
            if o.get("success") == Some(&Value::Bool(false)) {
                let errors = o.get("errors").map_or(String::new(), |e| e.to_string());
                return Err(format!(
                    "{what}: the API response says success: false {errors}"
                ));
            }
            match o.remove("result") {
                Some(Value::Array(a)) => a,
                Some(_) => return Err(format!("{what}: \"result\" is not an array")),
                None => {
                    return Err(format!(
                        "{what}: neither an array nor an API response with \"result\""
                    ));
                }
            }
        }
        _ => return Err(format!("{what}: neither an array nor an API response")),
    };
    list.into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Object(o) => Ok(o),
            _ => Err(format!("{what}: item {i} is not an object")),
        })
        .collect()
}

/// A TOML string.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A TOML key: bare when it can be.
fn key(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        s.to_string()
    } else {
        q(s)
    }
}

fn str_of<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    o.get(k).and_then(Value::as_str)
}

fn num(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.1}"),
        Some(x) => format!("{x}"),
        None => v.to_string(),
    }
}

fn list(items: &[String]) -> String {
    format!(
        "[{}]",
        items.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
    )
}

/// Whether a JSON value is empty: null, false, "", 0, [], {}.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty() || o.values().all(is_empty),
    }
}

struct Ctx {
    notes: Vec<Note>,
}

impl Ctx {
    fn note(&mut self, subject: &str, field: &str, reason: impl Into<String>) {
        self.notes.push(Note {
            subject: subject.to_string(),
            field: field.to_string(),
            reason: reason.into(),
        });
    }
}

/// Imports the load balancers of `zone`, and the pools and monitors they use.
pub fn cloudflare(
    load_balancers: &[Map<String, Value>],
    pools: &[Map<String, Value>],
    monitors: &[Map<String, Value>],
    zone: &Name,
) -> Result<Imported, String> {
    let mut cx = Ctx { notes: Vec::new() };
    let zone_text = zone.to_string().trim_end_matches('.').to_ascii_lowercase();

    // Pools by id, and their names (unique in a Cloudflare account; made unique here anyway).
    let mut pool_by_id: HashMap<&str, &Map<String, Value>> = HashMap::new();
    let mut pool_name: HashMap<&str, String> = HashMap::new();
    let mut taken: HashSet<String> = HashSet::new();
    for p in pools {
        let Some(id) = str_of(p, "id") else {
            return Err("a pool without \"id\"".into());
        };
        let base = str_of(p, "name").unwrap_or(id).to_string();
        let mut name = base.clone();
        let mut n = 2;
        while !taken.insert(name.clone()) {
            name = format!("{base}-{n}");
            n += 1;
        }
        pool_by_id.insert(id, p);
        pool_name.insert(id, name);
    }
    let mut monitor_by_id: HashMap<&str, &Map<String, Value>> = HashMap::new();
    for m in monitors {
        let Some(id) = str_of(m, "id") else {
            return Err("a monitor without \"id\"".into());
        };
        monitor_by_id.insert(id, m);
    }

    // The load balancers of this zone.
    let mut lbs_out = String::new();
    let mut used_pools: Vec<&str> = Vec::new();
    let mut n_lbs = 0;
    let mut lb_keys: HashSet<String> = HashSet::new();
    for lb in load_balancers {
        let Some(full) = str_of(lb, "name") else {
            return Err("a load balancer without \"name\"".into());
        };
        let full_lc = full.trim_end_matches('.').to_ascii_lowercase();
        let relative = if full_lc == zone_text {
            format!("{zone_text}.")
        } else if let Some(r) = full_lc.strip_suffix(&format!(".{zone_text}")) {
            r.to_string()
        } else {
            cx.note(
                &format!("load balancer {full}"),
                "name",
                format!("outside zone {zone_text}: skipped (import it with --zone of its zone)"),
            );
            continue;
        };
        if !lb_keys.insert(relative.clone()) {
            cx.note(
                &format!("load balancer {full}"),
                "name",
                "a second load balancer of this name: skipped",
            );
            continue;
        }
        let subject = format!("load balancer {full}");
        let mut pools_of_lb: Vec<&str> = Vec::new();
        let text = load_balancer(
            &mut cx,
            &subject,
            &relative,
            lb,
            &pool_name,
            &mut pools_of_lb,
        );
        for p in pools_of_lb {
            if !used_pools.contains(&p) {
                used_pools.push(p);
            }
        }
        lbs_out.push_str(&text);
        n_lbs += 1;
    }

    // The pools they use, in first-use order, and their monitors.
    let mut pools_out = String::new();
    let mut used_monitors: Vec<&str> = Vec::new();
    let mut monitor_name: HashMap<&str, String> = HashMap::new();
    let mut monitor_names_taken: HashSet<String> = HashSet::new();
    for m in monitors {
        let id = str_of(m, "id").expect("checked");
        let base = str_of(m, "description")
            .map(slug)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("monitor-{}", &id[..id.len().min(8)]));
        let mut name = base.clone();
        let mut n = 2;
        while !monitor_names_taken.insert(name.clone()) {
            name = format!("{base}-{n}");
            n += 1;
        }
        monitor_name.insert(id, name);
    }
    let mut unusable_monitors: HashSet<&str> = HashSet::new();
    for m in monitors {
        let kind = str_of(m, "type").unwrap_or("http");
        if !matches!(kind, "http" | "https" | "tcp") {
            unusable_monitors.insert(str_of(m, "id").expect("checked"));
        }
    }
    for &id in &used_pools {
        let p = pool_by_id[id];
        let name = &pool_name[id];
        let mon = str_of(p, "monitor").filter(|m| !m.is_empty());
        let mon_name = match mon {
            None => None,
            Some(m) if !monitor_by_id.contains_key(m) => {
                cx.note(
                    &format!("pool {name}"),
                    "monitor",
                    format!("monitor {m} is not in the monitors list: the pool is left unmonitored (always healthy)"),
                );
                None
            }
            Some(m) if unusable_monitors.contains(m) => {
                cx.note(
                    &format!("pool {name}"),
                    "monitor",
                    format!(
                        "monitor {} is of type {}, which geosteer cannot probe (tcp, http, https): the pool is left unmonitored (always healthy)",
                        monitor_name[m],
                        str_of(monitor_by_id[m], "type").unwrap_or("?")
                    ),
                );
                None
            }
            Some(m) => {
                if !used_monitors.contains(&m) {
                    used_monitors.push(m);
                }
                Some(monitor_name[m].clone())
            }
        };
        pools_out.push_str(&pool(&mut cx, name, p, mon_name.as_deref()));
    }
    let mut monitors_out = String::new();
    for &id in &used_monitors {
        monitors_out.push_str(&monitor(&mut cx, &monitor_name[id], monitor_by_id[id]));
    }
    for p in pools {
        let id = str_of(p, "id").expect("checked");
        if !used_pools.contains(&id) {
            cx.note(
                &format!("pool {}", pool_name[id]),
                "pool",
                format!("used by no load balancer of {zone_text}: not written"),
            );
        }
    }

    let mut toml = String::new();
    let _ = writeln!(
        toml,
        "# Steering for {zone_text}, imported from Cloudflare Load Balancing by\n\
         # `geosteer import cloudflare`. Names follow Cloudflare's; see README.md,\n\
         # \"Steering\" and \"Migrating from Cloudflare\".\n"
    );
    toml.push_str(&monitors_out);
    toml.push_str(&pools_out);
    toml.push_str(&lbs_out);
    Ok(Imported {
        toml,
        notes: cx.notes,
        load_balancers: n_lbs,
        pools: used_pools.len(),
        monitors: used_monitors.len(),
    })
}

/// A description made into a monitor name: lower case, `-` between words.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(40).collect()
}

fn monitor(cx: &mut Ctx, name: &str, m: &Map<String, Value>) -> String {
    let subject = format!("monitor {name}");
    let kind = str_of(m, "type").unwrap_or("http");
    let mut out = format!("[monitors.{}]\n", key(name));
    let _ = writeln!(out, "type = {}", q(kind));
    if let Some(d) = str_of(m, "description").filter(|d| !d.is_empty()) {
        let _ = writeln!(out, "description = {}", q(d));
    }
    let port = m.get("port").and_then(Value::as_i64).unwrap_or(0);
    if port != 0 {
        let _ = writeln!(out, "port = {port}");
    } else if kind == "tcp" {
        // Cloudflare requires a port for tcp; check will say so.
        cx.note(&subject, "port", "a tcp monitor without a port: give one");
    }
    for k in ["interval", "timeout", "retries"] {
        if let Some(n) = m.get(k).and_then(Value::as_i64) {
            let _ = writeln!(out, "{k} = {n}");
        }
    }
    for k in ["consecutive_down", "consecutive_up"] {
        if let Some(n) = m.get(k).and_then(Value::as_i64) {
            // Cloudflare's 0 means a single probe decides, which is geosteer's 1.
            let _ = writeln!(
                out,
                "{k} = {}{}",
                n.max(1),
                if n == 0 { "    # Cloudflare's 0" } else { "" }
            );
        }
    }
    if kind == "tcp" {
        if let Some(method) = str_of(m, "method").filter(|x| *x != "connection_established") {
            cx.note(
                &subject,
                "method",
                format!("{method:?}: a tcp monitor only connects"),
            );
        }
        for k in ["path", "expected_codes", "expected_body"] {
            if m.get(k).is_some_and(|v| !is_empty(v)) {
                cx.note(&subject, k, "applies to http and https monitors only");
            }
        }
    } else {
        for k in ["method", "path", "expected_codes", "expected_body"] {
            if let Some(v) = str_of(m, k).filter(|v| !v.is_empty()) {
                let _ = writeln!(out, "{k} = {}", q(v));
            }
        }
        if let Some(Value::Object(h)) = m.get("header")
            && !h.is_empty()
        {
            let items: Vec<String> = h
                .iter()
                .map(|(k, v)| {
                    let vals: Vec<String> = match v {
                        Value::Array(a) => a
                            .iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect(),
                        Value::String(s) => vec![s.clone()],
                        _ => Vec::new(),
                    };
                    format!("{} = {}", key(k), list(&vals))
                })
                .collect();
            let _ = writeln!(out, "header = {{ {} }}", items.join(", "));
        }
        for k in ["follow_redirects", "allow_insecure"] {
            if let Some(b) = m.get(k).and_then(Value::as_bool) {
                let _ = writeln!(out, "{k} = {b}");
            }
        }
    }
    if let Some(z) = str_of(m, "probe_zone").filter(|z| !z.is_empty()) {
        let _ = writeln!(out, "probe_zone = {}", q(z));
    }
    out.push('\n');
    out
}

fn pool(cx: &mut Ctx, name: &str, p: &Map<String, Value>, monitor: Option<&str>) -> String {
    let subject = format!("pool {name}");
    let mut out = format!("[pools.{}]\n", key(name));
    if let Some(d) = str_of(p, "description").filter(|d| !d.is_empty()) {
        let _ = writeln!(out, "description = {}", q(d));
    }
    if let Some(b) = p.get("enabled").and_then(Value::as_bool) {
        let _ = writeln!(out, "enabled = {b}");
    }
    if let Some(n) = p.get("minimum_origins").and_then(Value::as_i64) {
        let _ = writeln!(out, "minimum_origins = {}", n.max(1));
    }
    if let (Some(lat), Some(lon)) = (p.get("latitude"), p.get("longitude"))
        && lat.is_number()
        && lon.is_number()
    {
        let _ = writeln!(out, "latitude = {}\nlongitude = {}", num(lat), num(lon));
    }
    if let Some(m) = monitor {
        let _ = writeln!(out, "monitor = {}", q(m));
    }
    if let Some(Value::Object(os)) = p.get("origin_steering") {
        let policy = os.get("policy").and_then(Value::as_str).unwrap_or("random");
        match policy {
            "random" | "hash" => {
                let _ = writeln!(out, "origin_steering = {{ policy = {} }}", q(policy));
            }
            other => cx.note(
                &subject,
                "origin_steering.policy",
                format!(
                    "{other:?}: in DNS-only mode outstanding requests and connections are \
                     zero, so the origins' weights decide: written as the default, random"
                ),
            ),
        }
    }
    if let Some(Value::Object(ls)) = p.get("load_shedding") {
        let percent = |k: &str| ls.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        if percent("default_percent") > 0.0 || percent("session_percent") > 0.0 {
            cx.note(
                &subject,
                "load_shedding",
                "load shedding is not implemented: every healthy origin gets its share",
            );
        }
    }
    let mut origins = Vec::new();
    if let Some(Value::Array(list)) = p.get("origins") {
        for o in list.iter().filter_map(Value::as_object) {
            origins.push(origin(cx, &subject, o));
        }
    }
    let _ = writeln!(out, "origins = [\n{}]", origins.join(""));
    for (k, why) in [
        (
            "check_regions",
            "geosteer probes from each name server itself, not from Cloudflare regions",
        ),
        (
            "notification_email",
            "geosteer logs health changes and exports metrics instead of sending e-mail",
        ),
        (
            "notification_filter",
            "geosteer logs health changes and exports metrics instead of sending e-mail",
        ),
        (
            "monitor_group",
            "monitor groups are not implemented: the pool's one monitor decides",
        ),
    ] {
        if p.get(k).is_some_and(|v| !is_empty(v)) {
            cx.note(&subject, k, why);
        }
    }
    out.push('\n');
    out
}

fn origin(cx: &mut Ctx, pool_subject: &str, o: &Map<String, Value>) -> String {
    let address = str_of(o, "address").unwrap_or("");
    let name = str_of(o, "name").unwrap_or(address);
    let subject = format!("{pool_subject}, origin {name}");
    let mut fields = vec![
        format!("name = {}", q(name)),
        format!("address = {}", q(address)),
    ];
    if let Some(w) = o.get("weight").filter(|w| w.is_number()) {
        fields.push(format!("weight = {}", num(w)));
    }
    if let Some(b) = o.get("enabled").and_then(Value::as_bool) {
        fields.push(format!("enabled = {b}"));
    }
    if let Some(Value::Object(h)) = o.get("header") {
        for (k, v) in h {
            let vals: Vec<String> = match v {
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                Value::String(s) => vec![s.clone()],
                _ => Vec::new(),
            };
            if k.eq_ignore_ascii_case("host") && vals.len() == 1 {
                fields.push(format!("header = {{ Host = {} }}", list(&vals)));
            } else if !vals.is_empty() {
                cx.note(
                    &subject,
                    &format!("header.{k}"),
                    "only one Host header can be set per origin",
                );
            }
        }
    }
    if o.get("port")
        .and_then(Value::as_i64)
        .is_some_and(|p| p != 0)
    {
        cx.note(
            &subject,
            "port",
            "a DNS answer carries no port; monitors probe the monitor's port",
        );
    }
    if o.get("virtual_network_id").is_some_and(|v| !is_empty(v)) {
        cx.note(
            &subject,
            "virtual_network_id",
            "private networks (Cloudflare Tunnel) are not reachable from geosteer",
        );
    }
    if o.get("flatten_cname") == Some(&Value::Bool(false)) {
        cx.note(
            &subject,
            "flatten_cname",
            "false: geosteer always answers a host name origin's addresses (A/AAAA), never a CNAME",
        );
    }
    format!("  {{ {} }},\n", fields.join(", "))
}

/// Pool ids → pool names; unknown ids noted and left out.
fn pool_names<'a>(
    cx: &mut Ctx,
    subject: &str,
    field: &str,
    ids: &'a Value,
    names: &HashMap<&str, String>,
    used: &mut Vec<&'a str>,
) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Some(n) = pool_name(cx, subject, field, id, names, used) {
            out.push(n.clone());
        }
    }
    out
}

/// The name of pool `id`, which is marked used; `None`, noted under `field`, when the pools
/// list has no such pool.
fn pool_name<'a, 'n>(
    cx: &mut Ctx,
    subject: &str,
    field: &str,
    id: &'a str,
    names: &'n HashMap<&str, String>,
    used: &mut Vec<&'a str>,
) -> Option<&'n String> {
    let Some(n) = names.get(id) else {
        cx.note(
            subject,
            field,
            format!("pool {id} is not in the pools list: left out"),
        );
        return None;
    };
    if !used.contains(&id) {
        used.push(id);
    }
    Some(n)
}

fn load_balancer<'a>(
    cx: &mut Ctx,
    subject: &str,
    relative: &str,
    lb: &'a Map<String, Value>,
    names: &HashMap<&str, String>,
    used: &mut Vec<&'a str>,
) -> String {
    let mut out = format!("[load_balancers.{}]\n", key(relative));
    if let Some(d) = str_of(lb, "description").filter(|d| !d.is_empty()) {
        let _ = writeln!(out, "description = {}", q(d));
    }
    if let Some(b) = lb.get("enabled").and_then(Value::as_bool) {
        let _ = writeln!(out, "enabled = {b}");
    }
    let mut policy = str_of(lb, "steering_policy").unwrap_or("").to_string();
    if matches!(
        policy.as_str(),
        "least_outstanding_requests" | "least_connections"
    ) {
        cx.note(
            subject,
            "steering_policy",
            format!(
                "{policy:?}: a DNS-only load balancer has no outstanding requests or \
                 connections, so Cloudflare's weights decide: written as random with the \
                 same random_steering"
            ),
        );
        policy = "random".into();
    }
    if !policy.is_empty() {
        let _ = writeln!(out, "steering_policy = {}", q(&policy));
    }
    if let Some(t) = lb.get("ttl").and_then(Value::as_i64) {
        let _ = writeln!(out, "ttl = {t}");
    }
    // Cloudflare answers one endpoint in DNS-only mode.
    let _ = writeln!(
        out,
        "max_answers = 1          # Cloudflare answers one endpoint; up to 8 here"
    );
    static NONE: Value = Value::Null;
    let defaults = pool_names(
        cx,
        subject,
        "default_pools",
        lb.get("default_pools").unwrap_or(&NONE),
        names,
        used,
    );
    let _ = writeln!(out, "default_pools = {}", list(&defaults));
    if let Some(Value::String(f)) = lb.get("fallback_pool") {
        match names.get(f.as_str()) {
            Some(n) => {
                let _ = writeln!(out, "fallback_pool = {}", q(n));
                if !used.contains(&f.as_str()) {
                    used.push(f.as_str());
                }
            }
            None => cx.note(
                subject,
                "fallback_pool",
                format!("pool {f} is not in the pools list: left out (the first default pool is the fallback)"),
            ),
        }
    }
    // Cloudflare's default location strategy, written out: geosteer's own default differs.
    match lb.get("location_strategy") {
        Some(Value::Object(ls)) => {
            let prefer = ls
                .get("prefer_ecs")
                .and_then(Value::as_str)
                .unwrap_or("proximity");
            let mode = ls.get("mode").and_then(Value::as_str).unwrap_or("pop");
            let _ = writeln!(
                out,
                "location_strategy = {{ prefer_ecs = {}, mode = {} }}",
                q(prefer),
                q(mode)
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "location_strategy = {{ prefer_ecs = \"proximity\", mode = \"pop\" }}   # Cloudflare's default"
            );
        }
    }
    let maps = location_maps(cx, subject, "", lb, names, used);
    for m in &maps {
        let _ = writeln!(out, "{m}");
    }
    if lb.get("pop_pools").is_some_and(|v| !is_empty(v)) {
        cx.note(
            subject,
            "pop_pools",
            "a DNS-only server has no points of presence: left out (country_pools and \
             region_pools apply)",
        );
    }
    if let Some(Value::Object(rs)) = lb.get("random_steering") {
        let weights = rs.get("pool_weights").and_then(Value::as_object);
        let default_weight = rs.get("default_weight").filter(|v| v.is_number());
        let has_any = weights.is_some_and(|w| !w.is_empty())
            || default_weight.is_some_and(|w| w.as_f64() != Some(1.0));
        if policy == "random" {
            if let Some(text) = random_steering(cx, subject, "random_steering", rs, names, used) {
                let _ = writeln!(out, "{text}");
            }
        } else if has_any {
            cx.note(
                subject,
                "random_steering",
                format!(
                    "used by random steering only; this load balancer's steering_policy is \
                     {policy:?}"
                ),
            );
        }
    }
    let affinity = lb
        .get("session_affinity")
        .and_then(Value::as_str)
        .filter(|a| !matches!(*a, "" | "none"));
    if let Some(a) = affinity {
        cx.note(
            subject,
            "session_affinity",
            format!(
                "{a:?}: not available to a DNS-only load balancer (Cloudflare's neither); \
                 origin_steering = {{ policy = \"hash\" }} keeps a client network on one origin"
            ),
        );
    }
    if affinity.is_some() {
        for k in ["session_affinity_attributes", "session_affinity_ttl"] {
            if lb.get(k).is_some_and(|v| !is_empty(v)) {
                cx.note(subject, k, "session affinity needs a proxy");
            }
        }
    }
    if lb.get("adaptive_routing").is_some_and(|v| !is_empty(v)) {
        cx.note(
            subject,
            "adaptive_routing",
            "failover across pools retries HTTP requests: proxied load balancers only",
        );
    }
    if lb.get("proxied") == Some(&Value::Bool(true)) {
        cx.note(
            subject,
            "proxied",
            "true: geosteer is a DNS server: it answers the origins' addresses, as a \
             DNS-only (gray-cloud) load balancer does, not Cloudflare's",
        );
    }
    if let Some(Value::Array(list)) = lb.get("rules") {
        let lb_key = key(relative);
        let prefer = match lb.get("location_strategy") {
            Some(Value::Object(ls)) => ls.get("prefer_ecs").and_then(Value::as_str),
            _ => None,
        }
        .unwrap_or("proximity");
        let implicit_policy = policy.is_empty();
        let lb_policy = match policy.as_str() {
            "" if !maps.is_empty() => "geo",
            "" => "off",
            p => p,
        };
        let mut set = RuleSet::default();
        let live = list
            .iter()
            .filter(|r| r.get("disabled") != Some(&Value::Bool(true)))
            .count();
        if lb_policy == "geo" && live > 0 {
            cx.note(
                subject,
                "rules",
                "Cloudflare documents custom rules as incompatible with geo steering; \
                 geosteer applies them (each matching rule's overrides, then the location maps)",
            );
        }
        for (i, r) in list.iter().enumerate() {
            let Some(r) = r.as_object() else {
                cx.note(subject, &format!("rules[{i}]"), "not an object: left out");
                continue;
            };
            let cx_rule = RuleCx {
                lb_key: &lb_key,
                lb_policy,
                implicit_policy,
                prefer_ecs: prefer,
                index: i,
            };
            if let Some(text) = rule(cx, subject, &cx_rule, r, names, used, &mut set) {
                out.push('\n');
                out.push_str(&text);
            }
        }
    }
    out.push('\n');
    out
}

/// `country_pools` and `region_pools` of a load balancer or a rule's overrides, as TOML
/// `key = { … }` lines; unknown codes and pools noted. `prefix` goes before field names in
/// notes (`rules[x].overrides.`).
fn location_maps<'a>(
    cx: &mut Ctx,
    subject: &str,
    prefix: &str,
    obj: &'a Map<String, Value>,
    names: &HashMap<&str, String>,
    used: &mut Vec<&'a str>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (field, check) in [
        ("country_pools", countries::is_country as fn(&str) -> bool),
        ("region_pools", countries::is_region),
    ] {
        let Some(Value::Object(map)) = obj.get(field) else {
            continue;
        };
        let mut entries = BTreeMap::new();
        for (code, ids) in map {
            if !check(&code.to_ascii_uppercase()) {
                cx.note(
                    subject,
                    &format!("{prefix}{field}.{code}"),
                    "an unknown code: left out",
                );
                continue;
            }
            let list_names = pool_names(cx, subject, &format!("{prefix}{field}"), ids, names, used);
            if !list_names.is_empty() {
                entries.insert(code.clone(), list_names);
            }
        }
        if !entries.is_empty() {
            let items: Vec<String> = entries
                .iter()
                .map(|(c, l)| format!("{} = {}", key(c), list(l)))
                .collect();
            out.push(format!("{field} = {{ {} }}", items.join(", ")));
        }
    }
    out
}

/// `random_steering = { … }` from Cloudflare's object, pool ids as names; `None` when it
/// gives nothing.
fn random_steering<'a>(
    cx: &mut Ctx,
    subject: &str,
    field: &str,
    rs: &'a Map<String, Value>,
    names: &HashMap<&str, String>,
    used: &mut Vec<&'a str>,
) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(w) = rs.get("pool_weights").and_then(Value::as_object) {
        let weights_field = format!("{field}.pool_weights");
        let items: Vec<String> = w
            .iter()
            .filter_map(|(id, x)| {
                pool_name(cx, subject, &weights_field, id, names, used)
                    .map(|n| format!("{} = {}", key(n), num(x)))
            })
            .collect();
        if !items.is_empty() {
            parts.push(format!("pool_weights = {{ {} }}", items.join(", ")));
        }
    }
    if let Some(d) = rs.get("default_weight").filter(|v| v.is_number()) {
        parts.push(format!("default_weight = {}", num(d)));
    }
    (!parts.is_empty()).then(|| format!("random_steering = {{ {} }}", parts.join(", ")))
}

/// What a rule's translation needs to know of its load balancer.
struct RuleCx<'a> {
    /// The load balancer's TOML key.
    lb_key: &'a str,
    /// Its steering policy as written (`off` for Cloudflare's "" without maps).
    lb_policy: &'a str,
    /// Whether its policy was Cloudflare's "" (decided by the location maps).
    implicit_policy: bool,
    /// Its `location_strategy.prefer_ecs`.
    prefer_ecs: &'a str,
    /// The rule's position in `rules`.
    index: usize,
}

/// Whether a load balancer with `prefer_ecs` locates clients by ECS under `policy`.
fn uses_ecs(prefer_ecs: &str, policy: &str) -> bool {
    match prefer_ecs {
        "never" => false,
        "proximity" => policy == "proximity",
        "geo" => policy == "geo",
        _ => true,
    }
}

/// One custom rule as a `[[load_balancers.KEY.rules]]` table, or `None` (noted) when it
/// cannot be carried over: a condition outside the subset geosteer evaluates.
fn rule<'a>(
    cx: &mut Ctx,
    subject: &str,
    rc: &RuleCx<'_>,
    r: &'a Map<String, Value>,
    names: &HashMap<&str, String>,
    used: &mut Vec<&'a str>,
    set: &mut RuleSet,
) -> Option<String> {
    let name = str_of(r, "name")
        .filter(|n| !n.is_empty())
        .map_or_else(|| format!("rule {}", rc.index + 1), str::to_string);
    let field = format!("rules[{name}]");
    let cond = str_of(r, "condition").unwrap_or("");
    if let Err(e) = rules::parse(cond, set) {
        cx.note(
            subject,
            &format!("{field}.condition"),
            format!(
                "{cond:?} is outside the part of the Rules language a DNS load balancer \
                 evaluates ({e}): the rule is left out"
            ),
        );
        return None;
    }
    let mut out = format!("[[load_balancers.{}.rules]]\n", rc.lb_key);
    let _ = writeln!(out, "name = {}", q(&name));
    if let Some(p) = r.get("priority").and_then(Value::as_i64) {
        let _ = writeln!(out, "priority = {}", p.max(0));
    }
    if !cond.is_empty() {
        let _ = writeln!(out, "condition = {}", q(cond));
    }
    if r.get("disabled") == Some(&Value::Bool(true)) {
        let _ = writeln!(out, "disabled = true");
    }
    let fixed = r.get("fixed_response").is_some_and(|v| !is_empty(v));
    if fixed {
        cx.note(
            subject,
            &format!("{field}.fixed_response"),
            "an HTTP response, which a DNS answer cannot carry: written as terminates = true \
             without overrides, so matching queries get the load balancer's own answer and no \
             later rule applies (Cloudflare marks such a rule terminating)",
        );
    }
    if fixed || r.get("terminates") == Some(&Value::Bool(true)) {
        let _ = writeln!(out, "terminates = true");
    }
    let overrides = match r.get("overrides") {
        Some(Value::Object(o)) if !fixed => o,
        Some(Value::Object(o)) => {
            if !o.values().all(is_empty) {
                cx.note(
                    subject,
                    &format!("{field}.overrides"),
                    "ignored: the rule has a fixed_response",
                );
            }
            return Some(out);
        }
        _ => return Some(out),
    };
    let of = |k: &str| format!("{field}.overrides.{k}");
    let mut items: Vec<String> = Vec::new();
    let mut has_pools = false;
    for k in ["default_pools", "pools"] {
        if let Some(ids) = overrides.get(k).filter(|v| !is_empty(v)) {
            let l = pool_names(cx, subject, &of(k), ids, names, used);
            if !l.is_empty() && !has_pools {
                items.push(format!("default_pools = {}", list(&l)));
                has_pools = true;
            }
        }
    }
    if let Some(Value::String(f)) = overrides.get("fallback_pool")
        && !f.is_empty()
    {
        if let Some(n) = pool_name(cx, subject, &of("fallback_pool"), f, names, used) {
            items.push(format!("fallback_pool = {}", q(n)));
        }
    }
    let mut policy = overrides
        .get("steering_policy")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(p) = policy.as_deref()
        && matches!(p, "least_outstanding_requests" | "least_connections")
    {
        cx.note(
            subject,
            &of("steering_policy"),
            format!(
                "{p:?}: a DNS-only load balancer has no outstanding requests or connections, \
                 so the weights decide: written as random"
            ),
        );
        policy = Some("random".into());
    }
    let maps = location_maps(
        cx,
        subject,
        &format!("{field}.overrides."),
        overrides,
        names,
        used,
    );
    // The policy in force under this rule, as Cloudflare decides "": geo once a map is set.
    let effective = match policy.as_deref() {
        Some("") if !maps.is_empty() => "geo",
        Some("") => rc.lb_policy,
        Some(p) => p,
        None if !maps.is_empty() && rc.implicit_policy => "geo",
        None => rc.lb_policy,
    };
    if let Some(p) = &policy {
        items.push(format!("steering_policy = {}", q(p)));
    }
    if !maps.is_empty() {
        if effective == "geo" {
            items.extend(maps);
        } else {
            cx.note(
                subject,
                &of("country_pools"),
                format!(
                    "the steering policy under this rule is {effective:?}, which reads no \
                     location map: country_pools and region_pools left out"
                ),
            );
        }
    }
    if uses_ecs(rc.prefer_ecs, effective) != uses_ecs(rc.prefer_ecs, rc.lb_policy) {
        cx.note(
            subject,
            &of("steering_policy"),
            format!(
                "with location_strategy.prefer_ecs = {:?}, Cloudflare would {} the ECS address \
                 under this rule's {effective:?} steering; geosteer locates the client before \
                 the rules, by the load balancer's own {:?} steering, and {} it",
                rc.prefer_ecs,
                if uses_ecs(rc.prefer_ecs, effective) {
                    "use"
                } else {
                    "ignore"
                },
                rc.lb_policy,
                if uses_ecs(rc.prefer_ecs, rc.lb_policy) {
                    "uses"
                } else {
                    "ignores"
                },
            ),
        );
    }
    if let Some(t) = overrides.get("ttl").and_then(Value::as_i64) {
        items.push(format!("ttl = {t}"));
    }
    if let Some(Value::Object(rs)) = overrides.get("random_steering") {
        if effective == "random" {
            if let Some(text) =
                random_steering(cx, subject, &of("random_steering"), rs, names, used)
            {
                items.push(text);
            }
        } else if rs.get("pool_weights").is_some_and(|w| !is_empty(w))
            || rs
                .get("default_weight")
                .and_then(Value::as_f64)
                .is_some_and(|w| w != 1.0)
        {
            cx.note(
                subject,
                &of("random_steering"),
                format!(
                    "used by random steering only; the policy under this rule is {effective:?}"
                ),
            );
        }
    }
    for (k, v) in overrides {
        if is_empty(v) {
            continue;
        }
        let why = match k.as_str() {
            "default_pools" | "pools" | "fallback_pool" | "steering_policy" | "country_pools"
            | "region_pools" | "ttl" | "random_steering" => continue,
            "pop_pools" => "a DNS-only server has no points of presence: left out",
            "location_strategy" => {
                "the address that stands for the client is chosen before the rules are \
                 evaluated (the rules match on it): the load balancer's own location_strategy \
                 applies"
            }
            "adaptive_routing" => {
                "failover across pools retries HTTP requests: proxied load balancers only"
            }
            "session_affinity" | "session_affinity_ttl" | "session_affinity_attributes" => {
                "session affinity is not available to a DNS-only load balancer: \
                 origin_steering = { policy = \"hash\" } keeps a client network on one origin"
            }
            _ => "not a field geosteer knows in a rule's overrides: left out",
        };
        cx.note(subject, &of(k), why);
    }
    if !items.is_empty() {
        let _ = writeln!(out, "overrides = {{ {} }}", items.join(", "));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_response_and_a_bare_array_read_alike() {
        let bare = r#"[{"id": "a", "name": "x"}]"#;
        let whole = r#"{"success": true, "errors": [], "messages": [], "result": [{"id": "a", "name": "x"}]}"#;
        assert_eq!(
            result_list(bare, "pools").unwrap(),
            result_list(whole, "pools").unwrap()
        );
        assert!(result_list(r#"{"success": false, "errors": [{"code": 1000}]}"#, "pools").is_err());
        assert!(result_list("{}", "pools").is_err());
        assert!(result_list("[1]", "pools").is_err());
    }

    #[test]
    fn keys_are_quoted_when_they_must_be() {
        assert_eq!(key("eu-central"), "eu-central");
        assert_eq!(key("a b"), "\"a b\"");
        assert_eq!(key("example.com."), "\"example.com.\"");
    }

    #[test]
    fn unknown_pool_ids_are_noted_and_left_out() {
        let lb: Map<String, Value> = serde_json::from_str(
            r#"{"id": "lb1", "name": "www.example.com", "default_pools": ["p1", "nope1"],
                "fallback_pool": "p1", "steering_policy": "random",
                "random_steering": {"pool_weights": {"p1": 0.5, "nope2": 0.2}},
                "rules": [{"name": "r", "condition": "ip.src.country == \"DE\"", "disabled": false,
                           "overrides": {"fallback_pool": "nope3"}}]}"#,
        )
        .unwrap();
        let pool: Map<String, Value> = serde_json::from_str(
            r#"{"id": "p1", "name": "eu", "origins": [{"name": "a", "address": "192.0.2.1"}]}"#,
        )
        .unwrap();
        let zone = Name::from_ascii("example.com.").unwrap();
        let imported = cloudflare(&[lb], &[pool], &[], &zone).unwrap();
        for id in ["nope1", "nope2", "nope3"] {
            let reason = format!("pool {id} is not in the pools list: left out");
            assert!(
                imported.notes.iter().any(|n| n.reason == reason),
                "{id}: {:#?}",
                imported.notes
            );
        }
        assert!(!imported.toml.contains("nope"), "{}", imported.toml);
        assert!(imported.toml.contains("eu"), "{}", imported.toml);
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("HarperDB TCP 9925"), "harperdb-tcp-9925");
        assert_eq!(slug("  !"), "");
    }
}
