//! A zone's static signatures: every authoritative RRset signed at load, the apex's DNSKEY,
//! CDS and CDNSKEY RRsets made from the keys, and a signed NSEC at each name for NODATA
//! answers — all made before the zone is served, refreshed before they expire.
//!
//! What is signed how:
//!
//! * Authoritative RRsets (everything at or above the zone cuts but the NS RRsets at the cuts,
//!   RFC 4035 §2.2): one RRSIG per signing key, at load. The SOA's RRSIG also goes with the
//!   SOA of negative answers, whose TTL is lowered (its Original TTL field stays the SOA's, as
//!   RFC 4035 §5.3.3 expects).
//! * DS RRsets at the cuts: signed (they are the parent's data). Glue and whatever else lies
//!   below a cut: never.
//! * Apex DNSKEY (every published key), CDS and CDNSKEY (the published SEP keys, RFC 7344):
//!   made from the key files, TTL the SOA's, signed by the KSKs (or CSKs).
//! * An NSEC at every authoritative name listing its types (those of the zone file, A/AAAA of a
//!   load balancer when its pools have addresses of the family, DNSKEY/CDS/CDNSKEY at the
//!   apex, RRSIG and NSEC), next name `\000.<name>` (RFC 9824 §3.2); at a cut, the types NS
//!   (and DS), next name just past the child's names (RFC 4470 §3, RFC 9824 §3.4): the proof
//!   of NODATA and of no DS, ready with its RRSIG.
//!
//! Everything built per answer (steered RRsets, wildcard expansions, proofs for names that do
//! not exist) is signed on the query path, through [`super::cache::SigCache`].

use std::sync::Arc;

use hickory_proto::rr::rdata::NULL;
use hickory_proto::rr::{RData, Record, RecordType};

use super::CLASS_IN;
use super::denial::{Scheme, TypeSet, types_at};
use super::key::SignError;
use super::name;
use super::sign::{RrsetRef, Rrsig, Scratch, Validity, ZoneSigner};
use super::types;
use crate::wire::RecordSet;
use crate::zone::{Node, Zone};

/// How zones are signed: the signatures' validity and the denial scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// Lifetime, inception offset and refresh of signatures.
    pub validity: Validity,
    /// Compact denial (RFC 9824) or white lies (RFC 4470).
    pub scheme: Scheme,
}

/// The RRSIGs over one RRset (one per signing key), packed as (u16 length, RDATA)*, and when
/// they are due for refresh.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SigSet {
    packed: Box<[u8]>,
    /// Seconds since the epoch at which they are made anew (0: empty, never due).
    pub refresh_at: u64,
    /// Seconds since the epoch at which the first of them expires.
    pub expiration: u64,
}

impl SigSet {
    /// `sigs` packed, due for refresh at `refresh_at`.
    pub fn new(sigs: &[Rrsig], refresh_at: u64) -> Self {
        let mut packed = Vec::with_capacity(sigs.iter().map(|s| 2 + s.rdata.len()).sum());
        for s in sigs {
            packed.extend_from_slice(&(s.rdata.len() as u16).to_be_bytes());
            packed.extend_from_slice(&s.rdata);
        }
        Self {
            packed: packed.into(),
            refresh_at,
            expiration: sigs.iter().map(|s| s.expiration).min().unwrap_or(0),
        }
    }

    /// The packed form: (u16 length, RDATA)*.
    pub fn packed(&self) -> &[u8] {
        &self.packed
    }

    /// Each RRSIG's RDATA.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        packed_iter(&self.packed)
    }

    /// No signature (data that is not signed: glue, NS at a cut).
    pub fn is_empty(&self) -> bool {
        self.packed.is_empty()
    }
}

/// The RDATAs of a packed (u16 length, RDATA)* buffer.
pub fn packed_iter(mut b: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (len, rest) = b.split_first_chunk::<2>()?;
        let len = (u16::from_be_bytes(*len) as usize).min(rest.len());
        let (rdata, rest) = rest.split_at(len);
        b = rest;
        Some(rdata)
    })
}

/// The NSEC at a name, signed: what a NODATA answer there carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeNsec {
    /// Its owner: the name, lower-cased wire form.
    pub owner: Box<[u8]>,
    /// Next name, then the type bitmap.
    pub rdata: Box<[u8]>,
    /// Its RRSIGs.
    pub sigs: SigSet,
}

