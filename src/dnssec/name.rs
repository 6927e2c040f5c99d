//! Names in uncompressed wire form: canonical order (RFC 4034 §6.1), label counts, the
//! immediate successor and predecessor of a name (RFC 4471 §3.1, used by the epsilon functions
//! of online denial), and presentation text.
//!
//! Every function here takes a well-formed uncompressed wire name (as [`check`] accepts) and
//! works on the stack: these run per query when a negative answer is signed.

use std::cmp::Ordering;

use hickory_proto::rr::Name;

/// Longest wire-format name (RFC 1035 §3.1).
pub const MAX_NAME_LEN: usize = 255;
/// Longest label.
pub const MAX_LABEL_LEN: usize = 63;

/// The length of the well-formed uncompressed wire name at the start of `b`, or `None`.
pub fn check(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        let l = *b.get(i)? as usize;
        if l > MAX_LABEL_LEN {
            return None;
        }
        i += 1 + l;
        if i > MAX_NAME_LEN {
            return None;
        }
        if l == 0 {
            return Some(i);
        }
    }
}

/// Start offsets of the labels of `name` (root label excluded), leftmost first.
struct Labels {
    offsets: [u8; 128],
    count: usize,
}

impl Labels {
    fn of(name: &[u8]) -> Self {
        let mut offsets = [0u8; 128];
        let mut count = 0;
        let mut i = 0;
        while i < name.len() && name[i] != 0 && count < offsets.len() {
            offsets[count] = i as u8;
            count += 1;
            i += 1 + name[i] as usize;
        }
        Self { offsets, count }
    }

    fn label<'a>(&self, name: &'a [u8], k: usize) -> &'a [u8] {
        let at = self.offsets[k] as usize;
        &name[at + 1..at + 1 + name[at] as usize]
    }
}

/// Number of labels, the root not counted.
pub fn label_count(name: &[u8]) -> usize {
    Labels::of(name).count
}

/// The RRSIG Labels field for an RRset owned by `name` (RFC 4034 §3.1.3): the labels, not
/// counting the root nor a leftmost `*`.
pub fn rrsig_labels(name: &[u8]) -> u8 {
    let n = label_count(name);
    if is_wildcard(name) {
        (n - 1) as u8
    } else {
        n as u8
    }
}

/// Whether the leftmost label is `*`.
pub fn is_wildcard(name: &[u8]) -> bool {
    name.len() >= 2 && name[0] == 1 && name[1] == b'*'
}

/// `name` without its leftmost label (the root stays the root).
pub fn parent(name: &[u8]) -> &[u8] {
    match name.first() {
        Some(&l) if l > 0 => &name[1 + l as usize..],
        _ => name,
    }
}

/// The next closer name of `name` to its ancestor `encloser` (RFC 5155 §1.3, used the same
/// way by NSEC proofs): `name`'s suffix one label longer than `encloser`. `name` itself when
/// it is the encloser's child, or when `encloser` is not a suffix of it.
pub fn next_closer<'n>(name: &'n [u8], encloser: &[u8]) -> &'n [u8] {
    let want = label_count(encloser) + 1;
    let mut rest = name;
    while label_count(rest) > want {
        rest = parent(rest);
    }
    if label_count(rest) == want && parent(rest).eq_ignore_ascii_case(encloser) {
        rest
    } else {
        name
    }
}

/// Lower-cases ASCII letters in a wire name, in place.
pub fn lowercase_in_place(name: &mut [u8]) {
    let mut i = 0;
    while i < name.len() && name[i] != 0 {
        let l = name[i] as usize;
        name[i + 1..i + 1 + l].make_ascii_lowercase();
        i += 1 + l;
    }
}

/// Appends `name` lower-cased.
pub fn push_lowercase(out: &mut Vec<u8>, name: &[u8]) {
    let at = out.len();
    out.extend_from_slice(name);
    lowercase_in_place(&mut out[at..]);
}

