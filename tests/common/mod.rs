//! Shared harness for the integration tests.
//!
//! Everything here talks to the real `geosteer` binary as a black box: it writes zone files into
//! a temporary directory, starts `geosteer serve` on a kernel-chosen loopback port, and queries
//! it with hickory-proto messages over std sockets or with `dig`. Nothing here uses the crate's
//! internal API, so these tests keep their meaning while the internals change.
//!
//! All traffic goes to 127.0.0.1 only.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tempfile::TempDir;

/// How long any single wait in the harness may take before the test fails. Generous: this is a
/// bound against hangs, not a timing assertion.
pub const WAIT: Duration = Duration::from_secs(10);

pub const BIN: &str = env!("CARGO_BIN_EXE_geosteer");

/// The zone most tests use. Names are chosen so that each behaviour has its own.
pub const EXAMPLE_ZONE: &str = r#"; test zone for example.com.
$ORIGIN example.com.
$TTL 3600
@       IN SOA  ns1.example.com. hostmaster.example.com. (
                2026112601 ; serial
                7200       ; refresh
                3600       ; retry
                1209600    ; expire
                300 )      ; minimum
        IN NS   ns1
        IN NS   ns2
        IN MX   10 mail
        IN TXT  "v=spf1 mx -all"
        IN CAA  0 issue "letsencrypt.org"
ns1     IN A    192.0.2.53
        IN AAAA 2001:db8::53
ns2     IN A    192.0.2.54
mail    IN A    192.0.2.25
www     IN A    192.0.2.80
        IN AAAA 2001:db8::80
; CNAME chain www-alias -> alias2 -> www
www-alias IN CNAME alias2
alias2  IN CNAME www
; chain ending in a name that does not exist
dangling IN CNAME missing
; a loop
loop1   IN CNAME loop2
loop2   IN CNAME loop1
; out of zone target
outside IN CNAME www.example.net.
; empty non-terminal: ent.example.com exists only as the parent of a.ent
a.ent   IN A    192.0.2.1
; wildcards
*.wild  IN A    192.0.2.99
        IN TXT  "wildcard"
exists.wild IN TXT "not from the wildcard"
*.wcname IN CNAME www
_sip._udp IN SRV 10 60 5060 sip
sip     IN A    192.0.2.60
; delegation with in-bailiwick glue
sub     IN NS   ns1.sub
        IN NS   ns.elsewhere.net.
ns1.sub IN A    192.0.2.70
        IN AAAA 2001:db8::70
"#;

/// A temporary `zones/` directory.
pub struct ZoneDir {
    dir: TempDir,
}

