//! The file format, as serde reads it: every key the file may have, values that an error may
//! point at kept `Spanned`, nothing checked beyond TOML types and unknown keys. Keys left out
//! are `None` here; `validate` gives them their defaults.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::{OnAllDown, OriginSteering};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default)]
    pub(super) monitors: BTreeMap<Spanned<String>, RawMonitor>,
    #[serde(default)]
    pub(super) pools: BTreeMap<Spanned<String>, RawPool>,
    #[serde(default)]
    pub(super) load_balancers: BTreeMap<Spanned<String>, RawLoadBalancer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMonitor {
    #[serde(rename = "type")]
    pub(super) kind: Spanned<String>,
    pub(super) port: Option<Spanned<i64>>,
    pub(super) interval: Option<Spanned<String>>,
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) retries: Option<Spanned<i64>>,
    pub(super) consecutive_down: Option<Spanned<i64>>,
    pub(super) consecutive_up: Option<Spanned<i64>>,
    pub(super) method: Option<Spanned<String>>,
    pub(super) path: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, Spanned<String>>,
    pub(super) body: Option<Spanned<String>>,
    pub(super) expected_codes: Option<Spanned<String>>,
    pub(super) expected_body: Option<Spanned<String>>,
    pub(super) follow_redirects: Option<bool>,
    pub(super) allow_insecure: Option<bool>,
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
    pub(super) origin_steering: Option<OriginSteering>,
    pub(super) enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOrigin {
    pub(super) name: Option<Spanned<String>>,
    pub(super) address: Spanned<String>,
    pub(super) address_v6: Option<Spanned<String>>,
    pub(super) weight: Option<Spanned<f64>>,
    pub(super) enabled: Option<bool>,
}

/// An ordered list of pool names.
pub(super) type PoolList = Spanned<Vec<Spanned<String>>>;
/// Location code → pool list.
pub(super) type LocationMap = BTreeMap<Spanned<String>, PoolList>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLoadBalancer {
    pub(super) ttl: Option<Spanned<i64>>,
    pub(super) steering: Spanned<String>,
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
    #[serde(default)]
    pub(super) pool_weights: BTreeMap<Spanned<String>, Spanned<f64>>,
    // ---- client maps and custom rules (issue 15 items 4 and 5) ----
    #[serde(default)]
    pub(super) subnet_pools: LocationMap,
    #[serde(default)]
    pub(super) asn_pools: LocationMap,
    #[serde(default)]
    pub(super) rules: Vec<RawRule>,
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
    pub(super) pool_weights: Option<BTreeMap<Spanned<String>, Spanned<f64>>>,
    pub(super) random_steering: Option<RawRuleRandomSteering>,
}

/// A rule's `overrides.random_steering`, as Cloudflare writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRuleRandomSteering {
    #[serde(default)]
    pub(super) pool_weights: BTreeMap<Spanned<String>, Spanned<f64>>,
    pub(super) default_weight: Option<Spanned<f64>>,
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
