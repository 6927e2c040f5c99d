//! Loading `zones/` (and the GeoIP database) into an immutable [`Snapshot`]: everything the
//! query path reads, compiled so that answering is lookups only.

mod geo;
pub mod par;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{Name, RData, Record};
use tracing::{info, warn};

use crate::config::rules::Facts;
use crate::config::{self, Family, Policy as LbPolicy, PoolId, SteeringConfig};
use crate::dnssec::key as dnskey;
use crate::dnssec::sign::KeySet;
use crate::dnssec::zone::{Policy, Signing};
use crate::error::{ConfigError, ConfigErrors};
use crate::geo::{AsnDb, GeoDb, GeoIndex, GeoMap, Location, countries};
use crate::metrics;
use crate::state::{CompiledLb, Labels, LocationSteering, Plans, PoolRecords, Snapshot, Variant};
use crate::steering;
use crate::wire::RecordSet;
use crate::zone::{Zone, Zones, master};

/// Metrics label ids for the names of `zones` and `steering`.
fn labels(zones: &Zones, steering: &SteeringConfig) -> Labels {
    let mut by_id: Vec<(u32, u32)> = zones
        .iter()
        .map(|z| (z.id, metrics::label_id(&z.origin.to_string())))
        .collect();
    by_id.sort_unstable();
    Labels {
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

/// Where the data comes from.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The zones directory: `<origin>.zone` and `<origin>.toml` files.
    pub zones: PathBuf,
    /// The GeoIP database.
    pub geoip: PathBuf,
    /// The ASN database (GeoLite2-ASN format), for `asn_pools` and `ip.src.asnum` rules.
    pub asn_db: Option<PathBuf>,
    /// The DNSSEC key directory (`K<zone>.+<alg>+<tag>.key` / `.private`); `None` for
    /// `<zones>/keys`. A zone with keys there is signed.
    pub keys: Option<PathBuf>,
    /// How signed zones are signed.
    pub dnssec: Policy,
}

impl Sources {
    /// `zones` and `geoip`, keys in `<zones>/keys`, the default signing policy.
    pub fn new(zones: impl Into<PathBuf>, geoip: impl Into<PathBuf>) -> Self {
        Self {
            zones: zones.into(),
            geoip: geoip.into(),
            asn_db: None,
            keys: None,
            dnssec: Policy::default(),
        }
    }

    /// The key directory in effect.
    pub fn keys_dir(&self) -> PathBuf {
        self.keys.clone().unwrap_or_else(|| self.zones.join("keys"))
    }
}

/// Loads every `<origin>.zone` in the zones directory, the `<origin>.toml` steering file
/// beside it, and the GeoIP database. All errors found are returned together.
pub fn load(src: &Sources) -> Result<Snapshot, ConfigErrors> {
    load_with_env(src, &|k| std::env::var(k).ok())
}

/// [`load`] for a server: the snapshot is made ready to serve ([`for_serving`]), and the
/// GeoIP database's data is dropped as soon as it has been walked rather than kept until the
/// maps are built, so that the two are never held together. Lookups in the snapshot's
/// database ([`GeoDb::lookup`], which `explain` uses) then find nothing.
pub fn load_to_serve(src: &Sources) -> Result<Snapshot, ConfigErrors> {
    load_reusing(src, &|k| std::env::var(k).ok(), None, true).map(for_serving)
}

/// [`load`] for a reload of `previous`: when the GeoIP database is the same file, its walk
/// and the compiled rules that did not change are reused rather than built again. As with
/// [`load_to_serve`], a database read again is dropped once walked.
pub fn reload(src: &Sources, previous: &Snapshot) -> Result<Snapshot, ConfigErrors> {
    load_reusing(src, &|k| std::env::var(k).ok(), Some(previous), true)
}

/// [`load`], with `lookup_env` resolving `${VAR}` in monitor headers and bodies.
pub fn load_with_env(
    src: &Sources,
    lookup_env: &dyn Fn(&str) -> Option<String>,
) -> Result<Snapshot, ConfigErrors> {
    load_reusing(src, lookup_env, None, false)
}

/// `release`: drop the GeoIP database's data once it has been walked.
fn load_reusing(
    src: &Sources,
    lookup_env: &dyn Fn(&str) -> Option<String>,
    previous: Option<&Snapshot>,
    release: bool,
) -> Result<Snapshot, ConfigErrors> {
    let dir = &src.zones;
    let mut errors = Vec::new();
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
    // Names are case-insensitive, and `example.com.zone` and `example.com..zone` both name
    // example.com.: two files for one zone would otherwise leave one silently unserved.
    let mut seen: HashMap<(Name, u8), PathBuf> = HashMap::new();
    let mut zone_files_ok: Vec<(&Path, &Name)> = Vec::new();
    let mut steering_files: Vec<(&Path, &Name)> = Vec::new();
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
            Kind::Zone => zone_files_ok.push((&f.path, origin)),
            Kind::Steering => steering_files.push((&f.path, origin)),
        }
    }

    // Steering files first: they are small, and they tell whether the GeoIP database is
    // needed, so that walking it can run beside the (possibly long) reading of zone files.
    let mut steering = SteeringConfig::default();
    // Pools and monitors shared by every zone: read first, so that their ids come first.
    let shared_path = dir.join(config::SHARED_FILE);
    let shared = if shared_path.is_file() {
        match std::fs::read_to_string(&shared_path) {
            Ok(text) => {
                config::read_shared(&shared_path, &text, &mut steering, lookup_env, &mut errors)
            }
            Err(e) => {
                errors.push(ConfigError::file(&shared_path, format!("cannot read: {e}")));
                config::Shared::default()
            }
        }
    } else {
        config::Shared::default()
    };
    let mut lbs_of: Vec<(&Name, std::ops::Range<usize>)> = Vec::new();
    for &(path, origin) in &steering_files {
        if !zone_files_ok.iter().any(|(_, o)| *o == origin) {
            errors.push(ConfigError::file(
                path,
                format!("steering configuration without a zone file {origin}zone beside it"),
            ));
            continue;
        }
        let first_lb = steering.load_balancers.len();
        config::read_file_with(
            path,
            origin,
            &shared,
            &mut steering,
            lookup_env,
            &mut errors,
        );
        lbs_of.push((origin, first_lb..steering.load_balancers.len()));
    }
    let needs_location = steering
        .load_balancers
        .iter()
        .any(|lb| lb.policy.uses_location() || (lb.has_client_rules() && plans_read_location(lb)));
    // One client → region map for every `dynamic` load balancer (or custom rule that makes
    // one dynamic): with peers, its answers follow the RTTs of the instance nearest the
    // client's region. Built from the walk too.
    let needs_regions = steering.load_balancers.iter().any(|lb| {
        lb.policy == config::Policy::Dynamic
            || lb
                .custom_rules
                .iter()
                .any(|r| r.overrides.policy == Some(config::Policy::Dynamic))
    });
    let needs_walk = needs_location || needs_regions;

    // The same file as before (a new one is renamed over the old: another inode): keep it,
    // and the index walked from it.
    let same = previous
        .and_then(|p| p.geo.as_ref().map(|db| (p, db)))
        .filter(|(_, db)| db.path() == src.geoip && db.is_current());
    let reused = same.and_then(|(p, _)| p.geo_index.clone());
    let (geo, index, built) = std::thread::scope(|scope| {
        let walker = scope.spawn(|| {
            // Its data may have been released once the last maps were built: a walk (no index
            // to reuse) reads the file again.
            let db = match same {
                Some((_, db)) if reused.is_some() || !needs_walk || db.has_data() => Ok(db.clone()),
                _ => GeoDb::open(&src.geoip).map(Arc::new),
            };
            let index = match (&db, reused) {
                (Ok(_), Some(index)) if needs_walk => Some(Ok(index)),
                (Ok(db), None) if needs_walk => Some(GeoIndex::build(db).map(|index| {
                    info!("GeoIP database {}: {}", db.path().display(), index.stats());
                    Arc::new(index)
                })),
                _ => None,
            };
            // A served database is released anyway (`for_serving`); after a walk nothing of
            // this load reads it: drop its data now, not after the maps are built, so that it
            // is not held beside them (nor beside the old snapshot's, on a reload).
            let mut db = db;
            if release
                && let (Ok(d), Some(Ok(_))) = (&mut db, &index)
                && let Some(d) = Arc::get_mut(d)
            {
                d.release();
            }
            (db, index)
        });
        // Zone files, each on its own, spread over the cores.
        let built: Vec<(Option<Zone>, Vec<ConfigError>)> =
            par::map(&zone_files_ok, |&(path, origin)| {
                let mut errors = Vec::new();
                let records = master::read_zone_file(path, origin, &mut errors);
                (Zone::build(origin, path, records, &mut errors), errors)
            });
        let (db, index) = walker
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (db, index, built)
    });
    let mut zones = Zones::default();
    for (zone, zone_errors) in built {
        errors.extend(zone_errors);
        if let Some(zone) = zone {
            zones.insert(zone);
        }
    }
    for (origin, range) in lbs_of {
        if let Some(zone) = zones.get_mut(origin) {
            for i in range {
                let lb = &steering.load_balancers[i];
                if let Err(msg) = zone.attach_load_balancer(&lb.name, i as u32) {
                    errors.push(ConfigError::at(&lb.file, lb.line, msg));
                }
            }
        }
    }

    let geo = match geo {
        Ok(db) => Some(db),
        Err(e) if needs_location => {
            errors.push(e);
            None
        }
        Err(e) => {
            warn!("{e} (no load balancer uses location, continuing without it)");
            None
        }
    };

    let asn = match &src.asn_db {
        Some(path) => match AsnDb::open(path) {
            Ok(db) => Some(Arc::new(db)),
            Err(e) => {
                errors.push(e);
                None
            }
        },
        None => {
            for lb in &steering.load_balancers {
                if lb.has_client_rules() && plans_read_asn(lb) {
                    errors.push(ConfigError::at(
                        &lb.file,
                        lb.line,
                        format!(
                            "load balancer {}: asn_pools and ip.src.asnum need an ASN database (--asn-db, GeoLite2-ASN format)",
                            lb.name
                        ),
                    ));
                }
            }
            None
        }
    };

    let index = match index {
        Some(Ok(index)) => Some(index),
        Some(Err(e)) => {
            errors.push(e);
            None
        }
        None => None,
    };
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }

    let (geo_index, maps) = match index {
        Some(index) => {
            let empty = HashMap::new();
            let previous_maps = match same {
                Some((p, _)) if p.geo_index.as_ref().is_some_and(|i| Arc::ptr_eq(i, &index)) => {
                    &p.rule_maps
                }
                _ => &empty,
            };
            let started = Instant::now();
            let maps = geo::compile(&steering, &index, previous_maps);
            info!(
                "location rules of {} load balancers: {} distinct, {} reused, {} maps built \
                 ({} KiB; {} over a finer projection) in {} ms; index and projections {} KiB",
                maps.per_lb.iter().filter(|m| m.is_some()).count(),
                maps.rule_maps.len(),
                maps.rule_maps
                    .keys()
                    .filter(|k| previous_maps.contains_key(*k))
                    .count(),
                maps.built.0,
                maps.built.1 / 1024,
                maps.moved,
                started.elapsed().as_millis(),
                index.heap_bytes() / 1024,
            );
            (Some(index), Some(maps))
        }
        None => (None, None),
    };
    let (mut per_lb, rule_maps) = match maps {
        Some(m) => (m.per_lb, m.rule_maps),
        None => (Vec::new(), HashMap::new()),
    };
    per_lb.resize_with(steering.load_balancers.len(), || None);
    let mut compiled = Vec::with_capacity(steering.load_balancers.len());
    for (lb, location) in steering.load_balancers.iter().zip(per_lb) {
        match compile(
            &steering,
            lb,
            location,
            geo_index.as_deref(),
            asn.as_deref(),
        ) {
            Ok(c) => compiled.push(c),
            Err(e) => return Err(ConfigErrors(vec![e])),
        }
    }
    // The client → region map of `dynamic` load balancers: kept from the previous snapshot
    // when the walk is, else made from the walk (not a walk of its own).
    let regions = match geo_index.as_ref() {
        Some(index) if needs_regions => {
            let kept = same
                .filter(|(p, _)| p.geo_index.as_ref().is_some_and(|i| Arc::ptr_eq(i, index)))
                .and_then(|(p, _)| p.regions.clone());
            kept.or_else(|| {
                // Over the location tree, which the index keeps anyway: a projection onto
                // regions would be a tree of its own (600,000 nodes, 4.7 MB for a
                // GeoLite2-City), where the map is one bit per node and a value per location.
                let base = index.locations().clone();
                let values: Vec<u32> = base
                    .keys()
                    .iter()
                    .map(|l| {
                        l.as_ref()
                            .and_then(|l| l.region())
                            .and_then(countries::region_index)
                            .unwrap_or(countries::UNKNOWN_REGION)
                            .into()
                    })
                    .collect();
                Some(GeoMap::new(base, &values))
            })
        }
        _ => None,
    };
    let labels = labels(&zones, &steering);
    let signing = signing(src, &mut zones, &compiled)?;
    release_freed_memory();
    Ok(Snapshot {
        generation: 1,
        zones,
        steering,
        compiled,
        geo,
        asn,
        geo_index,
        rule_maps,
        labels,
        signing,
        regions,
    })
}

