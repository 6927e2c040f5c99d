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
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) attempts: Option<Spanned<i64>>,
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
}
