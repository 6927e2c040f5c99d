//! Differential test: geosteer, NSD and Knot serve the same zones (tests/zones/differential/)
//! on loopback ports and are asked the same questions — every owner name and the names around
//! them (nonexistent, under cuts, wildcard matches, below DNAMEs, mixed case) × a broad set of
//! query types × with and without EDNS, with DO, over UDP and TCP, plus protocol edge cases.
//! Responses are compared on rcode, header flags, the question echo, the OPT record, and each
//! section as sorted RRsets. geosteer must answer as NSD or as Knot does (where those two
//! differ, either is fine), except for the differences listed in [`ALLOWED`], each with its
//! reason: each is kept on purpose.
//!
//! Needs nsd (apt: nsd), knotd (knot) and named-checkzone (bind9-utils); CI's .ci/run
//! installs them. The servers run in the foreground from a temporary directory and are killed
//! when the test ends.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const ZONES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/zones/differential");

// ---------------------------------------------------------------------------------------------
// The allowed differences: the one place where geosteer may answer unlike both NSD and Knot.

/// What a query was.
#[derive(Debug, Clone)]
struct Case {
    /// Presentation form of the question name, as sent.
    qname: String,
    qtype: u16,
    qclass: u16,
    variant: Variant,
    /// For protocol edge cases: which one.
    special: Option<&'static str>,
}

impl Case {
    fn label(&self) -> String {
        format!(
            "{} type {} class {} {}{}",
            self.qname,
            self.qtype,
            self.qclass,
            self.variant.label(),
            self.special.map(|s| format!(" [{s}]")).unwrap_or_default()
        )
    }

    /// What kind of question, for grouping.
    fn kind(&self) -> String {
        match self.special {
            Some(s) => s.to_string(),
            None => format!("type {} {}", self.qtype, self.variant.label()),
        }
    }
}

/// A difference geosteer may have from a reference: why, and how to take it out of the
/// comparison.
struct Allowed {
    id: &'static str,
    reason: &'static str,
    /// When this difference is there between geosteer's response `g` and a reference's `r`
    /// for the query, removes it (rewriting either) and returns true. Differences are removed
    /// one rule after the other; the responses must then be equal.
    fix: fn(&Case, &mut Resp, &mut Resp) -> bool,
}

const ANY: u16 = 255;
const OPT: u16 = 41;
const NOERROR: u16 = 0;
const FORMERR: u16 = 1;
const NOTIMP: u16 = 4;

/// The one list of differences from NSD and Knot that geosteer is allowed, with the reason for
/// each.
const ALLOWED: &[Allowed] = &[
    Allowed {
        id: "notify-update-notimp",
        reason: "NOTIFY and UPDATE: geosteer implements neither and answers NOTIMP (RFC 1996 \
                 §3.1, RFC 2136 §3.8); NSD answers UPDATE so too (without the question) and an \
                 unexpected NOTIFY with NXDOMAIN, Knot both with NOTAUTH",
        fix: |c, g, r| {
            let hit = matches!(c.special, Some("opcode-notify" | "opcode-update"))
                && g.rcode == NOTIMP
                && r.rcode != NOERROR;
            if hit {
                *g = r.clone();
            }
            hit
        },
    },
    Allowed {
        id: "ecs-malformed-formerr",
        reason: "RFC 7871 §7.1.1: a malformed ECS option gets FORMERR (with an OPT record, \
                 RFC 6891 §7); NSD and Knot (without its geoip module) ignore the option and \
                 answer",
        fix: |c, g, r| {
            let hit = c.special == Some("ecs-malformed")
                && g.rcode == FORMERR
                && g.answer.is_empty()
                && g.opt.as_ref().is_some_and(|o| o.options.is_empty())
                && r.rcode == NOERROR
                && r.opt.is_some();
            if hit {
                *g = r.clone();
            }
            hit
        },
    },
    Allowed {
        id: "cd-copied",
        reason: "RFC 4035 §3.1.6: a server MUST copy the CD bit of the query into the \
                 response; geosteer does, NSD 4.6 and Knot 3.2 leave it clear",
        fix: |c, g, r| {
            let hit = c.special == Some("cd-set") && g.flags & 0x10 != 0 && r.flags & 0x10 == 0;
            if hit {
                g.flags &= !0x10;
            }
            hit
        },
    },
    Allowed {
        id: "ecs-echo",
        reason: "geosteer implements EDNS Client Subnet (RFC 7871) and echoes the option with \
                 a scope; NSD and Knot (without its geoip module) ignore it",
        fix: |c, g, _| match &mut g.opt {
            Some(o) if c.special.is_some_and(|s| s.starts_with("ecs")) => {
                let before = o.options.len();
                o.options.retain(|(k, _)| *k != 8);
                o.options.len() != before
            }
            _ => false,
        },
    },
    Allowed {
        id: "any-minimal",
        reason: "RFC 8482: geosteer answers ANY with one RRset (the first in type order); NSD \
                 sends every RRset, Knot one of them over UDP (which one may differ)",
        fix: |c, g, r| {
            let hit = c.qtype == ANY
                && g.rcode == r.rcode
                && g.answer.len() == 1
                && g.answer.keys().all(|k| r.answer.contains_key(k));
            if hit {
                g.answer = r.answer.clone();
                g.additional = r.additional.clone();
                g.authority = r.authority.clone();
            }
            hit
        },
    },
];

