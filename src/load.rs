//! Loading `zones/` (and the GeoIP database) into an immutable [`Snapshot`]: everything the
//! query path reads, compiled so that answering is lookups only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{Name, RData, Record};
use tracing::warn;

use crate::config::{self, OriginId, PoolId, SteeringConfig};
use crate::error::{ConfigError, ConfigErrors};
use crate::geo::{GeoDb, GeoMap};
use crate::metrics;
use crate::steering::{self, HealthView};
use crate::wire::RecordSet;
use crate::zone::{Zone, Zones, master};

/// What one load produced. Queries read a snapshot through an `ArcSwap`, so a reload builds a
/// whole new one beside the old and swaps it in only when it is complete and valid.
#[derive(Default)]
pub struct Snapshot {
    /// 1 for the configuration loaded at start, one more for each successful reload.
    pub generation: u64,
    pub zones: Zones,
    pub steering: SteeringConfig,
    /// Per load balancer (same index as `steering.load_balancers`): what answering needs.
    pub compiled: Vec<CompiledLb>,
    pub geo: Option<Arc<GeoDb>>,
    /// Metrics label ids of its names.
    pub labels: Labels,
}

/// Metrics label ids of a snapshot's names, assigned when it is compiled (the ids of names
/// that survive a reload stay the same, so their counters keep counting).
#[derive(Debug, Default)]
pub struct Labels {
    /// By zone id ([`Zone::id`]).
    pub zones: Vec<u32>,
    /// By load balancer, as `steering.load_balancers`.
    pub load_balancers: Vec<u32>,
    /// By pool, as `steering.pools`.
    pub pools: Vec<u32>,
}

impl Labels {
    fn assign(zones: &Zones, steering: &SteeringConfig) -> Self {
        let mut by_id: Vec<(u32, u32)> = zones
            .iter()
            .map(|z| (z.id, metrics::label_id(&z.origin.to_string())))
            .collect();
        by_id.sort_unstable();
        Self {
            zones: by_id.into_iter().map(|(_, label)| label).collect(),
            load_balancers: steering
                .load_balancers
                .iter()
                .map(|lb| metrics::label_id(&lb.name.to_string()))
                .collect(),
            pools: steering
                .pools
                .iter()
                .map(|p| metrics::label_id(&p.name))
                .collect(),
        }
    }
}

/// A load balancer prepared for the query path.
pub struct CompiledLb {
    /// Distinct ordered candidate pool lists; the geo map's values index this.
    pub lists: Vec<Box<[PoolId]>>,
    /// Client address → candidate list and ECS scope, for policies that use location.
    pub map: Option<GeoMap>,
    /// Ready-made A and AAAA records for each pool it may answer from.
    pub records: Vec<PoolRecords>,
}

/// One pool's addresses as records owned by one load balancer's name, with its TTL.
pub struct PoolRecords {
    pub pool: PoolId,
    pub v4: RecordSet,
    pub v6: RecordSet,
    /// For each origin of the pool (by offset from the pool's first id), its index in `v4`
    /// and in `v6`.
    pub index: Box<[(Option<u16>, Option<u16>)]>,
}

impl CompiledLb {
    pub fn pool_records(&self, pool: PoolId) -> Option<&PoolRecords> {
        self.records.iter().find(|r| r.pool == pool)
    }
}

/// The configuration together with the health view it is answered with. Swapped as one, so
/// a query never sees health indexed for another configuration.
pub struct State {
    pub config: Arc<Snapshot>,
    pub health: Arc<HealthView>,
}

impl State {
    pub fn new(config: Arc<Snapshot>) -> Self {
        let health = Arc::new(HealthView::all_up(&config.steering));
        Self { config, health }
    }
}

impl Snapshot {
    pub fn record_count(&self) -> usize {
        self.zones.iter().map(|z| z.record_count).sum()
    }

