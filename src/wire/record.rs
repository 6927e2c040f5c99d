//! Records kept ready in wire form, so that writing an answer is copying bytes.
//!
//! Every record served (zone data, steered addresses, identity TXT) is rendered once, at load
//! time: owner name, TYPE/CLASS/TTL, and RDATA with its names uncompressed, plus where the
//! compressible names (NS, CNAME, PTR, MX, SOA, RFC 3597 §4) sit inside the RDATA. When a
//! response is written, names are compressed against the question's name, which is where
//! nearly all the repetition in an authoritative answer is (zone apex, the name itself).

use hickory_proto::rr::rdata::NULL;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{
    BinDecoder, BinEncodable, BinEncoder, NameEncoding, Restrict,
};

use super::name::{Pointers, name_end, name_wire};

/// One record, rendered: all that is kept of it (the typed form is decoded again from these
/// octets when a cold path needs it, [`WireRecord::to_record`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRecord {
    /// Owner name (uncompressed, as spelled in the data), then RDATA (its names
    /// uncompressed): one allocation per record.
    data: Box<[u8]>,
    /// Length of the owner name at the start of `data`.
    owner_len: u8,
    /// TYPE, CLASS, TTL.
    head: [u8; 8],
    /// (offset, length) of compressible names within the RDATA.
    names: [(u16, u16); 2],
    name_count: u8,
}

impl WireRecord {
    /// Renders `rec`.
    pub fn new(rec: &Record) -> Self {
        let mut rdata = Vec::with_capacity(32);
        {
            let mut enc = BinEncoder::new(&mut rdata);
            enc.set_name_encoding(NameEncoding::Uncompressed);
            // RDATA of records that parsed from text always encodes.
            let _ = rec.data.emit(&mut enc);
        }
        Self::from_parts(
            &name_wire(&rec.name),
            u16::from(rec.record_type()),
            u16::from(rec.dns_class),
            rec.ttl,
            &rdata,
        )
    }

    /// A record from its parts: `owner` an uncompressed wire name (at most 255 octets),
    /// `rdata` with its names uncompressed.
    pub fn from_parts(owner: &[u8], rtype: u16, class: u16, ttl: u32, rdata: &[u8]) -> Self {
        let mut head = [0u8; 8];
        head[0..2].copy_from_slice(&rtype.to_be_bytes());
        head[2..4].copy_from_slice(&class.to_be_bytes());
        head[4..8].copy_from_slice(&ttl.to_be_bytes());
        let mut names = [(0u16, 0u16); 2];
        let mut name_count = 0u8;
        let mut add = |off: usize| -> Option<usize> {
            let end = name_end(rdata, off, Pointers::Refused).ok()?;
            names[name_count as usize] = (off as u16, (end - off) as u16);
            name_count += 1;
            Some(end)
        };
        match RecordType::from(rtype) {
            RecordType::NS | RecordType::CNAME | RecordType::PTR => {
                add(0);
            }
            RecordType::MX => {
                add(2);
            }
            RecordType::SOA => {
                if let Some(next) = add(0) {
                    add(next);
                }
            }
            _ => {}
        }
        let mut data = Vec::with_capacity(owner.len() + rdata.len());
        data.extend_from_slice(owner);
        data.extend_from_slice(rdata);
        Self {
            data: data.into(),
            owner_len: owner.len() as u8,
            head,
            names,
            name_count,
        }
    }

    /// The fewest octets this record takes in a message: its owner as a compression pointer,
    /// TYPE, CLASS, TTL, RDLENGTH and its RDATA (names in it uncompressed, as at worst).
    pub fn min_len(&self) -> usize {
        2 + self.head.len() + 2 + self.rdata().len()
    }

    /// The owner name, uncompressed, as spelled in the data.
    pub fn owner(&self) -> &[u8] {
        &self.data[..self.owner_len as usize]
    }

    /// The TYPE code.
    pub fn rtype(&self) -> u16 {
        u16::from_be_bytes([self.head[0], self.head[1]])
    }

    /// The CLASS code.
    pub fn class(&self) -> u16 {
        u16::from_be_bytes([self.head[2], self.head[3]])
    }