/// Applies the allowed differences between `g` and `r` in turn; the ones used when that makes
/// them equal.
fn explain(case: &Case, g: &Resp, r: &Resp) -> Option<Vec<&'static str>> {
    let (mut g, mut r) = (g.clone(), r.clone());
    let mut used = Vec::new();
    for a in ALLOWED {
        if g == r {
            break;
        }
        if (a.fix)(case, &mut g, &mut r) {
            used.push(a.id);
        }
    }
    (g == r).then_some(used)
}

/// Which parts of two responses differ, for grouping failures.
fn diff_parts(a: &Resp, b: &Resp) -> String {
    let mut parts = Vec::new();
    if a.rcode != b.rcode {
        parts.push(format!("rcode {}≠{}", a.rcode, b.rcode));
    }
    if a.flags != b.flags {
        parts.push(format!("flags {:#06x}≠{:#06x}", a.flags, b.flags));
    }
    if a.question != b.question {
        parts.push("question".into());
    }
    for (n, x, y) in [
        ("answer", &a.answer, &b.answer),
        ("authority", &a.authority, &b.authority),
        ("additional", &a.additional, &b.additional),
    ] {
        if x != y {
            let tx: BTreeSet<u16> = x.keys().map(|k| k.1).collect();
            let ty: BTreeSet<u16> = y.keys().map(|k| k.1).collect();
            parts.push(format!("{n} {tx:?}≠{ty:?}"));
        }
    }
    if a.opt != b.opt {
        parts.push("opt".into());
    }
    parts.join(", ")
}

// ---------------------------------------------------------------------------------------------
// Wire format: queries built and responses read here, so that nothing is normalised away by a
// library.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Variant {
    tcp: bool,
    edns: bool,
    do_bit: bool,
}

impl Variant {
    fn label(&self) -> &'static str {
        match (self.tcp, self.edns, self.do_bit) {
            (false, false, _) => "udp",
            (false, true, false) => "udp+edns",
            (false, true, true) => "udp+edns+do",
            (true, false, _) => "tcp",
            (true, true, false) => "tcp+edns",
            (true, true, true) => "tcp+edns+do",
        }
    }
}

const VARIANTS: [Variant; 4] = [
    Variant {
        tcp: false,
        edns: false,
        do_bit: false,
    },
    Variant {
        tcp: false,
        edns: true,
        do_bit: false,
    },
    Variant {
        tcp: false,
        edns: true,
        do_bit: true,
    },
    Variant {
        tcp: true,
        edns: true,
        do_bit: false,
    },
];

/// A name in presentation form to uncompressed wire form (escapes `\X` and `\DDD`).
fn to_wire(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut label = Vec::new();
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) => {
                let v = (b[i + 1] - b'0') as u32 * 100
                    + (b[i + 2] - b'0') as u32 * 10
                    + (b[i + 3] - b'0') as u32;
                label.push(v as u8);
                i += 4;
            }
            b'\\' => {
                label.push(b[i + 1]);
                i += 2;
            }
            b'.' => {
                out.push(label.len() as u8);
                out.append(&mut label);
                i += 1;
            }
            c => {
                label.push(c);
                i += 1;
            }
        }
    }
    if !label.is_empty() {
        out.push(label.len() as u8);
        out.append(&mut label);
    }
    out.push(0);
    out
}

/// A query: RD clear, one question, and an OPT record when `edns`.
fn build_query(id: u16, case: &Case) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
    q.extend_from_slice(&[0, u8::from(case.variant.edns)]);
    q.extend_from_slice(&to_wire(&case.qname));
    q.extend_from_slice(&case.qtype.to_be_bytes());
    q.extend_from_slice(&case.qclass.to_be_bytes());
    if case.variant.edns {
        q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0]);
        q.push(if case.variant.do_bit { 0x80 } else { 0 });
        q.extend_from_slice(&[0, 0, 0]);
    }
    q
}

const CONN_OPEN: u16 = 0xfff0;
const CONN_CLOSED: u16 = 0xfff1;
const NO_ANSWER: u16 = 0xfff2;

/// An RRset key: owner (lower-cased wire), type, class.
type Key = (Vec<u8>, u16, u16);
/// An RRset: its TTLs (normally one) and its RDATA in canonical form, sorted.
type Val = (BTreeSet<u32>, BTreeSet<Vec<u8>>);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Opt {
    payload: u16,
    version: u8,
    do_bit: bool,
    options: Vec<(u16, Vec<u8>)>,
}

