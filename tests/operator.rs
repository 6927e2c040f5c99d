//! What an operator sees and does, against the real binary: metrics (checked by promtool and
//! by a strict reader of the exposition format), transition logs (levels, JSON fields), drains
//! kept across restarts under --state-dir, `geosteer reload` and systemd notifications,
//! `explain --server`, the country map, and --listen with host names.

mod common;
#[path = "support/exposition.rs"]
mod exposition;
#[path = "support/http.rs"]
mod http;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::ClientSubnet;
use http::Http;
use serde_json::Value;

const TOKEN: &str = "operator-token-71b2";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Two monitored pools (probed on `port` every second, one failure takes an origin down)
/// and an unmonitored one; a geo and a failover load balancer over them.
fn steering(port: u16) -> String {
    format!(
        r#"
[monitors.tcp]
type = "tcp"
port = {port}
interval = "1s"
timeout = "500ms"
retries = 0
consecutive_down = 1
consecutive_up = 1

[pools.us-east]
latitude = 38.9
longitude = -77.4
monitor = "tcp"
origins = [ {{ address = "127.0.91.1" }}, {{ address = "127.0.91.2" }} ]

[pools.eu-central]
latitude = 50.1
longitude = 8.7
monitor = "tcp"
origins = [ {{ address = "127.0.92.1" }} ]

[pools.static]
origins = [ {{ address = "127.0.93.1", name = "s1" }}, {{ address = "127.0.93.2", name = "s2" }} ]

[load_balancers.app]
steering = "geo"
default_pools = ["us-east", "eu-central"]
continent_pools = {{ EU = ["eu-central", "us-east"] }}

[load_balancers.api]
steering = "failover"
default_pools = ["eu-central", "us-east"]

[load_balancers.fixed]
steering = "failover"
default_pools = ["static"]
"#
    )
}

/// Origins that answer the monitor: one listener per address, by address.
struct Origins {
    port: u16,
    listeners: BTreeMap<&'static str, TcpListener>,
}

impl Origins {
    fn up(port: u16) -> Self {
        let mut listeners = BTreeMap::new();
        for a in ["127.0.91.1", "127.0.91.2", "127.0.92.1"] {
            listeners.insert(a, TcpListener::bind((a, port)).unwrap());
        }
        Self { port, listeners }
    }

    fn kill(&mut self, a: &str) {
        self.listeners.remove(a).expect("listening");
    }

    fn revive(&mut self, a: &'static str) {
        self.listeners
            .insert(a, TcpListener::bind((a, self.port)).unwrap());
    }
}

struct Setup {
    server: Server,
    http: Http,
    zones: std::path::PathBuf,
    token_file: String,
    _dir: ZoneDir,
}

fn start(zones: ZoneDir, port: u16, extra: &[&str], vars: &[(&str, &str)]) -> Setup {
    zones.write("example.com.toml", &steering(port));
    let token_file = zones.write("token", TOKEN).to_str().unwrap().to_string();
    let mut args = vec!["--http", "127.0.0.1:0", "--api-token-file", &token_file];
    args.extend_from_slice(extra);
    let server = Server::start_vars(zones.path(), &args, Some("info"), vars);
    let http = Http::new(http::http_addr(&server.stderr()));
    Setup {
        server,
        http,
        zones: zones.path().to_path_buf(),
        token_file,
        _dir: zones,
    }
}

