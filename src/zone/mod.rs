//! Static zone data: loading master files and the name index answers are looked up in.
//!
//! Names are indexed by their lower-cased wire form. Every ancestor of a name is a suffix of that
//! form, so the closest encloser, zone cuts and the covering zone are all found with hash lookups
//! on sub-slices of one buffer: no allocation per query, and the cost of a negative answer does
//! not grow with the zone (hickory's in-memory store scans every record for one).

pub mod master;
pub mod rdata;

use rustc_hash::{FxHashMap, FxHashSet};
use std::path::Path;

use hickory_proto::rr::{Name, RecordType};
use tracing::warn;

use crate::error::ConfigError;
use crate::wire::{RecordSet, WireName, WireRecord};
use master::{SourcedRecord, ZoneRecords};

/// All records of one type at one name.
#[derive(Debug)]
pub struct RRset {
    /// Its type.
    pub rtype: RecordType,
    /// Its records, in file order, one TTL.
    pub records: RecordSet,
}

/// A name in the zone: the RRsets it owns. An empty non-terminal has none.
#[derive(Debug, Default)]
pub struct Node {
    /// Its RRsets, by type.
    pub rrsets: Box<[RRset]>,
    /// A delegation point: NS records below the apex.
    pub cut: bool,
    /// A load balancer answers A and AAAA here (index into the snapshot's load balancers).
    pub lb: Option<u32>,
    /// Its number in the zone, 0 to [`Zone::node_count`] − 1, once [`Zone::number_nodes`]
    /// has run: what data kept beside the zone (signatures) is indexed by.
    pub id: u32,
    /// A DNAME is here (RFC 6672): names below it are redirected, not looked up.
    pub dname: bool,
}

impl Node {
    /// Its RRset of type `rtype`.
    pub fn get(&self, rtype: RecordType) -> Option<&RRset> {
        self.rrsets.iter().find(|r| r.rtype == rtype)
    }
}

/// Outcome of looking a name up inside one zone.
pub enum Found<'a> {
    /// The name exists (possibly as an empty non-terminal); `wildcard` when it was synthesised
    /// from a `*` node (RFC 4592).
    Node {
        /// The node found.
        node: &'a Node,
        /// Synthesised from a `*` node.
        wildcard: bool,
    },
    /// The name is at or below a zone cut: answer with a referral.
    Delegation(&'a Node),
    /// The name is below a DNAME (RFC 6672 §3.2): redirected by it.
    Dname {
        /// The node holding the DNAME.
        node: &'a Node,
        /// The length of its owner's wire form: the name's last `owner_len` octets.
        owner_len: usize,
    },
    /// The name does not exist.
    NxDomain,
}

/// One zone: its records indexed by owner name, checked as NSD and Knot check them.
#[derive(Debug)]
pub struct Zone {
    /// The apex.
    pub origin: Name,
    origin_key: Box<[u8]>,
    /// The SOA for negative answers, its TTL lowered to the SOA MINIMUM (RFC 2308 §3).
    pub negative_soa: RecordSet,
    nodes: FxHashMap<Box<[u8]>, Node>,
    has_cuts: bool,
    /// Some node holds a DNAME: [`Zone::find`] looks for one above each name.
    pub has_dnames: bool,
    /// NSEC3 RRsets by owner (lower-cased wire form), kept out of the name tree.
    pub nsec3: FxHashMap<Box<[u8]>, RecordSet>,
    /// Records served (after repeated ones collapse).
    pub record_count: usize,
    /// Its position among the snapshot's zones (set by [`Zones::insert`]).
    pub id: u32,
}