    /// One line for logs and `geosteer check`.
    pub fn summary(&self) -> String {
        let mut names: Vec<String> = self.zones.iter().map(|z| z.origin.to_string()).collect();
        names.sort();
        let s = &self.steering;
        format!(
            "{} zone{} ({}), {} records, {} load balancers, {} pools, {} origins, {} monitors",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            self.record_count(),
            s.load_balancers.len(),
            s.pools.len(),
            s.origins.len(),
            s.monitors.len(),
        )
    }
}

/// Where the data comes from.
#[derive(Debug, Clone)]
pub struct Sources {
    pub zones: PathBuf,
    pub geoip: PathBuf,
}

/// Loads every `<origin>.zone` in the zones directory, the `<origin>.toml` steering file
/// beside it, and the GeoIP database. All errors found are returned together.
pub fn load(src: &Sources) -> Result<Snapshot, ConfigErrors> {
    load_with_env(src, &|k| std::env::var(k).ok())
}

pub fn load_with_env(
    src: &Sources,
    lookup_env: &dyn Fn(&str) -> Option<String>,
) -> Result<Snapshot, ConfigErrors> {
    let dir = &src.zones;
    let mut errors = Vec::new();
    let mut zones = Zones::default();
    let files = match zone_files(dir) {
        Ok(f) => f,
        Err(e) => return Err(ConfigErrors(vec![e])),
    };
    if !files.iter().any(|f| f.kind == Kind::Zone) {
        return Err(ConfigErrors(vec![ConfigError::file(
            dir,
            "no zone files (<origin>.zone) in this directory",
        )]));
    }
    let mut steering = SteeringConfig::default();
    let mut steering_files = Vec::new();
    // Names are case-insensitive, and `example.com.zone` and `example.com..zone` both name
    // example.com.: two files for one zone would otherwise leave one silently unserved.
    let mut seen: HashMap<(Name, u8), PathBuf> = HashMap::new();
    for f in &files {
        let origin = match &f.origin {
            Ok(o) => o,
            Err(e) => {
                errors.push(e.clone());
                continue;
            }
        };
        let key = (origin.to_lowercase(), f.kind as u8);
        if let Some(first) = seen.get(&key) {
            errors.push(ConfigError::file(
                &f.path,
                format!("zone {origin} is already defined by {}", first.display()),
            ));
            continue;
        }
        seen.insert(key, f.path.clone());
        match f.kind {
            Kind::Zone => {
                let records = master::read_zone_file(&f.path, origin, &mut errors);
                if let Some(zone) = Zone::build(origin, &f.path, records, &mut errors) {
                    zones.insert(zone);
                }
            }
            Kind::Steering => steering_files.push((f.path.clone(), origin.clone())),
        }
    }
    for (path, origin) in &steering_files {
        if !files
            .iter()
            .any(|f| f.kind == Kind::Zone && f.origin.as_ref().ok() == Some(origin))
        {
            errors.push(ConfigError::file(
                path,
                format!("steering configuration without a zone file {origin}zone beside it"),
            ));
            continue;
        }
        let first_lb = steering.load_balancers.len();
        config::read_file(path, origin, &mut steering, lookup_env, &mut errors);
        if let Some(zone) = zones.get_mut(origin) {
            for (i, lb) in steering.load_balancers.iter().enumerate().skip(first_lb) {
                if let Err(msg) = zone.attach_load_balancer(&lb.name, i as u32) {
                    errors.push(ConfigError::at(&lb.file, lb.line, msg));
                }
            }
        }
    }

    let needs_location = steering
        .load_balancers
        .iter()
        .any(|lb| lb.policy.uses_location());
    let geo = match GeoDb::open(&src.geoip) {
        Ok(db) => Some(Arc::new(db)),
        Err(e) if needs_location => {
            errors.push(e);
            None
        }
        Err(e) => {
            warn!("{e} (no load balancer uses location, continuing without it)");
            None
        }
    };

    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let mut compiled = Vec::with_capacity(steering.load_balancers.len());
    for lb in &steering.load_balancers {
        match compile(&steering, lb, geo.as_deref()) {
            Ok(c) => compiled.push(c),
            Err(e) => return Err(ConfigErrors(vec![e])),
        }
    }
    let labels = Labels::assign(&zones, &steering);
    Ok(Snapshot {
        generation: 1,
        zones,
        steering,
        compiled,
        geo,
        labels,
    })
}