/// Compares two names in canonical DNS order (RFC 4034 §6.1): label by label from the root,
/// each label as a lower-cased octet string, a label that is a prefix of another sorting first.
pub fn canonical_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let la = Labels::of(a);
    let lb = Labels::of(b);
    let mut i = la.count;
    let mut j = lb.count;
    while i > 0 && j > 0 {
        i -= 1;
        j -= 1;
        let x = la.label(a, i);
        let y = lb.label(b, j);
        let ord = x
            .iter()
            .map(u8::to_ascii_lowercase)
            .cmp(y.iter().map(u8::to_ascii_lowercase));
        if ord != Ordering::Equal {
            return ord;
        }
    }
    la.count.cmp(&lb.count)
}

/// Whether `name` equals `ancestor` or lies below it (case-insensitive).
pub fn is_subdomain(name: &[u8], ancestor: &[u8]) -> bool {
    let mut i = 0;
    loop {
        let rest = name.len() - i;
        if rest == ancestor.len() {
            return name[i..].eq_ignore_ascii_case(ancestor);
        }
        if rest < ancestor.len() || name[i] == 0 {
            return false;
        }
        i += 1 + name[i] as usize;
    }
}

/// A wire name built on the stack (the epsilon functions make them per query).
#[derive(Clone)]
pub struct NameBuf {
    len: usize,
    buf: [u8; MAX_NAME_LEN],
}

impl NameBuf {
    /// Copies a well-formed wire name.
    pub fn from_wire(name: &[u8]) -> Self {
        let mut buf = [0u8; MAX_NAME_LEN];
        buf[..name.len()].copy_from_slice(name);
        Self {
            len: name.len(),
            buf,
        }
    }

    /// The name's wire form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Puts a label in front. The caller checks the length.
    fn prepend(&mut self, label: &[u8]) {
        let n = 1 + label.len();
        debug_assert!(self.len + n <= MAX_NAME_LEN);
        self.buf.copy_within(0..self.len, n);
        self.buf[0] = label.len() as u8;
        self.buf[1..n].copy_from_slice(label);
        self.len += n;
    }

    /// Prepends labels of `\255` octets until the name has the maximum length: the largest
    /// name below the current one in canonical order.
    fn fill_with_max_labels(&mut self) {
        while MAX_NAME_LEN - self.len >= 2 {
            let l = (MAX_NAME_LEN - self.len - 1).min(MAX_LABEL_LEN);
            self.prepend(&[0xFF; MAX_LABEL_LEN][..l]);
        }
    }

    /// Replaces the leftmost label.
    fn set_first_label(&mut self, label: &[u8]) {
        let old = 1 + self.buf[0] as usize;
        let new = 1 + label.len();
        let rest = self.len - old;
        self.buf.copy_within(old..self.len, new);
        self.buf[0] = label.len() as u8;
        self.buf[1..new].copy_from_slice(label);
        self.len = new + rest;
    }

    fn drop_first_label(&mut self) {
        let old = 1 + self.buf[0] as usize;
        self.buf.copy_within(old..self.len, 0);
        self.len -= old;
    }
}

impl PartialEq for NameBuf {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for NameBuf {}

impl std::fmt::Debug for NameBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&to_text(self.as_bytes()))
    }
}

/// The smallest name greater than `name` in canonical order (RFC 4471 §3.1.3, absolute
/// method): `\000.name` when that fits, else the next name that is not below `name`.
/// Lower-cased, like every name these functions make.
pub fn successor(name: &[u8]) -> NameBuf {
    let mut n = NameBuf::from_wire(name);
    lowercase_in_place(&mut n.buf[..n.len]);
    if name.len() + 2 <= MAX_NAME_LEN {
        n.prepend(&[0]);
        return n;
    }
    successor_outside(name)
}