impl Zone {
    /// Builds a zone from the records of its file(s), checking what NSD and Knot check before
    /// they will serve a zone.
    pub fn build(
        origin: &Name,
        zone_file: &Path,
        read: ZoneRecords,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Zone> {
        let errors_before = errors.len();
        let origin_key: Box<[u8]> = WireName::from_name(origin).as_bytes().into();
        // Records stay where they were read, in their compact wire form, and are sorted there
        // by name; each is then moved (not copied) into its RRset, and the reader's vector
        // shrinks as the nodes grow: a million-record zone is never held twice, nor as
        // hickory records.
        let mut records = read.records;
        let first_line = records.first().map_or(1, |r| r.line);
        let mut soa_line = None;
        // Records outside the zone: the first, and how many.
        let mut outside: Option<(SourcedRecord, usize)> = None;
        records.retain(|r| {
            let in_zone = WireName::from_wire(r.record.owner())
                .is_some_and(|k| is_below(k.as_bytes(), &origin_key));
            if !in_zone {
                // BIND and Knot ignore out-of-zone data with a warning (NSD refuses the zone).
                // A file written for another zone still fails: its SOA is missing here.
                match &mut outside {
                    Some((_, n)) => *n += 1,
                    None => outside = Some((r.clone(), 1)),
                }
                return false;
            }
            if r.record.rtype() == u16::from(RecordType::SOA) {
                if !lower_eq(r.record.owner(), &origin_key) {
                    errors.push(ConfigError::at(
                        &r.file,
                        r.line,
                        format!(
                            "SOA for {} is not at the zone apex {origin} (a zone file's name, \
                             <origin>.zone, sets its zone)",
                            wire_display(r.record.owner())
                        ),
                    ));
                    return false;
                }
                if soa_line.is_some() {
                    errors.push(ConfigError::at(
                        &r.file,
                        r.line,
                        "second SOA record in zone",
                    ));
                    return false;
                }
                soa_line = Some((r.file.clone(), r.line));
            }
            true
        });
        // By name (case-insensitively), in file order within a name (a stable sort).
        records.sort_by(|a, b| lower_cmp(a.record.owner(), b.record.owner()));
        // Zone-wide checks only make sense on a zone read whole: a file that stopped at an
        // unclosed parenthesis has "no SOA" only because the SOA was never read.
        if let Some((first, n)) = &outside {
            warn!(
                "{}:{}: {} is outside zone {origin}: ignored, as BIND and Knot do ({n} \
                 out-of-zone record{} in all)",
                first.file.display(),
                first.line,
                wire_display(first.record.owner()),
                if *n == 1 { "" } else { "s" }
            );
        }
        if soa_line.is_none() && read.complete {
            let hint = match &outside {
                Some((first, _)) => format!(
                    " ({} at {}:{} and the other records outside it were ignored: is the \
                     file named for its zone, <origin>.zone?)",
                    wire_display(first.record.owner()),
                    first.file.display(),
                    first.line
                ),
                None => String::new(),
            };
            errors.push(ConfigError::at(
                zone_file,
                first_line,
                format!("zone {origin} has no SOA record at its apex{hint}"),
            ));
        }

        let names = 1 + records
            .windows(2)
            .filter(|w| !lower_eq(w[0].record.owner(), w[1].record.owner()))
            .count();
        // Room for the names and some empty non-terminals; more grow the map.
        let mut nodes: FxHashMap<Box<[u8]>, Node> =
            FxHashMap::with_capacity_and_hasher(names + names / 8, Default::default());
        // Where each NS RRset and DNAME came from, for the checks below.
        let mut ns_sources: Vec<(Box<[u8]>, SourcedRecord)> = Vec::new();
        let mut dname_sources: Vec<(Box<[u8]>, SourcedRecord)> = Vec::new();
        let mut nsec3: FxHashMap<Box<[u8]>, RecordSet> = FxHashMap::default();
        let mut record_count = 0;
        // Name by name from the end, so that the records taken are cut off the vector.
        while let Some(last) = records.last() {
            let mut from = records.len() - 1;
            while from > 0 && lower_eq(records[from - 1].record.owner(), last.record.owner()) {
                from -= 1;
            }
            let mut recs: Vec<SourcedRecord> = records.drain(from..).collect();
            if records.capacity() > 2 * records.len() + 4096 {
                records.shrink_to_fit();
            }
            let Some(key) = WireName::from_wire(recs[0].record.owner()) else {
                continue;
            };
            let key: Box<[u8]> = key.as_bytes().into();
            // Stable by type, keeping file order inside each RRset.
            recs.sort_by_key(|r| r.record.rtype());
            let mut node = Node::default();
            let is = |r: &SourcedRecord, t: RecordType| r.record.rtype() == u16::from(t);
            let has_cname = recs.iter().any(|r| is(r, RecordType::CNAME));
            if has_cname {
                let other = recs.iter().find(|r| {
                    !(is(r, RecordType::CNAME)
                        || is(r, RecordType::RRSIG)
                        || is(r, RecordType::NSEC))
                });
                if let Some(o) = other {
                    errors.push(ConfigError::at(
                        &o.file,
                        o.line,
                        format!(
                            "{} has a CNAME and other data (RFC 1034 §3.6.2)",
                            wire_display(o.record.owner())
                        ),
                    ));
                }
            }
            let runs: Vec<usize> = recs
                .chunk_by(|a, b| a.record.rtype() == b.record.rtype())
                .map(<[SourcedRecord]>::len)
                .collect();
            let mut rrsets: Vec<RRset> = Vec::with_capacity(runs.len());
            let mut recs = recs.into_iter();
            for run in runs {
                let group: Vec<SourcedRecord> = recs.by_ref().take(run).collect();
                let rtype = RecordType::from(group[0].record.rtype());
                if rtype == RecordType::CNAME && group.len() > 1 {
                    errors.push(ConfigError::at(
                        &group[1].file,
                        group[1].line,
                        format!(
                            "{} has more than one CNAME",
                            wire_display(group[1].record.owner())
                        ),
                    ));
                }
                if rtype == RecordType::DNAME {
                    if group.len() > 1 {
                        errors.push(ConfigError::at(
                            &group[1].file,
                            group[1].line,
                            format!(
                                "{} has more than one DNAME (RFC 6672 §2.4)",
                                wire_display(group[1].record.owner())
                            ),
                        ));
                    }
                    node.dname = true;
                    dname_sources.push((key.clone(), group[0].clone()));
                }
                if rtype == RecordType::DS && *key == *origin_key {
                    // BIND refuses this; NSD and Knot load it. It is served only to a client
                    // that asks this server for the apex DS, which belongs to the parent.
                    warn!(
                        "{}:{}: DS at the zone apex {origin}: DS records belong in the parent \
                         zone",
                        group[0].file.display(),
                        group[0].line
                    );
                }
                if rtype == RecordType::NS {
                    if *key != *origin_key {
                        node.cut = true;
                    }
                    for r in &group {
                        ns_sources.push((key.clone(), r.clone()));
                    }
                }
                let ttl = group[0].record.ttl();
                let (first_file, first_line) = (group[0].file.clone(), group[0].line);
                let mut rs: Vec<WireRecord> = Vec::with_capacity(group.len());
                for r in group {
                    if r.record.ttl() != ttl {
                        // Knot does the same: one TTL per RRset (RFC 2181 §5.2), the first wins.
                        warn!(
                            "{}:{}: TTL {} differs from the RRset's TTL {ttl}; using {ttl}",
                            r.file.display(),
                            r.line,
                            r.record.ttl()
                        );
                    }
                    let mut rec = r.record;
                    rec.set_ttl(ttl);
                    // An RRset is a set (RFC 2181 §5): repeated records collapse into one.
                    if !rs.iter().any(|x| same_rdata(x, &rec)) {
                        rs.push(rec);
                    }
                }
                record_count += rs.len();
                if rtype == RecordType::NSEC3 {
                    // NSEC3 records hang in a tree of their own (RFC 5155 §7.2.8): their
                    // hashed owner names are not names of the zone, and a query for one is
                    // answered as NSD and Knot answer it, NXDOMAIN.
                    nsec3.insert(key.clone(), RecordSet::from_wire(rs));
                    continue;
                }
                let records = RecordSet::from_wire(rs);
                if records.min_response_len() > 65535 {
                    // It would be served as an empty TC answer even over TCP: refuse it, as
                    // NSD and Knot refuse what does not fit a message.
                    errors.push(ConfigError::at(
                        &first_file,
                        first_line,
                        format!(
                            "the {rtype} RRset of {} ({} records) does not fit in a 64 KiB DNS \
                             message ({} octets at least): it could never be answered",
                            wire_display(records.wire()[0].owner()),
                            records.len(),
                            records.min_response_len()
                        ),
                    ));
                }
                rrsets.push(RRset { rtype, records });
            }
            if !rrsets.is_empty() {
                node.rrsets = rrsets.into_boxed_slice();
                nodes.insert(key, node);
            }
        }

        drop(records);

        // Empty non-terminals: the ancestors of names that own nothing themselves (found
        // first, borrowing the names, so that the names are not copied).
        let missing: Vec<Box<[u8]>> = {
            let mut missing: FxHashSet<&[u8]> = FxHashSet::default();
            for key in nodes.keys() {
                let mut off = 0;
                while key.len() - off > origin_key.len() {
                    off += key[off] as usize + 1;
                    let above = &key[off..];
                    // A name of the zone, or one met before: the walk from it covers the
                    // rest.
                    if nodes.contains_key(above) || !missing.insert(above) {
                        break;
                    }
                }
            }
            missing.into_iter().map(Box::from).collect()
        };
        for key in missing {
            nodes.entry(key).or_default();
        }

        // Data below a DNAME is never reached (RFC 6672 §2.3): BIND warns, Knot refuses.
        // Warned here, once per DNAME.
        dname_sources.sort_by(|a, b| (&a.1.file, a.1.line).cmp(&(&b.1.file, b.1.line)));
        for (dkey, src) in &dname_sources {
            if let Some((below, _)) = nodes
                .iter()
                .find(|(k, n)| !n.rrsets.is_empty() && k.len() > dkey.len() && is_below(k, dkey))
            {
                warn!(
                    "{}:{}: {} has a DNAME, so the data at {} below it is never answered \
                     (RFC 6672 §2.3)",
                    src.file.display(),
                    src.line,
                    wire_display(src.record.owner()),
                    wire_display(below)
                );
            }
        }

        let apex = nodes.get(&*origin_key);
        let soa = apex.and_then(|n| n.get(RecordType::SOA));
        if soa_line.is_some()
            && apex.and_then(|n| n.get(RecordType::NS)).is_none()
            && let Some((file, line)) = &soa_line
        {
            errors.push(ConfigError::at(
                file,
                *line,
                format!("zone {origin} has no NS records at its apex"),
            ));
        }
        if read.complete {
            ns_sources.sort_by(|a, b| (&a.1.file, a.1.line).cmp(&(&b.1.file, b.1.line)));
            warn_missing_glue(origin, &origin_key, &nodes, &ns_sources);
        }
        if errors.len() > errors_before {
            // In file order, whatever order the names were checked in.
            errors[errors_before..].sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            return None;
        }
        let mut negative = soa?.records.wire().first()?.clone();
        // MINIMUM is the SOA's last field.
        if let Some(min) = negative
            .rdata()
            .last_chunk::<4>()
            .map(|m| u32::from_be_bytes(*m))
        {
            negative.set_ttl(negative.ttl().min(min));
        }
        let has_cuts = nodes.values().any(|n| n.cut);
        let has_dnames = !dname_sources.is_empty();
        Some(Zone {
            origin: origin.clone(),
            origin_key,
            negative_soa: RecordSet::from_wire(vec![negative]),
            nodes,
            has_cuts,
            has_dnames,
            nsec3,
            record_count,
            id: 0,
        })
    }

    /// Makes `name` a load-balanced name. Refused where the zone file already answers A, AAAA
    /// or CNAME there (two sources for one RRset), and at or below a zone cut (the data would
    /// never be served authoritatively).
    pub fn attach_load_balancer(&mut self, name: &Name, id: u32) -> Result<(), String> {
        let wire = WireName::from_name(name);
        for suffix in wire.suffixes() {
            if suffix.len() <= self.origin_key.len() {
                break;
            }
            if self.nodes.get(suffix).is_some_and(|n| n.cut) {
                return Err(format!(
                    "{name} is at or below the delegation point of a zone cut"
                ));
            }
        }
        if let Some(node) = self.nodes.get(wire.as_bytes()) {
            for t in [RecordType::A, RecordType::AAAA, RecordType::CNAME] {
                if node.get(t).is_some() {
                    return Err(format!(
                        "{name} has {t} records in the zone file; a load balancer answers A and \
                         AAAA there itself (remove them from the zone file)"
                    ));
                }
            }
            if node.lb.is_some() {
                return Err(format!("{name} already has a load balancer"));
            }
        }
        self.nodes.entry(wire.as_bytes().into()).or_default().lb = Some(id);
        add_ancestors(&mut self.nodes, wire.as_bytes(), self.origin_key.len());
        Ok(())
    }

    /// Numbers the nodes 0, 1, … (in no particular order) and returns how many there are.
    /// Run once the zone is complete (load balancers attached).
    pub fn number_nodes(&mut self) -> usize {
        for (i, node) in self.nodes.values_mut().enumerate() {
            node.id = i as u32;
        }
        self.nodes.len()
    }

    /// How many nodes (names, empty non-terminals included) the zone has.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Every node with its lower-cased wire name, in no order.
    pub fn nodes(&self) -> impl Iterator<Item = (&[u8], &Node)> {
        self.nodes.iter().map(|(k, n)| (&**k, n))
    }

    /// The apex, lower-cased wire form.
    pub fn origin_key(&self) -> &[u8] {
        &self.origin_key
    }

    /// Whether the name `key` (lower-cased wire form, in the zone) lies strictly below a zone
    /// cut: its data is glue or occluded, not authoritative.
    pub fn below_cut(&self, key: &[u8]) -> bool {
        if !self.has_cuts {
            return false;
        }
        let apex_len = self.origin_key.len();
        let mut off = 0;
        while key.len() - off > apex_len {
            off += key[off] as usize + 1;
            if key.len() - off > apex_len && self.nodes.get(&key[off..]).is_some_and(|n| n.cut) {
                return true;
            }
        }
        false
    }

    /// The node at the lower-cased wire name `key`.
    pub fn node(&self, key: &[u8]) -> Option<&Node> {
        self.nodes.get(key)
    }

    /// Whether the lower-cased wire name `key` is at or below the apex.
    pub fn contains(&self, key: &[u8]) -> bool {
        is_below(key, &self.origin_key)
    }

    /// Looks up `name` (which must be at or below the apex) for `qtype`.
    pub fn find(&self, name: &WireName, qtype: RecordType) -> Found<'_> {
        let key = name.as_bytes();
        let apex_len = self.origin_key.len();
        if self.has_cuts || self.has_dnames {
            // Top-down: the highest cut or DNAME wins (data below either is never reached).
            // Suffixes come bottom-up, so remember the last. A DNAME may be at the apex; a cut
            // never is, so without DNAMEs the apex is not looked at.
            let shortest = if self.has_dnames {
                apex_len
            } else {
                apex_len + 1
            };
            let mut redirect = None;
            for (i, suffix) in name.suffixes().enumerate() {
                if suffix.len() < shortest {
                    break;
                }
                let Some(node) = self.nodes.get(suffix) else {
                    continue;
                };
                // DS lives on the parent side of a cut (RFC 4035 §3.1.4.1).
                if node.cut && !(i == 0 && qtype == RecordType::DS) {
                    redirect = Some(Found::Delegation(node));
                } else if node.dname && i > 0 {
                    // Only the names below a DNAME are redirected, not its owner (RFC 6672
                    // §2.3).
                    redirect = Some(Found::Dname {
                        node,
                        owner_len: suffix.len(),
                    });
                }
            }
            if let Some(found) = redirect {
                return found;
            }
        }
        if let Some(node) = self.nodes.get(key) {
            return Found::Node {
                node,
                wildcard: false,
            };
        }
        // RFC 4592 §3.3.1: the closest encloser's `*` child, if any, answers.
        for suffix in name.suffixes().skip(1) {
            if suffix.len() < apex_len {
                break;
            }
            if self.nodes.contains_key(suffix) {
                if let Some(w) = WireName::wildcard_of(suffix)
                    && let Some(node) = self.nodes.get(w.as_bytes())
                {
                    return Found::Node {
                        node,
                        wildcard: true,
                    };
                }
                break;
            }
        }
        Found::NxDomain
    }
}

