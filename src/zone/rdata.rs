//! Record types, domain names and RDATA in master-file presentation format, turned into wire
//! format.
//!
//! hickory-proto 0.26 turns RDATA text into typed records for only some types: it has no text
//! parser for DNAME, LOC, URI, APL, WKS, IPSECKEY, HIP, EUI48/64, NID/L32/L64/LP, ZONEMD, CSYNC
//! and many others; DS, DNSKEY, NSEC and NSEC3 need its DNSSEC feature (which signing would
//! bring with another crypto stack) and CDS it refuses outright; it reads `\DDD` in names as
//! octal; and some of what it parses it re-encodes differently (a CAA value is split into
//! fields and written back in its own form). A zone file's data must be served exactly as
//! written, so every type is parsed here, straight to the wire bytes that are served, with
//! the grammar of each type's RFC and the checks NSD, Knot and BIND make. Names anywhere may
//! hold any octet (RFC 2181 §11), and any type, known or not, may be written in RFC 3597
//! generic form (`\# 4 c0000201`).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use data_encoding::{BASE32_DNSSEC, Encoding, HEXLOWER_PERMISSIVE, Specification};

/// Longest RDATA a record can carry: RDLENGTH is 16 bits (RFC 1035 §3.2.1).
pub const MAX_RDATA: usize = 65535;

/// Longest name in wire form (RFC 1035 §3.1).
const MAX_NAME: usize = 255;

/// One token of RDATA: its text as written, escapes still in; a quoted string without its
/// quotes.
#[derive(Debug, Clone, Copy)]
pub struct Tok<'a> {
    /// The token's text as written (escapes not yet decoded).
    pub text: &'a str,
    /// It was written in double quotes.
    pub quoted: bool,
}

/// Record types by mnemonic (IANA "Resource Record (RR) TYPEs"), for reading type fields and
/// for messages. Every type here can also be written as `TYPEnnn`.
const TYPES: &[(u16, &str)] = &[
    (1, "A"),
    (2, "NS"),
    (3, "MD"),
    (4, "MF"),
    (5, "CNAME"),
    (6, "SOA"),
    (7, "MB"),
    (8, "MG"),
    (9, "MR"),
    (10, "NULL"),
    (11, "WKS"),
    (12, "PTR"),
    (13, "HINFO"),
    (14, "MINFO"),
    (15, "MX"),
    (16, "TXT"),
    (17, "RP"),
    (18, "AFSDB"),
    (19, "X25"),
    (20, "ISDN"),
    (21, "RT"),
    (22, "NSAP"),
    (23, "NSAP-PTR"),
    (24, "SIG"),
    (25, "KEY"),
    (26, "PX"),
    (27, "GPOS"),
    (28, "AAAA"),
    (29, "LOC"),
    (30, "NXT"),
    (31, "EID"),
    (32, "NIMLOC"),
    (33, "SRV"),
    (34, "ATMA"),
    (35, "NAPTR"),
    (36, "KX"),
    (37, "CERT"),
    (38, "A6"),
    (39, "DNAME"),
    (40, "SINK"),
    (41, "OPT"),
    (42, "APL"),
    (43, "DS"),
    (44, "SSHFP"),
    (45, "IPSECKEY"),
    (46, "RRSIG"),
    (47, "NSEC"),
    (48, "DNSKEY"),
    (49, "DHCID"),
    (50, "NSEC3"),
    (51, "NSEC3PARAM"),
    (52, "TLSA"),
    (53, "SMIMEA"),
    (55, "HIP"),
    (56, "NINFO"),
    (57, "RKEY"),
    (58, "TALINK"),
    (59, "CDS"),
    (60, "CDNSKEY"),
    (61, "OPENPGPKEY"),
    (62, "CSYNC"),
    (63, "ZONEMD"),
    (64, "SVCB"),
    (65, "HTTPS"),
    (66, "DSYNC"),
    (67, "HHIT"),
    (68, "BRID"),
    (99, "SPF"),
    (100, "UINFO"),
    (101, "UID"),
    (102, "GID"),
    (103, "UNSPEC"),
    (104, "NID"),
    (105, "L32"),
    (106, "L64"),
    (107, "LP"),
    (108, "EUI48"),
    (109, "EUI64"),
    (128, "NXNAME"),
    (249, "TKEY"),
    (250, "TSIG"),
    (251, "IXFR"),
    (252, "AXFR"),
    (253, "MAILB"),
    (254, "MAILA"),
    (255, "ANY"),
    (256, "URI"),
    (257, "CAA"),
    (258, "AVC"),
    (259, "DOA"),
    (260, "AMTRELAY"),
    (261, "RESINFO"),
    (262, "WALLET"),
    (263, "CLA"),
    (264, "IPN"),
    (32768, "TA"),
    (32769, "DLV"),
];

/// A type written as its mnemonic (any case) or as `TYPEnnn` (RFC 3597 §5).
pub fn type_from_text(text: &str) -> Option<u16> {
    if let Some(&(code, _)) = TYPES.iter().find(|(_, n)| n.eq_ignore_ascii_case(text)) {
        return Some(code);
    }
    let digits = text
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("TYPE"))
        .map(|_| &text[4..])?;
    decimal(digits).and_then(|v| u16::try_from(v).ok())
}

/// The mnemonic of a type, or `TYPEnnn`.
pub fn type_name(code: u16) -> String {
    match TYPES.iter().find(|(c, _)| *c == code) {
        Some((_, n)) => (*n).to_string(),
        None => format!("TYPE{code}"),
    }
}

/// Types that exist only in messages (OPT, and the meta and query types 128–255, RFC 6895
/// §3.1): never data in a zone.
pub fn is_meta(code: u16) -> bool {
    code == 41 || (128..=255).contains(&code)
}

/// A class as written: `IN`, `CH`, `HS`, `NONE`, `ANY` or `CLASSnnn` (RFC 3597 §5).
pub fn class_from_text(text: &str) -> Option<u16> {
    const CLASSES: &[(u16, &str)] = &[(1, "IN"), (3, "CH"), (4, "HS"), (254, "NONE"), (255, "ANY")];
    if let Some(&(c, _)) = CLASSES.iter().find(|(_, n)| n.eq_ignore_ascii_case(text)) {
        return Some(c);
    }
    // "CS" (class 2) is left out: it is also a valid owner or type-like token in old files
    // only as CLASS2.
    let digits = text
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("CLASS"))
        .map(|_| &text[5..])?;
    decimal(digits).and_then(|v| u16::try_from(v).ok())
}

/// A non-empty run of decimal digits, as a number (no sign, no spaces; at most 20 digits).
fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A TTL or another period: a number of seconds, or units as BIND and Knot read them
/// (`1h30m`, `2W`, case-insensitive), at most 2^32 − 1.
pub fn period(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    if let Some(v) = decimal(s) {
        return u32::try_from(v).ok();
    }
    let mut total: u64 = 0;
    let mut num: Option<u64> = None;
    for b in s.bytes() {
        match b {
            b'0'..=b'9' => {
                let n = num.unwrap_or(0) * 10 + u64::from(b - b'0');
                if n > u64::from(u32::MAX) {
                    return None;
                }
                num = Some(n);
            }
            _ => {
                let unit = match b.to_ascii_lowercase() {
                    b's' => 1,
                    b'm' => 60,
                    b'h' => 3600,
                    b'd' => 86400,
                    b'w' => 604_800,
                    _ => return None,
                };
                total += num.take()? * unit;
            }
        }
        if total > u64::from(u32::MAX) {
            return None;
        }
    }
    // A trailing bare number counts as seconds (`1h30`).
    total += num.unwrap_or(0);
    u32::try_from(total).ok()
}

/// The value of a `\DDD` escape at the start of `bytes` (just after the backslash): `None` when
/// `bytes` does not start with a digit, an error when it starts with one but is not three
/// digits of a value up to 255 (RFC 1035 §5.1: DDD is decimal).
pub fn decimal_escape(bytes: &[u8]) -> Result<Option<u8>, String> {
    if !bytes.first().is_some_and(u8::is_ascii_digit) {
        return Ok(None);
    }
    match bytes.get(..3) {
        Some(d) if d.iter().all(u8::is_ascii_digit) => {
            let v = d.iter().fold(0u32, |v, &b| v * 10 + u32::from(b - b'0'));
            u8::try_from(v)
                .map(Some)
                .map_err(|_| format!("escape \\{v} is over 255"))
        }
        _ => Err("a \\DDD escape needs exactly three decimal digits".into()),
    }
}

