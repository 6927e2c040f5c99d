//! Canonical form of RRs and RRsets (RFC 4034 §6.2–6.3, as corrected by RFC 6840 §5.1).
//!
//! The signature covers each RR with its owner lower-cased, the names inside the RDATA of the
//! types RFC 4034 §6.2 lists lower-cased, uncompressed, and the RRset's RRs sorted by their
//! canonical RDATA as left-justified octet strings, duplicates removed.

use super::name;
use super::types;

/// Where the names to lower-case sit in a type's RDATA.
enum NameLayout {
    /// No domain names in the RDATA (or none canonical form touches).
    None,
    /// Names one after another starting at this offset (`count` of them).
    At { offset: usize, count: usize },
    /// NAPTR: three character-strings after 4 octets, then the replacement name.
    Naptr,
    /// A6: prefix length, address suffix, then the prefix name.
    A6,
}

fn layout(rtype: u16) -> NameLayout {
    use NameLayout::*;
    match rtype {
        // NS, MD, MF, CNAME, MB, MG, MR, PTR, NXT, DNAME
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 30 | 39 => At {
            offset: 0,
            count: 1,
        },
        // SOA, MINFO, RP
        6 | 14 | 17 => At {
            offset: 0,
            count: 2,
        },
        // MX, AFSDB, RT, KX
        15 | 18 | 21 | 36 => At {
            offset: 2,
            count: 1,
        },
        // PX
        26 => At {
            offset: 2,
            count: 2,
        },
        // SRV
        33 => At {
            offset: 6,
            count: 1,
        },
        // SIG, RRSIG: the signer's name.
        24 | types::RRSIG => At {
            offset: 18,
            count: 1,
        },
        35 => Naptr,
        38 => A6,
        // Everything else, NSEC included (RFC 6840 §5.1: its next name keeps its case).
        _ => None,
    }
}

/// Lower-cases the names of `rdata` (of type `rtype`) in place. RDATA whose names do not parse
/// is left as it is: it is signed as it will be served.
pub fn canonicalize_rdata(rtype: u16, rdata: &mut [u8]) {
    let lower_names_from = |mut at: usize, count: usize, rdata: &mut [u8]| {
        for _ in 0..count {
            let Some(len) = rdata.get(at..).and_then(name::check) else {
                return;
            };
            name::lowercase_in_place(&mut rdata[at..at + len]);
            at += len;
        }
    };
    match layout(rtype) {
        NameLayout::None => {}
        NameLayout::At { offset, count } => lower_names_from(offset, count, rdata),
        NameLayout::Naptr => {
            let mut at = 4;
            for _ in 0..3 {
                match rdata.get(at) {
                    Some(&l) => at += 1 + l as usize,
                    None => return,
                }
            }
            lower_names_from(at, 1, rdata);
        }
        NameLayout::A6 => {
            let Some(&plen) = rdata.first() else { return };
            if plen > 0 && plen <= 128 {
                let suffix = (128 - plen as usize).div_ceil(8);
                lower_names_from(1 + suffix, 1, rdata);
            }
        }
    }
}

/// An RRset's RDATAs in canonical form and order, held in one buffer.
pub struct CanonicalRdatas {
    buf: Vec<u8>,
    /// (start, end) of each RDATA in `buf`, in canonical order, duplicates removed.
    spans: Vec<(u32, u32)>,
}

impl CanonicalRdatas {
    /// Canonicalizes and sorts `rdatas` of type `rtype`, reusing `buf`'s allocation.
    pub fn new<R: AsRef<[u8]>>(rtype: u16, rdatas: &[R], mut buf: Vec<u8>) -> Self {
        buf.clear();
        let mut spans = Vec::with_capacity(rdatas.len());
        for r in rdatas {
            let r = r.as_ref();
            let start = buf.len();
            buf.extend_from_slice(r);
            canonicalize_rdata(rtype, &mut buf[start..]);
            spans.push((start as u32, buf.len() as u32));
        }
        spans.sort_unstable_by(|a, b| {
            buf[a.0 as usize..a.1 as usize].cmp(&buf[b.0 as usize..b.1 as usize])
        });
        spans.dedup_by(|a, b| buf[a.0 as usize..a.1 as usize] == buf[b.0 as usize..b.1 as usize]);
        Self { buf, spans }
    }

    /// The canonical RDATAs, in canonical order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.spans
            .iter()
            .map(|&(s, e)| &self.buf[s as usize..e as usize])
    }

    /// How many distinct RDATAs.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// No RDATA.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Gives the buffer back for reuse.
    pub fn into_buf(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_listed_types_are_lowercased() {
        let mut mx = b"\x00\x0a\x04MAIL\x07Example\x00".to_vec();
        canonicalize_rdata(15, &mut mx);
        assert_eq!(mx, b"\x00\x0a\x04mail\x07example\x00");

        let mut soa = b"\x03NS1\x00\x02HM\x00\x00\x00\x00\x01".to_vec();
        canonicalize_rdata(6, &mut soa);
        assert_eq!(soa, b"\x03ns1\x00\x02hm\x00\x00\x00\x00\x01");

        let mut srv = b"\x00\x01\x00\x02\x00\x03\x03SIP\x00".to_vec();
        canonicalize_rdata(33, &mut srv);
        assert_eq!(srv, b"\x00\x01\x00\x02\x00\x03\x03sip\x00");

        // NAPTR: flags "U", service "E2U+sip", regexp "", replacement NAME.
        let mut naptr = b"\x00\x01\x00\x02\x01U\x07E2U+sip\x00\x04NAME\x00".to_vec();
        canonicalize_rdata(35, &mut naptr);
        assert_eq!(naptr, b"\x00\x01\x00\x02\x01U\x07E2U+sip\x00\x04name\x00");

        // NSEC's next name keeps its case (RFC 6840 §5.1); TXT is not touched.
        let mut nsec = b"\x01B\x00\x00\x01\x40".to_vec();
        canonicalize_rdata(types::NSEC, &mut nsec);
        assert_eq!(nsec, b"\x01B\x00\x00\x01\x40");
        let mut txt = b"\x03ABC".to_vec();
        canonicalize_rdata(16, &mut txt);
        assert_eq!(txt, b"\x03ABC");

        // Truncated RDATA is left alone, not a panic.
        let mut bad = b"\x00\x0a\x09MA".to_vec();
        canonicalize_rdata(15, &mut bad);
        assert_eq!(bad, b"\x00\x0a\x09MA");
    }

    #[test]
    fn rdatas_sort_as_octet_strings_and_duplicates_go() {
        let rdatas: Vec<&[u8]> = vec![
            b"\x04Beta\x00",
            b"\x05alpha\x00",
            b"\x04beta\x00",
            b"\x04bet\x00\x00",
        ];
        let c = CanonicalRdatas::new(2, &rdatas, Vec::new());
        let got: Vec<&[u8]> = c.iter().collect();
        assert_eq!(
            got,
            vec![
                &b"\x04bet\x00\x00"[..],
                &b"\x04beta\x00"[..],
                &b"\x05alpha\x00"[..]
            ]
        );
        // Shorter sorts first when it is a prefix.
        let a: Vec<&[u8]> = vec![b"\x01\x02\x03", b"\x01\x02"];
        let c = CanonicalRdatas::new(16, &a, Vec::new());
        assert_eq!(c.iter().next().unwrap(), b"\x01\x02");
    }
}