/// Reads each zone's keys and signs the zones that have some. Key files that cannot be used
/// are configuration errors; warnings (a private key others can read, a key without its
/// private half, keys for zones not served) are logged once per load.
fn signing(
    src: &Sources,
    zones: &mut Zones,
    compiled: &[CompiledLb],
) -> Result<Option<Signing>, ConfigErrors> {
    for z in zones.iter_mut() {
        z.number_nodes();
    }
    let dir = src.keys_dir();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut keys: Vec<Option<KeySet>> = Vec::new();
    let now = crate::dnssec::time::now();
    for z in zones.iter() {
        let id = z.id as usize;
        if keys.len() <= id {
            keys.resize_with(id + 1, || None);
        }
        match dnskey::load_zone_keys(&dir, z.origin_key(), &mut warnings) {
            Ok(k) if k.is_empty() => {}
            Ok(k) => {
                let set = KeySet::new(z.origin_key(), k);
                if let Err(e) = set.signer(now, src.dnssec.validity) {
                    errors.push(ConfigError::file(&dir, e));
                }
                keys[id] = Some(set);
            }
            Err(errs) => errors.extend(errs.into_iter().map(|e| match e.line {
                Some(l) => ConfigError::at(&e.path, l, e.message),
                None => ConfigError::file(&e.path, e.message),
            })),
        }
    }
    let served: Vec<String> = zones
        .iter()
        .map(|z| z.origin.to_string().to_ascii_lowercase())
        .collect();
    for (zone, file) in dnskey::zones_in_dir(&dir) {
        if !served.contains(&zone) {
            warnings.push(format!(
                "{}: a key for {zone}, which is not a zone served here: not used",
                file.display()
            ));
        }
    }
    for w in &warnings {
        warn!("{w}");
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    if keys.iter().all(Option::is_none) {
        return Ok(None);
    }
    let families = compiled
        .iter()
        .map(|c| {
            (
                c.records.iter().any(|r| !r.v4.is_empty()),
                c.records.iter().any(|r| !r.v6.is_empty()),
            )
        })
        .collect();
    let list: Vec<&crate::zone::Zone> = zones.iter().collect();
    Signing::new(&list, keys, families, src.dnssec, now)
        .map(Some)
        .map_err(|e| ConfigErrors(vec![ConfigError::file(&dir, e)]))
}

/// `snapshot` made ready to serve: the GeoIP database's data is dropped (its maps are
/// compiled; path, type and build time stay for status and metrics), as gdnsd does, so a
/// running server holds a GeoLite2-City's 60-odd MB only while a load builds from it.
pub fn for_serving(mut snapshot: Snapshot) -> Snapshot {
    if let Some(db) = snapshot.geo.as_mut().and_then(Arc::get_mut) {
        db.release();
    }
    if let Some(db) = snapshot.asn.as_mut().and_then(Arc::get_mut) {
        db.release();
    }
    snapshot
}

/// `location`: its shared location steering, from [`geo::compile`] (none for a load balancer
/// with custom rules or client maps: its plans overlay location with networks and ASes, and
/// are built here, on the shared location tree).
fn compile(
    cfg: &SteeringConfig,
    lb: &config::LoadBalancer,
    location: Option<LocationSteering>,
    index: Option<&GeoIndex>,
    asn: Option<&AsnDb>,
) -> Result<CompiledLb, ConfigError> {
    let mut lists: Vec<Box<[PoolId]>> = Vec::new();
    let mut plans = None;
    let mut map = None;
    if lb.has_client_rules() {
        let (m, p, l) = compile_plans(cfg, lb, index, asn)?;
        lists = l;
        let ttls: Vec<u32> = p.variants.iter().map(|v| v.lb.ttl).collect();
        plans = Some((p, ttls));
        map = Some(m);
    }
    let location = if plans.is_some() { None } else { location };
    let mut ttls = vec![lb.ttl];
    if let Some((_, t)) = &plans {
        for &x in t {
            if !ttls.contains(&x) {
                ttls.push(x);
            }
        }
    }
    let records = ttls
        .iter()
        .flat_map(|&ttl| {
            lb.pools()
                .into_iter()
                .map(move |p| pool_records(cfg, lb, p, ttl))
        })
        .collect();
    Ok(CompiledLb {
        location,
        lists,
        map,
        plans: plans.map(|p| p.0),
        records,
    })
}

/// A plan map, its plans, and the candidate lists they index.
type CompiledPlans = (GeoMap, Plans, Vec<Box<[PoolId]>>);

/// Which classes of client a load balancer with custom rules or client maps tells apart,
/// and what each gets: location (from the GeoIP database), AS (from the ASN database) and
/// network (`subnet_pools`, `ip.src` tests) are each compiled into a prefix map, the three
/// are overlaid ([`GeoMap::product`]), and every distinct combination is evaluated once
/// into a plan. The overlay merges neighbours with equal plans, so its depth is the ECS
/// scope: a /24 in `subnet_pools` inside a country answers with scope ≥ 24, and the rest of
/// the country with a scope that leaves the /24 out.
fn compile_plans(
    cfg: &SteeringConfig,
    lb: &config::LoadBalancer,
    index: Option<&GeoIndex>,
    asn_db: Option<&AsnDb>,
) -> Result<CompiledPlans, ConfigError> {
    let reads_location = plans_read_location(lb);
    let reads_asn = plans_read_asn(lb);
    let proximity = lb.policy == LbPolicy::Proximity
        || lb
            .custom_rules
            .iter()
            .any(|r| r.overrides.policy == Some(LbPolicy::Proximity));

    // Location classes: what rules and policies read of a location (coordinates only for
    // proximity), one representative each.
    let mut locations: Vec<Option<Location>> = Vec::new();
    let loc_map = match index {
        Some(index) if reads_location => {
            // Over the shared tree of every location: values only.
            let base = index.locations().clone();
            let mut ids: HashMap<Option<Location>, u32> = HashMap::new();
            let values: Vec<u32> = base
                .keys()
                .iter()
                .map(|loc| {
                    let key = loc.map(|mut l| {
                        if !proximity {
                            l.latitude = None;
                            l.longitude = None;
                        }
                        l
                    });
                    *ids.entry(key).or_insert_with(|| {
                        locations.push(key);
                        (locations.len() - 1) as u32
                    })
                })
                .collect();
            GeoMap::new(base, &values)
        }
        Some(_) | None => {
            locations.push(None);
            GeoMap::constant(0)
        }
    };

    // AS classes: each AS number named anywhere, and "any other".
    let mut asns: Vec<u32> = lb.asn_pools.iter().map(|x| x.0).collect();
    for r in &lb.custom_rules {
        r.condition.asns(&mut asns);
    }
    asns.sort_unstable();
    asns.dedup();
    let asn_map = match asn_db {
        Some(db) if reads_asn => db.build(|a| {
            a.and_then(|a| asns.binary_search(a).ok())
                .map_or(0, |i| i as u32 + 1)
        })?,
        _ => GeoMap::constant(0),
    };

    // Network classes: the most specific `subnet_pools` entry, and which `ip.src` tests hold.
    let mut nets: Vec<ipnet::IpNet> = Vec::new();
    let mut owners: Vec<NetOwner> = Vec::new();
    for (i, (net, _)) in lb.subnet_pools.iter().enumerate() {
        nets.push(*net);
        owners.push(NetOwner::Subnet(i));
    }
    for (k, set) in lb.rule_networks.networks.iter().enumerate() {
        for net in set {
            nets.push(*net);
            owners.push(NetOwner::Test(k));
        }
    }
    let mut net_classes: Vec<(Option<usize>, u64)> = Vec::new();
    let net_map = {
        let mut ids: HashMap<(Option<usize>, u64), u32> = HashMap::new();
        GeoMap::from_networks(&nets, |inside| {
            let mut subnet = None;
            let mut bits = 0u64;
            // Widest first: the last subnet entry is the most specific.
            for &i in inside {
                match owners[i] {
                    NetOwner::Subnet(s) => subnet = Some(s),
                    NetOwner::Test(k) => bits |= 1 << k,
                }
            }
            *ids.entry((subnet, bits)).or_insert_with(|| {
                net_classes.push((subnet, bits));
                (net_classes.len() - 1) as u32
            })
        })
    };

    // Overlay location × AS, then × network, evaluating each combination once.
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    let mut pair_ids: HashMap<(u32, u32), u32> = HashMap::new();
    let loc_asn = loc_map.product(&asn_map, |l, a| {
        *pair_ids.entry((l, a)).or_insert_with(|| {
            pairs.push((l, a));
            (pairs.len() - 1) as u32
        })
    });
    let qname = lb
        .name
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let mut plans = PlanBuilder::default();
    let mut plan_of: HashMap<(u32, u32), u32> = HashMap::new();
    let map = loc_asn.product(&net_map, |la, n| {
        *plan_of.entry((la, n)).or_insert_with(|| {
            let (l, a) = pairs[la as usize];
            let location = locations[l as usize];
            let asn = (a > 0).then(|| asns[a as usize - 1]);
            let (subnet, bits) = net_classes[n as usize];
            plans.plan(cfg, lb, location.as_ref(), asn, subnet, bits, &qname)
        })
    });
    let PlanBuilder {
        table,
        variants,
        lists,
        ..
    } = plans;
    Ok((map, Plans { table, variants }, lists))
}

/// Whether the plans of `lb` depend on the location database.
fn plans_read_location(lb: &config::LoadBalancer) -> bool {
    lb.policy.uses_location()
        || lb.custom_rules.iter().any(|r| {
            r.condition.reads_location()
                || r.overrides.policy.is_some_and(LbPolicy::uses_location)
                || r.overrides.location_maps.any()
        })
}

/// Whether the plans of `lb` depend on the ASN database.
fn plans_read_asn(lb: &config::LoadBalancer) -> bool {
    !lb.asn_pools.is_empty() || lb.custom_rules.iter().any(|r| r.condition.reads_asn())
}

#[derive(Clone, Copy)]
enum NetOwner {
    Subnet(usize),
    Test(usize),
}

/// Variants, lists and plans, each deduplicated as they are made.
#[derive(Default)]
struct PlanBuilder {
    table: Vec<[(u32, u32); 2]>,
    plan_ids: HashMap<[(u32, u32); 2], u32>,
    variants: Vec<Variant>,
    /// By variant: its policy before a client-map entry made it failover.
    pre_policy: Vec<LbPolicy>,
    variant_ids: HashMap<(Vec<usize>, Option<Pinned>), u32>,
    lists: Vec<Box<[PoolId]>>,
    list_ids: HashMap<Vec<PoolId>, u32>,
}

/// A client map entry that chose the pools.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Pinned {
    Subnet(usize),
    Asn(usize),
}