/// The octets a token stands for: `\DDD` is the octet of decimal value DDD, `\X` is X.
pub fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match decimal_escape(&bytes[i + 1..])? {
            Some(v) => {
                out.push(v);
                i += 4;
            }
            None => {
                let &b = bytes
                    .get(i + 1)
                    .ok_or("a lone '\\' at the end of a field")?;
                out.push(b);
                i += 2;
            }
        }
    }
    Ok(out)
}

/// A domain name as written in a master file, in uncompressed wire form (case kept): relative
/// to `origin` (wire form) unless it ends in an unescaped dot; `@` alone is the origin. A label
/// holds any octet (RFC 2181 §11): `\.` is a dot inside a label, `\DDD` any octet.
pub fn name_wire(text: &str, origin: &[u8]) -> Result<Vec<u8>, String> {
    if text == "@" {
        return Ok(origin.to_vec());
    }
    if text == "." {
        return Ok(vec![0]);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() + origin.len() + 1);
    let mut label: Vec<u8> = Vec::with_capacity(63);
    let mut absolute = false;
    let mut i = 0;
    let push_label = |out: &mut Vec<u8>, label: &mut Vec<u8>| -> Result<(), String> {
        if label.is_empty() {
            return Err("empty label (two dots in a row, or a leading dot)".into());
        }
        if label.len() > 63 {
            return Err(format!("label of {} octets is longer than 63", label.len()));
        }
        out.push(label.len() as u8);
        out.append(label);
        Ok(())
    };
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => match decimal_escape(&bytes[i + 1..])? {
                Some(v) => {
                    label.push(v);
                    i += 4;
                }
                None => {
                    let &b = bytes.get(i + 1).ok_or("a lone '\\' at the end of a name")?;
                    label.push(b);
                    i += 2;
                }
            },
            b'.' => {
                push_label(&mut out, &mut label)?;
                i += 1;
                if i == bytes.len() {
                    absolute = true;
                }
            }
            b => {
                label.push(b);
                i += 1;
            }
        }
    }
    if absolute {
        out.push(0);
    } else {
        push_label(&mut out, &mut label)?;
        out.extend_from_slice(origin);
    }
    if out.len() > MAX_NAME {
        return Err(format!(
            "name of {} octets is longer than 255 (RFC 1035 §3.1)",
            out.len()
        ));
    }
    Ok(out)
}

/// The length of the uncompressed wire name at the start of `b`, if there is a well-formed one.
pub fn wire_name_len(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        let l = *b.get(i)? as usize;
        if l > 63 {
            return None;
        }
        i += 1 + l;
        if i > MAX_NAME || i > b.len() {
            return None;
        }
        if l == 0 {
            return Some(i);
        }
    }
}

/// The labels of a wire name (which must be well formed).
pub fn wire_labels(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut i = 0;
    std::iter::from_fn(move || {
        let l = *b.get(i)? as usize;
        if l == 0 {
            return None;
        }
        let label = b.get(i + 1..i + 1 + l)?;
        i += 1 + l;
        Some(label)
    })
}

/// Base64 as DNS zone files carry it: padding optional, non-zero trailing bits accepted (BIND,
/// NSD and Knot accept keys written either way).
static BASE64: LazyLock<Encoding> = LazyLock::new(|| {
    let mut spec = Specification::new();
    spec.symbols
        .push_str("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    spec.check_trailing_bits = false;
    spec.encoding().expect("valid base64 specification")
});

/// A problem with one field: the value as written (when there is one) and why it is wrong.
#[derive(Debug)]
struct Bad {
    value: Option<String>,
    why: String,
}

type R<T> = Result<T, Bad>;

fn bad<T>(tok: Tok<'_>, why: impl Into<String>) -> R<T> {
    Err(Bad {
        value: Some(tok.text.to_string()),
        why: why.into(),
    })
}

fn missing<T>(what: &str) -> R<T> {
    Err(Bad {
        value: None,
        why: format!("missing {what}"),
    })
}

/// Reads RDATA fields from tokens into wire format.
struct P<'t, 'a> {
    toks: &'t [Tok<'a>],
    i: usize,
    origin: &'t [u8],
    out: Vec<u8>,
}

/// DNSSEC algorithm mnemonics (IANA "DNS Security Algorithm Numbers").
const ALGORITHMS: &[(u8, &str)] = &[
    (1, "RSAMD5"),
    (2, "DH"),
    (3, "DSA"),
    (5, "RSASHA1"),
    (6, "DSA-NSEC3-SHA1"),
    (7, "RSASHA1-NSEC3-SHA1"),
    (8, "RSASHA256"),
    (10, "RSASHA512"),
    (12, "ECC-GOST"),
    (13, "ECDSAP256SHA256"),
    (14, "ECDSAP384SHA384"),
    (15, "ED25519"),
    (16, "ED448"),
    (252, "INDIRECT"),
    (253, "PRIVATEDNS"),
    (254, "PRIVATEOID"),
];

/// DS digest types: mnemonic and digest length in octets (RFC 4509, 5933, 6605).
const DIGESTS: &[(u8, &str, usize)] = &[
    (1, "SHA-1", 20),
    (2, "SHA-256", 32),
    (3, "GOST", 32),
    (4, "SHA-384", 48),
];

/// CERT types (RFC 4398 §2.1).
const CERT_TYPES: &[(u16, &str)] = &[
    (1, "PKIX"),
    (2, "SPKI"),
    (3, "PGP"),
    (4, "IPKIX"),
    (5, "ISPKI"),
    (6, "IPGP"),
    (7, "ACPKIX"),
    (8, "IACPKIX"),
    (253, "URI"),
    (254, "OID"),
];

/// Services WKS records may name (the common entries of /etc/services). A port number works
/// for any other; the table is fixed so that a zone loads the same on every machine.
const SERVICES: &[(u16, &str)] = &[
    (1, "tcpmux"),
    (7, "echo"),
    (9, "discard"),
    (11, "systat"),
    (13, "daytime"),
    (17, "qotd"),
    (19, "chargen"),
    (20, "ftp-data"),
    (21, "ftp"),
    (22, "ssh"),
    (23, "telnet"),
    (25, "smtp"),
    (37, "time"),
    (42, "nameserver"),
    (43, "whois"),
    (49, "tacacs"),
    (53, "domain"),
    (67, "bootps"),
    (68, "bootpc"),
    (69, "tftp"),
    (70, "gopher"),
    (79, "finger"),
    (80, "http"),
    (80, "www"),
    (88, "kerberos"),
    (101, "hostname"),
    (102, "iso-tsap"),
    (107, "rtelnet"),
    (109, "pop2"),
    (110, "pop3"),
    (111, "sunrpc"),
    (113, "auth"),
    (115, "sftp"),
    (117, "uucp-path"),
    (119, "nntp"),
    (123, "ntp"),
    (137, "netbios-ns"),
    (138, "netbios-dgm"),
    (139, "netbios-ssn"),
    (143, "imap"),
    (161, "snmp"),
    (162, "snmp-trap"),
    (163, "cmip-man"),
    (164, "cmip-agent"),
    (174, "mailq"),
    (177, "xdmcp"),
    (178, "nextstep"),
    (179, "bgp"),
    (194, "irc"),
    (199, "smux"),
    (201, "at-rtmp"),
    (202, "at-nbp"),
    (204, "at-echo"),
    (206, "at-zis"),
    (209, "qmtp"),
    (210, "z3950"),
    (213, "ipx"),
    (220, "imap3"),
    (345, "pawserv"),
    (346, "zserv"),
    (347, "fatserv"),
    (369, "rpc2portmap"),
    (370, "codaauth2"),
    (371, "clearcase"),
    (372, "ulistserv"),
    (389, "ldap"),
    (406, "imsp"),
    (427, "svrloc"),
    (443, "https"),
    (444, "snpp"),
    (445, "microsoft-ds"),
    (464, "kpasswd"),
    (465, "submissions"),
    (487, "saft"),
    (500, "isakmp"),
    (512, "exec"),
    (513, "login"),
    (514, "shell"),
    (515, "printer"),
    (520, "route"),
    (526, "tempo"),
    (530, "courier"),
    (531, "conference"),
    (532, "netnews"),
    (538, "gdomap"),
    (540, "uucp"),
    (543, "klogin"),
    (544, "kshell"),
    (546, "dhcpv6-client"),
    (547, "dhcpv6-server"),
    (548, "afpovertcp"),
    (554, "rtsp"),
    (563, "nntps"),
    (587, "submission"),
    (631, "ipp"),
    (636, "ldaps"),
    (655, "tinc"),
    (706, "silc"),
    (749, "kerberos-adm"),
    (853, "domain-s"),
    (873, "rsync"),
    (989, "ftps-data"),
    (990, "ftps"),
    (992, "telnets"),
    (993, "imaps"),
    (995, "pop3s"),
];

