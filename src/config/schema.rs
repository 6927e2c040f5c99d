//! The file format, as serde reads it: every key the file may have, values that an error may
//! point at kept `Spanned`, nothing checked beyond TOML types and unknown keys. Keys left out
//! are `None` here; `validate` gives them their defaults.
//!
//! Cloudflare's names and types are read natively beside geosteer's older ones (issue 15):
//! a key with an alias (`steering` for `steering_policy`, `headers` for `header`) is one
//! field, so giving both is serde's "duplicate field" error; values that Cloudflare writes
//! differently (integer seconds, `origin_steering = { policy = … }`, header values as arrays)
//! are untagged enums. Those types are at the end of this file.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::OnAllDown;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default)]
    pub(super) monitors: BTreeMap<Spanned<String>, RawMonitor>,
    #[serde(default)]
    pub(super) pools: BTreeMap<Spanned<String>, RawPool>,
    #[serde(default)]
    pub(super) load_balancers: BTreeMap<Spanned<String>, RawLoadBalancer>,
    pub(super) notifications: Option<RawNotifications>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotifications {
    #[serde(default)]
    pub(super) webhooks: BTreeMap<Spanned<String>, RawWebhook>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhook {
    pub(super) url: Option<Spanned<String>>,
    pub(super) url_env: Option<Spanned<String>>,
    pub(super) format: Option<Spanned<String>>,
    pub(super) events: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) secret_header: Option<Spanned<String>>,
    pub(super) secret_env: Option<Spanned<String>>,
    pub(super) routing_key_env: Option<Spanned<String>>,
    pub(super) timeout: Option<Spanned<RawDuration>>,
    pub(super) attempts: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMonitor {
    #[serde(rename = "type")]
    pub(super) kind: Spanned<String>,
    pub(super) port: Option<Spanned<i64>>,
    pub(super) interval: Option<Spanned<RawDuration>>,
    pub(super) timeout: Option<Spanned<RawDuration>>,
    pub(super) retries: Option<Spanned<i64>>,
    pub(super) consecutive_down: Option<Spanned<i64>>,
    pub(super) consecutive_up: Option<Spanned<i64>>,
    pub(super) method: Option<Spanned<String>>,
    pub(super) path: Option<Spanned<String>>,
    #[serde(default, alias = "headers")]
    pub(super) header: BTreeMap<String, Spanned<RawHeaderValue>>,
    pub(super) body: Option<Spanned<String>>,
    pub(super) expected_codes: Option<Spanned<String>>,
    pub(super) expected_body: Option<Spanned<String>>,
    pub(super) follow_redirects: Option<bool>,
    pub(super) allow_insecure: Option<bool>,
    // Cloudflare's (issue 15).
    #[allow(dead_code)] // read and type-checked: for people, no effect
    pub(super) description: Option<String>,
    pub(super) probe_zone: Option<Spanned<String>>,
    // ---- load signal (issue 15 item 3) ----
    pub(super) load: Option<Spanned<RawLoadSignal>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPool {
    pub(super) origins: Spanned<Vec<RawOrigin>>,
    pub(super) minimum_origins: Option<Spanned<i64>>,
    pub(super) latitude: Option<Spanned<f64>>,
    pub(super) longitude: Option<Spanned<f64>>,
    pub(super) monitor: Option<Spanned<String>>,
    pub(super) origin_steering: Option<Spanned<RawOriginSteering>>,
    pub(super) enabled: Option<bool>,
    // Cloudflare's (issue 15).
    #[allow(dead_code)] // read and type-checked: for people, no effect
    pub(super) description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOrigin {
    pub(super) name: Option<Spanned<String>>,
    pub(super) address: Spanned<String>,
    pub(super) address_v6: Option<Spanned<String>>,
    pub(super) weight: Option<Spanned<f64>>,
    pub(super) enabled: Option<bool>,
    /// Cloudflare's `header = { Host = ["…"] }`: the Host header of this origin's probes.
    #[serde(default)]
    pub(super) header: BTreeMap<Spanned<String>, Spanned<RawHeaderValue>>,
}

/// An ordered list of pool names.
pub(super) type PoolList = Spanned<Vec<Spanned<String>>>;
/// Location code → pool list.
pub(super) type LocationMap = BTreeMap<Spanned<String>, PoolList>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLoadBalancer {
    pub(super) ttl: Option<Spanned<i64>>,
    #[serde(alias = "steering")]
    pub(super) steering_policy: Option<Spanned<String>>,
    pub(super) default_pools: PoolList,
    pub(super) fallback_pool: Option<Spanned<String>>,
    pub(super) on_all_down: Option<OnAllDown>,
    pub(super) max_answers: Option<Spanned<i64>>,
    #[serde(default)]
    pub(super) subdivision_pools: LocationMap,
    #[serde(default)]
    pub(super) country_pools: LocationMap,
    #[serde(default)]
    pub(super) region_pools: LocationMap,
    #[serde(default)]
    pub(super) continent_pools: LocationMap,
    /// geosteer's older spelling of `random_steering.pool_weights`.
    pub(super) pool_weights: Option<Spanned<WeightMap>>,
    // Cloudflare's (issue 15).
    #[allow(dead_code)] // read and type-checked: for people, no effect
    pub(super) description: Option<String>,
    pub(super) enabled: Option<bool>,
    pub(super) random_steering: Option<Spanned<RawRandomSteering>>,
    pub(super) location_strategy: Option<Spanned<RawLocationStrategy>>,
    // ---- client maps and custom rules (issue 15 items 4 and 5) ----
    #[serde(default)]
    pub(super) subnet_pools: LocationMap,
    #[serde(default)]
    pub(super) asn_pools: LocationMap,
    #[serde(default)]
    pub(super) rules: Vec<RawRule>,
}

// ------------------------------------------------------------------------------------------
// Cloudflare's types (issue 15).

/// A duration: Cloudflare's integer seconds, or text such as "10s" or "500ms".
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawDuration {
    Seconds(i64),
    Text(String),
}

/// A header's value: one string, or Cloudflare's array of strings (one header each). (An
/// untagged enum buffers its input, so spans are kept around it, not inside.)
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawHeaderValue {
    One(String),
    Many(Vec<String>),
}

impl RawHeaderValue {
    pub(super) fn values(&self) -> Vec<&String> {
        match self {
            RawHeaderValue::One(v) => vec![v],
            RawHeaderValue::Many(v) => v.iter().collect(),
        }
    }
}

/// `origin_steering`: geosteer's `"hash"`, or Cloudflare's `{ policy = "hash" }`.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawOriginSteering {
    Name(String),
    Table(RawOriginSteeringTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOriginSteeringTable {
    pub(super) policy: Option<String>,
}

/// Pool name → weight.
pub(super) type WeightMap = BTreeMap<Spanned<String>, Spanned<f64>>;

/// Cloudflare's `random_steering`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRandomSteering {
    #[serde(default)]
    pub(super) pool_weights: WeightMap,
    pub(super) default_weight: Option<Spanned<f64>>,
}

/// Cloudflare's `location_strategy`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLocationStrategy {
    pub(super) prefer_ecs: Option<Spanned<String>>,
    pub(super) mode: Option<Spanned<String>>,
}

// ---- custom rules (issue 15 item 4) ----

/// One `[[load_balancers."name".rules]]` entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub(super) name: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) condition: Option<Spanned<String>>,
    pub(super) disabled: Option<bool>,
    pub(super) terminates: Option<bool>,
    pub(super) priority: Option<Spanned<i64>>,
    pub(super) overrides: Option<Spanned<RawRuleOverrides>>,
}

/// A rule's `overrides`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRuleOverrides {
    #[serde(alias = "pools")]
    pub(super) default_pools: Option<PoolList>,
    pub(super) fallback_pool: Option<Spanned<String>>,
    #[serde(alias = "steering")]
    pub(super) steering_policy: Option<Spanned<String>>,
    pub(super) ttl: Option<Spanned<i64>>,
    pub(super) pool_weights: Option<WeightMap>,
    pub(super) random_steering: Option<RawRandomSteering>,
    // Location maps: each one given replaces the load balancer's (Cloudflare's
    // `country_pools` and `region_pools`, and geosteer's other two levels).
    pub(super) subdivision_pools: Option<Spanned<LocationMap>>,
    pub(super) country_pools: Option<Spanned<LocationMap>>,
    pub(super) region_pools: Option<Spanned<LocationMap>>,
    pub(super) continent_pools: Option<Spanned<LocationMap>>,
}

// ---- load signal (issue 15 item 3) ----

/// A monitor's `load = { json = "path" | header = "Name", full = N }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLoadSignal {
    pub(super) json: Option<String>,
    pub(super) header: Option<String>,
    pub(super) full: Option<Spanned<RawNumber>>,
}

/// A number written as an integer or a float.
#[derive(Deserialize, Clone, Copy)]
#[serde(untagged)]
pub(super) enum RawNumber {
    Int(i64),
    Float(f64),
}

impl RawNumber {
    pub(super) fn value(self) -> f64 {
        match self {
            RawNumber::Int(i) => i as f64,
            RawNumber::Float(f) => f,
        }
    }
}