impl ZoneDir {
    pub fn new() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("geosteer-zones-")
                .tempdir()
                .expect("create temp dir"),
        }
    }

    /// A directory holding one zone file, `<origin>.zone`.
    pub fn with_zone(origin: &str, text: &str) -> Self {
        let d = Self::new();
        d.write(&format!("{origin}.zone"), text);
        d
    }

    /// The directory with [`EXAMPLE_ZONE`] as `example.com.zone`.
    pub fn example() -> Self {
        Self::with_zone("example.com", EXAMPLE_ZONE)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dir");
        }
        std::fs::write(&path, text).expect("write zone file");
        path
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A running `geosteer serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
    stderr_done: mpsc::Receiver<()>,
    /// While set, the stderr reader stops reading (a stalled log reader, a full pipe).
    stall: Arc<std::sync::atomic::AtomicBool>,
    // Kept so that the zone files live as long as the server.
    _zones: Option<ZoneDir>,
}

impl Server {
    /// Serves the example zone.
    pub fn example() -> Self {
        Self::start_owned(ZoneDir::example(), &[])
    }

    /// Serves `zones`, which the server keeps alive.
    pub fn start_owned(zones: ZoneDir, extra: &[&str]) -> Self {
        let mut s = Self::start(zones.path(), extra);
        s._zones = Some(zones);
        s
    }

    /// Keeps `zones` alive as long as the server.
    pub fn keep(&mut self, zones: ZoneDir) {
        self._zones = Some(zones);
    }

    /// Starts `geosteer serve --zones DIR --listen 127.0.0.1:0 EXTRA…` with RUST_LOG=info and
    /// waits for its `listening on` line.
    pub fn start(zones: &Path, extra: &[&str]) -> Self {
        Self::start_env(zones, extra, Some("info"))
    }

    /// Like [`Server::start`], with RUST_LOG set to `rust_log`, or unset for `None`.
    pub fn start_env(zones: &Path, extra: &[&str], rust_log: Option<&str>) -> Self {
        Self::start_vars(zones, extra, rust_log, &[])
    }

    /// Like [`Server::start_env`], with more environment variables.
    pub fn start_vars(
        zones: &Path,
        extra: &[&str],
        rust_log: Option<&str>,
        vars: &[(&str, &str)],
    ) -> Self {
        Self::start_cmd(Command::new(BIN), zones, extra, rust_log, vars)
    }

    /// Like [`Server::start`], run through `wrapper`: its program and arguments come first,
    /// then the geosteer binary and its arguments (e.g. `unshare -m sh -c '…; exec "$@"' x`).
    pub fn start_wrapped(wrapper: &[&str], zones: &Path, extra: &[&str]) -> Self {
        let mut cmd = Command::new(wrapper[0]);
        cmd.args(&wrapper[1..]).arg(BIN);
        Self::start_cmd(cmd, zones, extra, Some("info"), &[])
    }

    fn start_cmd(
        mut cmd: Command,
        zones: &Path,
        extra: &[&str],
        rust_log: Option<&str>,
        vars: &[(&str, &str)],
    ) -> Self {
        match rust_log {
            Some(l) => cmd.env("RUST_LOG", l),
            None => cmd.env_remove("RUST_LOG"),
        };
        cmd.envs(vars.iter().copied());
        let mut child = cmd
            .arg("serve")
            .arg("--zones")
            .arg(zones)
            .args(["--listen", "127.0.0.1:0", "--udp-sockets", "2"])
            .args(extra)
            .env_remove("RUST_LOG_STYLE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn geosteer");
        let stderr = child.stderr.take().expect("stderr piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        let stall = Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let lines = lines.clone();
            let stall = stall.clone();
            std::thread::spawn(move || {
                let mut addr_tx = Some(addr_tx);
                // Small reads, so that a stall leaves the pipe (not this buffer) to fill.
                for line in BufReader::with_capacity(256, stderr).lines() {
                    while stall.load(std::sync::atomic::Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    let Ok(line) = line else { break };
                    let addr = parse_listening(&line);
                    // Recorded before it is reported, so that stderr() always has it.
                    lines.lock().unwrap().push(line);
                    if let Some(addr) = addr
                        && let Some(tx) = addr_tx.take()
                    {
                        let _ = tx.send(addr);
                    }
                }
                let _ = done_tx.send(());
            });
        }
        let addr = match addr_rx.recv_timeout(WAIT) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = done_rx.recv_timeout(WAIT);
                panic!(
                    "geosteer did not report a listening address; stderr:\n{}",
                    lines.lock().unwrap().join("\n")
                );
            }
        };
        Server {
            child,
            addr,
            stderr: lines,
            stderr_done: done_rx,
            stall,
            _zones: None,
        }
    }

    /// Stops (true) or resumes (false) reading the server's stderr.
    pub fn stall_stderr(&self, stalled: bool) {
        self.stall
            .store(stalled, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The stderr lines seen so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until a stderr line contains `needle`.
    pub fn wait_for_stderr(&self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.stderr().iter().any(|l| l.contains(needle)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "no stderr line containing {needle:?}; stderr:\n{}",
            self.stderr().join("\n")
        );
    }

    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.pid());
    }

    /// Waits for the process to exit (up to `limit`), then for its stderr to be fully read.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let _ = self.stderr_done.recv_timeout(WAIT);
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every address the server reported listening on, in order.
    pub fn listening(&self) -> Vec<SocketAddr> {
        self.stderr()
            .iter()
            .filter_map(|l| parse_listening(l))
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `... listening on 127.0.0.1:PORT (udp ×N, tcp)` → the address.
fn parse_listening(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Building queries

pub fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("valid name")
}

/// A query for `qname`/`qtype`, RD clear, without EDNS.
pub fn query(qname: &str, qtype: RecordType) -> Message {
    let mut m = Message::new(next_id(), MessageType::Query, OpCode::Query);
    let mut q = Query::query(name(qname), qtype);
    q.set_query_class(DNSClass::IN);
    m.add_query(q);
    m
}

/// A query with an EDNS(0) OPT record advertising `bufsize`.
pub fn query_edns(qname: &str, qtype: RecordType, bufsize: u16) -> Message {
    let mut m = query(qname, qtype);
    let mut e = Edns::new();
    e.set_max_payload(bufsize);
    e.set_version(0);
    m.set_edns(e);
    m
}

/// A query carrying an ECS option.
pub fn query_ecs(qname: &str, qtype: RecordType, subnet: ClientSubnet) -> Message {
    let mut m = query_edns(qname, qtype, 1232);
    m.edns
        .as_mut()
        .unwrap()
        .options_mut()
        .insert(EdnsOption::Subnet(subnet));
    m
}

fn next_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static ID: AtomicU16 = AtomicU16::new(0x1000);
    ID.fetch_add(7, Ordering::Relaxed)
}

pub fn encode(m: &Message) -> Vec<u8> {
    m.to_vec().expect("encode query")
}

pub fn decode(bytes: &[u8]) -> Message {
    Message::from_vec(bytes)
        .unwrap_or_else(|e| panic!("response does not decode ({e}): {bytes:02x?}"))
}

// ---------------------------------------------------------------------------------------------
// Sending

/// Sends one datagram and waits for a reply with the same ID. `None` if nothing came back.
pub fn udp_raw(addr: SocketAddr, packet: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let local: SocketAddr = if addr.is_ipv6() {
        (Ipv6Addr::LOCALHOST, 0).into()
    } else {
        (Ipv4Addr::LOCALHOST, 0).into()
    };
    let sock = UdpSocket::bind(local).expect("bind udp");
    sock.set_read_timeout(Some(wait)).unwrap();
    sock.send_to(packet, addr).expect("send udp");
    let mut buf = vec![0u8; 65535];
    let deadline = Instant::now() + wait;
    loop {
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                // Match on the ID when the query had one.
                if packet.len() < 2 || n < 2 || buf[..2] == packet[..2] {
                    return Some(buf[..n].to_vec());
                }
            }
            Err(_) => return None,
        }
        if Instant::now() >= deadline {
            return None;
        }
    }
}

/// Sends `m` over UDP and decodes the reply; panics when none comes.
pub fn udp(addr: SocketAddr, m: &Message) -> Message {
    let raw = udp_bytes(addr, m);
    decode(&raw)
}

/// Sends `m` over UDP and returns the reply's bytes; panics when none comes.
pub fn udp_bytes(addr: SocketAddr, m: &Message) -> Vec<u8> {
    // Loopback does not drop datagrams in practice; retry a couple of times all the same.
    let packet = encode(m);
    for _ in 0..3 {
        if let Some(r) = udp_raw(addr, &packet, Duration::from_secs(3)) {
            return r;
        }
    }
    panic!("no UDP reply from {addr} to {m}");
}

pub fn tcp_connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, WAIT).expect("tcp connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Writes one length-prefixed message.
pub fn tcp_send(s: &mut TcpStream, packet: &[u8]) {
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    s.write_all(&framed).expect("tcp write");
}

/// Reads one length-prefixed message; `None` on EOF before a length.
pub fn tcp_recv(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    match s.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return None,
        Err(e) => panic!("tcp read: {e}"),
    }
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).expect("tcp read body");
    Some(buf)
}

/// Sends `m` on a fresh TCP connection and decodes the reply.
pub fn tcp(addr: SocketAddr, m: &Message) -> Message {
    let mut s = tcp_connect(addr);
    tcp_send(&mut s, &encode(m));
    decode(&tcp_recv(&mut s).expect("tcp reply"))
}

// ---------------------------------------------------------------------------------------------
// Looking at responses

/// Checks what every response to a well-formed query must satisfy.
pub fn assert_response_to(query: &Message, resp: &Message) {
    assert_eq!(resp.metadata.message_type, MessageType::Response, "QR set");
    assert_eq!(resp.metadata.id, query.metadata.id, "ID echoed");
    assert_eq!(
        resp.metadata.op_code, query.metadata.op_code,
        "opcode echoed"
    );
    assert!(!resp.metadata.recursion_available, "RA must never be set");
    assert_eq!(
        resp.metadata.recursion_desired, query.metadata.recursion_desired,
        "RD copied from the query"
    );
    assert_eq!(resp.queries, query.queries, "question echoed");
}

pub fn rcode(m: &Message) -> ResponseCode {
    m.metadata.response_code
}

/// Records of `rtype` in a section.
pub fn of_type(records: &[Record], rtype: RecordType) -> Vec<&Record> {
    records
        .iter()
        .filter(|r| r.record_type() == rtype)
        .collect()
}

/// Rdata of every record in a section, as text: `"A 192.0.2.1"`.
pub fn rdata_strings(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| format!("{} {}", r.record_type(), r.data))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// dig

/// What `dig` printed, with helpers to read it.
pub struct Dig {
    pub text: String,
}

/// Runs `dig +norec +time=2 +tries=1 -p PORT @127.0.0.1 ARGS…`.
pub fn dig(port: u16, args: &[&str]) -> Dig {
    let out = Command::new("dig")
        .args([
            "+norec",
            "+time=2",
            "+tries=1",
            "-p",
            &port.to_string(),
            "@127.0.0.1",
        ])
        .args(args)
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`dig` is not installed: these tests use it as an independent DNS client. \
             Install it with `apt-get install bind9-dnsutils` (CI's .ci/run does this)."
        ),
        Err(e) => panic!("cannot run dig: {e}"),
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(";; Got answer:"),
        "dig got no answer (args {args:?}):\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Dig { text }
}

impl Dig {
    /// `status: NOERROR` → "NOERROR".
    pub fn status(&self) -> String {
        let rest = &self.text[self.text.find("status: ").expect("status in dig output") + 8..];
        rest.split(',').next().unwrap().trim().to_string()
    }

    /// `;; flags: qr aa rd;` → ["qr", "aa", "rd"].
    pub fn flags(&self) -> Vec<String> {
        let line = self
            .text
            .lines()
            .find(|l| l.starts_with(";; flags:"))
            .expect("flags line");
        let after = &line[";; flags:".len()..];
        let flags = after.split(';').next().unwrap_or("");
        flags.split_whitespace().map(str::to_string).collect()
    }

    pub fn has_flag(&self, f: &str) -> bool {
        self.flags().iter().any(|x| x == f)
    }

    /// The records of a section (`"ANSWER"`, `"AUTHORITY"`, `"ADDITIONAL"`, `"QUESTION"`),
    /// each split into whitespace-separated fields.
    pub fn section(&self, which: &str) -> Vec<Vec<String>> {
        let header = format!(";; {which} SECTION:");
        let mut out = Vec::new();
        let mut inside = false;
        for line in self.text.lines() {
            if line.starts_with(&header) {
                inside = true;
                continue;
            }
            if inside {
                if line.trim().is_empty() || line.starts_with(";;") {
                    break;
                }
                let line = line.strip_prefix(';').unwrap_or(line);
                out.push(line.split_whitespace().map(str::to_string).collect());
            }
        }
        out
    }

    /// The `; EDNS: version: 0, flags:; udp: 1232` line's udp value.
    pub fn edns_udp(&self) -> Option<u16> {
        let line = self.text.lines().find(|l| l.starts_with("; EDNS:"))?;
        line[line.find("udp: ")? + 5..].trim().parse().ok()
    }

    /// `; CLIENT-SUBNET: 192.0.2.0/24/0` → "192.0.2.0/24/0".
    pub fn client_subnet(&self) -> Option<String> {
        let line = self
            .text
            .lines()
            .find(|l| l.starts_with("; CLIENT-SUBNET:"))?;
        Some(line["; CLIENT-SUBNET:".len()..].trim().to_string())
    }

    /// The transport dig reports in `;; SERVER: 127.0.0.1#PORT(127.0.0.1) (TCP)`.
    pub fn transport(&self) -> String {
        let line = self
            .text
            .lines()
            .find(|l| l.starts_with(";; SERVER:"))
            .expect("SERVER line");
        line.rsplit('(')
            .next()
            .unwrap()
            .trim_end_matches(')')
            .to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Raw packets, for what a well-behaved encoder will not produce

/// An OPT pseudo-RR with the given RDATA (options), payload size 1232 and EDNS `version`.
pub fn raw_opt(version: u8, rdata: &[u8]) -> Vec<u8> {
    let mut rr = vec![0u8]; // root owner
    rr.extend_from_slice(&41u16.to_be_bytes()); // TYPE OPT
    rr.extend_from_slice(&1232u16.to_be_bytes()); // CLASS = UDP payload size
    rr.extend_from_slice(&[0, version, 0, 0]); // extended RCODE, VERSION, flags
    rr.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    rr.extend_from_slice(rdata);
    rr
}

/// One EDNS option: code, length, data.
pub fn raw_option(code: u16, data: &[u8]) -> Vec<u8> {
    let mut o = code.to_be_bytes().to_vec();
    o.extend_from_slice(&(data.len() as u16).to_be_bytes());
    o.extend_from_slice(data);
    o
}

/// An ECS option as bytes, exactly as given: FAMILY, SOURCE, SCOPE, ADDRESS octets.
pub fn raw_ecs(family: u16, source: u8, scope: u8, address: &[u8]) -> Vec<u8> {
    let mut d = family.to_be_bytes().to_vec();
    d.push(source);
    d.push(scope);
    d.extend_from_slice(address);
    raw_option(8, &d)
}

/// `m` (which must carry no EDNS) encoded, with `extra` appended to the additional section
/// and ARCOUNT raised by `extra_count`.
pub fn with_additional(m: &Message, extra: &[u8], extra_count: u16) -> Vec<u8> {
    assert!(m.edns.is_none());
    let mut p = encode(m);
    let ar = u16::from_be_bytes([p[10], p[11]]) + extra_count;
    p[10..12].copy_from_slice(&ar.to_be_bytes());
    p.extend_from_slice(extra);
    p
}

// ---------------------------------------------------------------------------------------------
// HTTP endpoint, with plain sockets

impl Server {
    /// The address of the HTTP endpoint (`--http 127.0.0.1:0` must have been given).
    pub fn http_addr(&self) -> SocketAddr {
        let line = self
            .stderr()
            .into_iter()
            .find(|l| l.contains("http endpoint on "))
            .expect("an `http endpoint on` line (was --http given?)");
        line[line.find("http endpoint on ").unwrap() + 17..]
            .trim()
            .parse()
            .expect("http endpoint address")
    }
}

/// `GET path` over a fresh connection (HTTP/1.1, Connection: close): status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, WAIT).expect("http connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: geosteer\r\nConnection: close\r\n\r\n"
    )
    .expect("http write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("http read");
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

/// A metric's value in Prometheus text, or None: `series` is the name with its labels.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

// ---------------------------------------------------------------------------------------------
// Monitored origins

/// A TCP port free on 127.0.0.1 now (for listeners bound on other loopback addresses).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `[monitors.tcp]` table of the tests with monitored pools: a TCP probe of `port` every
/// second, one failure takes an origin down and one success brings it back.
pub fn tcp_monitor(port: u16) -> String {
    format!(
        r#"
[monitors.tcp]
type = "tcp"
port = {port}
interval = "1s"
timeout = "500ms"
retries = 0
consecutive_down = 1
consecutive_up = 1
"#
    )
}

/// Origins that answer the monitor: a listener on `port` per address, by address.
pub struct Origins {
    port: u16,
    listeners: std::collections::BTreeMap<&'static str, std::net::TcpListener>,
}

impl Origins {
    pub fn up(port: u16, addresses: &[&'static str]) -> Self {
        let listeners = addresses
            .iter()
            .map(|&a| (a, std::net::TcpListener::bind((a, port)).unwrap()))
            .collect();
        Self { port, listeners }
    }

    /// Closes the listener on `a`: its probes are refused.
    pub fn kill(&mut self, a: &str) {
        self.listeners.remove(a).expect("listening");
    }

    pub fn revive(&mut self, a: &'static str) {
        self.listeners
            .insert(a, std::net::TcpListener::bind((a, self.port)).unwrap());
    }
}

// ------------------------------------------------------------------------------------------
// Stand-in origins: TCP listeners that can be closed and opened again (health monitors
// see them go down and come back).

/// A TCP listener on a fixed address that accepts and closes connections until closed.
pub struct TcpOrigin {
    addr: SocketAddr,
    running: Option<(
        Arc<std::sync::atomic::AtomicBool>,
        std::thread::JoinHandle<()>,
    )>,
}

impl TcpOrigin {
    /// Listens on `ip`:`port` at once.
    pub fn new(ip: &str, port: u16) -> Self {
        let mut o = Self {
            addr: SocketAddr::new(ip.parse().unwrap(), port),
            running: None,
        };
        o.open();
        o
    }

    /// Listens again (no-op when listening).
    pub fn open(&mut self) {
        if self.running.is_some() {
            return;
        }
        let listener = std::net::TcpListener::bind(self.addr)
            .unwrap_or_else(|e| panic!("cannot listen on {}: {e}", self.addr));
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => drop(conn),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        self.running = Some((stop, handle));
    }

    /// Stops listening: connections are refused from now on.
    pub fn close(&mut self) {
        if let Some((stop, handle)) = self.running.take() {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            handle.join().unwrap();
        }
    }
}

impl Drop for TcpOrigin {
    fn drop(&mut self) {
        self.close();
    }
}

/// A child's stderr, read line by line on a thread of its own.
pub struct StderrLines {
    /// Every line so far.
    pub lines: Arc<Mutex<Vec<String>>>,
    /// A message at each line that says "listening on".
    pub ready: mpsc::Receiver<()>,
    /// A message when the stream ends.
    pub done: mpsc::Receiver<()>,
}

/// Spawns `cmd` (a `geosteer serve`, maybe under `ip netns exec`) with `RUST_LOG=info`,
/// stdin and stdout null, and its stderr read by [`StderrLines`].
pub fn spawn_serve(cmd: &mut Command) -> (Child, StderrLines) {
    let mut child = cmd
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn geosteer");
    let stderr = child.stderr.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (ready_tx, ready) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let ready = line.contains("listening on");
                lines.lock().unwrap().push(line);
                if ready {
                    let _ = ready_tx.send(());
                }
            }
            let _ = done_tx.send(());
        });
    }
    (child, StderrLines { lines, ready, done })
}

/// Runs `f` on a thread inside network namespace `ns` (one `ip netns add` made, under
/// /run/netns): sockets it makes live there.
pub fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let file = std::fs::File::open(&path).expect("open the namespace");
                // SAFETY: setns on a valid namespace fd; it changes this thread only.
                let rc = unsafe {
                    libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET)
                };
                assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// The A records answered for `name` by the server at `dns` over UDP, as a set; `None` when
/// five tries in a row (500 ms each) get no answer.
pub fn a_records(dns: SocketAddr, name: &str) -> Option<std::collections::BTreeSet<Ipv4Addr>> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let query = encode(&query(name, RecordType::A));
    let mut buf = [0u8; 1500];
    for _ in 0..5 {
        sock.send_to(&query, dns).unwrap();
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            continue;
        };
        return Some(
            decode(&buf[..n])
                .answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect(),
        );
    }
    None
}