impl<'t, 'a> P<'t, 'a> {
    fn peek(&self) -> Option<Tok<'a>> {
        self.toks.get(self.i).copied()
    }

    fn tok(&mut self, what: &str) -> R<Tok<'a>> {
        match self.toks.get(self.i) {
            Some(&t) => {
                self.i += 1;
                Ok(t)
            }
            None => missing(what),
        }
    }

    fn at_end(&self) -> bool {
        self.i >= self.toks.len()
    }

    fn end(&self) -> R<()> {
        match self.peek() {
            Some(t) => bad(t, "unexpected data after the last field"),
            None => Ok(()),
        }
    }

    /// A domain name, in uncompressed wire form.
    fn name(&mut self, what: &str) -> R<()> {
        let t = self.tok(what)?;
        let wire = self.name_of(t, what)?;
        self.out.extend_from_slice(&wire);
        Ok(())
    }

    fn name_of(&self, t: Tok<'a>, what: &str) -> R<Vec<u8>> {
        name_wire(t.text, self.origin).or_else(|e| bad(t, format!("bad {what}: {e}")))
    }

    /// A decimal number up to `max`.
    fn num(&mut self, what: &str, max: u64) -> R<u64> {
        let t = self.tok(what)?;
        Self::num_of(t, what, max)
    }

    fn num_of(t: Tok<'a>, what: &str, max: u64) -> R<u64> {
        match decimal(t.text) {
            Some(v) if v <= max => Ok(v),
            _ => bad(t, format!("{what} must be a number from 0 to {max}")),
        }
    }

    fn u8(&mut self, what: &str) -> R<u8> {
        let v = self.num(what, u8::MAX.into())? as u8;
        self.out.push(v);
        Ok(v)
    }

    fn u16(&mut self, what: &str) -> R<u16> {
        let v = self.num(what, u16::MAX.into())? as u16;
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(v)
    }

    fn u32(&mut self, what: &str) -> R<u32> {
        let v = self.num(what, u32::MAX.into())? as u32;
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(v)
    }

    /// A period in seconds, units allowed (SOA timers).
    fn period(&mut self, what: &str) -> R<()> {
        let t = self.tok(what)?;
        match period(t.text) {
            Some(v) => {
                self.out.extend_from_slice(&v.to_be_bytes());
                Ok(())
            }
            None => bad(
                t,
                format!("{what} must be a number of seconds (or 1h30m style)"),
            ),
        }
    }

    /// A number or one of the mnemonics in `table`.
    fn mnemonic(&mut self, what: &str, table: &[(u16, &str)], max: u64) -> R<u16> {
        let t = self.tok(what)?;
        if let Some(&(v, _)) = table.iter().find(|(_, n)| n.eq_ignore_ascii_case(t.text)) {
            return Ok(v);
        }
        Self::num_of(t, what, max).map(|v| v as u16)
    }

    fn algorithm(&mut self) -> R<u8> {
        let table: Vec<(u16, &str)> = ALGORITHMS.iter().map(|&(c, n)| (u16::from(c), n)).collect();
        let v = self.mnemonic("algorithm", &table, 255)? as u8;
        self.out.push(v);
        Ok(v)
    }

    fn rtype(&mut self, what: &str) -> R<u16> {
        let t = self.tok(what)?;
        match type_from_text(t.text) {
            Some(v) => {
                self.out.extend_from_slice(&v.to_be_bytes());
                Ok(v)
            }
            None => bad(t, format!("{what} is not a record type")),
        }
    }

    fn ipv4(&mut self, what: &str) -> R<()> {
        let t = self.tok(what)?;
        match t.text.parse::<Ipv4Addr>() {
            Ok(a) => {
                self.out.extend_from_slice(&a.octets());
                Ok(())
            }
            Err(_) => bad(t, "not an IPv4 address"),
        }
    }

    fn ipv6(&mut self, what: &str) -> R<()> {
        let t = self.tok(what)?;
        match t.text.parse::<Ipv6Addr>() {
            Ok(a) => {
                self.out.extend_from_slice(&a.octets());
                Ok(())
            }
            Err(_) => bad(t, "not an IPv6 address"),
        }
    }

    /// One <character-string>: at most 255 octets, after a length octet.
    fn string(&mut self, what: &str) -> R<()> {
        let t = self.tok(what)?;
        self.string_of(t)
    }

    fn string_of(&mut self, t: Tok<'a>) -> R<()> {
        let bytes = unescape(t.text).or_else(|e| bad(t, e))?;
        if bytes.len() > 255 {
            return bad(
                t,
                format!(
                    "a string of {} octets is longer than 255 (RFC 1035 §3.3); split it into \
                     several quoted strings",
                    bytes.len()
                ),
            );
        }
        self.out.push(bytes.len() as u8);
        self.out.extend_from_slice(&bytes);
        Ok(())
    }

    /// One or more <character-string>s, to the end (TXT).
    fn strings(&mut self, what: &str) -> R<()> {
        if self.at_end() {
            return missing(what);
        }
        while let Some(t) = self.peek() {
            self.i += 1;
            self.string_of(t)?;
        }
        Ok(())
    }

    /// The remaining tokens joined (base64 and hex may be split by blanks), with the first
    /// token for messages.
    fn rest(&mut self) -> Option<(String, Tok<'a>)> {
        let first = self.peek()?;
        let mut s = String::new();
        while let Some(t) = self.peek() {
            s.push_str(t.text);
            self.i += 1;
        }
        Some((s, first))
    }

    fn base64_rest(&mut self, what: &str, allow_empty: bool) -> R<()> {
        let Some((s, first)) = self.rest() else {
            return if allow_empty { Ok(()) } else { missing(what) };
        };
        let decoded = BASE64
            .decode(s.trim_end_matches('=').as_bytes())
            .or_else(|_| bad(first, format!("{what} is not valid base64")))?;
        self.out.extend_from_slice(&decoded);
        Ok(())
    }

    fn base64_token(&mut self, what: &str) -> R<Vec<u8>> {
        let t = self.tok(what)?;
        BASE64
            .decode(t.text.trim_end_matches('=').as_bytes())
            .or_else(|_| bad(t, format!("{what} is not valid base64")))
    }

    fn hex_rest(&mut self, what: &str, allow_empty: bool) -> R<usize> {
        let Some((s, first)) = self.rest() else {
            return if allow_empty { Ok(0) } else { missing(what) };
        };
        let decoded = HEXLOWER_PERMISSIVE
            .decode(s.as_bytes())
            .or_else(|_| bad(first, format!("{what} is not valid hexadecimal")))?;
        self.out.extend_from_slice(&decoded);
        Ok(decoded.len())
    }

    /// `-` or hex, after a length octet (NSEC3 salt).
    fn salt(&mut self) -> R<()> {
        let t = self.tok("salt")?;
        if t.text == "-" {
            self.out.push(0);
            return Ok(());
        }
        let salt = HEXLOWER_PERMISSIVE
            .decode(t.text.as_bytes())
            .or_else(|_| bad(t, "salt is not '-' or hexadecimal"))?;
        if salt.is_empty() || salt.len() > 255 {
            return bad(t, "salt must be 1 to 255 octets (or '-')");
        }
        self.out.push(salt.len() as u8);
        self.out.extend_from_slice(&salt);
        Ok(())
    }

    /// Types present, to the end (RFC 4034 §4.1.2 bitmap windows).
    fn bitmap(&mut self) -> R<()> {
        let mut types = Vec::new();
        while let Some(t) = self.peek() {
            self.i += 1;
            match type_from_text(t.text) {
                Some(v) => types.push(v),
                None => return bad(t, "not a record type"),
            }
        }
        types.sort_unstable();
        types.dedup();
        let mut k = 0;
        while k < types.len() {
            let window = types[k] >> 8;
            let mut bits = [0u8; 32];
            let mut len = 0;
            while k < types.len() && types[k] >> 8 == window {
                let low = (types[k] & 0xff) as usize;
                bits[low / 8] |= 0x80 >> (low % 8);
                len = low / 8 + 1;
                k += 1;
            }
            self.out.push(window as u8);
            self.out.push(len as u8);
            self.out.extend_from_slice(&bits[..len]);
        }
        Ok(())
    }

    /// RRSIG/SIG time: YYYYMMDDHHmmSS (UTC, serial arithmetic mod 2^32, RFC 4034 §3.2) or a
    /// number of seconds.
    fn time(&mut self, what: &str) -> R<()> {
        let t = self.tok(what)?;
        let v = if t.text.len() == 14 && t.text.bytes().all(|b| b.is_ascii_digit()) {
            match rrsig_time(t.text) {
                Some(v) => v,
                None => return bad(t, format!("{what} is not a valid YYYYMMDDHHmmSS time")),
            }
        } else {
            Self::num_of(t, what, u32::MAX.into())? as u32
        };
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }
}

