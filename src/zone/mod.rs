//! Static zone data: loading master files and the name index answers are looked up in.
//!
//! Names are indexed by their lower-cased wire form. Every ancestor of a name is a suffix of that
//! form, so the closest encloser, zone cuts and the covering zone are all found with hash lookups
//! on sub-slices of one buffer: no allocation per query, and the cost of a negative answer does
//! not grow with the zone (hickory's in-memory store scans every record for one).

pub mod master;
pub mod rdata;

use std::collections::HashMap;

use rustc_hash::FxHashMap;
use std::path::Path;

use hickory_proto::rr::{Name, RData, Record, RecordType};
use tracing::warn;

use crate::error::ConfigError;
use crate::wire::RecordSet;
use master::{SourcedRecord, ZoneRecords};

/// Longest wire-format name (RFC 1035 §3.1).
pub const MAX_NAME_LEN: usize = 255;

/// A name in lower-cased wire form, on the stack.
#[derive(Clone)]
pub struct WireName {
    len: usize,
    buf: [u8; MAX_NAME_LEN],
}

impl WireName {
    /// Lower-cases `name` into wire form. `name` is taken as fully qualified.
    pub fn from_name(name: &Name) -> Self {
        let mut w = Self {
            len: 0,
            buf: [0; MAX_NAME_LEN],
        };
        for label in name.iter() {
            // Name guarantees labels ≤ 63 and a total ≤ 255.
            w.buf[w.len] = label.len() as u8;
            for (i, b) in label.iter().enumerate() {
                w.buf[w.len + 1 + i] = b.to_ascii_lowercase();
            }
            w.len += 1 + label.len();
        }
        w.buf[w.len] = 0;
        w.len += 1;
        w
    }