/// `name` (lower-cased wire form) is `ancestor` or below it, on a label boundary.
fn is_below(name: &[u8], ancestor: &[u8]) -> bool {
    let mut off = 0;
    while off < name.len() {
        if &name[off..] == ancestor {
            return true;
        }
        off += name[off] as usize + 1;
    }
    false
}

/// A wire name in presentation format, for messages.
fn wire_display(wire: &[u8]) -> String {
    Name::from_labels(rdata::wire_labels(wire)).map_or_else(|_| "?".into(), |n| n.to_string())
}

/// Knot and BIND refuse a zone whose NS records name a server inside the zone that has no
/// address there (no glue can be given for it); NSD loads it. geosteer loads it and warns,
/// once per server name, at the first NS record naming it.
fn warn_missing_glue(
    origin: &Name,
    origin_key: &[u8],
    nodes: &FxHashMap<Box<[u8]>, Node>,
    ns_sources: &[(Box<[u8]>, SourcedRecord)],
) {
    let mut warned: Vec<Box<[u8]>> = Vec::new();
    for (_, src) in ns_sources {
        let Some(target) = src.record.target() else {
            continue;
        };
        let Some(key) = WireName::from_wire(target) else {
            continue;
        };
        if !is_below(key.as_bytes(), origin_key) {
            continue;
        }
        let key: Box<[u8]> = key.as_bytes().into();
        let has_address = nodes
            .get(&key)
            .is_some_and(|n| n.get(RecordType::A).is_some() || n.get(RecordType::AAAA).is_some());
        if has_address || warned.contains(&key) {
            continue;
        }
        warn!(
            "{}:{}: name server {} of {} is inside zone {origin} but has no A or AAAA record \
             in the zone file (missing glue: resolvers cannot reach it through this zone)",
            src.file.display(),
            src.line,
            wire_display(target),
            wire_display(src.record.owner())
        );
        warned.push(key);
    }
}