fn metric(
    families: &std::collections::HashMap<String, exposition::Family>,
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    let f = families
        .get(name)
        .unwrap_or_else(|| panic!("no family {name}"));
    f.samples
        .iter()
        .find(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .unwrap_or_else(|| panic!("no {name} with {labels:?}"))
        .value
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

fn promtool(text: &str) {
    let Ok(out) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(text.as_bytes())?;
            c.wait_with_output()
        })
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is required in CI (.ci/run installs prometheus)"
        );
        eprintln!(
            "SKIPPED promtool: not installed (apt-get install prometheus); the strict reader ran"
        );
        return;
    };
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn metrics_pass_promtool_and_a_strict_reader() {
    let port = free_port();
    let mut origins = Origins::up(port);
    let s = start(ZoneDir::example(), port, &[], &[]);
    let scrape = || {
        let (code, text) = s.http.get("/metrics");
        assert_eq!(code, 200);
        promtool(&text);
        exposition::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    };
    let m = scrape();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        metric(&m, "geosteer_build_info", &[("version", version)]),
        1.0
    );
    for p in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        assert!(metric(&m, p, &[]) >= 0.0, "{p}");
    }
    assert!(metric(&m, "process_resident_memory_bytes", &[]) > 1e6);
    assert!(metric(&m, "process_open_fds", &[]) >= 3.0);
    let started = metric(&m, "process_start_time_seconds", &[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        now - started < 600.0 && started <= now + 1.0,
        "{started} vs {now}"
    );
    // The sample database's build time, under both names (the old one for one release).
    let built = metric(&m, "geosteer_geoip_build_timestamp_seconds", &[]);
    assert!(built > 1e9);
    assert_eq!(metric(&m, "geosteer_geoip_build_epoch_seconds", &[]), built);

    let pool = |m: &_, name: &str, p: &str| metric(m, name, &[("pool", p)]);
    assert_eq!(pool(&m, "geosteer_pool_up", "us-east"), 1.0);
    assert_eq!(pool(&m, "geosteer_pool_healthy_origins", "us-east"), 2.0);
    assert_eq!(pool(&m, "geosteer_pool_origins", "us-east"), 2.0);
    let active = |m: &_, lb: &str, p: &str| {
        metric(
            m,
            "geosteer_load_balancer_active_pool",
            &[("load_balancer", lb), ("pool", p)],
        )
    };
    assert_eq!(active(&m, "app.example.com.", "us-east"), 1.0);
    assert_eq!(active(&m, "app.example.com.", "eu-central"), 0.0);
    assert_eq!(active(&m, "api.example.com.", "eu-central"), 1.0);

    // One us-east origin down: the pool stays up with one healthy origin.
    origins.kill("127.0.91.1");
    wait_until("one us-east origin down", || {
        pool(&scrape(), "geosteer_pool_healthy_origins", "us-east") == 1.0
    });
    // Both: us-east is down; the geo load balancer's default clients move to eu-central.
    origins.kill("127.0.91.2");
    wait_until("us-east down", || {
        pool(&scrape(), "geosteer_pool_up", "us-east") == 0.0
    });
    let m = scrape();
    assert_eq!(active(&m, "app.example.com.", "us-east"), 0.0);
    assert_eq!(active(&m, "app.example.com.", "eu-central"), 1.0);
    let all_down = |m: &_, lb: &str| {
        metric(
            m,
            "geosteer_load_balancer_all_pools_down",
            &[("load_balancer", lb)],
        )
    };
    assert_eq!(all_down(&m, "app.example.com."), 0.0);
    origins.kill("127.0.92.1");
    wait_until("every monitored pool down", || {
        all_down(&scrape(), "app.example.com.") == 1.0
    });
    assert_eq!(all_down(&scrape(), "fixed.example.com."), 0.0);
}

/// The stderr lines, each parsed as JSON (every line must be one).
fn json_lines(s: &Server) -> Vec<Value> {
    s.stderr()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn find_event<'a>(lines: &'a [Value], event: &str, field: &str, value: &str) -> Option<&'a Value> {
    lines
        .iter()
        .find(|l| l["event"] == event && l[field] == value)
}

