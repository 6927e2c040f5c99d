//! A strict reader of the Prometheus text exposition format (version 0.0.4): what a scrape
//! must satisfy, checked line by line, so the metrics stay valid where promtool is missing.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};

/// One sample: name, labels (sorted), value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A family: its type, help and samples.
#[derive(Debug, Default)]
pub struct Family {
    pub kind: String,
    pub help: String,
    pub samples: Vec<Sample>,
}

fn metric_name_ok(n: &str) -> bool {
    let mut c = n.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
}

fn label_name_ok(n: &str) -> bool {
    let mut c = n.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        && !n.starts_with("__")
}

fn value(v: &str) -> Result<f64, String> {
    match v {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ if v.contains("inf") || v.contains("Inf") || v.contains("nan") => {
            Err(format!("bad special value {v:?}"))
        }
        _ => v.parse().map_err(|_| format!("bad value {v:?}")),
    }
}

/// `{a="x",b="y"}` (after the name) → labels and the rest of the line.
fn labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut out = BTreeMap::new();
    let Some(mut rest) = s.strip_prefix('{') else {
        return Ok((out, s));
    };
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((out, r));
        }
        let eq = rest.find('=').ok_or("label without =")?;
        let name = &rest[..eq];
        if !label_name_ok(name) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut val = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value".into()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => val.push('\\'),
                    Some((_, '"')) => val.push('"'),
                    Some((_, 'n')) => val.push('\n'),
                    other => return Err(format!("bad escape {other:?}")),
                },
                Some((_, '\n')) => return Err("newline in label value".into()),
                Some((_, c)) => val.push(c),
            }
        };
        if out.insert(name.to_string(), val).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = &rest[end + 1..];
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if !rest.starts_with('}') {
            return Err("expected , or }".into());
        }
    }
}

/// Parses a whole scrape; every rule broken is an error naming the line.
pub fn parse(text: &str) -> Result<HashMap<String, Family>, String> {
    if !text.ends_with('\n') {
        return Err("the scrape must end with a newline".into());
    }
    let mut families: HashMap<String, Family> = HashMap::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut series: HashSet<(String, Vec<(String, String)>)> = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let err = |m: String| format!("line {}: {m}: {line}", n + 1);
        if line.is_empty() {
            return Err(err("empty line".into()));
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let (kw, rest) = rest
                .split_once(' ')
                .ok_or_else(|| err("bad comment".into()))?;
            let (name, arg) = rest.split_once(' ').ok_or_else(|| err("no text".into()))?;
            if !metric_name_ok(name) {
                return Err(err(format!("bad metric name {name:?}")));
            }
            if current.as_deref() != Some(name) {
                if let Some(c) = current.take() {
                    finished.insert(c);
                }
                if finished.contains(name) {
                    return Err(err(format!("family {name} appears twice")));
                }
                current = Some(name.to_string());
            }
            let f = families.entry(name.to_string()).or_default();
            match kw {
                "HELP" => {
                    if !f.help.is_empty() || !f.samples.is_empty() {
                        return Err(err("HELP twice or after samples".into()));
                    }
                    f.help = arg.to_string();
                }
                "TYPE" => {
                    if !f.kind.is_empty() || !f.samples.is_empty() {
                        return Err(err("TYPE twice or after samples".into()));
                    }
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&arg) {
                        return Err(err(format!("bad type {arg}")));
                    }
                    f.kind = arg.to_string();
                }
                _ => return Err(err("only HELP and TYPE comments".into())),
            }
            continue;
        }
        let end = line
            .find(['{', ' '])
            .ok_or_else(|| err("no value".into()))?;
        let name = &line[..end];
        if !metric_name_ok(name) {
            return Err(err(format!("bad metric name {name:?}")));
        }
        let family = current
            .clone()
            .filter(|c| {
                name == c
                    || ["_sum", "_count", "_bucket"]
                        .iter()
                        .any(|s| name.strip_suffix(s) == Some(c))
            })
            .ok_or_else(|| err("sample outside its family (no TYPE before it)".into()))?;
        let (labels, rest) = labels(&line[end..]).map_err(err)?;
        let rest = rest
            .strip_prefix(' ')
            .ok_or_else(|| err("no space before the value".into()))?;
        let mut parts = rest.split(' ');
        let v = value(parts.next().unwrap_or("")).map_err(err)?;
        if let Some(ts) = parts.next()
            && ts.parse::<i64>().is_err()
        {
            return Err(err("bad timestamp".into()));
        }
        if parts.next().is_some() {
            return Err(err("trailing text".into()));
        }
        let key = (
            name.to_string(),
            labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Vec<_>>(),
        );
        if !series.insert(key) {
            return Err(err("duplicate series".into()));
        }
        let f = families.get_mut(&family).unwrap();
        if f.kind == "counter" && (v < 0.0 || v.is_nan()) {
            return Err(err("counter below 0".into()));
        }
        f.samples.push(Sample {
            name: name.to_string(),
            labels,
            value: v,
        });
    }
    for (name, f) in &families {
        if f.kind.is_empty() {
            return Err(format!("{name}: no TYPE"));
        }
        if f.help.is_empty() {
            return Err(format!("{name}: no HELP"));
        }
        if (f.kind == "counter") != name.ends_with("_total") {
            return Err(format!("{name}: counters and only counters end in _total"));
        }
    }
    Ok(families)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_rejects_what_prometheus_rejects() {
        let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\\\"\"} 3\n";
        assert!(parse(ok).is_ok());
        for bad in [
            "a 1\n",
            "# HELP a A.\n# TYPE a gauge\na 1\na 1\n",
            "# HELP a A.\n# TYPE a gauge\na inf\n",
            "# HELP a A.\n# TYPE a gauge\na{x=\"\\t\"} 1\n",
            "# HELP a A.\n# TYPE a gauge\n# HELP b B.\n# TYPE b gauge\nb 1\na 1\n",
            "# HELP a A.\n# TYPE a counter\na 1\n",
            "# HELP a A.\n# TYPE a gauge\na 1",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
