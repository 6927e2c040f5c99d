//! Names in wire form: the one walker that reads a name out of a message, and the
//! lower-cased form ([`WireName`]) that the name index is keyed by and queries are looked up
//! with.

use hickory_proto::rr::Name;

use super::WireError;

/// Whether a name being walked may end in a compression pointer (RFC 1035 §4.1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pointers {
    /// As anywhere in a message: the pointer ends the name (it is not followed).
    Allowed,
    /// Uncompressed names only (a question read directly, RDATA rendered uncompressed).
    Refused,
}

/// Walks the name that starts at `at` in `msg`, giving each label (without its length octet)
/// to `label`, and returns the offset just past the name: past its root label, or past the
/// compression pointer that ends it. Pointers are not followed; they must point backwards.
/// Label types, label lengths and the length of the name up to a pointer are checked.
#[inline]
pub fn walk_name(
    msg: &[u8],
    at: usize,
    pointers: Pointers,
    mut label: impl FnMut(&[u8]),
) -> Result<usize, WireError> {
    let mut i = at;
    // Wire length so far, root label included.
    let mut len = 0usize;
    loop {
        let l = *msg.get(i).ok_or(WireError::Truncated)?;
        match l & 0xC0 {
            0x00 => {}
            0xC0 => {
                let low = *msg.get(i + 1).ok_or(WireError::Truncated)?;
                let target = usize::from(l & 0x3F) << 8 | usize::from(low);
                if pointers == Pointers::Refused || target >= i {
                    return Err(WireError::BadPointer);
                }
                return Ok(i + 2);
            }
            _ => return Err(WireError::BadLabelType),
        }
        let l = usize::from(l);
        len += 1 + l;
        if len > MAX_NAME_LEN {
            return Err(WireError::NameTooLong);
        }
        if l == 0 {
            return Ok(i + 1);
        }
        label(msg.get(i + 1..i + 1 + l).ok_or(WireError::Truncated)?);
        i += 1 + l;
    }
}

/// Where the name that starts at `at` in `msg` ends: [`walk_name`] without looking at labels.
pub fn name_end(msg: &[u8], at: usize, pointers: Pointers) -> Result<usize, WireError> {
    walk_name(msg, at, pointers, |_| {})
}

/// Uncompressed wire form of `name` (as spelled).
pub fn name_wire(name: &Name) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.iter() {
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
    out
}

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

    /// Lower-cases the uncompressed wire name at the start of `bytes` (as found in a question
    /// section). Returns `None` when the bytes do not start with a well-formed uncompressed
    /// name.
    pub fn from_wire(bytes: &[u8]) -> Option<Self> {
        let mut w = Self {
            len: 0,
            buf: [0; MAX_NAME_LEN],
        };
        walk_name(bytes, 0, Pointers::Refused, |label| {
            // The walk has checked the length so far, so this slice is in bounds; one check
            // per label rather than one per octet.
            let end = w.len + 1 + label.len();
            let dst = &mut w.buf[w.len..end];
            dst[0] = label.len() as u8;
            for (d, b) in dst[1..].iter_mut().zip(label) {
                *d = b.to_ascii_lowercase();
            }
            w.len = end;
        })
        .ok()?;
        w.buf[w.len] = 0;
        w.len += 1;
        Some(w)
    }

    /// The name's wire form, lower-cased.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Each suffix of the name: the name itself, its parent, … the root.
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
    pub fn wildcard_of(parent: &[u8]) -> Option<Self> {
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
        assert!(
            WireName::from_wire(b"\x40abc\x00").is_none(),
            "label type 01"
        );
        let name = |lens: &[u8]| -> Vec<u8> {
            let mut out = Vec::new();
            for &l in lens {
                out.push(l);
                out.extend(std::iter::repeat_n(b'a', usize::from(l)));
            }
            out.push(0);
            out
        };
        assert!(
            WireName::from_wire(&name(&[63, 63, 63, 61])).is_some(),
            "255 octets"
        );
        assert!(
            WireName::from_wire(&name(&[63, 63, 63, 62])).is_none(),
            "256 octets"
        );
    }

    #[test]
    fn the_walker_ends_at_a_backward_pointer_and_checks_the_rest() {
        // "www" then a pointer to offset 0, at offset 4.
        let msg = b"\x03com\x00\x03www\xc0\x00";
        assert_eq!(name_end(msg, 5, Pointers::Allowed), Ok(11));
        assert_eq!(
            name_end(msg, 5, Pointers::Refused),
            Err(WireError::BadPointer)
        );
        assert_eq!(
            name_end(b"\xc0\x00", 0, Pointers::Allowed),
            Err(WireError::BadPointer)
        );
        assert_eq!(
            name_end(b"\x03ab", 0, Pointers::Allowed),
            Err(WireError::Truncated)
        );
        assert_eq!(
            name_end(b"\x80", 0, Pointers::Allowed),
            Err(WireError::BadLabelType)
        );
        let mut labels = Vec::new();
        walk_name(b"\x01a\x02bc\x00", 0, Pointers::Refused, |l| {
            labels.push(l.to_vec())
        })
        .unwrap();
        assert_eq!(labels, [b"a".to_vec(), b"bc".to_vec()]);
    }
}