    /// The TTL.
    pub fn ttl(&self) -> u32 {
        u32::from_be_bytes([self.head[4], self.head[5], self.head[6], self.head[7]])
    }

    /// Sets the TTL.
    pub fn set_ttl(&mut self, ttl: u32) {
        self.head[4..8].copy_from_slice(&ttl.to_be_bytes());
    }

    /// The RDATA, its names uncompressed.
    pub fn rdata(&self) -> &[u8] {
        &self.data[self.owner_len as usize..]
    }

    /// The name an NS, CNAME, DNAME, PTR, MX or SRV record points to (uncompressed, as
    /// spelled), read from its RDATA; `None` for other types.
    pub fn target(&self) -> Option<&[u8]> {
        let at = match RecordType::from(self.rtype()) {
            RecordType::NS | RecordType::CNAME | RecordType::DNAME | RecordType::PTR => 0,
            RecordType::MX => 2,
            RecordType::SRV => 6,
            _ => return None,
        };
        let rdata = self.rdata();
        let end = name_end(rdata, at, Pointers::Refused).ok()?;
        Some(&rdata[at..end])
    }

    /// The owner name as a hickory `Name` (for messages and cold paths).
    pub fn owner_name(&self) -> Name {
        wire_to_name(self.owner())
    }

    /// The record in hickory's typed form, decoded again from the stored octets as the zone
    /// reader keeps it ([`rdata_from_wire`]). For cold paths (transfers, explanations): the
    /// answer path writes the stored octets.
    pub fn to_record(&self) -> Record {
        let rtype = self.rtype();
        let data =
            rdata_from_wire(rtype, self.rdata()).unwrap_or_else(|_| unknown(rtype, self.rdata()));
        let mut rec = Record::from_rdata(self.owner_name(), self.ttl(), data);
        rec.dns_class = DNSClass::from(self.class());
        rec
    }
}

/// A hickory `Name` from a well-formed uncompressed wire name (the root for anything else).
pub fn wire_to_name(wire: &[u8]) -> Name {
    let mut labels: Vec<&[u8]> = Vec::new();
    let mut i = 0;
    while i < wire.len() && wire[i] != 0 {
        let end = (i + 1 + wire[i] as usize).min(wire.len());
        labels.push(&wire[i + 1..end]);
        i = end;
    }
    Name::from_labels(labels).unwrap_or_else(|_| Name::root())
}

fn unknown(rtype: u16, wire: &[u8]) -> RData {
    let mut rdata = NULL::new();
    // (`NULL::with` refuses empty data in debug builds; empty RDATA is valid for APL and
    // RFC 3597 `\# 0`.)
    rdata.anything = wire.to_vec();
    RData::Unknown {
        code: RecordType::from(rtype),
        rdata,
    }
}

/// The typed form of RDATA as zone data keeps it. Types the answer path and the zone checks
/// read by field (SOA, NS, CNAME, MX, SRV) are decoded by hickory, which must write back the
/// same octets; every other type is kept as its RFC 3597 octets, so that it is served exactly
/// as written whatever hickory knows of it.
pub fn rdata_from_wire(code: u16, wire: &[u8]) -> Result<RData, String> {
    match typed_rdata(code, wire)? {
        Some(data) => Ok(data),
        None => Ok(unknown(code, wire)),
    }
}

/// Checks RDATA as [`rdata_from_wire`] would, without making the RFC 3597 form of the types
/// kept as octets.
pub fn check_rdata(code: u16, wire: &[u8]) -> Result<(), String> {
    typed_rdata(code, wire).map(drop)
}