/// The smallest name greater than `name` and not below it: the leftmost label with a zero
/// octet appended (`sub\000.example.`), as RFC 9824 §3.4 has for the NSEC of an unsigned
/// delegation, whose next name must not fall inside the child zone.
pub fn successor_outside(name: &[u8]) -> NameBuf {
    let mut n = NameBuf::from_wire(name);
    lowercase_in_place(&mut n.buf[..n.len]);
    loop {
        if n.as_bytes() == [0] {
            // Past the largest name there is none: wrap to the root.
            return n;
        }
        let first = n.buf[0] as usize;
        let mut label = [0u8; MAX_LABEL_LEN];
        label[..first].copy_from_slice(&n.buf[1..1 + first]);
        if first < MAX_LABEL_LEN && n.len < MAX_NAME_LEN {
            n.set_first_label(&label[..first + 1]);
            return n;
        }
        // Increment the last octet that is not already the largest; drop the ones that are.
        let mut l = first;
        while l > 0 && label[l - 1] == 0xFF {
            l -= 1;
        }
        if l == 0 {
            n.drop_first_label();
            continue;
        }
        label[l - 1] += 1;
        // Upper-case letters sort as their lower-case forms; skip over them.
        if label[l - 1].is_ascii_uppercase() {
            label[l - 1] = b'Z' + 1;
        }
        n.set_first_label(&label[..l]);
        return n;
    }
}

/// The largest name smaller than `name` in canonical order (RFC 4471 §3.1.2, absolute
/// method). `name` must not be the root.
pub fn predecessor(name: &[u8]) -> NameBuf {
    let mut n = NameBuf::from_wire(name);
    // Upper-case letters sort as lower-case ones: step from the lower-case form.
    lowercase_in_place(&mut n.buf[..n.len]);
    let first = n.buf[0] as usize;
    if first == 0 {
        return n;
    }
    if first == 1 && n.buf[1] == 0 {
        // `\000.x` directly follows `x`.
        n.drop_first_label();
        return n;
    }
    let mut label = [0u8; MAX_LABEL_LEN];
    label[..first].copy_from_slice(&n.buf[1..1 + first]);
    let last = label[first - 1];
    if last == 0 {
        // `ab` precedes `ab\000`, and every name below `ab` lies in between.
        n.set_first_label(&label[..first - 1]);
    } else {
        label[first - 1] = last - 1;
        if label[first - 1].is_ascii_uppercase() {
            label[first - 1] = b'A' - 1;
        }
        // The largest label that sorts before the original: fill it with `\255`.
        let room = MAX_NAME_LEN - (n.len - first);
        let l = MAX_LABEL_LEN.min(room);
        label[first..l].fill(0xFF);
        n.set_first_label(&label[..l]);
    }
    n.fill_with_max_labels();
    n
}

/// The uncompressed wire form of a hickory name, as spelled (case kept).
pub fn from_hickory(name: &Name) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.iter() {
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
    out
}

/// Parses a name in presentation format (taken as fully qualified; `\DDD` decimal and `\c`
/// escapes, RFC 1035 §5.1) into lower-cased wire form.
pub fn parse_text(text: &str) -> Result<Vec<u8>, String> {
    let mut w = parse_text_keep_case(text)?;
    lowercase_in_place(&mut w);
    Ok(w)
}

