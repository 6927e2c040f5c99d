//! The status page in a real browser: headless Chromium (Debian's `chromium`, driven over the
//! DevTools protocol on a pipe) loads `/` from a running geosteer, and the test reads the
//! rendered DOM: pool names, an origin shown DOWN once its listener is gone, the world map's
//! countries coloured by the pool the server steers them to, the keyboard path to the drain
//! buttons (read-only without the token). A screenshot is written to
//! `target/status-page.png`.
//!
//! Chromium is installed by `.ci/run`; where it is missing (and CI is not set) the test says
//! so and passes without running.

#[path = "support/cdp.rs"]
mod cdp;
mod common;
#[path = "support/http.rs"]
mod http;

use std::time::Duration;

use common::*;
use serde_json::Value;

const TOKEN: &str = "page-token-5d1c";

fn steering(port: u16) -> String {
    let monitor = tcp_monitor(port);
    format!(
        r#"{monitor}
[pools.us-east]
latitude = 38.9
longitude = -77.4
monitor = "tcp"
origins = [ {{ address = "127.0.81.1", name = "use1-a" }}, {{ address = "127.0.81.2", name = "use1-b" }} ]

[pools.eu-central]
latitude = 50.1
longitude = 8.7
monitor = "tcp"
origins = [ {{ address = "127.0.82.1", name = "euc1-a" }} ]

[load_balancers.app]
steering = "geo"
default_pools = ["us-east", "eu-central"]
continent_pools = {{ EU = ["eu-central", "us-east"], AF = ["eu-central", "us-east"] }}

# A custom rule for one network: no country matches it, and the page lists its variant.
[[load_balancers.app.rules]]
name = "lab"
condition = 'ip.src in {{198.51.100.0/24}}'
overrides = {{ ttl = 5 }}

[load_balancers.api]
steering = "failover"
default_pools = ["eu-central", "us-east"]
"#
    )
}