impl NodeNsec {
    /// The Type Bit Maps field.
    pub fn bitmap(&self) -> &[u8] {
        let next = name::check(&self.rdata).unwrap_or(self.rdata.len());
        &self.rdata[next..]
    }

    /// Whether the bitmap lists `rtype`.
    pub fn has_type(&self, rtype: u16) -> bool {
        bitmap_has(self.bitmap(), rtype)
    }
}

/// Whether a Type Bit Maps field lists `rtype`.
pub fn bitmap_has(mut b: &[u8], rtype: u16) -> bool {
    let (win, low) = ((rtype >> 8) as u8, (rtype & 0xFF) as usize);
    while let [w, len, rest @ ..] = b {
        let len = (*len as usize).min(rest.len());
        if *w == win {
            return rest[..len]
                .get(low / 8)
                .is_some_and(|byte| byte & (0x80 >> (low % 8)) != 0);
        }
        b = &rest[len..];
    }
    false
}

/// Copies a Type Bit Maps field without `rtype` into `out`.
pub fn bitmap_without(b: &[u8], rtype: u16, out: &mut Vec<u8>) {
    let types = super::denial::parse_bitmap(b).unwrap_or_default();
    let mut set = TypeSet::from_types(&types);
    set.remove(rtype);
    set.write_bitmap(out);
}

/// The signatures of one node, index for index with its RRsets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSigs {
    /// By RRset, as `Node::rrsets` (empty where the RRset is not signed).
    pub sets: Box<[SigSet]>,
    /// The NSEC at the name (none below a cut).
    pub nsec: Option<Box<NodeNsec>>,
}

/// An RRset made from the keys (DNSKEY, CDS, CDNSKEY), with its RRSIGs.
#[derive(Debug, Clone)]
pub struct ApexSet {
    /// The records.
    pub records: RecordSet,
    /// Their RRSIGs.
    pub sigs: SigSet,
}

/// A zone's signatures at one time, with the signer that made them (the query path signs
/// with it too).
pub struct SignedZone {
    /// The signer: active keys, validity.
    pub signer: Arc<ZoneSigner>,
    /// By node id ([`Node::id`]).
    pub nodes: Box<[NodeSigs]>,
    /// The DNSKEY RRset.
    pub dnskey: ApexSet,
    /// The CDS RRset (none without a published SEP key).
    pub cds: Option<ApexSet>,
    /// The CDNSKEY RRset.
    pub cdnskey: Option<ApexSet>,
    /// TTL of negative answers' SOA and NSEC records: min(SOA TTL, SOA MINIMUM).
    pub negative_ttl: u32,
    /// The earliest refresh time of any signature here.
    pub refresh_at: u64,
    /// The earliest expiration of any signature here.
    pub expiration: u64,
    /// How many RRSIGs.
    pub signatures: usize,
    /// How many of them this signing pass made (the rest were kept from the last one).
    pub made: usize,
}

impl std::fmt::Debug for SignedZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedZone")
            .field("signer", &self.signer)
            .field("nodes", &self.nodes.len())
            .field("signatures", &self.signatures)
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

impl SignedZone {
    /// The signatures of the node `id`.
    pub fn node(&self, id: u32) -> Option<&NodeSigs> {
        self.nodes.get(id as usize)
    }

    /// The synthesised apex RRset of `rtype` (DNSKEY, CDS, CDNSKEY).
    pub fn apex_set(&self, rtype: RecordType) -> Option<&ApexSet> {
        match rtype {
            RecordType::DNSKEY => Some(&self.dnskey),
            RecordType::CDS => self.cds.as_ref(),
            RecordType::CDNSKEY => self.cdnskey.as_ref(),
            _ => None,
        }
    }
}

/// Types geosteer makes itself in a signed zone: zone-file records of these types are not
/// served nor signed there (a pre-signed zone's leftovers would contradict the online ones).
pub fn made_here(rtype: RecordType, apex: bool) -> bool {
    matches!(
        rtype,
        RecordType::RRSIG | RecordType::NSEC | RecordType::NSEC3 | RecordType::NSEC3PARAM
    ) || (apex
        && matches!(
            rtype,
            RecordType::DNSKEY | RecordType::CDS | RecordType::CDNSKEY
        ))
}

