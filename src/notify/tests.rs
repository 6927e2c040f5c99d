use super::*;
use crate::config::{Family, Secret};
use crate::transitions::LbSummary;

fn zone() -> Name {
    Name::from_ascii("example.com.").unwrap()
}

fn origin(name: &str, pool: &str, up: bool) -> OriginSummary {
    OriginSummary {
        zone: zone(),
        pool: pool.into(),
        name: name.into(),
        address: name.parse().unwrap(),
        up,
        reason: Some(if up { "connected" } else { "refused" }.into()),
    }
}

fn pool(name: &str, up: bool) -> PoolSummary {
    PoolSummary {
        zone: zone(),
        name: name.into(),
        up,
        healthy: usize::from(up),
        total: 1,
        minimum: 1,
        drained: false,
        enabled: true,
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// One failover load balancer www over [a, b], fallback c, answering `answering` with `outcome`.
fn lb(answering: &[&str], outcome: Outcome) -> LbSummary {
    LbSummary {
        name: Name::from_ascii("www.example.com.").unwrap(),
        family: Family::V4,
        pools: strings(&["a", "b", "c"]),
        groups: vec![GroupSummary {
            candidates: strings(&["a", "b"]),
            answering: strings(answering),
            outcome,
            all_down: outcome != Outcome::Steered,
        }],
    }
}

/// Origins 127.0.0.1 (pool a), .2 (b), .3 (c) with these states, the pools following them.
fn observed(up: [bool; 3]) -> Observed {
    let (answering, outcome) = match up {
        [true, _, _] => (&["a"][..], Outcome::Steered),
        [false, true, _] => (&["b"][..], Outcome::Steered),
        [false, false, _] => (&["c"][..], Outcome::Fallback),
    };
    Observed {
        origins: vec![
            origin("127.0.0.1", "a", up[0]),
            origin("127.0.0.2", "b", up[1]),
            origin("127.0.0.3", "c", up[2]),
        ],
        summary: Summary {
            pools: vec![pool("a", up[0]), pool("b", up[1]), pool("c", up[2])],
            load_balancers: vec![lb(answering, outcome)],
        },
        lb_zones: vec![zone()],
    }
}

fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.name()).collect()
}

#[test]
fn nothing_changed_is_no_event() {
    let s = observed([true, true, true]);
    assert!(events(Some(&s), &s).is_empty());
}

#[test]
fn an_origin_down_takes_its_pool_down_and_moves_the_load_balancer() {
    let before = observed([true, true, true]);
    let after = observed([false, true, true]);
    let e = events(Some(&before), &after);
    assert_eq!(
        kinds(&e),
        ["origin_down", "pool_down", "load_balancer_pool_changed"]
    );
    assert_eq!(e[0].details["origin"], "127.0.0.1");
    assert_eq!(e[0].details["pool"], "a");
    assert_eq!(e[0].details["reason"], "refused");
    assert_eq!(e[0].severity, "warning");
    assert!(!e[0].at_start);
    assert_eq!(e[1].details["healthy_origins"], 0);
    assert_eq!(e[1].severity, "error");
    assert_eq!(e[2].details["pools"], json!(["b"]));
    assert_eq!(e[2].details["previous_pools"], json!(["a"]));
    assert_eq!(e[2].details["outcome"], "steered");
    assert_eq!(e[2].details["clients"], "all");
    assert_eq!(e[2].zone, zone());
    assert_eq!(
        e[2].summary,
        "load balancer www.example.com. now answers from pool b, was pool a"
    );

    // And back: the same subjects, so that PagerDuty resolves what it triggered.
    let back = events(Some(&after), &before);
    assert_eq!(
        kinds(&back),
        ["origin_up", "pool_up", "load_balancer_pool_changed"]
    );
    for (down, up) in e.iter().zip(&back) {
        assert_eq!(down.subject, up.subject);
    }
}

#[test]
fn every_pool_down_is_the_fallback_and_its_end_a_recovery() {
    let one_down = observed([false, true, true]);
    let all_down = observed([false, false, true]);
    let e = events(Some(&one_down), &all_down);
    assert_eq!(
        kinds(&e),
        ["origin_down", "pool_down", "load_balancer_all_pools_down"]
    );
    let lb = &e[2];
    assert_eq!(lb.details["outcome"], "fallback");
    assert_eq!(lb.details["pools"], json!(["c"]));
    assert_eq!(lb.severity, "critical");
    assert!(lb.kind.is_problem());
    assert!(
        lb.summary.contains("(every pool down: fallback_pool)"),
        "{}",
        lb.summary
    );

    let e = events(Some(&all_down), &observed([true, true, true]));
    assert_eq!(
        kinds(&e),
        [
            "origin_up",
            "origin_up",
            "pool_up",
            "pool_up",
            "load_balancer_recovered"
        ]
    );
    assert_eq!(e[4].details["pools"], json!(["a"]));
    assert_eq!(e[4].subject, lb.subject);
}

#[test]
fn the_first_state_reports_what_is_down() {
    assert!(events(None, &observed([true, true, true])).is_empty());
    let e = events(None, &observed([false, false, true]));
    assert_eq!(
        kinds(&e),
        [
            "origin_down",
            "origin_down",
            "pool_down",
            "pool_down",
            "load_balancer_all_pools_down"
        ]
    );
    assert!(e.iter().all(|e| e.at_start));
}