/// [`parse_text`] without lower-casing.
pub fn parse_text_keep_case(text: &str) -> Result<Vec<u8>, String> {
    let bad = |why: &str| format!("bad name {text:?}: {why}");
    let mut out = Vec::with_capacity(text.len() + 2);
    if text == "." {
        return Ok(vec![0]);
    }
    let b = text.as_bytes();
    let mut label: Vec<u8> = Vec::with_capacity(MAX_LABEL_LEN);
    let mut i = 0;
    let end_label = |label: &mut Vec<u8>, out: &mut Vec<u8>| -> Result<(), String> {
        if label.is_empty() {
            return Err(bad("empty label"));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(bad("label longer than 63 octets"));
        }
        out.push(label.len() as u8);
        out.append(label);
        Ok(())
    };
    while i < b.len() {
        match b[i] {
            b'.' => {
                end_label(&mut label, &mut out)?;
                i += 1;
            }
            b'\\' => {
                let rest = &b[i + 1..];
                if rest.len() >= 3 && rest[..3].iter().all(u8::is_ascii_digit) {
                    let v = (rest[0] - b'0') as u32 * 100
                        + (rest[1] - b'0') as u32 * 10
                        + (rest[2] - b'0') as u32;
                    label.push(u8::try_from(v).map_err(|_| bad("escape above \\255"))?);
                    i += 4;
                } else if let Some(&c) = rest.first() {
                    label.push(c);
                    i += 2;
                } else {
                    return Err(bad("dangling backslash"));
                }
            }
            c => {
                label.push(c);
                i += 1;
            }
        }
    }
    if !label.is_empty() {
        end_label(&mut label, &mut out)?;
    }
    out.push(0);
    if out.len() > MAX_NAME_LEN {
        return Err(bad("longer than 255 octets"));
    }
    Ok(out)
}