/// The typed form of the types decoded by hickory; `None` for the others.
fn typed_rdata(code: u16, wire: &[u8]) -> Result<Option<RData>, String> {
    let rtype = RecordType::from(code);
    if matches!(
        rtype,
        RecordType::SOA | RecordType::NS | RecordType::CNAME | RecordType::MX | RecordType::SRV
    ) {
        let len = u16::try_from(wire.len()).map_err(|_| "data too long")?;
        let mut decoder = BinDecoder::new(wire);
        let data = RData::read(&mut decoder, rtype, Restrict::new(len))
            .map_err(|e| format!("cannot decode its data: {e}"))?;
        if decoder.index() != wire.len() {
            return Err("trailing data after the last field".into());
        }
        // Served from the typed form: it must write back the same octets.
        let mut again = Vec::with_capacity(wire.len());
        let mut enc = BinEncoder::new(&mut again);
        enc.set_name_encoding(NameEncoding::Uncompressed);
        data.emit(&mut enc).map_err(|e| e.to_string())?;
        if again != wire {
            return Err("its data does not survive decoding unchanged".into());
        }
        return Ok(Some(data));
    }
    Ok(None)
}

/// The records of one RRset (or a pool's addresses), in wire form only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordSet {
    wire: Box<[WireRecord]>,
}

impl RecordSet {
    /// `records`, rendered.
    pub fn new(records: Vec<Record>) -> Self {
        Self {
            wire: records.iter().map(WireRecord::new).collect(),
        }
    }

    /// Records already rendered.
    pub fn from_wire(wire: Vec<WireRecord>) -> Self {
        Self { wire: wire.into() }
    }

    /// The rendered records, in order.
    pub fn wire(&self) -> &[WireRecord] {
        &self.wire
    }

    /// How many records.
    pub fn len(&self) -> usize {
        self.wire.len()
    }

    /// No records.
    pub fn is_empty(&self) -> bool {
        self.wire.is_empty()
    }

    /// The TTL of the first record (an RRset has one TTL).
    pub fn ttl(&self) -> Option<u32> {
        self.wire.first().map(WireRecord::ttl)
    }

    /// The records in hickory's typed form, decoded from the stored octets (cold paths only:
    /// this allocates).
    pub fn records(&self) -> Vec<Record> {
        self.wire.iter().map(WireRecord::to_record).collect()
    }

    /// The fewest octets a response answering this whole RRset takes: a header, the
    /// question (the owner, uncompressed), and each record at its most compressed. Over
    /// 65,535 it can never be sent, even over TCP.
    pub fn min_response_len(&self) -> usize {
        let owner = self.wire.first().map_or(1, |w| w.owner().len());
        12 + owner + 4 + self.wire.iter().map(WireRecord::min_len).sum::<usize>()
    }
}

/// Writes names into a response, compressing them against the question's name.
pub struct NameWriter<'q> {
    /// The question's name, lower-cased, uncompressed; it starts at offset 12.
    qname: &'q [u8],
    /// Offsets of its labels (where each suffix starts).
    suffixes: [u8; 128],
    suffix_count: usize,
}

impl<'q> NameWriter<'q> {
    /// A writer for responses whose question's name is `qname_lower` (lower-cased,
    /// uncompressed).
    pub fn new(qname_lower: &'q [u8]) -> Self {
        let mut suffixes = [0u8; 128];
        let mut n = 0;
        let mut i = 0;
        while i < qname_lower.len() && qname_lower[i] != 0 && n < suffixes.len() {
            suffixes[n] = i as u8;
            n += 1;
            i += 1 + qname_lower[i] as usize;
        }
        Self {
            qname: qname_lower,
            suffixes,
            suffix_count: n,
        }
    }

    /// Writes `name` (uncompressed wire), replacing its longest suffix that the question's
    /// name also ends with by a pointer there.
    pub fn write(&self, out: &mut Vec<u8>, name: &[u8]) {
        let mut k = 0;
        while k < name.len() && name[k] != 0 {
            let suffix = &name[k..];
            for &j in &self.suffixes[..self.suffix_count] {
                let q = &self.qname[j as usize..];
                if q.len() == suffix.len() && q.eq_ignore_ascii_case(suffix) {
                    out.extend_from_slice(&name[..k]);
                    out.extend_from_slice(&(0xC000u16 | (12 + u16::from(j))).to_be_bytes());
                    return;
                }
            }
            k += 1 + name[k] as usize;
        }
        out.extend_from_slice(name);
    }