    /// Lower-cases an uncompressed wire name (as found in a question section). Returns `None`
    /// when the bytes are not a well-formed uncompressed name.
    pub fn from_wire(bytes: &[u8]) -> Option<Self> {
        let mut w = Self {
            len: 0,
            buf: [0; MAX_NAME_LEN],
        };
        let mut i = 0;
        loop {
            let l = *bytes.get(i)? as usize;
            if l > 63 || w.len + l + 1 > MAX_NAME_LEN {
                return None;
            }
            if l == 0 {
                w.buf[w.len] = 0;
                w.len += 1;
                return Some(w);
            }
            let label = bytes.get(i + 1..i + 1 + l)?;
            w.buf[w.len] = l as u8;
            for (j, b) in label.iter().enumerate() {
                w.buf[w.len + 1 + j] = b.to_ascii_lowercase();
            }
            w.len += 1 + l;
            i += 1 + l;
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Offsets at which each suffix (the name itself, its parent, … the root) starts.
    pub fn suffixes(&self) -> impl Iterator<Item = &[u8]> {
        let bytes = self.as_bytes();
        let mut off = 0;
        std::iter::from_fn(move || {
            if off >= bytes.len() {
                return None;
            }
            let s = &bytes[off..];
            off += bytes[off] as usize + 1;
            Some(s)
        })
    }

    /// `*.` followed by `parent`.
    fn wildcard_of(parent: &[u8]) -> Option<Self> {
        if parent.len() + 2 > MAX_NAME_LEN {
            return None;
        }
        let mut w = Self {
            len: parent.len() + 2,
            buf: [0; MAX_NAME_LEN],
        };
        w.buf[0] = 1;
        w.buf[1] = b'*';
        w.buf[2..2 + parent.len()].copy_from_slice(parent);
        Some(w)
    }
}

/// All records of one type at one name.
#[derive(Debug)]
pub struct RRset {
    pub rtype: RecordType,
    pub records: RecordSet,
}

/// A name in the zone: the RRsets it owns. An empty non-terminal has none.
#[derive(Debug, Default)]
pub struct Node {
    pub rrsets: Vec<RRset>,
    /// A delegation point: NS records below the apex.
    pub cut: bool,
    /// A load balancer answers A and AAAA here (index into the snapshot's load balancers).
    pub lb: Option<u32>,
    /// A DNAME is here (RFC 6672): names below it are redirected, not looked up.
    pub dname: bool,
}

impl Node {
    pub fn get(&self, rtype: RecordType) -> Option<&RRset> {
        self.rrsets.iter().find(|r| r.rtype == rtype)
    }
}

/// Outcome of looking a name up inside one zone.
pub enum Found<'a> {
    /// The name exists (possibly as an empty non-terminal); `wildcard` when it was synthesised
    /// from a `*` node (RFC 4592).
    Node {
        node: &'a Node,
        wildcard: bool,
    },
    /// The name is at or below a zone cut: answer with a referral.
    Delegation(&'a Node),
    NxDomain,
}

#[derive(Debug)]
pub struct Zone {
    pub origin: Name,
    origin_key: Box<[u8]>,
    /// The SOA for negative answers, its TTL lowered to the SOA MINIMUM (RFC 2308 §3).
    pub negative_soa: RecordSet,
    nodes: FxHashMap<Box<[u8]>, Node>,
    has_cuts: bool,
    /// Some node holds a DNAME (see [`Zone::dname_above`]).
    pub has_dnames: bool,
    /// NSEC3 RRsets by owner (lower-cased wire form), kept out of the name tree.
    pub nsec3: FxHashMap<Box<[u8]>, RecordSet>,
    pub record_count: usize,
    /// The zone's name as a metrics label id.
    pub label: u32,
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
        let records = read.records;
        let origin_key: Box<[u8]> = WireName::from_name(origin).as_bytes().into();
        let mut by_name: HashMap<Box<[u8]>, Vec<SourcedRecord>> = HashMap::new();
        let first_line = records.first().map(|r| r.line).unwrap_or(1);
        let mut soa_line = None;
        // Records outside the zone: the first, and how many.
        let mut outside: Option<(SourcedRecord, usize)> = None;
        for r in records {
            if !origin.zone_of(&r.record.name) {
                // BIND and Knot ignore out-of-zone data with a warning (NSD refuses the zone).
                // A file written for another zone still fails: its SOA is missing here.
                match &mut outside {
                    Some((_, n)) => *n += 1,
                    None => outside = Some((r, 1)),
                }
                continue;
            }
            if r.record.record_type() == RecordType::SOA {
                if r.record.name != *origin {
                    errors.push(ConfigError::at(
                        &r.file,
                        r.line,
                        format!(
                            "SOA for {} is not at the zone apex {origin} (a zone file's name, \
                             <origin>.zone, sets its zone)",
                            r.record.name
                        ),
                    ));
                    continue;
                }
                if soa_line.is_some() {
                    errors.push(ConfigError::at(
                        &r.file,
                        r.line,
                        "second SOA record in zone",
                    ));
                    continue;
                }
                soa_line = Some((r.file.clone(), r.line));
            }
            let key: Box<[u8]> = WireName::from_name(&r.record.name).as_bytes().into();
            by_name.entry(key).or_default().push(r);
        }
        // Zone-wide checks only make sense on a zone read whole: a file that stopped at an
        // unclosed parenthesis has "no SOA" only because the SOA was never read.
        if let Some((first, n)) = &outside {
            warn!(
                "{}:{}: {} is outside zone {origin}: ignored, as BIND and Knot do ({n} \
                 out-of-zone record{} in all)",
                first.file.display(),
                first.line,
                first.record.name,
                if *n == 1 { "" } else { "s" }
            );
        }
        if soa_line.is_none() && read.complete {
            let hint = match &outside {
                Some((first, _)) => format!(
                    " ({} at {}:{} and the other records outside it were ignored: is the \
                     file named for its zone, <origin>.zone?)",
                    first.record.name,
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

        let mut nodes: FxHashMap<Box<[u8]>, Node> =
            FxHashMap::with_capacity_and_hasher(by_name.len() * 2, Default::default());
        // Where each NS RRset and DNAME came from, for the checks below.
        let mut ns_sources: Vec<(Box<[u8]>, SourcedRecord)> = Vec::new();
        let mut dname_sources: Vec<(Box<[u8]>, SourcedRecord)> = Vec::new();
        let mut nsec3: FxHashMap<Box<[u8]>, RecordSet> = FxHashMap::default();
        let mut record_count = 0;
        for (key, mut recs) in by_name {
            // Stable by type, keeping file order inside each RRset.
            recs.sort_by_key(|r| u16::from(r.record.record_type()));
            let mut node = Node::default();
            let has_cname = recs
                .iter()
                .any(|r| r.record.record_type() == RecordType::CNAME);
            if has_cname {
                let other = recs.iter().find(|r| {
                    !matches!(
                        r.record.record_type(),
                        RecordType::CNAME | RecordType::RRSIG | RecordType::NSEC
                    )
                });
                if let Some(o) = other {
                    errors.push(ConfigError::at(
                        &o.file,
                        o.line,
                        format!(
                            "{} has a CNAME and other data (RFC 1034 §3.6.2)",
                            o.record.name
                        ),
                    ));
                }
            }
            for group in recs.chunk_by(|a, b| a.record.record_type() == b.record.record_type()) {
                let rtype = group[0].record.record_type();
                if rtype == RecordType::CNAME && group.len() > 1 {
                    errors.push(ConfigError::at(
                        &group[1].file,
                        group[1].line,
                        format!("{} has more than one CNAME", group[1].record.name),
                    ));
                }
                if rtype == RecordType::DNAME {
                    if group.len() > 1 {
                        errors.push(ConfigError::at(
                            &group[1].file,
                            group[1].line,
                            format!(
                                "{} has more than one DNAME (RFC 6672 §2.4)",
                                group[1].record.name
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
                let ttl = group[0].record.ttl;
                let mut rs: Vec<Record> = Vec::with_capacity(group.len());
                for r in group {
                    if r.record.ttl != ttl {
                        // Knot does the same: one TTL per RRset (RFC 2181 §5.2), the first wins.
                        warn!(
                            "{}:{}: TTL {} differs from the RRset's TTL {ttl}; using {ttl}",
                            r.file.display(),
                            r.line,
                            r.record.ttl
                        );
                    }
                    let mut rec = r.record.clone();
                    rec.ttl = ttl;
                    // An RRset is a set (RFC 2181 §5): repeated records collapse into one.
                    if !rs.iter().any(|x| x.data == rec.data) {
                        rs.push(rec);
                    }
                }
                record_count += rs.len();
                if rtype == RecordType::NS {
                    if *key != *origin_key {
                        node.cut = true;
                    }
                    for r in group {
                        ns_sources.push((key.clone(), r.clone()));
                    }
                }
                if rtype == RecordType::NSEC3 {
                    // NSEC3 records hang in a tree of their own (RFC 5155 §7.2.8): their
                    // hashed owner names are not names of the zone, and a query for one is
                    // answered as NSD and Knot answer it, NXDOMAIN.
                    nsec3.insert(key.clone(), RecordSet::new(rs));
                    continue;
                }
                node.rrsets.push(RRset {
                    rtype,
                    records: RecordSet::new(rs),
                });
            }
            if !node.rrsets.is_empty() {
                nodes.insert(key, node);
            }
        }

        // Empty non-terminals: every ancestor of a name, up to the apex, exists.
        let keys: Vec<Box<[u8]>> = nodes.keys().cloned().collect();
        for key in &keys {
            let mut off = 0;
            while key.len() - off > origin_key.len() {
                off += key[off] as usize + 1;
                nodes.entry(key[off..].into()).or_default();
            }
        }

        // Data below a DNAME is never reached (RFC 6672 §2.3): BIND warns, Knot refuses.
        // Warned here, once per DNAME.
        dname_sources.sort_by(|a, b| (&a.1.file, a.1.line).cmp(&(&b.1.file, b.1.line)));
        for (dkey, src) in &dname_sources {
            if let Some(below) = keys
                .iter()
                .find(|k| k.len() > dkey.len() && is_below(k, dkey))
            {
                warn!(
                    "{}:{}: {} has a DNAME, so the data at {} below it is never answered \
                     (RFC 6672 §2.3)",
                    src.file.display(),
                    src.line,
                    src.record.name,
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
            warn_missing_glue(origin, &nodes, &ns_sources);
        }
        if errors.len() > errors_before {
            // In file order, whatever order the names were checked in.
            errors[errors_before..].sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            return None;
        }
        let mut negative = soa?.records[0].clone();
        if let RData::SOA(s) = &negative.data {
            negative.ttl = negative.ttl.min(s.minimum);
        }
        let has_cuts = nodes.values().any(|n| n.cut);
        let has_dnames = !dname_sources.is_empty();
        Some(Zone {
            origin: origin.clone(),
            origin_key,
            negative_soa: RecordSet::new(vec![negative]),
            nodes,
            has_cuts,
            has_dnames,
            nsec3,
            record_count,
            label: crate::metrics::label_id(&origin.to_string()),
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
        let key = wire.as_bytes();
        let mut off = 0;
        while key.len() - off > self.origin_key.len() {
            off += key[off] as usize + 1;
            self.nodes.entry(key[off..].into()).or_default();
        }
        Ok(())
    }

    pub fn node(&self, key: &[u8]) -> Option<&Node> {
        self.nodes.get(key)
    }

    pub fn apex(&self) -> &Node {
        &self.nodes[&*self.origin_key]
    }

    /// The highest node strictly above `name` (and below or at the apex) that holds a DNAME,
    /// if any: the name is then redirected by it (RFC 6672 §3.2). For answer synthesis.
    pub fn dname_above(&self, name: &WireName) -> Option<&Node> {
        if !self.has_dnames {
            return None;
        }
        let apex_len = self.origin_key.len();
        let mut found = None;
        for suffix in name.suffixes().skip(1) {
            if suffix.len() < apex_len {
                break;
            }
            if let Some(node) = self.nodes.get(suffix)
                && node.dname
            {
                found = Some(node);
            }
        }
        found
    }

    /// Looks up `name` (which must be at or below the apex) for `qtype`.
    pub fn find(&self, name: &WireName, qtype: RecordType) -> Found<'_> {
        let key = name.as_bytes();
        let apex_len = self.origin_key.len();
        if self.has_cuts {
            // Top-down: the highest cut wins. Suffixes come bottom-up, so remember the last.
            let mut cut = None;
            for (i, suffix) in name.suffixes().enumerate() {
                if suffix.len() <= apex_len {
                    break;
                }
                if let Some(node) = self.nodes.get(suffix)
                    && node.cut
                    // DS lives on the parent side of a cut (RFC 4035 §3.1.4.1).
                    && !(i == 0 && qtype == RecordType::DS)
                {
                    cut = Some(node);
                }
            }
            if let Some(node) = cut {
                return Found::Delegation(node);
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
    nodes: &FxHashMap<Box<[u8]>, Node>,
    ns_sources: &[(Box<[u8]>, SourcedRecord)],
) {
    let mut warned: Vec<Box<[u8]>> = Vec::new();
    for (_, src) in ns_sources {
        let RData::NS(target) = &src.record.data else {
            continue;
        };
        if !origin.zone_of(&target.0) {
            continue;
        }
        let key: Box<[u8]> = WireName::from_name(&target.0).as_bytes().into();
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
            target.0,
            src.record.name
        );
        warned.push(key);
    }
}

/// Every zone served, by apex.
#[derive(Debug, Default)]
pub struct Zones {
    by_origin: FxHashMap<Box<[u8]>, Zone>,
}

impl Zones {
    pub fn insert(&mut self, zone: Zone) {
        self.by_origin.insert(zone.origin_key.clone(), zone);
    }

    /// The zone with the longest origin that contains `name`.
    pub fn find(&self, name: &WireName) -> Option<&Zone> {
        name.suffixes().find_map(|s| self.by_origin.get(s))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Zone> {
        self.by_origin.values()
    }

    pub fn get_mut(&mut self, origin: &Name) -> Option<&mut Zone> {
        self.by_origin
            .get_mut(WireName::from_name(origin).as_bytes())
    }

    pub fn len(&self) -> usize {
        self.by_origin.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_origin.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn wire_name_lowercases_and_lists_suffixes() {
        let n = Name::from_str("WwW.Example.COM.").unwrap();
        let w = WireName::from_name(&n);
        assert_eq!(w.as_bytes(), b"\x03www\x07example\x03com\x00");
        let s: Vec<&[u8]> = w.suffixes().collect();
        assert_eq!(s.len(), 4);
        assert_eq!(s[1], b"\x07example\x03com\x00");
        assert_eq!(s[3], b"\x00");
        let from_wire = WireName::from_wire(b"\x03WWW\x07example\x03com\x00trailing").unwrap();
        assert_eq!(from_wire.as_bytes(), w.as_bytes());
        assert!(WireName::from_wire(b"\x05ab").is_none());
        assert!(WireName::from_wire(b"\xc0\x0c").is_none());
    }
}