/// What a signing pass needs besides the zone.
pub struct SignInput<'a> {
    /// The signer for now.
    pub signer: Arc<ZoneSigner>,
    /// The time signatures are made at.
    pub now: u64,
    /// For a load balancer id: whether its pools have IPv4 and IPv6 addresses.
    pub lb_families: &'a (dyn Fn(u32) -> (bool, bool) + Sync),
    /// The previous pass over the same zone (same nodes): its signatures that are not yet due
    /// (by `now` + the pre-refresh) and were made by the same keys over the same data are
    /// kept.
    pub previous: Option<&'a SignedZone>,
    /// Threads to sign with (big zones are split between them).
    pub threads: usize,
}

fn unknown_record(owner: &hickory_proto::rr::Name, rtype: u16, ttl: u32, rdata: Vec<u8>) -> Record {
    let mut null = NULL::new();
    null.anything = rdata;
    Record::from_rdata(
        owner.clone(),
        ttl,
        RData::Unknown {
            code: RecordType::from(rtype),
            rdata: null,
        },
    )
}

/// Signs `zone` (whose nodes are numbered): see the module documentation for what.
pub fn sign_zone(zone: &Zone, input: &SignInput<'_>) -> Result<SignedZone, SignError> {
    let signer = &input.signer;
    let validity = signer.validity;
    let apex_key = zone.origin_key();
    let apex = zone.node(apex_key).expect("a built zone has its apex");
    let soa_ttl = apex
        .get(RecordType::SOA)
        .and_then(|s| s.records.ttl())
        .unwrap_or(3600);
    let negative_ttl = zone.negative_soa.ttl().unwrap_or(soa_ttl);
    let reuse_ok = |prev: &SigSet, fresh_rdata_same: bool| {
        fresh_rdata_same
            && !prev.is_empty()
            && prev.refresh_at > input.now + u64::from(validity.pre_refresh)
    };
    let previous = input
        .previous
        .filter(|p| p.signer.id == signer.id && p.nodes.len() == zone.node_count());

    // The apex RRsets made from the keys.
    let mut scratch = Scratch::default();
    let mut made = 0usize;
    let mut apex_set = |rtype: u16,
                        rdatas: Vec<Vec<u8>>,
                        prev: Option<&ApexSet>,
                        scratch: &mut Scratch|
     -> Result<Option<ApexSet>, SignError> {
        if rdatas.is_empty() {
            return Ok(None);
        }
        let records: Vec<Record> = rdatas
            .iter()
            .map(|r| unknown_record(&zone.origin, rtype, soa_ttl, r.clone()))
            .collect();
        let records = RecordSet::new(records);
        let same = prev.is_some_and(|p| p.records == records);
        if let Some(p) = prev
            && reuse_ok(&p.sigs, same)
        {
            return Ok(Some(p.clone()));
        }
        let rrset = RrsetRef {
            owner: apex_key,
            rtype,
            class: CLASS_IN,
            ttl: soa_ttl,
            rdatas: &rdatas,
        };
        let sigs = signer.sign(&rrset, input.now, scratch)?;
        made += sigs.len();
        let refresh = sigs
            .first()
            .map_or(0, |s| validity.refresh_at(s.expiration, soa_ttl));
        Ok(Some(ApexSet {
            records,
            sigs: SigSet::new(&sigs, refresh),
        }))
    };
    let dnskey = apex_set(
        types::DNSKEY,
        signer.dnskey_rdatas(),
        previous.map(|p| &p.dnskey),
        &mut scratch,
    )?
    .expect("a signer has a published key");
    let cds = apex_set(
        types::CDS,
        signer.cds_rdatas(),
        previous.and_then(|p| p.cds.as_ref()),
        &mut scratch,
    )?;
    let cdnskey = apex_set(
        types::CDNSKEY,
        signer.cdnskey_rdatas(),
        previous.and_then(|p| p.cdnskey.as_ref()),
        &mut scratch,
    )?;
    let mut apex_types: Vec<u16> = vec![types::DNSKEY];
    if cds.is_some() {
        apex_types.extend([types::CDS, types::CDNSKEY]);
    }

    // Every node, in id order, split into chunks for the threads.
    let mut nodes: Vec<(&[u8], &Node)> = zone.nodes().collect();
    nodes.sort_unstable_by_key(|(_, n)| n.id);
    let total_sets: usize = nodes.iter().map(|(_, n)| n.rrsets.len() + 1).sum();
    let threads = if total_sets < 2000 {
        1
    } else {
        input.threads.max(1)
    };
    let chunk = nodes.len().div_ceil(threads).max(1);
    let sign_chunk = |part: &[(&[u8], &Node)]| -> Result<(Vec<NodeSigs>, usize), SignError> {
        let mut scratch = Scratch::default();
        let mut made = 0;
        let mut out = Vec::with_capacity(part.len());
        for (key, node) in part {
            let prev = previous.and_then(|p| p.node(node.id));
            let sigs = sign_node(
                zone,
                key,
                node,
                input,
                &apex_types,
                negative_ttl,
                prev,
                &reuse_ok,
                &mut scratch,
                &mut made,
            )?;
            out.push(sigs);
        }
        Ok((out, made))
    };
    let parts: Vec<Result<(Vec<NodeSigs>, usize), SignError>> = if threads == 1 {
        vec![sign_chunk(&nodes)]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = nodes
                .chunks(chunk)
                .map(|part| s.spawn(|| sign_chunk(part)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(Err(SignError)))
                .collect()
        })
    };
    let mut all = Vec::with_capacity(nodes.len());
    for p in parts {
        let (sigs, n) = p?;
        made += n;
        all.extend(sigs);
    }
    let every_set = all
        .iter()
        .flat_map(|n| n.sets.iter().chain(n.nsec.as_ref().map(|x| &x.sigs)))
        .chain([&dnskey.sigs])
        .chain(cds.iter().map(|c| &c.sigs))
        .chain(cdnskey.iter().map(|c| &c.sigs))
        .filter(|s| !s.is_empty());
    let (mut refresh_at, mut expiration, mut signatures) = (u64::MAX, u64::MAX, 0);
    for s in every_set {
        refresh_at = refresh_at.min(s.refresh_at);
        expiration = expiration.min(s.expiration);
        signatures += s.iter().count();
    }
    Ok(SignedZone {
        signer: signer.clone(),
        nodes: all.into(),
        dnskey,
        cds,
        cdnskey,
        negative_ttl,
        refresh_at,
        expiration,
        signatures,
        made,
    })
}