/// A response, normalised for comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Resp {
    /// QR, opcode, AA, TC, RD, RA, Z, AD, CD.
    flags: u16,
    /// The full rcode (with the OPT's extended bits); or one of the CONN_/NO_ANSWER codes.
    rcode: u16,
    /// The question section as sent back, octet for octet (0x20 case included).
    question: Vec<u8>,
    answer: BTreeMap<Key, Val>,
    authority: BTreeMap<Key, Val>,
    additional: BTreeMap<Key, Val>,
    opt: Option<Opt>,
}

impl Resp {
    fn summary(&self) -> String {
        let mut s = String::new();
        match self.rcode {
            CONN_OPEN => return "connection kept open".into(),
            CONN_CLOSED => return "connection closed".into(),
            NO_ANSWER => return "no answer".into(),
            _ => {}
        }
        let _ = write!(s, "rcode {} flags {:#06x}", self.rcode, self.flags);
        for (name, sec) in [
            ("ANSWER", &self.answer),
            ("AUTHORITY", &self.authority),
            ("ADDITIONAL", &self.additional),
        ] {
            if sec.is_empty() {
                continue;
            }
            let _ = write!(s, "\n    {name}:");
            for ((owner, t, c), (ttls, rdatas)) in sec {
                let _ = write!(
                    s,
                    " [{} {t}/{c} ttl {ttls:?} x{}]",
                    show_name(owner),
                    rdatas.len()
                );
            }
        }
        if let Some(o) = &self.opt {
            let _ = write!(
                s,
                "\n    OPT payload {} v{} do {} options {:?}",
                o.payload,
                o.version,
                o.do_bit,
                o.options.iter().map(|(k, _)| *k).collect::<Vec<_>>()
            );
        }
        s
    }
}

fn show_name(wire: &[u8]) -> String {
    let mut s = String::new();
    let mut i = 0;
    while i < wire.len() && wire[i] != 0 {
        let l = wire[i] as usize;
        for &b in &wire[i + 1..i + 1 + l] {
            if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                s.push(b as char);
            } else {
                let _ = write!(s, "\\{b:03}");
            }
        }
        s.push('.');
        i += 1 + l;
    }
    if s.is_empty() { ".".into() } else { s }
}

/// Reads a possibly compressed name at `off`; returns it uncompressed and lower-cased, and the
/// offset after it in the original stream.
fn read_name(msg: &[u8], mut off: usize) -> Result<(Vec<u8>, usize), String> {
    let mut out = Vec::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let l = *msg.get(off).ok_or("name runs past the end")? as usize;
        if l & 0xc0 == 0xc0 {
            let ptr = ((l & 0x3f) << 8) | *msg.get(off + 1).ok_or("bad pointer")? as usize;
            end.get_or_insert(off + 2);
            jumps += 1;
            if jumps > 64 {
                return Err("pointer loop".into());
            }
            off = ptr;
            continue;
        }
        if l == 0 {
            out.push(0);
            return Ok((out, end.unwrap_or(off + 1)));
        }
        let label = msg
            .get(off + 1..off + 1 + l)
            .ok_or("label runs past the end")?;
        out.push(l as u8);
        out.extend(label.iter().map(u8::to_ascii_lowercase));
        off += 1 + l;
    }
}

/// RDATA with any names in it uncompressed and lower-cased (the types whose RDATA names may be
/// compressed, RFC 3597 §4, and the ones receivers should decompress).
fn canonical_rdata(msg: &[u8], rtype: u16, start: usize, len: usize) -> Result<Vec<u8>, String> {
    let end = start + len;
    let raw = msg.get(start..end).ok_or("RDATA runs past the end")?;
    // (octets before the first name, names, then: the rest is copied)
    let layout: Option<(usize, usize)> = match rtype {
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => Some((0, 1)),
        6 | 14 | 17 => Some((0, 2)),
        15 | 18 | 21 | 36 => Some((2, 1)),
        26 => Some((2, 2)),
        33 => Some((6, 1)),
        24 | 46 => Some((18, 1)),
        30 | 47 => Some((0, 1)),
        _ => None,
    };
    let Some((head, names)) = layout else {
        return Ok(raw.to_vec());
    };
    let mut out = raw.get(..head).ok_or("RDATA too short")?.to_vec();
    let mut off = start + head;
    for _ in 0..names {
        let (n, next) = read_name(msg, off)?;
        out.extend_from_slice(&n);
        off = next;
    }
    out.extend_from_slice(msg.get(off..end).ok_or("RDATA names overrun")?);
    Ok(out)
}

