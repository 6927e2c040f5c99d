//! Test support: other DNS software run beside geosteer on loopback (Knot, Unbound, named),
//! and the clients that check it (dig, delv).
//!
//! Include it with `#[path = "support/daemons.rs"] mod daemons;`. Every daemon is killed when
//! its handle drops; every address used is 127.0.0.1.

#![allow(dead_code)]

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A daemon this test started, killed on drop.
pub struct Daemon(pub Child, pub &'static str);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `tool` from PATH, or from /usr/sbin (daemons live there; a user's PATH may lack it).
pub fn tool_path(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([
            Path::new("/usr/sbin").to_path_buf(),
            Path::new("/sbin").to_path_buf(),
        ])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// `tool` from PATH or /usr/sbin; panics naming the packages when it is missing.
pub fn daemon_path(tool: &str) -> PathBuf {
    tool_path(tool).unwrap_or_else(|| {
        panic!("{tool} is not installed: install knot, unbound and bind9-utils (see .ci/run)")
    })
}

/// Starts `tool ARGS…` with stdout discarded and stderr passed through.
pub fn spawn(tool: &'static str, args: &[&str]) -> Daemon {
    let child = Command::new(daemon_path(tool))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {tool} ({e}): install knot, unbound and bind9-utils")
        });
    Daemon(child, tool)
}

/// A port free on 127.0.0.1 right now (for daemons that cannot be told to pick one).
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `dig @127.0.0.1 -p PORT ARGS…`, its stdout.
pub fn dig(port: u16, args: &[&str]) -> String {
    let out = Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+time=2", "+tries=1"])
        .args(args)
        .output()
        .expect("dig (bind9-dnsutils)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until the daemon on `port` answers `name SOA` with NOERROR (15 s at most).
pub fn wait_until_answers(port: u16, name: &str, daemon: &mut Daemon) {
    let start = Instant::now();
    loop {
        if dig(port, &[name, "SOA"]).contains("status: NOERROR") {
            return;
        }
        if let Ok(Some(st)) = daemon.0.try_wait() {
            panic!("{} exited ({st}) before answering", daemon.1);
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{} never answered",
            daemon.1
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The flags line of dig's output (`;; flags: qr rd ra ad; …`).
pub fn dig_flags(out: &str) -> &str {
    out.lines()
        .find(|l| l.starts_with(";; flags:"))
        .unwrap_or("")
}

/// A validating Unbound on 127.0.0.1 that sends the zones in `stubs` to the servers given
/// (`(zone, "127.0.0.1@port")`), trusts `anchors` (`"example.com. DS …"` lines), and — when
/// `ecs_to` is given — passes clients' EDNS Client Subnet on to that server address
/// (Unbound's subnetcache module, RFC 7871).
pub fn unbound(
    dir: &Path,
    stubs: &[(&str, String)],
    anchors: &[String],
    ecs_to: Option<&str>,
) -> (Daemon, u16) {
    let port = free_port();
    let p = dir.display();
    let mut conf = format!(
        "server:\n  interface: 127.0.0.1@{port}\n  do-daemonize: no\n  username: \"\"\n  \
         chroot: \"\"\n  directory: \"{p}\"\n  pidfile: \"\"\n  use-syslog: no\n  \
         logfile: \"\"\n  verbosity: 0\n  val-log-level: 2\n  do-not-query-localhost: no\n  \
         qname-minimisation: no\n  cache-min-ttl: 0\n  serve-expired: no\n  \
         prefetch: no\n"
    );
    match ecs_to {
        Some(addr) => conf.push_str(&format!(
            "  module-config: \"subnetcache validator iterator\"\n  \
             send-client-subnet: {addr}\n  client-subnet-always-forward: yes\n  \
             max-client-subnet-ipv4: 24\n"
        )),
        None => conf.push_str("  module-config: \"validator iterator\"\n"),
    }
    for a in anchors {
        conf.push_str(&format!("  trust-anchor: \"{a}\"\n"));
    }
    for (zone, addr) in stubs {
        conf.push_str(&format!(
            "stub-zone:\n  name: \"{zone}\"\n  stub-addr: {addr}\n  stub-prime: no\n"
        ));
    }
    conf.push_str("remote-control:\n  control-enable: no\n");
    let path = dir.join(format!("unbound-{port}.conf"));
    std::fs::write(&path, conf).unwrap();
    let mut d = spawn("unbound", &["-d", "-c", path.to_str().unwrap()]);
    let zone = stubs.first().map_or("example.com", |s| s.0);
    wait_until_answers(port, zone, &mut d);
    (d, port)
}

/// delv's verdict on `qname qtype` asked of the server on `port`, with the trust anchors in
/// `anchors_file` for `root`; `source` binds the query's source address. stdout and stderr.
pub fn delv(
    port: u16,
    anchors_file: &Path,
    root: &str,
    source: Option<&str>,
    qname: &str,
    qtype: &str,
) -> String {
    let mut cmd = Command::new("delv");
    cmd.args(["@127.0.0.1", "-p", &port.to_string(), "-a"])
        .arg(anchors_file)
        .arg(format!("+root={root}"));
    if let Some(s) = source {
        cmd.args(["-b", s]);
    }
    let out = cmd
        .args([qname, qtype])
        .output()
        .expect("delv (bind9-utils)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A delv trust-anchors file from DS lines (`example.com. IN DS tag alg digest-type digest`).
pub fn delv_anchors(path: &Path, ds_lines: &[String]) {
    let mut text = String::from("trust-anchors {\n");
    for l in ds_lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        // owner [ttl] [class] DS tag alg type digest…
        let at = f.iter().position(|x| *x == "DS").expect("a DS line");
        text.push_str(&format!(
            "  {} static-ds {} {} {} \"{}\";\n",
            f[0],
            f[at + 1],
            f[at + 2],
            f[at + 3],
            f[at + 4..].concat()
        ));
    }
    text.push_str("};\n");
    std::fs::write(path, text).unwrap();
}