/// Seconds since 1970 of a YYYYMMDDHHmmSS time, modulo 2^32.
fn rrsig_time(s: &str) -> Option<u32> {
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        n(0..4)?,
        n(4..6)?,
        n(6..8)?,
        n(8..10)?,
        n(10..12)?,
        n(12..14)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from 1970-01-01 to the civil date (H. Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86400 + h * 3600 + mi * 60 + se;
    Some(secs.rem_euclid(1 << 32) as u32)
}

/// Parses the RDATA of one record of type `code`, written in presentation format or in RFC 3597
/// generic form, into wire format. The error is the whole message: `bad A record "…": why`.
pub fn parse(code: u16, toks: &[Tok<'_>], origin: &[u8]) -> Result<Vec<u8>, String> {
    let tname = type_name(code);
    let message = |b: Bad| match b.value {
        Some(v) => format!("bad {tname} record {v:?}: {}", b.why),
        None => format!("bad {tname} record: {}", b.why),
    };
    let mut p = P {
        toks,
        i: 0,
        origin,
        out: Vec::with_capacity(32),
    };
    if let Some(first) = toks.first()
        && !first.quoted
        && first.text == "\\#"
    {
        p.i = 1;
        generic(&mut p).map_err(message)?;
        validate_wire(code, &p.out).map_err(|why| format!("bad {tname} record: {why}"))?;
    } else {
        presentation(code, &mut p).map_err(message)?;
    }
    if p.out.len() > MAX_RDATA {
        return Err(format!(
            "{tname} record data of {} octets is longer than {MAX_RDATA} (RFC 1035 §3.2.1)",
            p.out.len()
        ));
    }
    Ok(p.out)
}

/// RFC 3597 §5: `\# <length> <hex>…`.
fn generic(p: &mut P<'_, '_>) -> R<()> {
    let t = p.tok("RFC 3597 data length")?;
    let len = P::num_of(t, "RFC 3597 data length", MAX_RDATA as u64)? as usize;
    let got = p.hex_rest("RFC 3597 data", true)?;
    if got != len {
        return Err(Bad {
            value: Some(t.text.to_string()),
            why: format!("RFC 3597 length says {len} octets but the data has {got}"),
        });
    }
    Ok(())
}

/// Checks RFC 3597 data given for a type this module knows, as far as its wire layout is
/// fixed: addresses and names must be whole (a name must not be compressed, RFC 3597 §4).
fn validate_wire(code: u16, rd: &[u8]) -> Result<(), String> {
    let fixed = match code {
        1 => Some(4),
        28 => Some(16),
        108 => Some(6),
        109 => Some(8),
        105 => Some(6),
        104 | 106 => Some(10),
        _ => None,
    };
    if let Some(n) = fixed
        && rd.len() != n
    {
        return Err(format!("data must be {n} octets, not {}", rd.len()));
    }
    // (leading fixed octets, names that follow, fixed octets after them)
    let layout: Option<(usize, usize, usize)> = match code {
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 23 | 39 => Some((0, 1, 0)),
        14 | 17 | 58 => Some((0, 2, 0)),
        15 | 18 | 21 | 36 | 107 => Some((2, 1, 0)),
        26 => Some((2, 2, 0)),
        6 => Some((0, 2, 20)),
        33 => Some((6, 1, 0)),
        _ => None,
    };
    if let Some((head, names, tail)) = layout {
        let mut i = head;
        if rd.len() < head {
            return Err("data is too short".into());
        }
        for _ in 0..names {
            let n = rd
                .get(i..)
                .and_then(wire_name_len)
                .ok_or("data does not hold a well-formed, uncompressed domain name")?;
            i += n;
        }
        if rd.len() != i + tail {
            return Err(format!(
                "data has {} octets where the type's layout needs {}",
                rd.len(),
                i + tail
            ));
        }
    }
    Ok(())
}

fn presentation(code: u16, p: &mut P<'_, '_>) -> R<()> {
    match code {
        // A
        1 => p.ipv4("address")?,
        // NS MD MF CNAME MB MG MR PTR NSAP-PTR DNAME
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 23 | 39 => p.name("domain name")?,
        // SOA
        6 => {
            p.name("primary name server (MNAME)")?;
            p.name("mailbox (RNAME)")?;
            p.u32("serial")?;
            p.period("refresh")?;
            p.period("retry")?;
            p.period("expire")?;
            p.period("minimum")?;
        }
        // WKS
        11 => wks(p)?,
        // HINFO
        13 => {
            p.string("CPU")?;
            p.string("OS")?;
        }
        // MINFO RP TALINK
        14 | 17 | 58 => {
            p.name("first domain name")?;
            p.name("second domain name")?;
        }
        // MX AFSDB RT KX LP
        15 | 18 | 21 | 36 | 107 => {
            p.u16("preference")?;
            p.name("domain name")?;
        }
        // TXT SPF NINFO AVC RESINFO WALLET
        16 | 99 | 56 | 258 | 261 | 262 => p.strings("text")?,
        // X25
        19 => p.string("PSDN address")?,
        // ISDN
        20 => {
            p.string("ISDN address")?;
            if !p.at_end() {
                p.string("subaddress")?;
            }
        }
        // NSAP
        22 => {
            let t = p.tok("NSAP address")?;
            let hex: String = match t.text.get(..2) {
                Some(x) if x.eq_ignore_ascii_case("0x") => t.text[2..].replace('.', ""),
                _ => return bad(t, "an NSAP address starts with 0x"),
            };
            let v = HEXLOWER_PERMISSIVE
                .decode(hex.as_bytes())
                .or_else(|_| bad(t, "NSAP address is not an even number of hex digits"))?;
            if v.is_empty() {
                return bad(t, "empty NSAP address");
            }
            p.out.extend_from_slice(&v);
        }
        // SIG RRSIG
        24 | 46 => {
            p.rtype("type covered")?;
            p.algorithm()?;
            p.u8("labels")?;
            p.period("original TTL")?;
            p.time("signature expiration")?;
            p.time("signature inception")?;
            p.u16("key tag")?;
            p.name("signer's name")?;
            p.base64_rest("signature", false)?;
        }
        // KEY DNSKEY RKEY CDNSKEY
        25 | 48 | 57 | 60 => {
            p.u16("flags")?;
            p.u8("protocol")?;
            p.algorithm()?;
            p.base64_rest("public key", code == 25)?;
        }
        // PX
        26 => {
            p.u16("preference")?;
            p.name("MAP822")?;
            p.name("MAPX400")?;
        }
        // GPOS
        27 => {
            p.string("longitude")?;
            p.string("latitude")?;
            p.string("altitude")?;
        }
        // AAAA
        28 => p.ipv6("address")?,
        // LOC
        29 => loc(p)?,
        // NXT (RFC 2535 §5.2): next name, then a bitmap of the types 1–127 present.
        30 => {
            p.name("next domain name")?;
            let mut bits = [0u8; 16];
            let mut len = 0;
            while let Some(t) = p.peek() {
                p.i += 1;
                match type_from_text(t.text) {
                    Some(v) if v < 128 => {
                        bits[usize::from(v / 8)] |= 0x80 >> (v % 8);
                        len = len.max(usize::from(v / 8) + 1);
                    }
                    Some(_) => return bad(t, "an NXT bitmap holds types 1 to 127 only"),
                    None => return bad(t, "not a record type"),
                }
            }
            p.out.extend_from_slice(&bits[..len]);
        }
        // EID NIMLOC
        31 | 32 => {
            p.hex_rest("data", false)?;
        }
        // SRV
        33 => {
            p.u16("priority")?;
            p.u16("weight")?;
            p.u16("port")?;
            p.name("target")?;
        }
        // ATMA (ATM Forum af-saa-0069.000): `+` E.164 digits (format 1) or an NSAP in hex
        // (format 0); dots are readability only.
        34 => {
            let t = p.tok("ATM address")?;
            let text = t.text.replace('.', "");
            if let Some(digits) = text.strip_prefix('+') {
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return bad(t, "an E.164 ATM address is '+' and digits");
                }
                p.out.push(1);
                p.out.extend_from_slice(digits.as_bytes());
            } else {
                let v = HEXLOWER_PERMISSIVE
                    .decode(text.as_bytes())
                    .or_else(|_| bad(t, "an NSAP ATM address is an even number of hex digits"))?;
                if v.is_empty() {
                    return bad(t, "empty ATM address");
                }
                p.out.push(0);
                p.out.extend_from_slice(&v);
            }
        }
        // A6 (RFC 2874 §3.1.1): prefix length, address suffix, prefix name.
        38 => {
            let prefix = p.u8("prefix length")?;
            if prefix > 128 {
                let t = p.toks[p.i - 1];
                return bad(t, "prefix length must be 0 to 128");
            }
            let suffix_len = usize::from(128 - prefix).div_ceil(8);
            if suffix_len > 0 {
                let t = p.tok("address suffix")?;
                let a: Ipv6Addr = t.text.parse().or_else(|_| bad(t, "not an IPv6 address"))?;
                p.out.extend_from_slice(&a.octets()[16 - suffix_len..]);
            }
            if prefix > 0 {
                p.name("prefix name")?;
            }
        }
        // NAPTR
        35 => {
            p.u16("order")?;
            p.u16("preference")?;
            p.string("flags")?;
            p.string("services")?;
            p.string("regexp")?;
            p.name("replacement")?;
        }
        // CERT
        37 => {
            let v = p.mnemonic("certificate type", CERT_TYPES, 65535)?;
            p.out.extend_from_slice(&v.to_be_bytes());
            p.u16("key tag")?;
            p.algorithm()?;
            p.base64_rest("certificate", false)?;
        }
        // SINK
        40 => {
            p.u8("meaning")?;
            p.u8("coding")?;
            p.u8("subcoding")?;
            p.base64_rest("data", true)?;
        }
        // APL
        42 => apl(p)?,
        // DS CDS TA DLV
        43 | 59 | 32768 | 32769 => {
            p.u16("key tag")?;
            p.algorithm()?;
            let table: Vec<(u16, &str)> =
                DIGESTS.iter().map(|&(c, n, _)| (u16::from(c), n)).collect();
            let digest_type = p.mnemonic("digest type", &table, 255)? as u8;
            p.out.push(digest_type);
            let first = p.peek();
            let len = p.hex_rest("digest", false)?;
            if let Some(&(_, name, want)) = DIGESTS.iter().find(|d| d.0 == digest_type)
                && len != want
                && let Some(t) = first
            {
                return bad(
                    t,
                    format!("a {name} digest is {want} octets, this one has {len}"),
                );
            }
        }
        // SSHFP
        44 => {
            p.u8("algorithm")?;
            p.u8("fingerprint type")?;
            p.hex_rest("fingerprint", false)?;
        }
        // IPSECKEY
        45 => {
            p.u8("precedence")?;
            let gw = p.u8("gateway type")?;
            p.algorithm()?;
            gateway(p, gw)?;
            p.base64_rest("public key", true)?;
        }
        // NSEC
        47 => {
            p.name("next domain name")?;
            p.bitmap()?;
        }
        // DHCID OPENPGPKEY HHIT BRID
        49 | 61 | 67 | 68 => p.base64_rest("data", false)?,
        // NSEC3
        50 => {
            p.u8("hash algorithm")?;
            p.u8("flags")?;
            p.u16("iterations")?;
            p.salt()?;
            let t = p.tok("next hashed owner name")?;
            let hash = BASE32_DNSSEC
                .decode(t.text.as_bytes())
                .or_else(|_| bad(t, "next hashed owner name is not base32hex (RFC 4648)"))?;
            if hash.is_empty() || hash.len() > 255 {
                return bad(t, "next hashed owner name must be 1 to 255 octets");
            }
            p.out.push(hash.len() as u8);
            p.out.extend_from_slice(&hash);
            p.bitmap()?;
        }
        // NSEC3PARAM
        51 => {
            p.u8("hash algorithm")?;
            p.u8("flags")?;
            p.u16("iterations")?;
            p.salt()?;
        }
        // TLSA SMIMEA
        52 | 53 => {
            p.u8("certificate usage")?;
            p.u8("selector")?;
            p.u8("matching type")?;
            p.hex_rest("certificate association data", false)?;
        }
        // HIP
        55 => hip(p)?,
        // CSYNC
        62 => {
            p.u32("SOA serial")?;
            p.u16("flags")?;
            p.bitmap()?;
        }
        // ZONEMD
        63 => {
            p.u32("serial")?;
            p.u8("scheme")?;
            p.u8("hash algorithm")?;
            let first = p.peek();
            let len = p.hex_rest("digest", false)?;
            if len < 12
                && let Some(t) = first
            {
                return bad(t, "a ZONEMD digest is at least 12 octets (RFC 8976 §2.2.4)");
            }
        }
        // SVCB HTTPS
        64 | 65 => svcb(p)?,
        // DSYNC
        66 => {
            p.rtype("type")?;
            let v = p.mnemonic("scheme", &[(1, "NOTIFY")], 255)? as u8;
            p.out.push(v);
            p.u16("port")?;
            p.name("target")?;
        }
        // NID L64
        104 | 106 => {
            p.u16("preference")?;
            let t = p.tok("locator")?;
            let groups: Vec<&str> = t.text.split(':').collect();
            if groups.len() != 4
                || groups
                    .iter()
                    .any(|g| g.len() != 4 || !g.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return bad(
                    t,
                    "a 64-bit locator is four groups of 4 hex digits (xxxx:xxxx:xxxx:xxxx)",
                );
            }
            for g in groups {
                let v = u16::from_str_radix(g, 16).expect("checked hex");
                p.out.extend_from_slice(&v.to_be_bytes());
            }
        }
        // L32
        105 => {
            p.u16("preference")?;
            p.ipv4("locator")?;
        }
        // EUI48 EUI64
        108 | 109 => {
            let n = if code == 108 { 6 } else { 8 };
            let t = p.tok("address")?;
            let parts: Vec<&str> = t.text.split('-').collect();
            if parts.len() != n
                || parts
                    .iter()
                    .any(|g| g.len() != 2 || !g.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return bad(
                    t,
                    format!(
                        "an EUI-{} address is {n} pairs of hex digits joined by '-'",
                        n * 8
                    ),
                );
            }
            for g in parts {
                p.out.push(u8::from_str_radix(g, 16).expect("checked hex"));
            }
        }
        // URI
        256 => {
            p.u16("priority")?;
            p.u16("weight")?;
            let t = p.tok("target")?;
            let v = unescape(t.text).or_else(|e| bad(t, e))?;
            p.out.extend_from_slice(&v);
        }
        // CAA
        257 => {
            p.u8("flags")?;
            let t = p.tok("tag")?;
            let tag = t.text.as_bytes();
            if tag.is_empty() || tag.len() > 255 || !tag.iter().all(u8::is_ascii_alphanumeric) {
                return bad(t, "a CAA tag is letters and digits only (RFC 8659 §4.1)");
            }
            p.out.push(tag.len() as u8);
            p.out.extend_from_slice(tag);
            let t = p.tok("value")?;
            let v = unescape(t.text).or_else(|e| bad(t, e))?;
            p.out.extend_from_slice(&v);
        }
        // DOA
        259 => {
            p.u32("enterprise")?;
            p.u32("type")?;
            p.u8("location")?;
            p.string("media type")?;
            if p.peek().is_some_and(|t| t.text == "-" && !t.quoted) {
                p.i += 1;
            } else {
                p.base64_rest("data", false)?;
            }
        }
        // AMTRELAY
        260 => {
            let precedence = p.num("precedence", 255)? as u8;
            let d = p.num("discovery optional bit", 1)? as u8;
            let rtype = p.num("relay type", 127)? as u8;
            p.out.push(precedence);
            p.out.push(d << 7 | rtype);
            match rtype {
                0 => {
                    // No relay: BIND and Knot write "." for it.
                    if p.peek().is_some_and(|t| t.text == ".") {
                        p.i += 1;
                    }
                }
                1..=3 => gateway(p, rtype)?,
                _ => {
                    let t = p.toks[p.i - 1];
                    return bad(t, "relay type must be 0 to 3");
                }
            }
        }
        // Types with no presentation format of their own (NULL, and obsolete or unassigned
        // ones): RFC 3597 generic form only, as in BIND.
        _ => {
            return Err(Bad {
                value: None,
                why: format!(
                    "no presentation format is known for {}; write it in RFC 3597 form \
                     (\\# <length> <hex>)",
                    type_name(code)
                ),
            });
        }
    }
    p.end()
}

/// IPSECKEY and AMTRELAY gateway/relay: 0 none (`.`), 1 IPv4, 2 IPv6, 3 a domain name.
fn gateway(p: &mut P<'_, '_>, kind: u8) -> R<()> {
    match kind {
        0 => {
            let t = p.tok("gateway")?;
            if t.text != "." {
                return bad(t, "gateway type 0 has no gateway: write '.'");
            }
            Ok(())
        }
        1 => p.ipv4("gateway"),
        2 => p.ipv6("gateway"),
        3 => p.name("gateway"),
        _ => {
            let t = p.toks[p.i.saturating_sub(2).min(p.toks.len() - 1)];
            bad(t, "gateway type must be 0 to 3")
        }
    }
}

/// WKS (RFC 1035 §3.4.2): address, protocol, services as names or port numbers.
fn wks(p: &mut P<'_, '_>) -> R<()> {
    p.ipv4("address")?;
    let t = p.tok("protocol")?;
    let proto = match t.text.to_ascii_lowercase().as_str() {
        "tcp" => 6,
        "udp" => 17,
        _ => P::num_of(t, "protocol", 255)? as u8,
    };
    p.out.push(proto);
    let mut bits = Vec::<u8>::new();
    while let Some(t) = p.peek() {
        p.i += 1;
        let port = match SERVICES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(t.text))
        {
            Some(&(port, _)) => port,
            None => P::num_of(
                t,
                "service (a port number or a well-known service name)",
                65535,
            )? as u16,
        };
        let byte = usize::from(port / 8);
        if bits.len() <= byte {
            bits.resize(byte + 1, 0);
        }
        bits[byte] |= 0x80 >> (port % 8);
    }
    p.out.extend_from_slice(&bits);
    Ok(())
}