    /// Writes a record whose RDATA is copied as it is (RRSIG and NSEC, whose names are never
    /// compressed, RFC 4034 §3.1.7 and §4.1.1). `owner` as for [`NameWriter::record`]'s
    /// override: empty for the question's name, else a name to write.
    pub fn raw(&self, out: &mut Vec<u8>, owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8]) {
        if owner.is_empty() {
            out.extend_from_slice(&[0xC0, 0x0C]);
        } else {
            self.write(out, owner);
        }
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(rdata);
    }

    /// Writes one record. `owner` overrides the record's own owner name: `Some(&[])` means the
    /// question's name (a pointer to offset 12), `Some(name)` a given name.
    pub fn record(&self, out: &mut Vec<u8>, rec: &WireRecord, owner: Option<&[u8]>) {
        match owner {
            Some([]) => out.extend_from_slice(&[0xC0, 0x0C]),
            Some(name) => self.write(out, name),
            None => self.write(out, rec.owner()),
        }
        out.extend_from_slice(&rec.head);
        let len_at = out.len();
        out.extend_from_slice(&[0, 0]);
        let start = out.len();
        let mut from = 0;
        let rdata = rec.rdata();
        for &(off, len) in &rec.names[..rec.name_count as usize] {
            let (off, len) = (off as usize, len as usize);
            out.extend_from_slice(&rdata[from..off]);
            self.write(out, &rdata[off..off + len]);
            from = off + len;
        }
        out.extend_from_slice(&rdata[from..]);
        let rdlen = (out.len() - start) as u16;
        out[len_at..len_at + 2].copy_from_slice(&rdlen.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Message;
    use hickory_proto::rr::Name;
    use hickory_proto::rr::RData;
    use hickory_proto::rr::rdata::{A, CNAME, MX, SOA};
    use std::str::FromStr;

    fn name(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    /// A response with the question `qname` and `recs` in ANSWER, written by NameWriter and
    /// read back by hickory: names must come back equal whatever was compressed.
    fn round_trip(qname: &str, recs: &[Record]) -> Message {
        let q = name(qname);
        let qwire = name_wire(&q);
        let lower: Vec<u8> = qwire.iter().map(u8::to_ascii_lowercase).collect();
        let mut out = vec![0u8; 12];
        out[2] = 0x84;
        out[5] = 1;
        out[7] = recs.len() as u8;
        out.extend_from_slice(&qwire);
        out.extend_from_slice(&[0, 1, 0, 1]);
        let w = NameWriter::new(&lower);
        for r in recs {
            w.record(&mut out, &WireRecord::new(r), None);
        }
        Message::from_vec(&out).unwrap()
    }

    #[test]
    fn names_compress_against_the_question_and_read_back_equal() {
        let soa = SOA::new(
            name("ns1.example.com."),
            name("hostmaster.example.com."),
            1,
            2,
            3,
            4,
            5,
        );
        let recs = vec![
            Record::from_rdata(name("www.example.com."), 60, RData::A(A::new(192, 0, 2, 1))),
            Record::from_rdata(name("example.com."), 300, RData::SOA(soa)),
            Record::from_rdata(
                name("Alias.Example.com."),
                60,
                RData::CNAME(CNAME(name("target.example.net."))),
            ),
            Record::from_rdata(
                name("example.com."),
                60,
                RData::MX(MX::new(10, name("mail.example.com."))),
            ),
        ];
        let m = round_trip("WWW.example.COM.", &recs);
        assert_eq!(m.answers.len(), recs.len());
        for (got, want) in m.answers.iter().zip(&recs) {
            assert_eq!(got.name, want.name);
            assert_eq!(got.data, want.data);
            assert_eq!(got.ttl, want.ttl);
        }
    }

    #[test]
    fn compression_shortens_the_answer() {
        let rec = Record::from_rdata(
            name("example.com."),
            60,
            RData::MX(MX::new(10, name("mail.example.com."))),
        );
        let w = WireRecord::new(&rec);
        let lower = name_wire(&name("www.example.com."));
        let mut out = Vec::new();
        NameWriter::new(&lower).record(&mut out, &w, None);
        // owner: pointer (2) + head (8) + rdlen (2) + preference (2) + "mail" (5) + pointer (2)
        assert_eq!(out.len(), 21);
        assert!(w.owner().len() + 10 + w.rdata().len() > out.len());
    }
}
