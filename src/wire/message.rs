//! The one walker over a message's sections: the header's counts, the questions, then each
//! record's fixed fields and RDATA, without decoding the data.

use super::WireError;
use super::name::{Pointers, name_end};

/// The section a record is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The answer section.
    Answer,
    /// The authority section.
    Authority,
    /// The additional section.
    Additional,
}

/// One record as it lies in a message.
#[derive(Debug, Clone, Copy)]
pub struct RecordAt<'a> {
    /// The owner name as written (it may end in a compression pointer).
    pub owner: &'a [u8],
    /// Where the owner name starts in the message.
    pub owner_at: usize,
    /// TYPE.
    pub rtype: u16,
    /// CLASS (an OPT record's UDP payload size).
    pub class: u16,
    /// TTL (an OPT record's extended rcode, version and flags).
    pub ttl: u32,
    /// RDATA.
    pub rdata: &'a [u8],
    /// Where the RDATA starts in the message.
    pub rdata_at: usize,
    /// The section it is in.
    pub section: Section,
    /// The last record the header counts.
    pub last: bool,
}

/// The records of a message, in order. Yields an error (and then nothing) where a record
/// cannot be read.
pub struct Records<'a> {
    msg: &'a [u8],
    at: usize,
    /// Records left in the answer, authority and additional sections.
    left: [u16; 3],
    failed: bool,
}

/// Big-endian u16 at `i`.
pub fn be16(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

impl<'a> Records<'a> {
    /// The records of `msg`, after its header and questions (skipped).
    pub fn of(msg: &'a [u8]) -> Result<Self, WireError> {
        let count = |i| be16(msg, i).ok_or(WireError::Truncated);
        let (qd, an, ns, ar) = (count(4)?, count(6)?, count(8)?, count(10)?);
        let mut at = 12;
        for _ in 0..qd {
            at = name_end(msg, at, Pointers::Allowed)? + 4;
            if at > msg.len() {
                return Err(WireError::Truncated);
            }
        }
        Ok(Self::at(msg, at, [an, ns, ar]))
    }

    /// The records that start at `at`, as many per section as `counts` says.
    pub fn at(msg: &'a [u8], at: usize, counts: [u16; 3]) -> Self {
        Self {
            msg,
            at,
            left: counts,
            failed: false,
        }
    }

    /// Where the next record would start: after the last one, once all are read.
    pub fn offset(&self) -> usize {
        self.at
    }

    fn read(&mut self, section: Section) -> Result<RecordAt<'a>, WireError> {
        let msg = self.msg;
        let owner_at = self.at;
        let i = name_end(msg, owner_at, Pointers::Allowed)?;
        let fixed = msg.get(i..i + 10).ok_or(WireError::Truncated)?;
        let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let rdata_at = i + 10;
        let rdata = msg
            .get(rdata_at..rdata_at + rdlen)
            .ok_or(WireError::Truncated)?;
        self.at = rdata_at + rdlen;
        Ok(RecordAt {
            owner: &msg[owner_at..i],
            owner_at,
            rtype: u16::from_be_bytes([fixed[0], fixed[1]]),
            class: u16::from_be_bytes([fixed[2], fixed[3]]),
            ttl: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
            rdata,
            rdata_at,
            section,
            last: self.left == [0, 0, 0],
        })
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RecordAt<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let sections = [Section::Answer, Section::Authority, Section::Additional];
        let k = self.left.iter().position(|&n| n > 0)?;
        self.left[k] -= 1;
        let r = self.read(sections[k]);
        self.failed = r.is_err();
        Some(r)
    }
}

/// (code, data) of each option in OPT RDATA; stops at the first that overruns.
pub fn options(mut rdata: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let code = be16(rdata, 0)?;
        let len = be16(rdata, 2)? as usize;
        let data = rdata.get(4..4 + len)?;
        rdata = &rdata[4 + len..];
        Some((code, data))
    })
}

/// Why a message is malformed, as far as the walk can tell: the first name, question, record
/// or OPT option that cannot be read, a second OPT record, or bytes after the last record.
/// `None` when the walk finds nothing wrong (the fault, if any, is inside some RDATA).
pub fn diagnose(msg: &[u8]) -> Option<WireError> {
    let mut records = match Records::of(msg) {
        Ok(r) => r,
        Err(e) => return Some(e),
    };
    let mut opts = 0;
    for r in records.by_ref() {
        let r = match r {
            Ok(r) => r,
            Err(e) => return Some(e),
        };
        if r.rtype == 41 {
            opts += 1;
            if opts > 1 {
                return Some(WireError::DuplicateOpt);
            }
            let read: usize = options(r.rdata).map(|(_, d)| 4 + d.len()).sum();
            if read != r.rdata.len() {
                return Some(WireError::BadOptLength);
            }
        }
    }
    (records.offset() != msg.len()).then_some(WireError::TrailingBytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `a.` type A with `extra` records after it in the additional section.
    fn message(extra: &[&[u8]], trailing: &[u8]) -> Vec<u8> {
        let mut m = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, extra.len() as u8];
        m.extend_from_slice(b"\x01a\x00\x00\x01\x00\x01");
        for r in extra {
            m.extend_from_slice(r);
        }
        m.extend_from_slice(trailing);
        m
    }

    const OPT: &[u8] = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x04\x00\x03\x00\x00";
    /// An A record whose owner is a pointer to the question's name.
    const A: &[u8] = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x01";

    #[test]
    fn records_are_walked_with_their_sections_and_fields() {
        let m = message(&[A, OPT], b"");
        let recs: Vec<_> = Records::of(&m).unwrap().map(Result::unwrap).collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(
            (recs[0].rtype, recs[0].ttl, recs[0].owner),
            (1, 60, &b"\xc0\x0c"[..])
        );
        assert_eq!(recs[0].rdata, b"\xc0\x00\x02\x01");
        assert!(!recs[0].last);
        assert_eq!((recs[1].rtype, recs[1].class), (41, 1232));
        assert_eq!(recs[1].section, Section::Additional);
        assert!(recs[1].last);
        assert_eq!(diagnose(&m), None);
    }

    #[test]
    fn diagnose_names_the_first_fault() {
        assert_eq!(
            diagnose(&message(&[OPT, OPT], b"")),
            Some(WireError::DuplicateOpt)
        );
        assert_eq!(
            diagnose(&message(&[OPT], b"x")),
            Some(WireError::TrailingBytes)
        );
        assert_eq!(
            diagnose(&message(&[&A[..10]], b"")),
            Some(WireError::Truncated)
        );
        let mut bad_opt = OPT.to_vec();
        bad_opt[14] = 9; // option length beyond the RDATA
        bad_opt[13] = 0;
        assert_eq!(
            diagnose(&message(&[&bad_opt], b"")),
            Some(WireError::BadOptLength)
        );
        let mut forward = A.to_vec();
        forward[1] = 0x30;
        assert_eq!(
            diagnose(&message(&[&forward], b"")),
            Some(WireError::BadPointer)
        );
    }
}