/// LOC (RFC 1876 §3): `d [m [s]] N|S d [m [s]] E|W alt[m] [size[m] [hp[m] [vp[m]]]]`.
fn loc(p: &mut P<'_, '_>) -> R<()> {
    fn coordinate(p: &mut P<'_, '_>, max_deg: u64, pos: u8, neg: u8, what: &str) -> R<u32> {
        let d = p.num(&format!("{what} degrees"), max_deg)?;
        let mut m = 0;
        let mut ms = 0;
        let mut t = p.tok(&format!("{what} hemisphere"))?;
        let is_hemi = |t: &Tok<'_>| {
            t.text.len() == 1
                && (t.text.as_bytes()[0].eq_ignore_ascii_case(&pos)
                    || t.text.as_bytes()[0].eq_ignore_ascii_case(&neg))
        };
        if !is_hemi(&t) {
            m = P::num_of(t, &format!("{what} minutes"), 59)?;
            t = p.tok(&format!("{what} hemisphere"))?;
            if !is_hemi(&t) {
                ms = match fixed_point(t.text, 3) {
                    Some(v) if v < 60_000 => v,
                    _ => return bad(t, format!("{what} seconds must be 0 to 59.999")),
                };
                t = p.tok(&format!("{what} hemisphere"))?;
                if !is_hemi(&t) {
                    return bad(
                        t,
                        format!("{what} needs {} or {}", char::from(pos), char::from(neg)),
                    );
                }
            }
        }
        let total = (d * 3600 + m * 60) * 1000 + ms;
        if total > max_deg * 3600 * 1000 {
            return bad(t, format!("{what} is beyond {max_deg} degrees"));
        }
        let total = total as u32;
        let positive = t.text.as_bytes()[0].eq_ignore_ascii_case(&pos);
        Ok(if positive {
            (1u32 << 31) + total
        } else {
            (1u32 << 31) - total
        })
    }
    // A length in metres with up to two decimals, as centimetres.
    fn metres(t: Tok<'_>, what: &str, allow_negative: bool) -> R<i64> {
        let s = t.text.strip_suffix(['m', 'M']).unwrap_or(t.text);
        let (neg, digits) = match s.strip_prefix('-') {
            Some(rest) if allow_negative => (true, rest),
            _ => (false, s),
        };
        match fixed_point(digits, 2) {
            Some(v) => Ok(if neg { -(v as i64) } else { v as i64 }),
            None => bad(
                t,
                format!("{what} must be metres with at most two decimals"),
            ),
        }
    }
    // Size and precisions: mantissa and power of ten of centimetres (RFC 1876 §2).
    fn precision(t: Tok<'_>, what: &str) -> R<u8> {
        let cm = metres(t, what, false)?;
        if cm > 9_000_000_000 {
            return bad(t, format!("{what} is over 90000000m"));
        }
        let mut exp = 0u32;
        while exp < 9 && cm >= 10i64.pow(exp + 1) {
            exp += 1;
        }
        let man = (cm / 10i64.pow(exp)).min(9) as u8;
        Ok(man << 4 | exp as u8)
    }
    let lat = coordinate(p, 90, b'N', b'S', "latitude")?;
    let lon = coordinate(p, 180, b'E', b'W', "longitude")?;
    let t = p.tok("altitude")?;
    let alt = metres(t, "altitude", true)?;
    if !(-10_000_000..=4_284_967_295).contains(&alt) {
        return bad(t, "altitude must be -100000.00m to 42849672.95m");
    }
    let mut prec = [0x12u8, 0x16, 0x13]; // 1m, 10000m, 10m
    let names = ["size", "horizontal precision", "vertical precision"];
    for (k, what) in names.iter().enumerate() {
        match p.peek() {
            Some(t) => {
                p.i += 1;
                prec[k] = precision(t, what)?;
            }
            None => break,
        }
    }
    p.out.push(0); // version
    p.out.extend_from_slice(&prec);
    p.out.extend_from_slice(&lat.to_be_bytes());
    p.out.extend_from_slice(&lon.to_be_bytes());
    p.out
        .extend_from_slice(&((alt + 10_000_000) as u32).to_be_bytes());
    Ok(())
}