impl PlanBuilder {
    #[allow(clippy::too_many_arguments)]
    fn plan(
        &mut self,
        cfg: &SteeringConfig,
        lb: &config::LoadBalancer,
        location: Option<&Location>,
        asn: Option<u32>,
        subnet: Option<usize>,
        networks: u64,
        qname: &str,
    ) -> u32 {
        let mut row = [(0u32, 0u32); 2];
        for (f, family) in [Family::V4, Family::V6].into_iter().enumerate() {
            let facts = Facts {
                location,
                asn,
                networks,
                qname,
                family,
            };
            let mut matched = Vec::new();
            for (i, r) in lb.custom_rules.iter().enumerate() {
                if r.condition.eval(&facts) {
                    matched.push(i);
                    if r.terminates {
                        break;
                    }
                }
            }
            let pinned = subnet.map(Pinned::Subnet).or_else(|| {
                asn.and_then(|a| lb.asn_pools.iter().position(|x| x.0 == a))
                    .map(Pinned::Asn)
            });
            let key = (matched, pinned);
            let v = match self.variant_ids.get(&key) {
                Some(&v) => v,
                None => {
                    let mut eff = lb.clone();
                    let mut why = Vec::new();
                    for &i in &key.0 {
                        let r = &lb.custom_rules[i];
                        eff = eff.overridden(&r.overrides);
                        why.push(format!(
                            "rule {:?} (line {}{})",
                            r.name,
                            r.line,
                            if r.terminates { ", terminates" } else { "" }
                        ));
                    }
                    match pinned {
                        Some(Pinned::Subnet(s)) => {
                            why.push(format!("subnet_pools {}", lb.subnet_pools[s].0))
                        }
                        Some(Pinned::Asn(a)) => {
                            why.push(format!("asn_pools AS{}", lb.asn_pools[a].0))
                        }
                        None => {}
                    }
                    let id = self.variants.len() as u32;
                    self.pre_policy.push(eff.policy);
                    if pinned.is_some() {
                        // A client-map entry makes its list a failover list, whatever the
                        // policy.
                        eff.policy = LbPolicy::Failover;
                    }
                    self.variants.push(Variant { lb: eff, why });
                    self.variant_ids.insert(key.clone(), id);
                    id
                }
            };
            let eff = &mut self.variants[v as usize].lb;
            let pinned_policy = eff.policy;
            eff.policy = self.pre_policy[v as usize];
            let (mut list, _) = steering::candidates(cfg, eff, location);
            eff.policy = pinned_policy;
            if let Some(p) = pinned {
                let first = match p {
                    Pinned::Subnet(s) => &lb.subnet_pools[s].1,
                    Pinned::Asn(a) => &lb.asn_pools[a].1,
                };
                let mut pinned_list = first.clone();
                for q in list {
                    if !pinned_list.contains(&q) {
                        pinned_list.push(q);
                    }
                }
                list = pinned_list;
            }
            let l = match self.list_ids.get(&list) {
                Some(&l) => l,
                None => {
                    let l = self.lists.len() as u32;
                    self.list_ids.insert(list.clone(), l);
                    self.lists.push(list.into_boxed_slice());
                    l
                }
            };
            row[f] = (v, l);
        }
        let next = self.table.len() as u32;
        *self.plan_ids.entry(row).or_insert_with(|| {
            self.table.push(row);
            next
        })
    }
}

