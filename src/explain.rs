//! `geosteer explain`: why a client gets the answer it gets.
//!
//! The answer shown is produced by the query path itself: a real query packet (with an ECS
//! option for the client) goes through [`Responder::respond`] against the loaded snapshot,
//! and the response is decoded. The steps around it (location, rule, pools considered) come
//! from the same functions the query path calls.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RecordType};

use crate::config::Family;
use crate::dns::{Responder, Transport};
use crate::state::{Published, State};
use crate::steering::{self, Client, View};

/// What to explain: a query for a name from a client.
pub struct Request {
    /// The name queried.
    pub name: Name,
    /// The client's address.
    pub client: IpAddr,
    /// A or AAAA.
    pub qtype: RecordType,
    /// ECS source prefix the simulated resolver sends (0: no ECS, the client is the resolver).
    pub ecs_prefix: u8,
    /// Where the health shown comes from, in words (the running server, or a probe round
    /// of the command's own).
    pub health_source: String,
}

/// Renders the explanation as text, from `state`: its configuration, health and probes.
pub fn explain(state: &State, req: &Request) -> String {
    let snap = &state.config;
    let health = &state.health;
    let probes = state.origin_status();
    let view = View::new(&snap.steering, health);
    let mut out = String::new();
    let mut name = req.name.clone();
    name.set_fqdn(true);
    let _ = writeln!(
        out,
        "query       {name} {} from client {}",
        req.qtype, req.client
    );
    let _ = writeln!(out, "health      {}", req.health_source);

    let lb_idx = snap
        .steering
        .load_balancers
        .iter()
        .position(|lb| lb.name == name);
    match &snap.geo {
        Some(db) => match db.lookup(req.client) {
            Some((loc, prefix)) => {
                let _ = writeln!(
                    out,
                    "location    {}  (database network {}/{prefix})",
                    describe_location(&loc),
                    network_of(req.client, prefix),
                );
            }
            None => {
                let _ = writeln!(out, "location    unknown (not in the GeoIP database)");
            }
        },
        None => {
            let _ = writeln!(out, "location    no GeoIP database loaded");
        }
    }

    if let Some(db) = &snap.asn {
        match db.lookup(req.client) {
            Some((asn, org)) => {
                let _ = writeln!(out, "asn         AS{asn} {org}");
            }
            None => {
                let _ = writeln!(out, "asn         unknown (not in the ASN database)");
            }
        }
    }

    if let Some(i) = lb_idx {
        let base = &snap.steering.load_balancers[i];
        let compiled = &snap.compiled[i];
        let family = if req.qtype == RecordType::AAAA {
            Family::V6
        } else {
            Family::V4
        };
        let location = snap.geo.as_ref().and_then(|db| db.lookup(req.client));
        let (lb, resolved, depth) = compiled.resolve(base, req.client, family);
        let candidates = resolved.to_vec();
        let depth = (compiled.map.is_some() || compiled.location.is_some()).then_some(depth);
        if let Some(v) = compiled.variant(req.client, family) {
            let why = if v.why.is_empty() {
                "none matched".to_string()
            } else {
                v.why.join(", then ")
            };
            let _ = writeln!(out, "rules       {why}");
        }
        let (_, rule) = steering::candidates(&snap.steering, lb, location.as_ref().map(|l| &l.0));
        let _ = writeln!(
            out,
            "steering    {:?}, on_all_down = {:?}, ttl {}",
            lb.policy, lb.on_all_down, lb.ttl
        );
        // As the query path decides: by the load balancer's own policy (the address the
        // rules were matched with).
        if !base.uses_ecs() {
            let _ = writeln!(
                out,
                "location    location_strategy prefer_ecs = {:?} for {:?}: steered by the \
                 resolver's address, not ECS (explain shows the client as its own resolver)",
                base.prefer_ecs, base.policy
            );
        }
        let rule_text = match &rule {
            steering::Rule::DefaultPools => "default_pools".to_string(),
            steering::Rule::Geo(level, key) => format!("{level} {key}"),
            steering::Rule::Nearest => "nearest pool by great-circle distance".to_string(),
            steering::Rule::UnknownLocation => {
                "location unknown: default_pools in order".to_string()
            }
        };
        let _ = writeln!(out, "rule        {rule_text}");
        if let Some(depth) = depth {
            let _ = writeln!(
                out,
                "geo map     same pool order for all of {}/{depth}",
                network_of(req.client, depth)
            );
        }
        let _ = writeln!(out, "pools       (in the order tried)");
        for (n, &p) in candidates.iter().enumerate() {
            let pool = &snap.steering.pools[p as usize];
            let ids: Vec<_> = pool.origins.clone().collect();
            let up = view.usable_count(p);
            let drained = health.pools.get(p as usize).is_some_and(|h| h.drained);
            let verdict = if !pool.enabled {
                "disabled".to_string()
            } else if drained {
                "drained".to_string()
            } else if view.pool_up(p) {
                format!(
                    "up ({up}/{} origins up, minimum {})",
                    ids.len(),
                    pool.minimum_origins
                )
            } else {
                format!(
                    "DOWN ({up}/{} origins up, minimum {})",
                    ids.len(),
                    pool.minimum_origins
                )
            };
            let _ = writeln!(out, "  {}. {:<14} {verdict}", n + 1, pool.name);
            for o in ids {
                let origin = &snap.steering.origins[o as usize];
                let h = &health.origins[o as usize];
                let addrs: Vec<String> = [origin.v4.map(IpAddr::V4), origin.v6.map(IpAddr::V6)]
                    .into_iter()
                    .flatten()
                    .map(|a| a.to_string())
                    .collect();
                let state = match (origin.enabled, h.drained, h.up) {
                    (false, _, _) => "disabled",
                    (_, true, _) => "drained",
                    (_, _, true) => "up",
                    _ => "down",
                };
                let rtt = h
                    .rtt_ms
                    .map_or(String::new(), |r| format!(", rtt {r:.1} ms"));
                // With peers: the quorum's count, and this instance's own verdict.
                let fleet = health.fleet.as_deref().and_then(|f| {
                    let (down, reporting) = f.votes.get(o as usize).copied()?;
                    (reporting > 0).then(|| {
                        format!(
                            ", fleet: {down} of {reporting} instances see it down (this one: {})",
                            if h.local_up { "up" } else { "down" }
                        )
                    })
                });
                let rtt = format!("{rtt}{}", fleet.unwrap_or_default());
                let load = h.load.map_or(String::new(), |l| {
                    format!(", load {l} (weight x{:.2})", view.load_factor(o))
                });
                let p = &probes[o as usize];
                let probe = match (&p.monitor, &p.last) {
                    (None, _) => ", not monitored".to_string(),
                    (Some(m), None) => format!(", monitor {m}: not probed"),
                    (Some(m), Some(last)) => format!(", monitor {m}: {last}"),
                };
                let _ = writeln!(
                    out,
                    "       - {} [{}] weight {} {state}{rtt}{load}{probe}",
                    origin.name,
                    addrs.join(", "),
                    origin.weight
                );
            }
        }
        let located = Client::at(req.client).for_lb(lb);
        let region = steering::dynamic_region(snap, health, lb, located.addr);
        let client = Client {
            region: region.map(|r| r.0),
            ..located
        };
        let d = steering::decide(
            &snap.steering,
            lb,
            &candidates,
            health,
            client,
            family,
            &mut rand::rng(),
        );
        let pool_name = d.pool.map_or("none".to_string(), |p| {
            snap.steering.pools[p as usize].name.clone()
        });
        let note = if lb.policy == crate::config::Policy::Random {
            " (random: this draw; the answer below is another)"
        } else {
            ""
        };
        let _ = writeln!(out, "decision    {:?}: pool {pool_name}{note}", d.outcome);
        if lb.policy == crate::config::Policy::Dynamic {
            let members = health.fleet.as_deref().map(|f| &f.members[..]);
            let who = |m: u8| {
                members
                    .and_then(|ms| ms.get(m as usize))
                    .map_or("this instance".to_string(), |x| {
                        if m == 0 {
                            format!("instance {} (this one)", x.name)
                        } else {
                            format!("instance {}", x.name)
                        }
                    })
            };
            let region_text = match region {
                Some((r, depth)) => format!(
                    ", nearest to the client's region {} (same for all of {}/{depth})",
                    crate::geo::countries::REGIONS
                        .get(r as usize)
                        .copied()
                        .unwrap_or("unknown"),
                    network_of(req.client, depth)
                ),
                None => String::new(),
            };
            let _ = match d.rtt_from {
                Some(m) => writeln!(out, "rtt from    {}{region_text}", who(m)),
                None => writeln!(
                    out,
                    "rtt from    no RTT measured yet: default_pools in failover order"
                ),
            };
        }
    } else {
        let _ = writeln!(
            out,
            "steering    none ({name} is not a load balancer): zone data"
        );
    }

    // The answer, from the query path.
    let responder = Responder::new(Arc::new(Published::new(state.clone())));
    let mut msg = Message::new(0x4242, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(name.clone(), req.qtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    if req.ecs_prefix > 0 {
        let net = ipnet::IpNet::new(req.client, req.ecs_prefix)
            .map(|n| n.trunc())
            .expect("prefix validated by the caller");
        edns.options_mut()
            .insert(EdnsOption::Subnet(ClientSubnet::from(net)));
    }
    msg.set_edns(edns);
    let query = msg.to_vec().expect("a simple query encodes");
    // With ECS the resolver's own address does not matter; without, the client is it.
    let src = SocketAddr::new(req.client, 53000);
    let mut wire = Vec::new();
    if !responder.respond(&query, src, Transport::Udp, &mut wire) {
        let _ = writeln!(out, "answer      (none sent)");
        return out;
    }
    match Message::from_vec(&wire) {
        Ok(resp) => {
            let _ = writeln!(
                out,
                "answer      {} (AA={})",
                resp.metadata.response_code, resp.metadata.authoritative
            );
            for r in resp.answers.iter().chain(resp.authorities.iter()) {
                let _ = writeln!(out, "            {r}");
            }
            let scope = resp.edns.as_ref().and_then(|e| {
                match e.option(hickory_proto::rr::rdata::opt::EdnsCode::Subnet) {
                    Some(EdnsOption::Subnet(cs)) => Some((cs.source_prefix(), cs.scope_prefix())),
                    _ => None,
                }
            });
            match scope {
                Some((source, scope)) => {
                    let _ = writeln!(
                        out,
                        "ecs scope   /{scope} (source /{source}): resolvers may reuse this answer for {}/{scope}",
                        network_of(req.client, scope)
                    );
                }
                None => {
                    let _ = writeln!(out, "ecs scope   (query sent without ECS)");
                }
            }
        }
        Err(e) => {
            let _ = writeln!(out, "answer      undecodable: {e}");
        }
    }
    out
}

fn network_of(ip: IpAddr, prefix: u8) -> IpAddr {
    ipnet::IpNet::new(ip, prefix).map_or(ip, |n| n.network())
}

/// A location in one line: continent, country, subdivision, region, coordinates.
pub fn describe_location(loc: &crate::geo::Location) -> String {
    let mut parts = Vec::new();
    parts.push(format!("continent {}", loc.continent().unwrap_or("?")));
    parts.push(format!("country {}", loc.country().unwrap_or("?")));
    if let Some(s) = loc.subdivision() {
        parts.push(format!("subdivision {s}"));
    }
    if let Some(r) = loc.region() {
        parts.push(format!("region {r}"));
    }
    if let Some((lat, lon)) = loc.coordinates() {
        parts.push(format!("at {lat:.2},{lon:.2}"));
    }
    parts.join(", ")
}