/// `123.45` as an integer scaled by 10^`decimals`; at most `decimals` digits after the point.
fn fixed_point(s: &str, decimals: u32) -> Option<u64> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if frac.len() > decimals as usize || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let int = if int.is_empty() { 0 } else { decimal(int)? };
    let mut f = if frac.is_empty() { 0 } else { decimal(frac)? };
    f *= 10u64.pow(decimals - frac.len() as u32);
    int.checked_mul(10u64.pow(decimals))?.checked_add(f)
}

/// APL (RFC 3123 §5): `[!]afi:address/prefix` items, none or several.
fn apl(p: &mut P<'_, '_>) -> R<()> {
    while let Some(t) = p.peek() {
        p.i += 1;
        let (neg, item) = match t.text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, t.text),
        };
        let Some((afi, rest)) = item.split_once(':') else {
            return bad(t, "an APL item is [!]afi:address/prefix");
        };
        let Some((addr, prefix)) = rest.split_once('/') else {
            return bad(t, "an APL item is [!]afi:address/prefix");
        };
        let (afi, bytes, max): (u16, Vec<u8>, u64) = match afi {
            "1" => match addr.parse::<Ipv4Addr>() {
                Ok(a) => (1, a.octets().to_vec(), 32),
                Err(_) => return bad(t, "not an IPv4 address after 1:"),
            },
            "2" => match addr.parse::<Ipv6Addr>() {
                Ok(a) => (2, a.octets().to_vec(), 128),
                Err(_) => return bad(t, "not an IPv6 address after 2:"),
            },
            _ => return bad(t, "address family must be 1 (IPv4) or 2 (IPv6)"),
        };
        let prefix = match decimal(prefix) {
            Some(v) if v <= max => v as u8,
            _ => return bad(t, format!("prefix length must be 0 to {max}")),
        };
        // Trailing zero octets are left out (RFC 3123 §4).
        let len = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        p.out.extend_from_slice(&afi.to_be_bytes());
        p.out.push(prefix);
        p.out.push(u8::from(neg) << 7 | len as u8);
        p.out.extend_from_slice(&bytes[..len]);
    }
    Ok(())
}

/// HIP (RFC 8005 §6): algorithm, HIT (hex), public key (base64), rendezvous servers.
fn hip(p: &mut P<'_, '_>) -> R<()> {
    let alg = p.num("public key algorithm", 255)? as u8;
    let t = p.tok("HIT")?;
    let hit = HEXLOWER_PERMISSIVE
        .decode(t.text.as_bytes())
        .or_else(|_| bad(t, "HIT is not hexadecimal"))?;
    if hit.is_empty() || hit.len() > 255 {
        return bad(t, "HIT must be 1 to 255 octets");
    }
    let pk = p.base64_token("public key")?;
    if pk.len() > 65535 {
        return Err(Bad {
            value: None,
            why: "public key is too long".into(),
        });
    }
    p.out.push(hit.len() as u8);
    p.out.push(alg);
    p.out.extend_from_slice(&(pk.len() as u16).to_be_bytes());
    p.out.extend_from_slice(&hit);
    p.out.extend_from_slice(&pk);
    while !p.at_end() {
        p.name("rendezvous server")?;
    }
    Ok(())
}