fn pool_records(
    cfg: &SteeringConfig,
    lb: &config::LoadBalancer,
    pool: PoolId,
    ttl: u32,
) -> PoolRecords {
    let range = cfg.pools[pool as usize].origins.clone();
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut index = Vec::new();
    for o in range {
        let origin = &cfg.origins[o as usize];
        let i4 = origin.v4.map(|a| {
            v4.push(Record::from_rdata(lb.name.clone(), ttl, RData::A(A(a))));
            (v4.len() - 1) as u16
        });
        let i6 = origin.v6.map(|a| {
            v6.push(Record::from_rdata(
                lb.name.clone(),
                ttl,
                RData::AAAA(AAAA(a)),
            ));
            (v6.len() - 1) as u16
        });
        index.push((i4, i6));
    }
    PoolRecords {
        pool,
        ttl,
        v4: RecordSet::new(v4),
        v6: RecordSet::new(v6),
        index: index.into(),
    }
}

/// Has the allocator map every block of 1 MiB or more on its own, given back to the system
/// when freed: a process that loads (or reloads) a large configuration calls it first.
///
/// glibc's default threshold rises to the size of the largest mapped block freed (up to
/// 32 MiB), after which a load's large temporary arrays (a database's bytes, tree nodes,
/// values being classified) come from the per-thread arenas, where freed memory stays
/// resident until it is trimmed, beside what is still in use. Measured
/// (`examples/scale_mem.rs`, 1,000 load balancers on a GeoLite2-City-sized database): peak
/// RSS of the load 225 → 182 MiB, of a reload with a new database 400 → 347 MiB, for the same
/// heap in use.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a tunable of the allocator; it is called before the
    // process's threads are started.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Gives the memory that loading used and freed back to the system. A load allocates and
/// frees a great deal on several threads (projections, maps being built, a zone's records
/// before they are indexed); glibc keeps freed memory in each thread's arena, where the
/// server's resident size would show it for as long as it runs.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the allocator's arenas to the system.
    unsafe {
        libc::malloc_trim(0);
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
        } else if file_name == config::SHARED_FILE {
            // Read on its own (see `load_with_env`).
            continue;
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