/// Two wire names equal but for the case of ASCII letters (length octets are below 64, so
/// never letters).
fn lower_eq(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Wire names ordered by their lower-cased octets.
fn lower_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.iter()
        .map(u8::to_ascii_lowercase)
        .cmp(b.iter().map(u8::to_ascii_lowercase))
}

/// Whether two records of one type hold the same data, as hickory compares them (names in
/// typed RDATA case-insensitively, RFC 3597 octets exactly): the test that collapses a
/// repeated record into one.
fn same_rdata(a: &WireRecord, b: &WireRecord) -> bool {
    let (x, y) = (a.rdata(), b.rdata());
    if x == y {
        return true;
    }
    if !x.eq_ignore_ascii_case(y) {
        return false;
    }
    match (
        crate::wire::rdata_from_wire(a.rtype(), x),
        crate::wire::rdata_from_wire(b.rtype(), y),
    ) {
        (Ok(p), Ok(q)) => p == q,
        _ => false,
    }
}

/// Empty non-terminals: makes every ancestor of the name `key` exist, up to the apex (whose
/// wire form is `apex_len` octets long).
fn add_ancestors(nodes: &mut FxHashMap<Box<[u8]>, Node>, key: &[u8], apex_len: usize) {
    let mut off = 0;
    while key.len() - off > apex_len {
        off += key[off] as usize + 1;
        nodes.entry(key[off..].into()).or_default();
    }
}