/// SvcParamKeys (RFC 9460 §14.3.2).
const SVC_KEYS: &[(u16, &str)] = &[
    (0, "mandatory"),
    (1, "alpn"),
    (2, "no-default-alpn"),
    (3, "port"),
    (4, "ipv4hint"),
    (5, "ech"),
    (6, "ipv6hint"),
    (7, "dohpath"),
    (8, "ohttp"),
    (9, "tls-supported-groups"),
];

fn svc_key(name: &str) -> Option<u16> {
    if let Some(&(k, _)) = SVC_KEYS.iter().find(|(_, n)| *n == name) {
        return Some(k);
    }
    let k = u16::try_from(decimal(name.strip_prefix("key")?)?).ok()?;
    // key65535 is reserved ("invalid key", RFC 9460 §14.3.2).
    (k != 65535).then_some(k)
}

/// Splits a decoded SvcParamValue list on commas; `\,` and `\\` escape (RFC 9460 Appendix A.1).
fn value_list(v: &[u8]) -> Vec<Vec<u8>> {
    let mut items = vec![Vec::new()];
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'\\' if i + 1 < v.len() => {
                items.last_mut().expect("non-empty").push(v[i + 1]);
                i += 2;
            }
            b',' => {
                items.push(Vec::new());
                i += 1;
            }
            b => {
                items.last_mut().expect("non-empty").push(b);
                i += 1;
            }
        }
    }
    items
}