fn parse_response(msg: &[u8], query: &[u8]) -> Result<Resp, String> {
    if msg.len() < 12 {
        return Err(format!("{}-octet response", msg.len()));
    }
    if msg[..2] != query[..2] {
        return Err("ID does not match".into());
    }
    let count = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]) as usize;
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    let mut r = Resp {
        flags: u16::from_be_bytes([msg[2], msg[3]]) & 0xfff0,
        rcode: u16::from(msg[3] & 0x0f),
        ..Resp::default()
    };
    let mut off = 12;
    for _ in 0..qd {
        // The question is compared octet for octet: its case matters (0x20).
        let (_, next) = read_name(msg, off)?;
        let qend = next + 4;
        r.question
            .extend_from_slice(msg.get(off..qend).ok_or("question runs past the end")?);
        off = qend;
    }
    for (section, n) in [(0, an), (1, ns), (2, ar)] {
        for _ in 0..n {
            let (owner, next) = read_name(msg, off)?;
            let f = msg
                .get(next..next + 10)
                .ok_or("record header runs past the end")?;
            let rtype = u16::from_be_bytes([f[0], f[1]]);
            let class = u16::from_be_bytes([f[2], f[3]]);
            let ttl = u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
            let rdlen = u16::from_be_bytes([f[8], f[9]]) as usize;
            let rstart = next + 10;
            if msg.len() < rstart + rdlen {
                return Err("RDATA runs past the end".into());
            }
            if rtype == OPT && section == 2 {
                let mut options = Vec::new();
                let mut o = rstart;
                while o + 4 <= rstart + rdlen {
                    let code = u16::from_be_bytes([msg[o], msg[o + 1]]);
                    let l = u16::from_be_bytes([msg[o + 2], msg[o + 3]]) as usize;
                    let mut data = msg[o + 4..(o + 4 + l).min(rstart + rdlen)].to_vec();
                    if code == 15 {
                        // An Extended DNS Error's EXTRA-TEXT is free text for people (RFC 8914
                        // §2): only the INFO-CODE is compared.
                        data.truncate(2);
                    }
                    options.push((code, data));
                    o += 4 + l;
                }
                r.rcode |= u16::from(f[4]) << 4;
                r.opt = Some(Opt {
                    payload: class,
                    version: f[5],
                    do_bit: f[6] & 0x80 != 0,
                    options,
                });
            } else {
                let rd = canonical_rdata(msg, rtype, rstart, rdlen)?;
                let map = match section {
                    0 => &mut r.answer,
                    1 => &mut r.authority,
                    _ => &mut r.additional,
                };
                let e = map.entry((owner, rtype, class)).or_default();
                e.0.insert(ttl);
                e.1.insert(rd);
            }
            off = rstart + rdlen;
        }
    }
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// The servers.

/// A free port on 127.0.0.1 for both UDP and TCP (the kernel's choice, released for the server
/// to bind; another process taking it in between would make the server fail to start, loudly).
fn free_port() -> u16 {
    loop {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn find_binary(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin")]) {
        let p = dir.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "`{name}` is not installed: this test compares geosteer's answers with NSD's and \
         Knot's. Install them with `apt-get install nsd knot` (CI's .ci/run does)."
    );
}

/// A reference server process, killed when dropped.
struct Reference {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn zone_files() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(ZONES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zone"))
        .map(|p| {
            let origin = format!("{}.", p.file_stem().unwrap().to_str().unwrap());
            (origin, p)
        })
        .collect();
    out.sort();
    out
}

fn start_nsd(tmp: &Path) -> Reference {
    let dir = tmp.join("nsd");
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let d = dir.display();
    let mut conf = format!(
        "server:\n  ip-address: 127.0.0.1@{port}\n  port: {port}\n  zonesdir: \"{d}\"\n  \
         database: \"\"\n  pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  \
         zonelistfile: \"{d}/zone.list\"\n  xfrdir: \"{d}\"\n  username: \"\"\n  chroot: \"\"\n  \
         logfile: \"{d}/nsd.log\"\n  verbosity: 1\n  server-count: 1\n  reuseport: no\n  rrl-ratelimit: 0\n  rrl-whitelist-ratelimit: 0\n\
         remote-control:\n  control-enable: no\n"
    );
    for (origin, path) in zone_files() {
        let _ = write!(
            conf,
            "zone:\n  name: \"{origin}\"\n  zonefile: \"{}\"\n",
            path.display()
        );
    }
    std::fs::write(dir.join("nsd.conf"), conf).unwrap();
    let child = Command::new(find_binary("nsd"))
        .args(["-d", "-c"])
        .arg(dir.join("nsd.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nsd");
    Reference {
        name: "NSD",
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        dir,
    }
}

fn start_knot(tmp: &Path) -> Reference {
    let dir = tmp.join("knot");
    std::fs::create_dir_all(dir.join("db")).unwrap();
    let port = free_port();
    let d = dir.display();
    let mut conf = format!(
        "server:\n  listen: 127.0.0.1@{port}\n  rundir: \"{d}\"\n  udp-workers: 1\n  \
         tcp-workers: 1\n  background-workers: 1\ndatabase:\n  storage: \"{d}/db\"\n\
         template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    \
         journal-content: none\nlog:\n  - target: \"{d}/knot.log\"\n    any: info\nzone:\n"
    );
    for (origin, path) in zone_files() {
        let _ = writeln!(
            conf,
            "  - domain: \"{origin}\"\n    file: \"{}\"",
            path.display()
        );
    }
    std::fs::write(dir.join("knot.conf"), conf).unwrap();
    let child = Command::new(find_binary("knotd"))
        .arg("-c")
        .arg(dir.join("knot.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start knotd");
    Reference {
        name: "Knot",
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        dir,
    }
}

/// A client of one server: a UDP socket and one TCP connection, reused.
struct Client {
    addr: SocketAddr,
    udp: UdpSocket,
    tcp: Option<TcpStream>,
    next_id: u16,
}

impl Client {
    fn new(addr: SocketAddr) -> Self {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        Self {
            addr,
            udp,
            tcp: None,
            next_id: 1,
        }
    }

    fn exchange(&mut self, packet: &mut [u8], tcp: bool) -> Option<Vec<u8>> {
        self.next_id = self.next_id.wrapping_add(1);
        packet[..2].copy_from_slice(&self.next_id.to_be_bytes());
        if tcp {
            for _attempt in 0..2 {
                if self.tcp.is_none() {
                    let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).ok()?;
                    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                    s.set_nodelay(true).unwrap();
                    self.tcp = Some(s);
                }
                let s = self.tcp.as_mut().unwrap();
                let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(packet);
                let mut len = [0u8; 2];
                if s.write_all(&framed).is_ok() && s.read_exact(&mut len).is_ok() {
                    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
                    if s.read_exact(&mut buf).is_ok() {
                        return Some(buf);
                    }
                }
                // The server closed the connection (as it may after an error): reconnect once.
                self.tcp = None;
            }
            None
        } else {
            self.udp.send_to(packet, self.addr).ok()?;
            let mut buf = vec![0u8; 65535];
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                let (n, _) = self.udp.recv_from(&mut buf).ok()?;
                if n >= 2 && buf[..2] == packet[..2] {
                    return Some(buf[..n].to_vec());
                }
            }
            None
        }
    }

    /// Sends a zero-length message on a fresh TCP connection: is it closed within a second?
    fn tcp_zero_length(&self) -> u16 {
        let Ok(mut s) = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)) else {
            return NO_ANSWER;
        };
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let _ = s.write_all(&[0, 0]);
        let mut b = [0u8; 2];
        match s.read(&mut b) {
            Ok(0) => CONN_CLOSED,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => CONN_CLOSED,
            _ => CONN_OPEN,
        }
    }
}

