//! Records kept ready in wire form, so that writing an answer is copying bytes.
//!
//! Every record served (zone data, steered addresses, identity TXT) is rendered once, at load
//! time: owner name, TYPE/CLASS/TTL, and RDATA with its names uncompressed, plus where the
//! compressible names (NS, CNAME, PTR, MX, SOA, RFC 3597 §4) sit inside the RDATA. When a
//! response is written, names are compressed against the question's name, which is where
//! nearly all the repetition in an authoritative answer is (zone apex, the name itself).

use std::ops::Deref;

use hickory_proto::rr::{Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

use super::name::{Pointers, name_end, name_wire};

/// One record, rendered.
#[derive(Debug, Clone)]
pub struct WireRecord {
    /// Owner name, uncompressed, as spelled in the data.
    owner: Box<[u8]>,
    /// TYPE, CLASS, TTL.
    head: [u8; 8],
    /// RDATA with its names uncompressed.
    rdata: Box<[u8]>,
    /// (offset, length) of compressible names within `rdata`.
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
        let mut head = [0u8; 8];
        head[0..2].copy_from_slice(&u16::from(rec.record_type()).to_be_bytes());
        head[2..4].copy_from_slice(&u16::from(rec.dns_class).to_be_bytes());
        head[4..8].copy_from_slice(&rec.ttl.to_be_bytes());
        let mut names = [(0u16, 0u16); 2];
        let mut name_count = 0u8;
        let mut add = |off: usize, rd: &[u8]| -> Option<usize> {
            let end = name_end(rd, off, Pointers::Refused).ok()?;
            names[name_count as usize] = (off as u16, (end - off) as u16);
            name_count += 1;
            Some(end)
        };
        match rec.record_type() {
            RecordType::NS | RecordType::CNAME | RecordType::PTR => {
                add(0, &rdata);
            }
            RecordType::MX => {
                add(2, &rdata);
            }
            RecordType::SOA => {
                if let Some(next) = add(0, &rdata) {
                    add(next, &rdata);
                }
            }
            _ => {}
        }
        Self {
            owner: name_wire(&rec.name).into(),
            head,
            rdata: rdata.into(),
            names,
            name_count,
        }
    }
}

impl WireRecord {
    /// The fewest octets this record takes in a message: its owner as a compression pointer,
    /// TYPE, CLASS, TTL, RDLENGTH and its RDATA (names in it uncompressed, as at worst).
    pub fn min_len(&self) -> usize {
        2 + self.head.len() + 2 + self.rdata.len()
    }

    /// The owner name, uncompressed, as spelled in the data.
    pub fn owner(&self) -> &[u8] {
        &self.owner
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

    /// The RDATA, its names uncompressed.
    pub fn rdata(&self) -> &[u8] {
        &self.rdata
    }
}

/// Records of one RRset (or a pool's addresses) with their wire forms, index for index.
#[derive(Debug, Clone, Default)]
pub struct RecordSet {
    records: Box<[Record]>,
    wire: Box<[WireRecord]>,
}

impl RecordSet {
    /// `records`, rendered.
    pub fn new(records: Vec<Record>) -> Self {
        let wire = records.iter().map(WireRecord::new).collect();
        Self {
            records: records.into(),
            wire,
        }
    }

    /// The rendered records, in the same order.
    pub fn wire(&self) -> &[WireRecord] {
        &self.wire
    }

    /// The fewest octets a response answering this whole RRset takes: a header, the
    /// question (the owner, uncompressed), and each record at its most compressed. Over
    /// 65,535 it can never be sent, even over TCP.
    pub fn min_response_len(&self) -> usize {
        let owner = self.wire.first().map_or(1, |w| w.owner.len());
        12 + owner + 4 + self.wire.iter().map(WireRecord::min_len).sum::<usize>()
    }
}

impl Deref for RecordSet {
    type Target = [Record];

    fn deref(&self) -> &[Record] {
        &self.records
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
            None => self.write(out, &rec.owner),
        }
        out.extend_from_slice(&rec.head);
        let len_at = out.len();
        out.extend_from_slice(&[0, 0]);
        let start = out.len();
        let mut from = 0;
        for &(off, len) in &rec.names[..rec.name_count as usize] {
            let (off, len) = (off as usize, len as usize);
            out.extend_from_slice(&rec.rdata[from..off]);
            self.write(out, &rec.rdata[off..off + len]);
            from = off + len;
        }
        out.extend_from_slice(&rec.rdata[from..]);
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
        assert!(w.owner.len() + 10 + w.rdata.len() > out.len());
    }
}