/// SVCB and HTTPS (RFC 9460 §2.1): priority, target, `key[=value]` parameters.
fn svcb(p: &mut P<'_, '_>) -> R<()> {
    p.u16("priority")?;
    p.name("target name")?;
    let mut params: Vec<(u16, Vec<u8>, Tok<'_>)> = Vec::new();
    while let Some(t) = p.peek() {
        p.i += 1;
        let (key_text, value): (&str, Option<Vec<u8>>) = match t.text.split_once('=') {
            None => (t.text, None),
            Some((k, "")) => {
                // `key="value"`: the lexer hands the quoted value over as the next token.
                match p.peek() {
                    Some(q) if q.quoted => {
                        p.i += 1;
                        (k, Some(unescape(q.text).or_else(|e| bad(q, e))?))
                    }
                    _ => (k, Some(Vec::new())),
                }
            }
            Some((k, v)) => (k, Some(unescape(v).or_else(|e| bad(t, e))?)),
        };
        let Some(key) = svc_key(key_text) else {
            return bad(t, "unknown SvcParamKey (RFC 9460 §14.3.2), or key65535");
        };
        let need = |value: Option<Vec<u8>>| -> R<Vec<u8>> {
            match value {
                Some(v) if !v.is_empty() => Ok(v),
                _ => bad(t, format!("{key_text} needs a value")),
            }
        };
        let wire: Vec<u8> = match key {
            0 => {
                let mut out = Vec::new();
                let mut keys = Vec::new();
                for item in value_list(&need(value)?) {
                    let name = String::from_utf8_lossy(&item);
                    match svc_key(&name) {
                        Some(0) => return bad(t, "mandatory must not list mandatory"),
                        Some(k) if !keys.contains(&k) => keys.push(k),
                        Some(_) => return bad(t, "mandatory lists a key twice"),
                        None => return bad(t, format!("mandatory lists an unknown key {name:?}")),
                    }
                }
                keys.sort_unstable();
                for k in keys {
                    out.extend_from_slice(&k.to_be_bytes());
                }
                out
            }
            1 => {
                let mut out = Vec::new();
                for item in value_list(&need(value)?) {
                    if item.is_empty() || item.len() > 255 {
                        return bad(t, "an alpn id must be 1 to 255 octets");
                    }
                    out.push(item.len() as u8);
                    out.extend_from_slice(&item);
                }
                out
            }
            2 | 8 => {
                if value.as_ref().is_some_and(|v| !v.is_empty()) {
                    return bad(t, format!("{key_text} takes no value"));
                }
                Vec::new()
            }
            3 => {
                let v = need(value)?;
                match std::str::from_utf8(&v).ok().and_then(decimal) {
                    Some(port) if port <= 65535 => (port as u16).to_be_bytes().to_vec(),
                    _ => return bad(t, "port must be a number from 0 to 65535"),
                }
            }
            4 | 6 => {
                let mut out = Vec::new();
                for item in value_list(&need(value)?) {
                    let s = String::from_utf8_lossy(&item);
                    if key == 4 {
                        match s.parse::<Ipv4Addr>() {
                            Ok(a) => out.extend_from_slice(&a.octets()),
                            Err(_) => return bad(t, format!("{s:?} is not an IPv4 address")),
                        }
                    } else {
                        match s.parse::<Ipv6Addr>() {
                            Ok(a) => out.extend_from_slice(&a.octets()),
                            Err(_) => return bad(t, format!("{s:?} is not an IPv6 address")),
                        }
                    }
                }
                out
            }
            5 => {
                let v = need(value)?;
                let s = String::from_utf8_lossy(&v);
                BASE64
                    .decode(s.trim_end_matches('=').as_bytes())
                    .or_else(|_| bad(t, "ech is not valid base64"))?
            }
            9 => {
                let mut out = Vec::new();
                for item in value_list(&need(value)?) {
                    match std::str::from_utf8(&item).ok().and_then(decimal) {
                        Some(g) if g <= 65535 => out.extend_from_slice(&(g as u16).to_be_bytes()),
                        _ => return bad(t, "tls-supported-groups is a list of numbers"),
                    }
                }
                out
            }
            // dohpath and keyNNNNN: the octets as written.
            _ => value.unwrap_or_default(),
        };
        if wire.len() > 65535 {
            return bad(t, "SvcParamValue is too long");
        }
        if params.iter().any(|(k, _, _)| *k == key) {
            return bad(t, format!("{key_text} appears twice"));
        }
        params.push((key, wire, t));
    }
    params.sort_by_key(|(k, _, _)| *k);
    // Every key listed as mandatory must be present (RFC 9460 §8).
    if let Some((_, list, t)) = params.iter().find(|(k, _, _)| *k == 0) {
        for k in list.chunks(2) {
            let k = u16::from_be_bytes([k[0], k[1]]);
            if !params.iter().any(|(pk, _, _)| *pk == k) {
                return bad(*t, format!("mandatory key{k} is not present"));
            }
        }
    }
    for (key, wire, _) in params {
        p.out.extend_from_slice(&key.to_be_bytes());
        p.out.extend_from_slice(&(wire.len() as u16).to_be_bytes());
        p.out.extend_from_slice(&wire);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits on blanks, keeping "quoted strings" whole (enough for these tests).
    fn toks(s: &str) -> Vec<Tok<'_>> {
        let mut out = Vec::new();
        let mut rest = s.trim_start();
        while !rest.is_empty() {
            if let Some(q) = rest.strip_prefix('"') {
                let end = q.find('"').expect("closing quote");
                out.push(Tok {
                    text: &q[..end],
                    quoted: true,
                });
                rest = q[end + 1..].trim_start();
            } else {
                let end = rest.find([' ', '"']).unwrap_or(rest.len());
                out.push(Tok {
                    text: &rest[..end],
                    quoted: false,
                });
                rest = rest[end..].trim_start();
            }
        }
        out
    }

    const ORIGIN: &[u8] = b"\x07example\x00";

    fn rd(t: &str, s: &str) -> Result<Vec<u8>, String> {
        parse(type_from_text(t).unwrap(), &toks(s), ORIGIN)
    }

    fn hex(s: &str) -> Vec<u8> {
        HEXLOWER_PERMISSIVE
            .decode(s.replace(' ', "").as_bytes())
            .unwrap()
    }

    #[test]
    fn names_take_any_octet() {
        assert_eq!(
            name_wire("a\\000b", ORIGIN).unwrap(),
            b"\x03a\x00b\x07example\x00"
        );
        assert_eq!(name_wire("my_host", ORIGIN).unwrap()[..8], *b"\x07my_host");
        assert_eq!(name_wire("0/25", ORIGIN).unwrap()[..5], *b"\x040/25");
        assert_eq!(name_wire("-lead.", ORIGIN).unwrap(), b"\x05-lead\x00");
        assert_eq!(name_wire("a\\.b", ORIGIN).unwrap()[..4], *b"\x03a.b");
        assert_eq!(name_wire("a\\032b", ORIGIN).unwrap()[..4], *b"\x03a b");
        assert_eq!(name_wire("@", ORIGIN).unwrap(), ORIGIN);
        assert_eq!(name_wire(".", ORIGIN).unwrap(), b"\x00");
        assert!(name_wire("a..b", ORIGIN).is_err());
        assert!(name_wire(&"x".repeat(64), ORIGIN).is_err());
        assert!(name_wire(&format!("{}.", vec!["y".repeat(63); 4].join(".")), ORIGIN).is_err());
        assert!(name_wire("a\\256", ORIGIN).is_err());
    }

    #[test]
    fn types_and_periods() {
        assert_eq!(type_from_text("dname"), Some(39));
        assert_eq!(type_from_text("TYPE65280"), Some(65280));
        assert_eq!(type_from_text("type1"), Some(1));
        assert_eq!(type_from_text("TYPE65536"), None);
        assert_eq!(type_from_text("BOGUS"), None);
        assert_eq!(type_name(65280), "TYPE65280");
        assert_eq!(period("1h30m"), Some(5400));
        assert_eq!(period("1W"), Some(604_800));
        assert_eq!(period("4294967295"), Some(u32::MAX));
        assert_eq!(period("4294967296"), None);
        assert_eq!(period("1x"), None);
        assert_eq!(class_from_text("CLASS1"), Some(1));
        assert_eq!(class_from_text("in"), Some(1));
    }

    #[test]
    fn common_types() {
        assert_eq!(rd("A", "192.0.2.1").unwrap(), [192, 0, 2, 1]);
        let e = rd("A", "192.0.2.256").unwrap_err();
        assert!(e.starts_with("bad A record \"192.0.2.256\""), "{e}");
        assert!(
            rd("A", "192.0.2.1 extra")
                .unwrap_err()
                .contains("\"extra\"")
        );
        assert_eq!(
            rd("MX", "10 mail").unwrap(),
            b"\x00\x0a\x04mail\x07example\x00"
        );
        assert_eq!(
            rd("DNAME", "target.net.").unwrap(),
            b"\x06target\x03net\x00"
        );
        assert_eq!(rd("TXT", "\"a b\" c\\032d").unwrap(), b"\x03a b\x03c d");
        assert_eq!(
            rd("CAA", "0 issue \"ca.example.net; x\"").unwrap()[..7],
            *b"\x00\x05issue"
        );
        assert_eq!(
            rd("URI", "10 1 \"https://x/\"").unwrap(),
            b"\x00\x0a\x00\x01https://x/"
        );
        assert_eq!(
            rd("EUI48", "00-00-5e-00-53-2a").unwrap(),
            hex("00005e00532a")
        );
        assert!(rd("EUI48", "0-00-5e-00-53-2a").is_err());
        assert_eq!(
            rd("NID", "10 0014:4fff:ff20:ee64").unwrap(),
            hex("000a00144fffff20ee64")
        );
        assert_eq!(rd("L32", "10 10.1.2.0").unwrap(), hex("000a0a010200"));
        assert_eq!(
            rd("SOA", "ns h 1 1h 2 3 4").unwrap().len(),
            2 + 3 + 8 + 2 + 8 + 20
        );
    }

    #[test]
    fn generic_form() {
        assert_eq!(rd("TYPE65280", "\\# 4 0a000001").unwrap(), [10, 0, 0, 1]);
        assert_eq!(rd("TYPE65280", "\\# 0").unwrap(), Vec::<u8>::new());
        assert_eq!(
            rd("MX", "\\# 8 000a 04 6d61696c 00").unwrap(),
            b"\x00\x0a\x04mail\x00"
        );
        assert!(
            rd("TYPE65280", "\\# 3 0a000001")
                .unwrap_err()
                .contains("length says 3")
        );
        assert!(rd("A", "\\# 3 0a0000").unwrap_err().contains("4 octets"));
        assert!(rd("MX", "\\# 4 000ac00c").is_err(), "compressed name");
        assert!(
            rd("TYPE65280", "0a000001")
                .unwrap_err()
                .contains("RFC 3597")
        );
        assert!(rd("NULL", "x").is_err());
        assert_eq!(rd("NULL", "\\# 1 ff").unwrap(), [255]);
    }

    #[test]
    fn dnssec_types() {
        assert_eq!(
            rd("DS", "60485 5 1 2BB183AF5F22588179A53B0A 98631FAD1A292118").unwrap(),
            hex("ec45050 12bb183af5f22588179a53b0a98631fad1a292118"
                .replace(' ', "")
                .as_str())
        );
        assert!(
            rd("DS", "60485 5 1 2BB1")
                .unwrap_err()
                .contains("20 octets")
        );
        assert_eq!(
            rd(
                "DS",
                "60485 RSASHA1 SHA-1 2BB183AF5F22588179A53B0A98631FAD1A292118"
            )
            .unwrap()[2],
            5
        );
        assert_eq!(rd("CDS", "0 0 0 00").unwrap(), [0, 0, 0, 0, 0]);
        assert_eq!(
            rd("DNSKEY", "257 3 8 AwEAAQ==").unwrap(),
            hex("0101030803010001")
        );
        assert_eq!(rd("CDNSKEY", "0 3 0 AA==").unwrap(), hex("0000030000"));
        // NSEC with the bitmap of RFC 4034 §4.3.
        assert_eq!(
            rd("NSEC", "host.example.com. A MX RRSIG NSEC TYPE1234").unwrap(),
            hex(concat!(
                "04686f7374076578616d706c6503636f6d00",
                "0006400100000003",
                "041b000000000000000000000000000000000000000000000000000020"
            ))
        );
        let n3 = rd(
            "NSEC3",
            "1 1 12 aabbccdd 2t7b4g4vsa5smi47k61mv5bv1a22bojr MX DNSKEY NS SOA NSEC3PARAM RRSIG",
        )
        .unwrap();
        assert_eq!(n3[..9], hex("0101000c04aabbccdd"));
        assert_eq!(n3[9], 20);
        assert_eq!(rd("NSEC3PARAM", "1 0 0 -").unwrap(), [1, 0, 0, 0, 0]);
        let sig = rd(
            "RRSIG",
            "A 8 2 3600 20300101000000 20200101000000 12345 example. AAAA",
        )
        .unwrap();
        assert_eq!(sig[..2], [0, 1]);
        assert_eq!(
            u32::from_be_bytes(sig[8..12].try_into().unwrap()),
            1_893_456_000
        );
        assert_eq!(
            u32::from_be_bytes(sig[12..16].try_into().unwrap()),
            1_577_836_800
        );
    }

    #[test]
    fn loc_apl_wks() {
        // Expected octets from ldns (ldns-read-zone -u LOC).
        assert_eq!(
            rd("LOC", "42 21 54 N 71 06 18 W -24m 30m").unwrap(),
            hex("0033161389172dd070be15f000988d20")
        );
        assert_eq!(
            rd("LOC", "60 9 N 24 39 E 10 20 2000 20").unwrap(),
            hex("002325238ce82360854a10a000989a68")
        );
        assert!(rd("LOC", "91 N 0 E 0").is_err());
        assert_eq!(
            rd("APL", "1:192.168.32.0/21 !1:192.168.38.0/28").unwrap(),
            hex("00011503c0a820 00011c83c0a826")
        );
        assert_eq!(rd("APL", "").unwrap(), Vec::<u8>::new());
        assert_eq!(
            rd("WKS", "10.0.0.1 tcp telnet ftp 0 1 2").unwrap(),
            hex("0a00000106e00005")
        );
    }

    #[test]
    fn svcb() {
        assert_eq!(
            rd("HTTPS", "0 foo.example.com.").unwrap(),
            hex("000003666f6f076578616d706c6503636f6d00")
        );
        // RFC 9460 Appendix D.2, "sorted SvcParams".
        assert_eq!(
            rd(
                "SVCB",
                "16 foo.example.org. alpn=h2,h3-19 mandatory=ipv4hint,alpn ipv4hint=192.0.2.1"
            )
            .unwrap(),
            hex(concat!(
                "0010 03666f6f076578616d706c65036f726700",
                "0000000400010004",
                "00010009 026832 0568332d3139",
                "00040004c0000201"
            )
            .replace(' ', "")
            .as_str())
        );
        assert_eq!(
            rd("SVCB", "1 foo.example.com. key667=hello").unwrap()[19..],
            hex("029b000568656c6c6f")
        );
        assert!(rd("SVCB", "1 . port=1 port=2").is_err());
        assert!(rd("SVCB", "1 . mandatory=alpn").is_err());
        assert!(rd("SVCB", "1 . echconfig=AA==").is_err());
    }
}