#[allow(clippy::too_many_arguments)]
fn sign_node(
    zone: &Zone,
    key: &[u8],
    node: &Node,
    input: &SignInput<'_>,
    apex_types: &[u16],
    negative_ttl: u32,
    prev: Option<&NodeSigs>,
    reuse_ok: &dyn Fn(&SigSet, bool) -> bool,
    scratch: &mut Scratch,
    made: &mut usize,
) -> Result<NodeSigs, SignError> {
    if zone.below_cut(key) {
        return Ok(NodeSigs {
            sets: vec![SigSet::default(); node.rrsets.len()].into(),
            nsec: None,
        });
    }
    let signer = &input.signer;
    let validity = signer.validity;
    let is_apex = key == zone.origin_key();
    let mut rdatas: Vec<&[u8]> = Vec::new();
    let mut sets = Vec::with_capacity(node.rrsets.len());
    let mut present = TypeSet::new();
    for (i, rs) in node.rrsets.iter().enumerate() {
        let rtype = rs.rtype;
        let code = u16::from(rtype);
        let signed = if node.cut {
            // At a cut only the DS RRset is the parent's authoritative data.
            code == types::DS
        } else {
            !made_here(rtype, is_apex)
        };
        if node.cut {
            if matches!(code, types::NS | types::DS) {
                present.insert(code);
            }
        } else if signed {
            present.insert(code);
        }
        if !signed || rs.records.is_empty() {
            sets.push(SigSet::default());
            continue;
        }
        rdatas.clear();
        rdatas.extend(rs.records.wire().iter().map(|w| w.rdata()));
        let ttl = rs.records.ttl().unwrap_or(0);
        if let Some(p) = prev.and_then(|p| p.sets.get(i))
            && reuse_ok(p, true)
        {
            sets.push(p.clone());
            continue;
        }
        let rrset = RrsetRef {
            owner: key,
            rtype: code,
            class: CLASS_IN,
            ttl,
            rdatas: &rdatas,
        };
        let sigs = signer.sign(&rrset, input.now, scratch)?;
        *made += sigs.len();
        let refresh = sigs
            .first()
            .map_or(0, |s| validity.refresh_at(s.expiration, ttl));
        sets.push(SigSet::new(&sigs, refresh));
    }
    if !node.cut {
        if let Some(lb) = node.lb {
            let (v4, v6) = (input.lb_families)(lb);
            if v4 {
                present.insert(u16::from(RecordType::A));
            }
            if v6 {
                present.insert(u16::from(RecordType::AAAA));
            }
        }
        if is_apex {
            for &t in apex_types {
                present.insert(t);
            }
        }
    }
    let next = if node.cut {
        name::successor_outside(key)
    } else {
        name::successor(key)
    };
    let mut nsec_rdata = Vec::with_capacity(key.len() + 40);
    nsec_rdata.extend_from_slice(next.as_bytes());
    types_at(present.types()).write_bitmap(&mut nsec_rdata);
    let prev_nsec = prev.and_then(|p| p.nsec.as_deref());
    let nsec = match prev_nsec {
        Some(p) if reuse_ok(&p.sigs, *p.rdata == *nsec_rdata) => p.clone(),
        _ => {
            let rd = [&nsec_rdata[..]];
            let rrset = RrsetRef {
                owner: key,
                rtype: types::NSEC,
                class: CLASS_IN,
                ttl: negative_ttl,
                rdatas: &rd,
            };
            let sigs = signer.sign(&rrset, input.now, scratch)?;
            *made += sigs.len();
            let refresh = sigs
                .first()
                .map_or(0, |s| validity.refresh_at(s.expiration, negative_ttl));
            NodeNsec {
                owner: key.into(),
                rdata: nsec_rdata.into(),
                sigs: SigSet::new(&sigs, refresh),
            }
        }
    };
    Ok(NodeSigs {
        sets: sets.into(),
        nsec: Some(Box::new(nsec)),
    })
}

