//! The systemd unit in contrib/: parsed here always, and checked by `systemd-analyze verify`
//! where that tool exists.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

const UNIT: &str = "contrib/geosteer.service";

/// Section → key → values (a key may repeat), with backslash continuations joined.
fn parse(text: &str) -> HashMap<String, HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, HashMap<String, Vec<String>>> = HashMap::new();
    let mut section = String::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim_end();
        if pending.is_empty() && (line.trim_start().starts_with('#') || line.trim().is_empty()) {
            continue;
        }
        if let Some(cont) = line.strip_suffix('\\') {
            pending.push_str(cont);
            pending.push(' ');
            continue;
        }
        let full = format!("{pending}{line}");
        pending.clear();
        let full = full.trim();
        if let Some(name) = full.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let (k, v) = full
            .split_once('=')
            .unwrap_or_else(|| panic!("not key=value in [{section}]: {full}"));
        out.entry(section.clone())
            .or_default()
            .entry(k.trim().to_string())
            .or_default()
            .push(v.trim().to_string());
    }
    out
}

#[test]
fn unit_runs_unprivileged_notifies_readiness_and_reloads_through_the_api() {
    let text = std::fs::read_to_string(UNIT).unwrap();
    let unit = parse(&text);
    let service = &unit["Service"];
    let one = |k: &str| service.get(k).map(|v| v.join(" ")).unwrap_or_default();
    assert!(
        one("ExecStart").contains("geosteer serve"),
        "{}",
        one("ExecStart")
    );
    assert!(one("ExecStart").contains(":53"));
    // Readiness and reloads that fail when the configuration is rejected.
    assert_eq!(one("Type"), "notify");
    assert!(
        one("ExecReload").contains("geosteer reload --http 127.0.0.1:9153"),
        "{}",
        one("ExecReload")
    );
    assert!(one("ExecStart").contains("--http 127.0.0.1:9153"));
    // Drains persist in the state directory systemd gives the dynamic user.
    assert_eq!(one("StateDirectory"), "geosteer");
    assert!(one("ExecStart").contains("--state-dir /var/lib/geosteer"));
    assert!(
        one("DynamicUser") == "yes" || !one("User").is_empty(),
        "must not run as root"
    );
    assert_eq!(one("AmbientCapabilities"), "CAP_NET_BIND_SERVICE");
    assert_eq!(one("CapabilityBoundingSet"), "CAP_NET_BIND_SERVICE");
    assert_eq!(one("NoNewPrivileges"), "yes");
    assert_eq!(one("ProtectSystem"), "strict");
    assert!(unit["Install"]["WantedBy"].contains(&"multi-user.target".to_string()));
    assert!(unit.contains_key("Unit"));
}

/// The unit with its commented `#xdp:` lines enabled, as README's XDP section says.
fn with_xdp(text: &str) -> String {
    text.lines()
        .map(|l| l.strip_prefix("#xdp:").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("--http 127.0.0.1:9153", "--http 127.0.0.1:9153 --xdp eth0")
}

#[test]
fn unit_shows_what_xdp_needs() {
    let text = std::fs::read_to_string(UNIT).unwrap();
    let unit = parse(&with_xdp(&text));
    let service = &unit["Service"];
    let all = |k: &str| service.get(k).map(|v| v.join(" ")).unwrap_or_default();
    assert!(all("ExecStart").contains("--xdp eth0"));
    for cap in [
        "CAP_NET_BIND_SERVICE",
        "CAP_BPF",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
    ] {
        assert!(all("AmbientCapabilities").contains(cap), "{cap}");
        assert!(all("CapabilityBoundingSet").contains(cap), "{cap}");
    }
    assert!(all("RestrictAddressFamilies").contains("AF_XDP"));
    assert!(all("RestrictAddressFamilies").contains("AF_NETLINK"));
    // bpf must be allowed after @privileged is taken away, or it stays forbidden.
    let filters = &service["SystemCallFilter"];
    let privileged = filters
        .iter()
        .position(|f| f.contains("~@privileged"))
        .unwrap();
    let bpf = filters
        .iter()
        .position(|f| f == "bpf")
        .expect("bpf allowed");
    assert!(bpf > privileged, "{filters:?}");
    assert!(!all("LimitMEMLOCK").is_empty());
}

#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    verify(&std::fs::read_to_string(UNIT).unwrap());
}

#[test]
fn systemd_analyze_verify_accepts_the_unit_with_xdp() {
    verify(&with_xdp(&std::fs::read_to_string(UNIT).unwrap()));
}

fn verify(text: &str) {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze not installed: the unit was only parsed");
        return;
    }
    // verify insists that ExecStart's program exists: point it at the binary under test.
    let text = text.replace("/usr/local/bin/geosteer", env!("CARGO_BIN_EXE_geosteer"));
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("geosteer.service");
    std::fs::write(&path, text).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Messages about the host (no running systemd, missing units elsewhere) are not about
    // this file; anything naming it is.
    let about_unit: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("geosteer.service"))
        .collect();
    assert!(
        about_unit.is_empty() && out.status.success(),
        "systemd-analyze verify: {stderr}"
    );
    assert!(Path::new(UNIT).exists());
}

#[test]
fn unit_listens_on_the_wildcards_with_rate_limiting_and_only_known_flags() {
    let text = std::fs::read_to_string(UNIT).unwrap();
    let unit = parse(&text);
    let exec = unit["Service"]["ExecStart"].join(" ");
    for want in ["--listen 0.0.0.0:53", "--listen [::]:53", "--rrl-rate "] {
        assert!(exec.contains(want), "ExecStart lacks {want:?}: {exec}");
    }
    // Every flag the unit passes is one `serve` knows (a typo would stop the service).
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_geosteer"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in exec.split_whitespace().filter(|w| w.starts_with("--")) {
        assert!(help.contains(flag), "serve does not know {flag}");
    }
}