/// Presentation format of a wire name (`\DDD` decimal escapes, RFC 1035 §5.1), with the
/// trailing dot. (hickory escapes in octal, which no other tool reads back.)
pub fn to_text(name: &[u8]) -> String {
    let mut s = String::with_capacity(name.len() + 4);
    let mut i = 0;
    while i < name.len() && name[i] != 0 {
        let l = name[i] as usize;
        for &b in &name[i + 1..i + 1 + l] {
            match b {
                b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                    s.push('\\');
                    s.push(b as char);
                }
                0x21..=0x7E => s.push(b as char),
                _ => s.push_str(&format!("\\{b:03}")),
            }
        }
        s.push('.');
        i += 1 + l;
    }
    if s.is_empty() {
        s.push('.');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<u8> {
        parse_text_keep_case(s).unwrap()
    }

    /// RFC 4034 §6.1's example, in order.
    #[test]
    fn canonical_order_matches_rfc4034_example() {
        let names: Vec<Vec<u8>> = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "Z.a.example.",
            "zABC.a.EXAMPLE.",
            "z.example.",
            "\\001.z.example.",
            "*.z.example.",
            "\\200.z.example.",
        ]
        .iter()
        .map(|s| w(s))
        .collect();
        for i in 0..names.len() {
            for j in 0..names.len() {
                assert_eq!(
                    canonical_cmp(&names[i], &names[j]),
                    i.cmp(&j),
                    "{} vs {}",
                    to_text(&names[i]),
                    to_text(&names[j])
                );
            }
        }
        let mut shuffled = names.clone();
        shuffled.reverse();
        shuffled.sort_by(|a, b| canonical_cmp(a, b));
        assert_eq!(shuffled, names);
    }

    #[test]
    fn labels_and_wildcards() {
        assert_eq!(rrsig_labels(&w("www.example.com.")), 3);
        assert_eq!(rrsig_labels(&w("*.example.com.")), 2);
        assert_eq!(rrsig_labels(&w(".")), 0);
        assert_eq!(rrsig_labels(&w("a.*.example.com.")), 4);
        assert_eq!(parent(&w("a.example.")), &w("example.")[..]);
        assert!(is_subdomain(&w("a.B.example."), &w("b.example.")));
        assert!(is_subdomain(&w("example."), &w("example.")));
        assert!(!is_subdomain(&w("ab.example."), &w("b.example.")));
        assert!(is_subdomain(&w("x."), &w(".")));
    }

    #[test]
    fn text_uses_decimal_escapes() {
        assert_eq!(to_text(&w("\\000.a.example.")), "\\000.a.example.");
        assert_eq!(to_text(&w("\\200.x.")), "\\200.x.");
        assert_eq!(to_text(&w("a\\.b.x.")), "a\\.b.x.");
        assert_eq!(to_text(&[0]), ".");
        assert_eq!(
            parse_text("WWW.Example.com").unwrap(),
            w("www.example.com.")
        );
        assert_eq!(w("a\\.b.x."), b"\x03a.b\x01x\x00");
        assert_eq!(w("\\065.x"), b"\x01A\x01x\x00");
        for bad in ["a..b.", "\\256.x.", "x\\", ".x."] {
            assert!(parse_text(bad).is_err(), "{bad}");
        }
    }

    /// The successor and predecessor are immediate: nothing sorts strictly between them and
    /// the name. Checked against a set of names that crowd the neighbourhood.
    #[test]
    fn epsilon_functions_are_immediate_neighbours() {
        let cases = [
            "b.example.",
            "ab.example.",
            "a\\000.example.",
            "\\000.b.example.",
            "b[.example.",
            "example.",
            "a.b.c.example.",
        ];
        for c in cases {
            let n = w(c);
            let s = successor(&n);
            let p = predecessor(&n);
            assert!(check(s.as_bytes()).is_some() && check(p.as_bytes()).is_some());
            assert_eq!(canonical_cmp(s.as_bytes(), &n), Ordering::Greater, "{c}");
            assert_eq!(canonical_cmp(p.as_bytes(), &n), Ordering::Less, "{c}");
            // Close neighbours a sloppy function would step over.
            for probe in [
                format!("\\000.{c}"),
                format!("\\255.{c}"),
                format!("a.{c}"),
                "ab.example.".to_string(),
                "aa\\255.example.".to_string(),
                "b@.example.".to_string(),
                "bZ.example.".to_string(),
                "\\255.a.example.".to_string(),
                "a.example.".to_string(),
            ] {
                let q = w(&probe);
                if canonical_cmp(&q, &n) == Ordering::Equal {
                    continue;
                }
                let between = |lo: &[u8], hi: &[u8]| {
                    canonical_cmp(lo, &q) == Ordering::Less
                        && canonical_cmp(&q, hi) == Ordering::Less
                };
                assert!(!between(&n, s.as_bytes()), "{probe} between {c} and succ");
                assert!(!between(p.as_bytes(), &n), "{probe} between pred and {c}");
            }
        }
        assert_eq!(
            successor(&w("a.example.")).as_bytes(),
            &w("\\000.a.example.")[..]
        );
        assert_eq!(
            predecessor(&w("\\000.a.example.")).as_bytes(),
            &w("a.example.")[..]
        );
        assert_eq!(
            successor_outside(&w("sub.example.")).as_bytes(),
            &w("sub\\000.example.")[..]
        );
        // `b[` decremented would be `bZ`, which sorts as `bz`: it must become `b@…`.
        let p = predecessor(&w("b[.example."));
        let b = p.as_bytes();
        assert_eq!(b.len(), MAX_NAME_LEN);
        let label = &b[b.len() - 9 - 64..];
        assert_eq!(&label[..3], b"\x3fb@");
        assert_eq!(&label[3..64], &[0xFF; 61][..]);
        // Upper case sorts as lower case: the step is taken from `b`, not `B`.
        let p = predecessor(&w("B.example."));
        let b = p.as_bytes();
        assert_eq!(&b[b.len() - 9 - 64..][..2], b"\x3fa");
    }

    #[test]
    fn successor_of_a_full_length_name_increments() {
        // 255 octets: no room for `\000.` in front nor for an octet in the first label.
        let mut long = Vec::new();
        for _ in 0..3 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.push(61);
        long.extend_from_slice(&[b'b'; 61]);
        long.push(0);
        assert_eq!(long.len(), 255);
        let s = successor(&long);
        assert_eq!(s.as_bytes().len(), 255);
        assert_eq!(s.as_bytes()[63], b'b');
        assert_eq!(canonical_cmp(s.as_bytes(), &long), Ordering::Greater);
    }
}