/// The signatures of every zone of a snapshot, by zone id (`None`: not signed).
#[derive(Debug, Default)]
pub struct SignedZones {
    /// By [`Zone::id`].
    pub zones: Box<[Option<Arc<SignedZone>>]>,
}

impl SignedZones {
    /// The signatures of the zone `id`, if it is signed.
    pub fn zone(&self, id: u32) -> Option<&SignedZone> {
        self.zones.get(id as usize)?.as_deref()
    }
}

/// Signing for one snapshot: the policy, each zone's keys, and the current signatures, which
/// the refresh task replaces (readers load them once per answer, without a lock).
pub struct Signing {
    /// Validity and denial scheme.
    pub policy: Policy,
    /// Each zone's keys, by zone id (`None`: the zone is not signed).
    pub keys: Box<[Option<super::sign::KeySet>]>,
    /// By load balancer id: whether its pools have IPv4 and IPv6 addresses.
    pub lb_families: Box<[(bool, bool)]>,
    /// The current signatures.
    pub signed: arc_swap::ArcSwap<SignedZones>,
}

impl std::fmt::Debug for Signing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signing")
            .field("policy", &self.policy)
            .field("zones", &self.keys.iter().filter(|k| k.is_some()).count())
            .finish()
    }
}

/// What one refresh pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// Zones whose signatures were replaced.
    pub zones: usize,
    /// Signatures made.
    pub made: usize,
    /// Zones that could not be signed, and why (their old signatures keep serving).
    pub failed: Vec<(String, String)>,
}

impl Signing {
    /// Signs every zone that has keys, at `now`. `Err` names the first zone whose keys cannot
    /// sign (no active key with its private key) or whose signing failed.
    pub fn new(
        zones: &[&Zone],
        keys: Vec<Option<super::sign::KeySet>>,
        lb_families: Vec<(bool, bool)>,
        policy: Policy,
        now: u64,
    ) -> Result<Self, String> {
        let mut signing = Self {
            policy,
            keys: keys.into(),
            lb_families: lb_families.into(),
            signed: arc_swap::ArcSwap::from_pointee(SignedZones::default()),
        };
        let mut out: Vec<Option<Arc<SignedZone>>> = vec![None; signing.keys.len()];
        for zone in zones {
            let Some(Some(_)) = signing.keys.get(zone.id as usize) else {
                continue;
            };
            out[zone.id as usize] = Some(Arc::new(signing.sign_one(zone, now, None)?));
        }
        signing.signed = arc_swap::ArcSwap::from_pointee(SignedZones { zones: out.into() });
        Ok(signing)
    }

    /// Whether any zone is signed.
    pub fn any(&self) -> bool {
        self.keys.iter().any(Option::is_some)
    }