fn wait_ready(name: &str, addr: SocketAddr, dir: &Path) {
    let mut c = Client::new(addr);
    c.udp
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let case = Case {
        qname: "diff.example.".into(),
        qtype: 6,
        qclass: 1,
        variant: VARIANTS[0],
        special: None,
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let mut q = build_query(0, &case);
        if let Some(r) = c.exchange(&mut q, false)
            && let Ok(resp) = parse_response(&r, &q)
            && resp.rcode == NOERROR
            && !resp.answer.is_empty()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = ["nsd.log", "knot.log"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(dir.join(f)).ok())
        .collect::<String>();
    panic!("{name} did not start serving on {addr}; its log:\n{log}");
}

// ---------------------------------------------------------------------------------------------
// The questions.

/// Query types asked for every name.
const QTYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("MB", 7),
    ("NULL", 10),
    ("WKS", 11),
    ("PTR", 12),
    ("HINFO", 13),
    ("MINFO", 14),
    ("MX", 15),
    ("TXT", 16),
    ("RP", 17),
    ("AFSDB", 18),
    ("SIG", 24),
    ("AAAA", 28),
    ("LOC", 29),
    ("SRV", 33),
    ("NAPTR", 35),
    ("KX", 36),
    ("CERT", 37),
    ("DNAME", 39),
    ("OPT", 41),
    ("APL", 42),
    ("DS", 43),
    ("SSHFP", 44),
    ("IPSECKEY", 45),
    ("RRSIG", 46),
    ("NSEC", 47),
    ("DNSKEY", 48),
    ("DHCID", 49),
    ("NSEC3", 50),
    ("NSEC3PARAM", 51),
    ("TLSA", 52),
    ("HIP", 55),
    ("CDS", 59),
    ("CDNSKEY", 60),
    ("ZONEMD", 63),
    ("SVCB", 64),
    ("HTTPS", 65),
    ("SPF", 99),
    ("NID", 104),
    ("L32", 105),
    ("L64", 106),
    ("LP", 107),
    ("EUI48", 108),
    ("EUI64", 109),
    ("URI", 256),
    ("CAA", 257),
    ("TSIG", 250),
    ("TYPE65280", 65280),
    ("TYPE65281", 65281),
    ("ANY", 255),
];

/// Owner names of the zones (as BIND reads them), with their types.
fn zone_owners() -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    for (origin, path) in zone_files() {
        let o = Command::new("named-checkzone")
            .args(["-D", "-o", "-", &origin])
            .arg(&path)
            .output()
            .expect("named-checkzone (apt-get install bind9-utils)");
        assert!(
            o.status.success(),
            "named-checkzone refuses {}",
            path.display()
        );
        let mut owners: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 4 && !f[0].starts_with(';') {
                owners
                    .entry(f[0].to_string())
                    .or_default()
                    .push(f[3].to_string());
            }
        }
        for (name, types) in owners {
            out.push((origin.clone(), name, types));
        }
    }
    out
}