/// Every zone served, by apex.
#[derive(Debug, Default)]
pub struct Zones {
    by_origin: FxHashMap<Box<[u8]>, Zone>,
}

impl Zones {
    /// Adds `zone`, numbering it after those already in (a zone for the same apex replaces
    /// the one there, keeping its number).
    pub fn insert(&mut self, mut zone: Zone) {
        let next = self.by_origin.len() as u32;
        zone.id = self
            .by_origin
            .get(&zone.origin_key)
            .map_or(next, |old| old.id);
        self.by_origin.insert(zone.origin_key.clone(), zone);
    }

    /// The zone with the longest origin that contains `name`.
    pub fn find(&self, name: &WireName) -> Option<&Zone> {
        name.suffixes().find_map(|s| self.by_origin.get(s))
    }

    /// The zone with the longest origin strictly above the apex `apex` (lower-cased wire
    /// form): the parent zone, when it is served here too.
    pub fn find_above(&self, apex: &[u8]) -> Option<&Zone> {
        let mut off = 0;
        while off < apex.len() && apex[off] != 0 {
            off += apex[off] as usize + 1;
            if let Some(z) = self.by_origin.get(&apex[off..]) {
                return Some(z);
            }
        }
        None
    }

    /// Whether `name` is the apex of a zone.
    pub fn is_apex(&self, name: &WireName) -> bool {
        self.by_origin.contains_key(name.as_bytes())
    }