    fn sign_one(
        &self,
        zone: &Zone,
        now: u64,
        previous: Option<&SignedZone>,
    ) -> Result<SignedZone, String> {
        let keys = self.keys[zone.id as usize]
            .as_ref()
            .ok_or_else(|| format!("zone {} has no keys", zone.origin))?;
        let signer = Arc::new(keys.signer(now, self.policy.validity)?);
        let families = |lb: u32| {
            self.lb_families
                .get(lb as usize)
                .copied()
                .unwrap_or((true, true))
        };
        let input = SignInput {
            signer,
            now,
            lb_families: &families,
            previous,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        sign_zone(zone, &input).map_err(|e| format!("zone {}: {e}", zone.origin))
    }

    /// When the refresh task should next run: the earliest time a signature is due (less the
    /// pre-refresh, so that those due close together are made in one pass) or a key is
    /// published, activated, retired or deleted. `None` when nothing is signed.
    pub fn next_wake(&self, now: u64) -> Option<u64> {
        let signed = self.signed.load();
        let pre = u64::from(self.policy.validity.pre_refresh);
        let mut wake: Option<u64> = None;
        let mut at = |t: u64| wake = Some(wake.map_or(t, |w| w.min(t)));
        for (id, keys) in self.keys.iter().enumerate() {
            let Some(keys) = keys else { continue };
            if let Some(z) = signed.zone(id as u32) {
                at(z.refresh_at.saturating_sub(pre));
            }
            if let Some(t) = keys.next_event(now) {
                at(t);
            }
        }
        wake
    }

    /// Re-signs what is due at `now` (signatures within the pre-refresh of their refresh
    /// time, and everything a key change touches), keeping the rest, and publishes the new
    /// signatures. A zone that fails keeps its old signatures and is reported.
    pub fn refresh(&self, zones: &[&Zone], now: u64) -> Refreshed {
        let old = self.signed.load_full();
        let pre = u64::from(self.policy.validity.pre_refresh);
        let mut next: Vec<Option<Arc<SignedZone>>> = old.zones.to_vec();
        let mut done = Refreshed::default();
        for zone in zones {
            let id = zone.id as usize;
            let Some(Some(keys)) = self.keys.get(id) else {
                continue;
            };
            let Some(prev) = old.zones.get(id).and_then(Option::as_deref) else {
                continue;
            };
            let due = prev.refresh_at <= now + pre;
            // A key event: the signing keys or the published ones changed since.
            let changed = match keys.signer(now, self.policy.validity) {
                Ok(s) => {
                    s.id != prev.signer.id
                        || s.dnskey_rdatas() != prev.signer.dnskey_rdatas()
                        || s.cds_rdatas() != prev.signer.cds_rdatas()
                }
                Err(_) => true,
            };
            if !due && !changed {
                continue;
            }
            match self.sign_one(zone, now, Some(prev)) {
                Ok(z) => {
                    done.zones += 1;
                    done.made += z.made;
                    next[id] = Some(Arc::new(z));
                }
                Err(e) => done.failed.push((zone.origin.to_string(), e)),
            }
        }
        if done.zones > 0 {
            self.signed
                .store(Arc::new(SignedZones { zones: next.into() }));
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmaps_are_read_and_edited() {
        let t = TypeSet::from_types(&[1, 2, 28, 46, 47, 128, 1234]);
        let mut b = Vec::new();
        t.write_bitmap(&mut b);
        for x in [1, 2, 28, 46, 47, 128, 1234] {
            assert!(bitmap_has(&b, x), "{x}");
        }
        for x in [0, 3, 16, 43, 129, 1233, 1235, 65535] {
            assert!(!bitmap_has(&b, x), "{x}");
        }
        let mut out = Vec::new();
        bitmap_without(&b, 28, &mut out);
        assert!(!bitmap_has(&out, 28));
        assert!(bitmap_has(&out, 1) && bitmap_has(&out, 1234));
    }

    #[test]
    fn sig_sets_pack_and_unpack() {
        let sigs = [
            Rrsig {
                rdata: vec![1; 80].into(),
                expiration: 500,
            },
            Rrsig {
                rdata: vec![2; 90].into(),
                expiration: 400,
            },
        ];
        let s = SigSet::new(&sigs, 300);
        let got: Vec<&[u8]> = s.iter().collect();
        assert_eq!(got, vec![&[1u8; 80][..], &[2u8; 90][..]]);
        assert_eq!((s.refresh_at, s.expiration), (300, 400));
        assert!(SigSet::default().is_empty());
    }
}