#[test]
fn origins_new_in_a_reload_are_no_transitions() {
    let before = observed([true, true, true]);
    let mut after = before.clone();
    after.origins.push(origin("127.0.0.9", "a", false));
    assert!(events(Some(&before), &after).is_empty());
}

#[test]
fn a_drained_pool_is_planned_not_an_error() {
    let before = observed([true, true, true]);
    let mut after = observed([true, true, true]);
    after.summary.pools[1].up = false;
    after.summary.pools[1].drained = true;
    let e = events(Some(&before), &after);
    assert_eq!(kinds(&e), ["pool_down"]);
    assert_eq!(e[0].severity, "info");
    assert_eq!(e[0].details["drained"], true);
    assert!(e[0].summary.ends_with("DOWN (drained)"), "{}", e[0].summary);
}

fn notice(e: Event) -> Notice {
    Notice {
        event: e,
        time: UNIX_EPOCH + Duration::from_secs(1_796_180_645), // 2026-12-02T03:04:05Z
        id: "ns1-1-7".into(),
        instance: "ns1".into(),
    }
}

fn pool_down() -> Event {
    events(
        Some(&observed([true, true, true])),
        &observed([false, true, true]),
    )
    .remove(1)
}

#[test]
fn the_generic_payload_has_the_documented_fields() {
    let v = generic(&notice(pool_down()));
    assert_eq!(
        v,
        json!({
            "version": 1,
            "id": "ns1-1-7",
            "event": "pool_down",
            "class": "pool",
            "severity": "error",
            "summary": "pool a of example.com.: DOWN (0/1 origins healthy, minimum 1)",
            "instance": "ns1",
            "time": "2026-12-02T03:04:05Z",
            "zone": "example.com.",
            "at_start": false,
            "pool": "a",
            "healthy_origins": 0,
            "origins": 1,
            "minimum_origins": 1,
            "drained": false,
            "enabled": true,
        })
    );
}

#[test]
fn slack_gets_one_line_of_text() {
    let v = slack(&notice(pool_down()));
    let text = v["text"].as_str().unwrap();
    assert!(text.starts_with(":red_circle: geosteer ns1: pool a of example.com.: DOWN"));
    assert_eq!(v.as_object().unwrap().len(), 1);
}

#[test]
fn pagerduty_triggers_on_down_and_resolves_on_up() {
    let down = pagerduty(&notice(pool_down()), "KEY").unwrap();
    assert_eq!(down["routing_key"], "KEY");
    assert_eq!(down["event_action"], "trigger");
    assert_eq!(down["dedup_key"], "geosteer/ns1/pool/example.com./a");
    assert_eq!(down["payload"]["severity"], "error");
    assert_eq!(down["payload"]["source"], "ns1");
    assert_eq!(down["payload"]["component"], "a");
    assert_eq!(down["payload"]["group"], "example.com.");
    assert_eq!(down["payload"]["class"], "pool_down");
    assert_eq!(down["payload"]["timestamp"], "2026-12-02T03:04:05Z");
    assert_eq!(down["payload"]["custom_details"]["event"], "pool_down");

    let up = events(
        Some(&observed([false, true, true])),
        &observed([true, true, true]),
    );
    let up = pagerduty(&notice(up[1].clone()), "KEY").unwrap();
    assert_eq!(up["event_action"], "resolve");
    assert_eq!(up["dedup_key"], down["dedup_key"]);

    // A pool change alone is no incident.
    let change = events(
        Some(&observed([true, true, true])),
        &observed([false, true, true]),
    );
    assert_eq!(change[2].kind, EventKind::LoadBalancerPoolChanged);
    assert!(pagerduty(&notice(change[2].clone()), "KEY").is_none());
}

#[test]
fn a_full_queue_drops_its_oldest() {
    let mut q = Queue::new(3);
    for i in 0..3 {
        assert_eq!(q.push(i), None);
    }
    assert_eq!(q.push(3), Some(0));
    assert_eq!(q.push(4), Some(1));
    assert_eq!(q.len(), 3);
    assert_eq!(q.pop(), Some(2));
    assert_eq!(q.pop(), Some(3));
    assert_eq!(q.pop(), Some(4));
    assert!(q.is_empty());
}

#[test]
fn webhooks_get_the_events_of_their_zone_and_classes() {
    let mut w = Webhook::from_flag(1, "http://127.0.0.1:9/hook").unwrap();
    assert_eq!(w.name, "notify-webhook-1");
    let other = Name::from_ascii("example.net.").unwrap();
    assert!(w.wants(EventClass::Origin, &zone()) && w.wants(EventClass::Pool, &other));
    w.zone = Some(zone());
    w.events = vec![EventClass::Pool];
    assert!(w.wants(EventClass::Pool, &zone()));
    assert!(!w.wants(EventClass::Pool, &other));
    assert!(!w.wants(EventClass::Origin, &zone()));
    assert!(Webhook::from_flag(1, "ftp://127.0.0.1/").is_err());
    assert!(Webhook::from_flag(1, "not a url").is_err());
}

#[test]
fn secrets_are_not_printed() {
    let mut w = Webhook::from_flag(1, "http://127.0.0.1:9/hook?key=URLSECRET").unwrap();
    w.secret_header = Some(("X-Token".into(), Secret::new("HEADERSECRET")));
    let shown = format!("{w:?}");
    assert!(
        !shown.contains("URLSECRET") && !shown.contains("HEADERSECRET"),
        "{shown}"
    );
}

#[test]
fn rfc3339_times() {
    assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    assert_eq!(
        rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
        "2000-02-29T00:00:00Z"
    );
}