#[test]
fn the_status_page_shows_pools_health_and_the_map_in_a_browser() {
    let Some(binary) = cdp::chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is required in CI (.ci/run installs it)"
        );
        eprintln!("SKIPPED: chromium is not installed (apt-get install chromium)");
        return;
    };
    let port = free_port();
    let mut origins = Origins::up(port, &["127.0.81.1", "127.0.81.2", "127.0.82.1"]);
    let zones = ZoneDir::example();
    zones.write("example.com.toml", &steering(port));
    let token_file = zones.write("token", TOKEN);
    let server = Server::start_owned(
        zones,
        &[
            "--http",
            "127.0.0.1:0",
            "--api-token-file",
            token_file.to_str().unwrap(),
        ],
    );
    let addr = http::http_addr(&server.stderr());
    let api = http::Http::new(addr);

    let mut b = cdp::Browser::start(&binary, 1280, 900);
    b.goto(&format!("http://{addr}/"));
    b.wait_for(
        "Number(document.body.dataset.refreshed) >= 1",
        Duration::from_secs(20),
    );

    // Load balancers and the pool answering each.
    let lbs = b.eval(
        "[...document.querySelectorAll('#lbs tbody tr')].map(r => r.dataset.lb + '=' + \
         r.querySelector('.answering').textContent.trim()).sort()",
    );
    assert_eq!(
        lbs,
        serde_json::json!(["api.example.com.=eu-central", "app.example.com.=us-east"]),
    );
    // The pools each load balancer tries, in order, as text (not stringified elements).
    let order = b.eval(
        "document.querySelector('#lbs tr[data-lb=\"api.example.com.\"]').cells[3].textContent",
    );
    assert_eq!(order, "eu-central → us-east");
    let text = b.eval("document.body.innerText");
    assert!(!text.as_str().unwrap().contains("[object"), "{text}");
    // Pools and origins, all up.
    let pools = b.eval(
        "[...document.querySelectorAll('.pool')].map(p => p.dataset.pool + ':' + p.dataset.state)",
    );
    assert_eq!(pools, serde_json::json!(["eu-central:up", "us-east:up"]));
    let names = b.eval("document.querySelector('#pools').textContent");
    for n in ["use1-a", "use1-b", "euc1-a", "127.0.81.2", "monitor tcp"] {
        assert!(names.as_str().unwrap().contains(n), "{n} not on the page");
    }
    // Read-only without the token: no buttons.
    assert_eq!(
        b.eval("document.querySelectorAll('#pools button').length"),
        0
    );

    // The map: countries coloured by the pool the server steers them to, for `app` (geo).
    assert_eq!(
        b.eval("document.getElementById('lb-select').value"),
        "app.example.com."
    );
    let map: Value = api.json("/v1/map?lb=app.example.com");
    assert_eq!(
        map["countries"]["DE"]["pools"],
        serde_json::json!(["eu-central"])
    );
    assert_eq!(
        map["countries"]["US"]["pools"],
        serde_json::json!(["us-east"])
    );
    assert_eq!(
        map["countries"]["JP"]["pools"],
        serde_json::json!(["us-east"])
    );
    let drawn = b.eval(
        "(() => { const m = {}; for (const c of document.querySelectorAll('#countries .steered')) \
         m[c.dataset.cc] = [c.dataset.pool, c.getAttribute('fill')]; return m; })()",
    );
    let drawn = drawn.as_object().unwrap();
    assert!(drawn.len() > 200, "{} countries coloured", drawn.len());
    let (de, us) = (&drawn["DE"], &drawn["US"]);
    assert_eq!(de[0], "eu-central");
    assert_eq!(us[0], "us-east");
    assert_ne!(de[1], us[1], "two pools, two colours");
    for (cc, v) in drawn {
        let want = map["countries"][cc]["pools"][0].as_str().unwrap_or("");
        assert_eq!(v[0].as_str().unwrap(), want, "{cc}");
    }
    let markers = b
        .eval("[...document.querySelectorAll('#markers .marker')].map(m => m.dataset.pool).sort()");
    assert_eq!(markers, serde_json::json!(["eu-central", "us-east"]));
    let legend = b.eval("document.getElementById('legend').textContent");
    assert!(legend.as_str().unwrap().contains("eu-central"));
    // The table alternative says the same.
    let row = b.eval("document.querySelector('#countries-table tr[data-cc=DE]').textContent");
    assert!(row.as_str().unwrap().contains("eu-central"), "{row}");
    // The rule variants of `app`: the lab network's rule, and no rule.
    let variants = b.eval(
        "document.getElementById('variants-details').hidden ? null : \
         [...document.querySelectorAll('#variants-table tbody tr')].map(r => r.textContent)",
    );
    let variants = variants.as_array().expect("the variants table is shown");
    assert_eq!(variants.len(), 2, "{variants:?}");
    assert!(
        variants
            .iter()
            .any(|v| v.as_str().unwrap().contains("rule \"lab\"")),
        "{variants:?}"
    );

    // Kill the one eu-central origin's listener: the page shows it DOWN, the pool DOWN, and
    // the map moves Europe to us-east.
    origins.kill("127.0.82.1");
    b.wait_for(
        "document.querySelector('tr[data-origin=\"127.0.82.1\"] .state')?.textContent === 'DOWN'",
        Duration::from_secs(20),
    );
    b.wait_for(
        "document.querySelector('.pool[data-pool=\"eu-central\"]').dataset.state === 'down' && \
         document.querySelector('#countries [data-cc=DE]').dataset.pool === 'us-east'",
        Duration::from_secs(20),
    );
    let api_row = b.eval(
        "document.querySelector('#lbs tr[data-lb=\"api.example.com.\"] .answering').textContent",
    );
    assert!(api_row.as_str().unwrap().contains("us-east"), "{api_row}");
    let down_marker = b.eval("document.querySelector('#markers .marker.down')?.dataset.pool");
    assert_eq!(down_marker, "eu-central");

    let png = b.screenshot();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/status-page.png");
    std::fs::write(&out, &png).unwrap();
    eprintln!("screenshot: {} ({} bytes)", out.display(), png.len());

    // By keyboard: Tab to the token field, type the token, Enter; drain buttons appear;
    // Tab to the first origin drain button of us-east and press Enter. The map requests are
    // held meanwhile (a slow /v1/map, as on a loaded machine): the refreshes they end, the
    // token's and the button's, must not move focus or draw over the newer state when they
    // finish late.
    b.hold("*/v1/map*");
    let mut reached = false;
    for _ in 0..10 {
        b.key("Tab");
        if b.eval("document.activeElement.id") == "token" {
            reached = true;
            break;
        }
    }
    assert!(reached, "the token field is reachable by Tab");
    b.type_text(TOKEN);
    b.key("Enter");
    b.wait_for(
        "document.querySelectorAll('#pools button').length === 5",
        Duration::from_secs(10),
    );
    assert_eq!(b.eval("sessionStorage.getItem('geosteer-token')"), TOKEN);
    let target = "Drain origin use1-a in pool us-east";
    let mut on_button = false;
    for _ in 0..40 {
        b.key("Tab");
        if b.eval("document.activeElement.getAttribute('aria-label')") == target {
            on_button = true;
            break;
        }
    }
    assert!(on_button, "{target}: not reachable by Tab");
    b.key("Enter");
    b.wait_for(
        "document.querySelector('tr[data-origin=\"127.0.81.1\"] .state')?.textContent === 'DRAINED'",
        Duration::from_secs(10),
    );
    // Who drained it, and when, from the drain store.
    let row = b.eval("document.querySelector('tr[data-origin=\"127.0.81.1\"]').textContent");
    assert!(row.as_str().unwrap().contains(" by "), "{row}");
    let status = api.json("/v1/status");
    let drained: Vec<&str> = status["pools"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["origins"].as_array().unwrap())
        .filter(|o| o["drained"] == true)
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(drained, ["use1-a"]);
    let held = b.release();
    assert!(
        held >= 2,
        "{held} map requests held: the test holds nothing it meant to"
    );
    // Focus stays on the (re-drawn) button, which now enables.
    b.wait_for(
        "document.activeElement.getAttribute('aria-label') === 'Enable origin use1-a in pool us-east'",
        Duration::from_secs(10),
    );
    // The page goes on refreshing (its map too) once the requests are let go.
    let seen = b.eval("Number(document.body.dataset.refreshed)");
    b.wait_for(
        &format!("Number(document.body.dataset.refreshed) > {seen}"),
        Duration::from_secs(15),
    );
    assert_eq!(
        b.eval("document.activeElement.getAttribute('aria-label')"),
        "Enable origin use1-a in pool us-east"
    );
    assert!(
        b.console.iter().all(|l| !l.starts_with("exception")),
        "{:?}",
        b.console
    );
    drop(server);
}