#[test]
fn transitions_are_logged_at_warn_and_info_with_json_fields() {
    let port = free_port();
    let mut origins = Origins::up(port);
    let s = start(ZoneDir::example(), port, &["--log-format", "json"], &[]);
    let lines = json_lines(&s.server);
    for l in &lines {
        for k in ["timestamp", "level", "target", "message"] {
            assert!(l.get(k).is_some(), "{k} missing: {l}");
        }
    }
    // Nothing is down at start: no transition lines.
    assert!(lines.iter().all(|l| l.get("event").is_none()), "{lines:?}");

    origins.kill("127.0.92.1");
    let mut lines = Vec::new();
    wait_until("the load balancer line", || {
        lines = json_lines(&s.server);
        find_event(
            &lines,
            "load_balancer_pool",
            "load_balancer",
            "api.example.com.",
        )
        .is_some()
    });
    let down = find_event(&lines, "origin_down", "address", "127.0.92.1").expect("origin_down");
    assert_eq!(down["level"], "WARN");
    assert_eq!(down["zone"], "example.com.");
    assert_eq!(down["pool"], "eu-central");
    assert_eq!(down["reason"], "refused");
    assert_eq!(down["monitor"], "tcp");
    let pool = find_event(&lines, "pool_down", "pool", "eu-central").expect("pool_down");
    assert_eq!(pool["level"], "WARN");
    assert_eq!(pool["healthy_origins"], 0);
    assert_eq!(pool["minimum_origins"], 1);
    let lb = find_event(
        &lines,
        "load_balancer_pool",
        "load_balancer",
        "api.example.com.",
    )
    .unwrap();
    assert_eq!(lb["level"], "INFO");
    assert_eq!(lb["pool"], "us-east");
    assert_eq!(lb["previous_pool"], "eu-central");
    assert_eq!(lb["outcome"], "steered");
    assert_eq!(lb["clients"], "all");
    assert_eq!(
        lb["message"],
        "load balancer api.example.com. now answers from pool us-east, was pool eu-central"
    );
    // The geo load balancer: only its European clients moved.
    let geo = find_event(
        &lines,
        "load_balancer_pool",
        "load_balancer",
        "app.example.com.",
    )
    .unwrap();
    assert_eq!(geo["clients"], "candidates");
    assert_eq!(geo["pool"], "us-east");
    assert!(
        geo["message"]
            .as_str()
            .unwrap()
            .contains("clients whose pools are [eu-central, us-east]")
    );

    origins.revive("127.0.92.1");
    wait_until("pool_up", || {
        lines = json_lines(&s.server);
        find_event(&lines, "pool_up", "pool", "eu-central").is_some()
    });
    let up = find_event(&lines, "origin_up", "address", "127.0.92.1").expect("origin_up");
    assert_eq!(up["level"], "INFO");
    assert_eq!(
        find_event(&lines, "pool_up", "pool", "eu-central").unwrap()["level"],
        "INFO"
    );
    wait_until("the load balancer back on eu-central", || {
        json_lines(&s.server).iter().any(|l| {
            l["event"] == "load_balancer_pool"
                && l["load_balancer"] == "api.example.com."
                && l["pool"] == "eu-central"
        })
    });
}

#[test]
fn text_logs_keep_one_readable_line_per_transition() {
    let port = free_port();
    let mut origins = Origins::up(port);
    let s = start(ZoneDir::example(), port, &[], &[]);
    origins.kill("127.0.92.1");
    s.server
        .wait_for_stderr("load balancer api.example.com. now answers from pool us-east");
    let lines = s.server.stderr();
    let down = lines
        .iter()
        .find(|l| l.contains("DOWN: refused"))
        .expect("origin down line");
    assert!(down.contains(" WARN "), "{down}");
    assert!(
        !down.contains("event="),
        "fields are in the message: {down}"
    );
    let pool = lines
        .iter()
        .find(|l| l.contains("pool eu-central of example.com.: DOWN"))
        .unwrap();
    assert!(pool.contains(" WARN "), "{pool}");
}

fn stop(s: &mut Server) {
    s.signal(libc::SIGTERM);
    assert!(
        s.wait_exit(Duration::from_secs(10))
            .is_some_and(|st| st.success())
    );
}