/// Flips the case of every other letter: `WwW.DiFf.ExAmPlE.`.
fn mixed_case(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                upper = !upper;
                if upper {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            } else {
                c
            }
        })
        .collect()
}

fn is_below(name: &str, ancestor: &str) -> bool {
    let (n, a) = (name.to_ascii_lowercase(), ancestor.to_ascii_lowercase());
    n.len() > a.len() && n.ends_with(&a) && n.as_bytes()[n.len() - a.len() - 1] == b'.'
}

/// Every name asked about.
fn question_names() -> Vec<String> {
    let owners = zone_owners();
    let mut names: BTreeSet<String> = BTreeSet::new();
    for (origin, name, types) in &owners {
        names.insert(name.clone());
        // Ancestors up to the apex: empty non-terminals.
        let mut n = name.as_str();
        while let Some((_, parent)) = n.split_once('.')
            && is_below(parent, origin)
        {
            names.insert(parent.to_string());
            n = parent;
        }
        let leaf = name.trim_start_matches("*.");
        // Below every name: NXDOMAIN, or a wildcard match. Two labels down under wildcards,
        // cuts and DNAMEs.
        names.insert(format!("nx.{leaf}"));
        let redirecting = types.iter().any(|t| t == "DNAME")
            || (types.iter().any(|t| t == "NS") && name != origin);
        if name.starts_with("*.") || redirecting {
            names.insert(format!("a.b.{leaf}"));
        }
        if redirecting {
            names.insert(format!("www.{name}"));
        }
    }
    for (origin, ..) in owners.iter().filter(|(o, n, _)| o == n) {
        names.insert(format!("nonexistent.{origin}"));
    }
    // Out of every zone: REFUSED.
    names.insert("example.org.".into());
    names.insert("other.example.".into());
    // Each owner name also in mixed case (0x20): the question must come back as sent.
    let mixed: Vec<String> = owners
        .iter()
        .map(|(_, n, _)| mixed_case(n))
        .filter(|m| !names.contains(m))
        .collect();
    let mut all: Vec<String> = names.into_iter().collect();
    all.extend(mixed);
    all
}