    /// Every zone, in no order.
    pub fn iter(&self) -> impl Iterator<Item = &Zone> {
        self.by_origin.values()
    }

    /// Every zone, to finish building them.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Zone> {
        self.by_origin.values_mut()
    }

    /// The zone whose apex is `origin`.
    pub fn get_mut(&mut self, origin: &Name) -> Option<&mut Zone> {
        self.by_origin
            .get_mut(WireName::from_name(origin).as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    /// Reads `text` as the zone example.com. and builds it.
    fn build(text: &str) -> (Option<Zone>, Vec<ConfigError>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("example.com.zone");
        std::fs::write(&path, text).unwrap();
        let origin = Name::from_str("example.com.").unwrap();
        let mut errors = Vec::new();
        let read = master::read_zone_file(&path, &origin, &mut errors);
        let zone = Zone::build(&origin, &path, read, &mut errors);
        (zone, errors)
    }

    fn key(name: &str) -> Vec<u8> {
        WireName::from_name(&Name::from_str(name).unwrap())
            .as_bytes()
            .to_vec()
    }

    const HEAD: &str = "$TTL 300\n@ SOA ns1 host 1 2 3 4 60\n@ NS ns1\nns1 A 192.0.2.1\n";

    #[test]
    fn names_group_whatever_their_case_and_keep_their_spelling() {
        let (zone, errors) = build(&format!(
            "{HEAD}WWW A 192.0.2.2\nmail MX 10 ns1\nwww A 192.0.2.3\nWww AAAA 2001:db8::1\n"
        ));
        assert!(errors.is_empty(), "{errors:?}");
        let zone = zone.unwrap();
        let node = zone.node(&key("www.example.com.")).unwrap();
        let a = node.get(RecordType::A).unwrap();
        assert_eq!(a.records.len(), 2);
        // File order inside the RRset, each record with its owner as written.
        assert_eq!(
            a.records.wire()[0].owner(),
            b"\x03WWW\x07example\x03com\x00"
        );
        assert_eq!(a.records.wire()[1].rdata(), &[192, 0, 2, 3]);
        assert!(node.get(RecordType::AAAA).is_some());
        assert_eq!(zone.record_count, 7);
    }

    #[test]
    fn repeated_records_collapse_names_compared_as_hickory_compares_them() {
        // NS targets differing only in case are one record (names compare case-blind); TXT
        // strings differing in case are two.
        let (zone, errors) = build(&format!(
            "{HEAD}sub NS ns.Other.net.\nsub NS ns.other.net.\nt TXT \"A\"\nt TXT \"a\"\nt TXT \"A\"\n"
        ));
        assert!(errors.is_empty(), "{errors:?}");
        let zone = zone.unwrap();
        let sub = zone.node(&key("sub.example.com.")).unwrap();
        assert_eq!(sub.get(RecordType::NS).unwrap().records.len(), 1);
        assert!(sub.cut);
        let t = zone.node(&key("t.example.com.")).unwrap();
        assert_eq!(t.get(RecordType::TXT).unwrap().records.len(), 2);
    }

    #[test]
    fn the_negative_soa_takes_the_minimum_and_records_decode_again() {
        let (zone, errors) = build(&format!("{HEAD}c CNAME ns1\n"));
        assert!(errors.is_empty(), "{errors:?}");
        let zone = zone.unwrap();
        assert_eq!(zone.negative_soa.ttl(), Some(60));
        let soa = zone.negative_soa.records();
        let hickory_proto::rr::RData::SOA(s) = &soa[0].data else {
            panic!("{soa:?}");
        };
        assert_eq!((s.serial, s.minimum), (1, 60));
        let c = zone.node(&key("c.example.com.")).unwrap();
        let rec = &c.get(RecordType::CNAME).unwrap().records.records()[0];
        assert_eq!(rec.name, Name::from_str("c.example.com.").unwrap());
        let hickory_proto::rr::RData::CNAME(t) = &rec.data else {
            panic!("{rec:?}");
        };
        assert_eq!(t.0, Name::from_str("ns1.example.com.").unwrap());
        assert_eq!(rec.ttl, 300);
    }

    #[test]
    fn errors_keep_file_order_lexer_first_when_entries_are_read_as_lexed() {
        // A lexer error late in the file is reported before a record error early in it, as
        // when the whole file was lexed first.
        let (_, errors) = build(&format!("{HEAD}bad A 999.0.0.1\nok A 192.0.2.9\n)\n"));
        let lines: Vec<Option<usize>> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![Some(7), Some(5)], "{errors:?}");
    }
}