fn compile(
    cfg: &SteeringConfig,
    lb: &config::LoadBalancer,
    geo: Option<&GeoDb>,
) -> Result<CompiledLb, ConfigError> {
    let mut lists: Vec<Box<[PoolId]>> = Vec::new();
    let map = match geo {
        Some(db) if lb.policy.uses_location() => {
            let mut ids: HashMap<Vec<PoolId>, u32> = HashMap::new();
            Some(GeoMap::build(db, |loc| {
                let (list, _) = steering::candidates(cfg, lb, loc);
                let next = ids.len() as u32;
                *ids.entry(list.clone()).or_insert_with(|| {
                    lists.push(list.into_boxed_slice());
                    next
                })
            })?)
        }
        _ => None,
    };
    let records = lb
        .pools()
        .into_iter()
        .map(|p| pool_records(cfg, lb, p))
        .collect();
    Ok(CompiledLb {
        lists,
        map,
        records,
    })
}

fn pool_records(cfg: &SteeringConfig, lb: &config::LoadBalancer, pool: PoolId) -> PoolRecords {
    let range = cfg.pools[pool as usize].origins.clone();
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut index = Vec::new();
    for o in range {
        let origin = &cfg.origins[o as usize];
        let i4 = origin.v4.map(|a| {
            v4.push(Record::from_rdata(lb.name.clone(), lb.ttl, RData::A(A(a))));
            (v4.len() - 1) as u16
        });
        let i6 = origin.v6.map(|a| {
            v6.push(Record::from_rdata(
                lb.name.clone(),
                lb.ttl,
                RData::AAAA(AAAA(a)),
            ));
            (v6.len() - 1) as u16
        });
        index.push((i4, i6));
    }
    PoolRecords {
        pool,
        v4: RecordSet::new(v4),
        v6: RecordSet::new(v6),
        index: index.into(),
    }
}

impl PoolRecords {
    /// The record index of origin `o` for a family, if the origin has that family.
    pub fn record_of(
        &self,
        cfg: &SteeringConfig,
        o: OriginId,
        family: steering::Family,
    ) -> Option<u16> {
        let first = cfg.pools[self.pool as usize].origins.start;
        let (i4, i6) = *self.index.get((o - first) as usize)?;
        match family {
            steering::Family::V4 => i4,
            steering::Family::V6 => i6,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Zone,
    Steering,
}

struct DataFile {
    path: PathBuf,
    kind: Kind,
    origin: Result<Name, ConfigError>,
}

fn zone_files(dir: &Path) -> Result<Vec<DataFile>, ConfigError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| ConfigError::file(dir, format!("cannot read zones directory: {e}")))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| ConfigError::file(dir, e.to_string()))?;
        let path = entry.path();
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let (stem, kind) = if let Some(s) = file_name.strip_suffix(".zone") {
            (s, Kind::Zone)
        } else if let Some(s) = file_name.strip_suffix(".toml") {
            (s, Kind::Steering)
        } else {
            continue;
        };
        if !path.is_file() {
            continue;
        }
        let origin = Name::from_ascii(stem)
            .map(|mut n| {
                n.set_fqdn(true);
                n
            })
            .map_err(|e| {
                ConfigError::file(&path, format!("file name is not a zone name ({stem}): {e}"))
            });
        out.push(DataFile { path, kind, origin });
    }
    // Zone files first: steering files attach to zones.
    out.sort_by(|a, b| (a.kind as u8, &a.path).cmp(&(b.kind as u8, &b.path)));
    Ok(out)
}