/// Protocol edge cases: raw queries with a name for reports.
fn specials() -> Vec<(&'static str, Case, Vec<u8>, bool)> {
    let base = |special: &'static str, qtype: u16, qclass: u16, v: Variant| Case {
        qname: "www.diff.example.".into(),
        qtype,
        qclass,
        variant: v,
        special: Some(special),
    };
    let udp = VARIANTS[0];
    let edns = VARIANTS[1];
    let tcp = VARIANTS[3];
    let mut out = Vec::new();
    let mut add = |c: Case, patch: &dyn Fn(&mut Vec<u8>)| {
        let mut q = build_query(0, &c);
        patch(&mut q);
        let tcp = c.variant.tcp;
        out.push((c.special.unwrap(), c, q, tcp));
    };
    // Replaces the OPT record's RDATA (the query must have been built with EDNS).
    fn opt_options(q: &mut Vec<u8>, options: &[u8]) {
        let n = q.len();
        q[n - 2..].copy_from_slice(&(options.len() as u16).to_be_bytes());
        q.extend_from_slice(options);
    }
    fn ecs(family: u16, source: u8, scope: u8, addr: &[u8]) -> Vec<u8> {
        let mut o = vec![0, 8];
        o.extend_from_slice(&((4 + addr.len()) as u16).to_be_bytes());
        o.extend_from_slice(&family.to_be_bytes());
        o.extend_from_slice(&[source, scope]);
        o.extend_from_slice(addr);
        o
    }
    add(base("qclass-any", 1, 255, udp), &|_| {});
    add(base("qclass-any-edns", 1, 255, edns), &|_| {});
    add(base("qclass-any-nodata", 15, 255, udp), &|_| {});
    add(base("qclass-any-nxdomain", 1, 255, edns), &|q| {
        q.truncate(12);
        q.extend_from_slice(&to_wire("nx.diff.example."));
        q.extend_from_slice(&[0, 1, 0, 255, 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    });
    add(base("qclass-any-referral", 1, 255, udp), &|q| {
        q.truncate(12);
        q.extend_from_slice(&to_wire("www.sub.diff.example."));
        q.extend_from_slice(&[0, 1, 0, 255]);
    });
    add(base("qclass-any-outside", 1, 255, edns), &|q| {
        q.truncate(12);
        q.extend_from_slice(&to_wire("example.org."));
        q.extend_from_slice(&[0, 1, 0, 255, 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    });
    add(base("qclass-ch-edns", 16, 3, edns), &|_| {});
    add(base("qclass-hs-edns", 1, 4, edns), &|_| {});
    add(base("qclass-any-soa", 6, 255, udp), &|q| {
        let at = q.len() - 4;
        q.truncate(at);
        q.truncate(12);
        q.extend_from_slice(&to_wire("diff.example."));
        q.extend_from_slice(&[0, 6, 0, 255]);
    });
    add(base("qclass-ch", 1, 3, udp), &|_| {});
    add(base("qclass-hs", 1, 4, udp), &|_| {});
    add(base("rd-set", 1, 1, udp), &|q| q[2] |= 0x01);
    add(base("cd-set", 1, 1, edns), &|q| q[3] |= 0x10);
    add(base("edns-version-1", 1, 1, edns), &|q| {
        let n = q.len();
        q[n - 5] = 1;
    });
    add(base("edns-unknown-option", 1, 1, edns), &|q| {
        opt_options(q, &[0xfd, 0xe9, 0, 2, 0xab, 0xcd])
    });
    add(base("edns-small-payload", 16, 1, edns), &|q| {
        let n = q.len();
        q[n - 8..n - 6].copy_from_slice(&100u16.to_be_bytes());
    });
    add(base("ecs", 1, 1, edns), &|q| {
        opt_options(q, &ecs(1, 24, 0, &[198, 51, 100]))
    });
    add(base("ecs-malformed", 1, 1, edns), &|q| {
        opt_options(q, &ecs(1, 33, 0, &[198, 51, 100, 1, 0]))
    });
    add(base("ecs-nonzero-scope", 1, 1, edns), &|q| {
        opt_options(q, &ecs(1, 24, 16, &[198, 51, 100]))
    });
    add(base("opcode-status", 1, 1, udp), &|q| q[2] |= 2 << 3);
    add(base("opcode-notify", 6, 1, udp), &|q| q[2] |= 4 << 3);
    add(base("opcode-update", 6, 1, udp), &|q| q[2] |= 5 << 3);
    add(base("qdcount-0", 1, 1, udp), &|q| {
        q[5] = 0;
        q.truncate(12);
    });
    for (name, t) in [
        ("qtype-opt", 41),
        ("qtype-tkey", 249),
        ("qtype-tsig", 250),
        ("qtype-ixfr", 251),
        ("qtype-axfr", 252),
        ("qtype-mailb", 253),
        ("qtype-maila", 254),
        ("qtype-0", 0),
    ] {
        add(base(name, t, 1, udp), &|_| {});
    }
    add(base("qtype-axfr-tcp", 252, 1, tcp), &|_| {});
    add(base("qtype-axfr-tcp-apex", 252, 1, tcp), &|q| {
        q.truncate(12);
        q.extend_from_slice(&to_wire("diff.example."));
        q.extend_from_slice(&[0, 252, 0, 1, 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    });
    add(base("qtype-axfr-edns", 252, 1, edns), &|_| {});
    add(base("qtype-ixfr-tcp", 251, 1, tcp), &|_| {});
    add(base("qtype-ixfr-apex", 251, 1, udp), &|q| {
        q.truncate(12);
        q.extend_from_slice(&to_wire("diff.example."));
        q.extend_from_slice(&[0, 251, 0, 1]);
    });
    add(base("qtype-ixfr-tcp-apex", 251, 1, tcp), &|q| {
        q.truncate(12);
        q.extend_from_slice(&to_wire("diff.example."));
        q.extend_from_slice(&[0, 251, 0, 1, 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    });
    add(base("qtype-axfr-tcp-outside", 252, 1, tcp), &|q| {
        q.truncate(12);
        q.extend_from_slice(&to_wire("example.org."));
        q.extend_from_slice(&[0, 252, 0, 1, 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    });
    out
}

// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Report {
    queries: usize,
    identical_to_both: usize,
    like_nsd_only: usize,
    like_knot_only: usize,
    references_disagree: usize,
    allowed_queries: usize,
    allowed: BTreeMap<&'static str, usize>,
    allowed_example: BTreeMap<&'static str, String>,
    /// (group, example) of each answer that differs from both references unexplained.
    failures: Vec<(String, String)>,
}

#[test]
fn geosteer_answers_as_nsd_or_knot_do() {
    let tmp = tempfile::Builder::new()
        .prefix("geosteer-differential-")
        .tempdir()
        .unwrap();
    let nsd = start_nsd(tmp.path());
    let knot = start_knot(tmp.path());
    let zones = ZoneDir::new();
    for (_, path) in zone_files() {
        std::fs::copy(&path, zones.path().join(path.file_name().unwrap())).unwrap();
    }
    let geosteer = Server::start(zones.path(), &[]);
    for r in [&nsd, &knot] {
        wait_ready(r.name, r.addr, &r.dir);
    }

    let started = Instant::now();
    let names = question_names();
    let mut cases: Vec<(Case, Vec<u8>)> = Vec::new();
    for name in &names {
        for &(_, qtype) in QTYPES {
            for variant in VARIANTS {
                let case = Case {
                    qname: name.clone(),
                    qtype,
                    qclass: 1,
                    variant,
                    special: None,
                };
                let q = build_query(0, &case);
                cases.push((case, q));
            }
        }
    }
    let mut report = Report::default();
    let mut clients = [
        Client::new(geosteer.addr),
        Client::new(nsd.addr),
        Client::new(knot.addr),
    ];
    let compare = |case: &Case, resp: [Result<Resp, String>; 3], report: &mut Report| {
        report.queries += 1;
        let [g, n, k] = resp;
        let (g, n, k) = match (g, n, k) {
            (Ok(g), Ok(n), Ok(k)) => (g, n, k),
            (g, n, k) => {
                report.failures.push((
                    "unreadable response".into(),
                    format!(
                        "{case:?}: geosteer {:?} NSD {:?} Knot {:?}",
                        g.err(),
                        n.err(),
                        k.err()
                    ),
                ));
                return;
            }
        };
        if n != k {
            report.references_disagree += 1;
        }
        match (g == n, g == k) {
            (true, true) => report.identical_to_both += 1,
            (true, false) => report.like_nsd_only += 1,
            (false, true) => report.like_knot_only += 1,
            (false, false) => {
                let best = [explain(case, &g, &n), explain(case, &g, &k)]
                    .into_iter()
                    .flatten()
                    .min_by_key(Vec::len);
                if let Some(used) = best {
                    report.allowed_queries += 1;
                    for id in used {
                        *report.allowed.entry(id).or_default() += 1;
                        report
                            .allowed_example
                            .entry(id)
                            .or_insert_with(|| case.label());
                    }
                } else {
                    let group = format!(
                        "{}: vs NSD [{}], vs Knot [{}]",
                        case.kind(),
                        diff_parts(&g, &n),
                        diff_parts(&g, &k)
                    );
                    report.failures.push((
                        group,
                        format!(
                            "{}\n  geosteer: {}\n  NSD:      {}\n  Knot:     {}",
                            case.label(),
                            g.summary(),
                            n.summary(),
                            k.summary()
                        ),
                    ));
                }
            }
        }
    };
    let mut spent = [[Duration::ZERO; 2]; 3];
    for (case, q) in &cases {
        let resp: [Result<Resp, String>; 3] = std::array::from_fn(|i| {
            let mut q = q.clone();
            let t0 = Instant::now();
            let r = clients[i].exchange(&mut q, case.variant.tcp);
            spent[i][usize::from(case.variant.tcp)] += t0.elapsed();
            match r {
                Some(r) => parse_response(&r, &q),
                None => Ok(Resp {
                    rcode: NO_ANSWER,
                    ..Resp::default()
                }),
            }
        });
        compare(case, resp, &mut report);
    }
    for (_, case, q, tcp) in specials() {
        let resp: [Result<Resp, String>; 3] = std::array::from_fn(|i| {
            let mut q = q.clone();
            match clients[i].exchange(&mut q, tcp) {
                Some(r) => parse_response(&r, &q),
                None => Ok(Resp {
                    rcode: NO_ANSWER,
                    ..Resp::default()
                }),
            }
        });
        compare(&case, resp, &mut report);
    }
    let zero = Case {
        qname: String::new(),
        qtype: 0,
        qclass: 0,
        variant: VARIANTS[3],
        special: Some("tcp-zero-length"),
    };
    let resp = std::array::from_fn(|i| {
        Ok(Resp {
            rcode: clients[i].tcp_zero_length(),
            ..Resp::default()
        })
    });
    compare(&zero, resp, &mut report);

    println!(
        "{} names × {} types × {} variants + {} protocol cases = {} queries to each of \
         geosteer, NSD and Knot in {:.1} s",
        names.len(),
        QTYPES.len(),
        VARIANTS.len(),
        specials().len() + 1,
        report.queries,
        started.elapsed().as_secs_f64()
    );
    println!(
        "time spent waiting (udp, tcp): geosteer {:?}, NSD {:?}, Knot {:?}",
        spent[0], spent[1], spent[2]
    );
    println!(
        "geosteer answered as both: {}, as NSD only: {}, as Knot only: {}; NSD and Knot \
         differ on {}",
        report.identical_to_both,
        report.like_nsd_only,
        report.like_knot_only,
        report.references_disagree
    );
    for a in ALLOWED {
        if let Some(n) = report.allowed.get(a.id) {
            println!(
                "allowed difference {}: {n} queries (e.g. {})\n    {}",
                a.id, report.allowed_example[a.id], a.reason
            );
        }
    }
    println!(
        "{} queries differ from both only by allowed differences",
        report.allowed_queries
    );
    let mut groups: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    for (group, example) in &report.failures {
        groups.entry(group).or_insert((0, example)).0 += 1;
    }
    let text: Vec<String> = groups
        .iter()
        .map(|(g, (n, e))| format!("{n} × {g}\n  e.g. {e}"))
        .collect();
    assert!(
        report.failures.is_empty(),
        "{} answers differ from both NSD and Knot, in {} groups:\n{}",
        report.failures.len(),
        groups.len(),
        text.join("\n")
    );
    // The list stays honest: a difference that no longer occurs (fixed, or a reference that
    // changed) is taken out of it.
    let unused: Vec<&str> = ALLOWED
        .iter()
        .filter(|a| !report.allowed.contains_key(a.id))
        .map(|a| a.id)
        .collect();
    assert!(
        unused.is_empty(),
        "allowed differences that did not occur (remove them from ALLOWED): {unused:?}"
    );
}