fn answer_of(addr: SocketAddr, name: &str) -> Vec<String> {
    let mut v: Vec<String> = rdata_strings(&udp(addr, &query(name, RecordType::A)).answers)
        .into_iter()
        .map(|r| r.trim_start_matches("A ").to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn drains_survive_restarts_under_state_dir() {
    let port = free_port();
    let _origins = Origins::up(port);
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap().to_string();
    let zones = ZoneDir::example();
    let zone_path = zones.path().to_path_buf();
    let mut s = start(zones, port, &["--state-dir", &state_dir], &[]);
    assert_eq!(
        answer_of(s.server.addr, "fixed.example.com"),
        ["127.0.93.1", "127.0.93.2"]
    );
    let (code, body) = s
        .http
        .post("/v1/pools/static/origins/s2/disable", Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    let (code, body) = s.http.post("/v1/pools/eu-central/disable", Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        answer_of(s.server.addr, "fixed.example.com"),
        ["127.0.93.1"]
    );
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(state.path().join("drains.json")).unwrap())
            .unwrap();
    assert_eq!(file["format"], "geosteer-drains");
    assert_eq!(file["version"], 1);
    let entries = file["drains"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{file}");
    let origin = entries.iter().find(|e| e["pool"] == "static").unwrap();
    assert_eq!(origin["origin"], "127.0.93.2");
    assert_eq!(origin["drained"], true);
    assert_eq!(origin["zone"], "example.com.");
    assert!(origin["at_ms"].as_u64().unwrap() > 1_600_000_000_000);
    assert!(origin["by"].is_string());
    let pool = entries.iter().find(|e| e["pool"] == "eu-central").unwrap();
    assert!(pool.get("origin").is_none(), "{pool}");

    // Restart: the drains hold from the first answer on.
    stop(&mut s.server);
    let s2 = Server::start(
        &zone_path,
        &[
            "--http",
            "127.0.0.1:0",
            "--api-token-file",
            &s.token_file,
            "--state-dir",
            &state_dir,
        ],
    );
    assert!(
        s2.stderr()
            .iter()
            .any(|l| l.contains("2 drains applied from"))
    );
    assert_eq!(answer_of(s2.addr, "fixed.example.com"), ["127.0.93.1"]);
    let http2 = Http::new(http::http_addr(&s2.stderr()));
    let st = http2.json("/v1/status");
    let eu = st["pools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "eu-central")
        .unwrap();
    assert_eq!(eu["drained"], true);
    assert_eq!(st["drains"].as_array().unwrap().len(), 2);
    // api fails over from the drained pool.
    assert_eq!(
        answer_of(s2.addr, "api.example.com"),
        ["127.0.91.1", "127.0.91.2"]
    );

    // Enabled again: recorded as such, and kept after another restart.
    let (code, _) = http2.post("/v1/pools/static/origins/127.0.93.2/enable", Some(TOKEN));
    assert_eq!(code, 200);
    assert_eq!(
        answer_of(s2.addr, "fixed.example.com"),
        ["127.0.93.1", "127.0.93.2"]
    );

    // A state file that cannot be written: the drain is refused and nothing changes.
    std::fs::remove_file(state.path().join("drains.json")).unwrap();
    std::fs::create_dir(state.path().join("drains.json")).unwrap();
    let (code, body) = http2.post("/v1/pools/static/origins/s1/disable", Some(TOKEN));
    assert_eq!(code, 500, "{body}");
    assert!(body.contains("nothing changed"), "{body}");
    assert_eq!(
        answer_of(s2.addr, "fixed.example.com"),
        ["127.0.93.1", "127.0.93.2"]
    );
    drop(s2);

    // A state file that cannot be read stops the start, naming the file.
    std::fs::remove_dir(state.path().join("drains.json")).unwrap();
    std::fs::write(state.path().join("drains.json"), "{ not json").unwrap();
    let out = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            &state_dir,
            "--zones",
        ])
        .arg(&zone_path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("drains.json: line 1"), "{err}");
}

/// A datagram socket standing in for systemd's notification socket.
struct Notify {
    sock: UnixDatagram,
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Notify {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Self {
            sock,
            path,
            _dir: dir,
        }
    }

    fn next(&self) -> String {
        let mut buf = [0u8; 4096];
        let n = self.sock.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

fn reload_cmd(http: &Http, token_file: Option<&str>) -> std::process::Output {
    let mut c = Command::new(BIN);
    c.args(["reload", "--http", &http.base])
        .env_remove("GEOSTEER_API_TOKEN");
    if let Some(f) = token_file {
        c.args(["--api-token-file", f]);
    }
    c.output().unwrap()
}

#[test]
fn reload_command_and_systemd_notifications() {
    let port = free_port();
    let _origins = Origins::up(port);
    let notify = Notify::new();
    let zones = ZoneDir::example();
    let mut s = start(
        zones,
        port,
        &[],
        &[("NOTIFY_SOCKET", notify.path.to_str().unwrap())],
    );
    let ready = notify.next();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready}");

    let out = reload_cmd(&s.http, Some(&s.token_file));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("reloaded: generation 2: "));
    let reloading = notify.next();
    let lines: Vec<&str> = reloading.lines().collect();
    assert!(lines.contains(&"RELOADING=1"), "{reloading}");
    let usec: u64 = lines
        .iter()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .expect("MONOTONIC_USEC with RELOADING=1")
        .parse()
        .unwrap();
    assert!(usec > 0);
    assert!(notify.next().lines().any(|l| l == "READY=1"));

    // A rejected configuration: exit 1, the errors with file and line, still generation 2.
    std::fs::write(
        s.zones.join("example.com.toml"),
        format!("{}\n[pools.broken]\norigins = []\n", steering(port)),
    )
    .unwrap();
    let out = reload_cmd(&s.http, Some(&s.token_file));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("configuration rejected; the server still serves generation 2"),
        "{err}"
    );
    assert!(err.contains("example.com.toml:"), "{err}");
    assert!(notify.next().contains("RELOADING=1"));
    assert!(notify.next().contains("READY=1"));
    // No token: refused before asking.
    let out = reload_cmd(&s.http, None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no API token"));
    // A wrong one: the server's answer.
    let wrong = s.zones.join("wrong-token");
    std::fs::write(&wrong, "nope").unwrap();
    let out = reload_cmd(&s.http, Some(wrong.to_str().unwrap()));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong token"));

    s.server.signal(libc::SIGTERM);
    assert!(notify.next().lines().any(|l| l == "STOPPING=1"));
    assert!(s.server.wait_exit(Duration::from_secs(10)).is_some());
}

fn explain(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .arg("explain")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn explain_asks_the_running_server() {
    let port = free_port();
    let _origins = Origins::up(port);
    let s = start(ZoneDir::example(), port, &[], &[]);
    let (code, _) = s
        .http
        .post("/v1/pools/static/origins/s1/disable", Some(TOKEN));
    assert_eq!(code, 200);
    let (ok, out, err) = explain(&[
        "fixed.example.com",
        "--client",
        "193.0.6.139",
        "--server",
        &s.http.base,
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("health      the running server's"), "{out}");
    assert!(out.contains("- s1 [127.0.93.1] weight 1 drained"), "{out}");
    assert!(
        out.contains("fixed.example.com. 30 IN A 127.0.93.2"),
        "{out}"
    );
    assert!(!out.contains("IN A 127.0.93.1"), "{out}");
    // The same report as the endpoint gives.
    let (code, body) = s
        .http
        .get("/v1/explain?name=fixed.example.com&client=193.0.6.139");
    assert_eq!(code, 200);
    assert_eq!(body, out);
    // Without --server: its own probe round, which knows nothing of drains, and says so.
    let zones = s.zones.to_str().unwrap();
    let (ok, out, _) = explain(&[
        "fixed.example.com",
        "--client",
        "193.0.6.139",
        "--zones",
        zones,
    ]);
    assert!(ok);
    assert!(
        out.contains("health      probed once by this command"),
        "{out}"
    );
    assert!(out.contains("- s1 [127.0.93.1] weight 1 up"), "{out}");
    // Bad requests get the server's reason.
    let (ok, _, err) = explain(&[
        "fixed.example.com",
        "--client",
        "193.0.6.139",
        "--ecs-prefix",
        "40",
        "--server",
        &s.http.base,
    ]);
    assert!(!ok);
    assert!(err.contains("ecs_prefix 40: 0..=32"), "{err}");
    let (code, _) = s.http.get("/v1/explain?name=x&client=nope");
    assert_eq!(code, 400);
}

#[test]
fn the_country_map_is_what_dns_answers() {
    let port = free_port();
    let mut origins = Origins::up(port);
    let s = start(ZoneDir::example(), port, &[], &[]);
    let check = |want_nl: &str| {
        let map = s.http.json("/v1/map?lb=app.example.com&type=A");
        assert_eq!(map["level"], "country");
        assert_eq!(map["countries"]["NL"]["pools"][0], want_nl);
        assert_eq!(map["countries"]["NL"]["rule"], "continent EU");
        assert_eq!(map["countries"]["US"]["pools"][0], "us-east");
        assert_eq!(map["unknown_location"]["pools"][0], "us-east");
        // 193.0.6.0/24 is in NL in the sample database: DNS answers from the same pool.
        let r = udp(
            s.server.addr,
            &query_ecs(
                "app.example.com",
                RecordType::A,
                ClientSubnet::new("193.0.6.0".parse().unwrap(), 24, 0),
            ),
        );
        let answered = rdata_strings(&r.answers);
        let pool_addr = if want_nl == "eu-central" {
            "127.0.92."
        } else {
            "127.0.91."
        };
        assert!(
            !answered.is_empty() && answered.iter().all(|a| a.contains(pool_addr)),
            "{answered:?} for {want_nl}"
        );
        let pools = map["pools"].as_array().unwrap();
        let eu = pools.iter().find(|p| p["name"] == "eu-central").unwrap();
        assert_eq!(eu["latitude"], 50.1);
        eu["up"].as_bool().unwrap()
    };
    assert!(check("eu-central"));
    origins.kill("127.0.92.1");
    wait_until("Europe on us-east", || {
        s.http.json("/v1/map?lb=app.example.com")["countries"]["NL"]["pools"][0] == "us-east"
    });
    assert!(!check("us-east"));
    let (code, body) = s.http.get("/v1/map?lb=nope.example.com");
    assert_eq!(code, 404, "{body}");
    let (code, _) = s.http.get("/v1/map?lb=app.example.com&type=MX");
    assert_eq!(code, 400);
}

#[test]
fn the_page_and_its_assets_are_served_from_the_binary() {
    let port = free_port();
    let _origins = Origins::up(port);
    let s = start(ZoneDir::example(), port, &[], &[]);
    let (code, ct, body) = s.http.get_typed("/");
    assert_eq!(code, 200);
    assert_eq!(ct, "text/html; charset=utf-8");
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains("<script src=\"/assets/app.js\""));
    for (path, want) in [
        ("/assets/app.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
        ("/assets/world.json", "application/json"),
    ] {
        let (code, ct, body) = s.http.get_typed(path);
        assert_eq!(code, 200, "{path}");
        assert!(ct.starts_with(want), "{path}: {ct}");
        assert!(!body.is_empty());
    }
    let (code, _, _) = s.http.get_typed("/assets/nope.js");
    assert_eq!(code, 404);
}

#[test]
fn listen_accepts_host_names_and_ipv6_literals() {
    use std::net::ToSocketAddrs;
    let zones = ZoneDir::example();
    let s = Server::start(
        zones.path(),
        &["--listen", "localhost:0", "--listen", "[::1]:0"],
    );
    s.wait_for_stderr("listening on [::1]:");
    let listening = s.listening();
    let want: Vec<std::net::IpAddr> = "localhost:0"
        .to_socket_addrs()
        .unwrap()
        .map(|a| a.ip())
        .collect();
    for ip in &want {
        assert!(
            listening.iter().any(|a| a.ip() == *ip),
            "{ip} not in {listening:?}"
        );
    }
    let v6 = listening
        .iter()
        .find(|a| a.ip() == "::1".parse::<std::net::IpAddr>().unwrap())
        .copied()
        .expect("listening on ::1");
    let r = udp(v6, &query("example.com", RecordType::SOA));
    assert_eq!(rcode(&r), hickory_proto::op::ResponseCode::NoError);
    assert_eq!(r.answers.len(), 1);
    // Not an address or HOST:PORT: refused by the command line.
    let out = Command::new(BIN)
        .args(["serve", "--listen", "localhost"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected ADDR:PORT"));
    let out = Command::new(BIN)
        .args(["serve", "--zones"])
        .arg(zones.path())
        .args(["--listen", "no-such-host.invalid:53"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot resolve"));
}
