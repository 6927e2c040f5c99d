//! The AF_XDP fast path (`serve --xdp IFACE[@QUEUES]`): UDP queries to the served addresses
//! are taken off the interface by a small XDP program before the kernel's network stack sees
//! them, answered by the same code as the socket path (`Answerer`: bytes in, bytes out), and
//! sent back through AF_XDP sockets. Everything else on the interface — ARP, ICMP, ICMPv6
//! neighbour discovery, TCP, other ports and addresses — goes to the kernel as usual, so the
//! TCP listeners and the HTTP endpoint keep working on the same interface.
//!
//! - `bpf/xdp_dns.c`: the XDP program (checked in with its object code, `bpf/xdp_dns.o`).
//! - `program.rs`: loading it (aya), its maps, attaching and detaching.
//! - `socket.rs`: one AF_XDP socket per queue (xdpilone) and its serving loop.
//! - `frame.rs`: reading query frames and writing replies (Ethernet, IPv4/IPv6, UDP).
//!
//! Start-up is all or nothing: any failure (no privileges, no such interface or queue, no
//! native XDP in the driver, an XDP program already attached) stops `serve` with an error
//! before it reports ready, and whatever was set up is undone. The program is detached when
//! geosteer stops, and also when it dies, since the kernel drops a bpf_link with its last
//! file descriptor.

mod frame;
mod program;
mod socket;

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use tracing::info;

use super::Responder;
use super::udp::Answerer;
use program::{Attached, MAX_ADDRS, MAX_QUEUES};
use socket::{QueueStats, Xsk};

/// One `--xdp` argument: an interface and, optionally, which of its receive queues to serve
/// (default: all of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdpSpec {
    /// The interface's name.
    pub iface: String,
    /// The receive queues to serve; `None`: every queue the interface has.
    pub queues: Option<Vec<u32>>,
}

impl FromStr for XdpSpec {
    type Err = String;

    /// `IFACE`, `IFACE@Q`, `IFACE@Q1,Q2`, `IFACE@Q1-Q2` (ranges and lists combine).
    fn from_str(s: &str) -> Result<Self, String> {
        let (iface, queues) = match s.split_once('@') {
            None => (s, None),
            Some((i, q)) => (i, Some(q)),
        };
        if iface.is_empty() || iface.len() >= libc::IFNAMSIZ || iface.contains(['/', ' ']) {
            return Err(format!("{iface:?} is not an interface name"));
        }
        let queues = match queues {
            None => None,
            Some(list) => {
                let mut qs = Vec::new();
                for part in list.split(',') {
                    let num = |t: &str| {
                        t.parse::<u32>()
                            .ok()
                            .filter(|&q| q < MAX_QUEUES)
                            .ok_or_else(|| format!("{t:?} is not a queue number (0..{MAX_QUEUES})"))
                    };
                    match part.split_once('-') {
                        None => qs.push(num(part)?),
                        Some((a, b)) => {
                            let (a, b) = (num(a)?, num(b)?);
                            if a > b {
                                return Err(format!("queue range {part:?} is empty"));
                            }
                            qs.extend(a..=b);
                        }
                    }
                }
                qs.sort_unstable();
                qs.dedup();
                Some(qs)
            }
        };
        Ok(Self {
            iface: iface.to_string(),
            queues,
        })
    }
}

/// Why the XDP path could not start.
#[derive(Debug)]
pub struct XdpError {
    msg: String,
    /// The OS error at the root of it, if any.
    errno: Option<i32>,
}

impl fmt::Display for XdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for XdpError {}

const PRIVILEGE_HINT: &str = "--xdp needs CAP_BPF, CAP_NET_ADMIN and CAP_NET_RAW (or root), \
                              and CAP_IPC_LOCK or a locked-memory limit (LimitMEMLOCK) of at least 4 MiB per queue";

impl XdpError {
    pub(crate) fn new(msg: String) -> Self {
        Self { msg, errno: None }
    }

    /// `context: cause`, with the causes of `e` chained and a hint when the root cause is a
    /// missing privilege.
    pub(crate) fn from_source(context: String, e: &(dyn std::error::Error + 'static)) -> Self {
        let mut msg = format!("{context}: {e}");
        let mut errno = None;
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(c) = cur {
            if let Some(io) = c.downcast_ref::<io::Error>() {
                errno = io.raw_os_error();
            }
            if !std::ptr::eq(c as *const _ as *const u8, e as *const _ as *const u8) {
                let text = c.to_string();
                if !msg.contains(&text) {
                    msg.push_str(": ");
                    msg.push_str(&text);
                }
            }
            cur = c.source();
        }
        // aya's verifier log can be long; keep the message to the point.
        if let Some(cut) = msg.find("Verifier output:") {
            msg.truncate(cut + 200.min(msg.len() - cut));
        }
        if matches!(errno, Some(libc::EPERM) | Some(libc::EACCES)) {
            msg.push_str(&format!(" ({PRIVILEGE_HINT})"));
        }
        Self { msg, errno }
    }

    fn attach_hint(mut self, iface: &str) -> Self {
        match self.errno {
            Some(libc::EBUSY | libc::EEXIST) => self.msg.push_str(&format!(
                " (another XDP program is attached to {iface}; `ip link set dev {iface} xdp off` \
                 removes it)"
            )),
            Some(libc::EOPNOTSUPP | libc::EINVAL) => self.msg.push_str(&format!(
                " ({iface}'s driver has no native XDP support: serve it through sockets)"
            )),
            _ => {}
        }
        self
    }
}

/// The XDP path running: one thread per queue, one program per interface.
pub struct XdpRunning {
    /// The served queues, for the start-up log: "vS queue 0 (copy mode)".
    pub queues: Vec<String>,
    programs: Vec<Attached>,
    stop: Arc<AtomicBool>,
    threads: Vec<(String, JoinHandle<Option<QueueStats>>)>,
}

impl XdpRunning {
    /// Detaches the programs (new queries go to the kernel's sockets again), then lets each
    /// queue answer what it has already received and stop. Blocks for up to ~200 ms.
    pub fn shutdown(mut self) {
        self.programs.clear();
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for (name, t) in self.threads.drain(..) {
            if let Ok(Some(s)) = t.join() {
                info!(
                    "xdp: {name}: {} frames received, {} answered, {} not a query; \
                     kernel: {} dropped, rx ring full {}, fill ring empty {}",
                    s.received,
                    s.answered,
                    s.malformed,
                    s.kernel_dropped,
                    s.rx_ring_full,
                    s.fill_ring_empty
                );
            }
        }
    }
}

impl Drop for XdpRunning {
    fn drop(&mut self) {
        self.programs.clear();
        self.stop_threads();
    }
}

/// Starts serving `specs` for the UDP addresses in `listen` (the bound socket addresses;
/// an unspecified address serves every address of its family on that port).
pub fn start(
    specs: &[XdpSpec],
    listen: &[SocketAddr],
    responder: Arc<Responder>,
) -> Result<XdpRunning, XdpError> {
    start_with(specs, listen, move || {
        super::udp::counted(responder.clone())
    })
}

/// [`start`] for any answerer (one made per queue thread).
pub fn start_with<A, F>(
    specs: &[XdpSpec],
    listen: &[SocketAddr],
    make_answerer: F,
) -> Result<XdpRunning, XdpError>
where
    A: Answerer + Send + 'static,
    F: Fn() -> A,
{
    // Merge the specs per interface (first-seen order).
    let mut ifaces: Vec<(String, Option<Vec<u32>>)> = Vec::new();
    for spec in specs {
        match ifaces.iter_mut().find(|(i, _)| *i == spec.iface) {
            None => ifaces.push((spec.iface.clone(), spec.queues.clone())),
            Some((_, qs)) => match (qs.as_mut(), &spec.queues) {
                (Some(a), Some(b)) => {
                    a.extend(b);
                    a.sort_unstable();
                    a.dedup();
                }
                _ => *qs = None,
            },
        }
    }
    let mut running = XdpRunning {
        queues: Vec::new(),
        programs: Vec::new(),
        stop: Arc::new(AtomicBool::new(false)),
        threads: Vec::new(),
    };
    // On any error, dropping `running` detaches what was attached and stops the threads.
    for (iface, queues) in ifaces {
        let served = served_addrs(&iface, listen)?;
        let queues = match queues {
            Some(q) => q,
            None => rx_queues(&iface)?,
        };
        let mut loaded = Attached::load(&iface, &served)?;
        for q in queues {
            let name = format!("{iface} queue {q}");
            let (tx, rx) = mpsc::channel::<Result<(i32, bool), socket::OpenError>>();
            let stop = running.stop.clone();
            let mut answerer = make_answerer();
            let thread_iface = iface.clone();
            let thread_name = name.clone();
            // The socket is made on its thread (xdpilone's UMEM is not Send) and reports
            // back before it serves.
            let handle = std::thread::Builder::new()
                .name(format!("xdp-{iface}-{q}"))
                .spawn(move || {
                    let mut xsk = match Xsk::open(&thread_iface, q) {
                        Ok(x) => x,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return None;
                        }
                    };
                    let _ = tx.send(Ok((xsk.fd(), xsk.zero_copy)));
                    drop(tx);
                    Some(socket::serve(&mut xsk, &mut answerer, &stop, &thread_name))
                })
                .map_err(|e| XdpError::new(format!("{name}: cannot start a thread: {e}")))?;
            running.threads.push((name.clone(), handle));
            match rx.recv() {
                Ok(Ok((fd, zero_copy))) => {
                    // The thread keeps the socket open until told to stop, so the fd stays
                    // valid while it is put in the map.
                    loaded.set_socket(q, BorrowedRawFd(fd))?;
                    running.queues.push(format!(
                        "{name} ({} mode)",
                        if zero_copy { "zero-copy" } else { "copy" }
                    ));
                }
                Ok(Err(e)) => return Err(open_error(&iface, q, &e)),
                Err(_) => return Err(XdpError::new(format!("{name}: the socket thread died"))),
            }
        }
        let attached = loaded.attach()?;
        info!(
            "xdp: program attached to {iface} ({} mode), serving UDP to {}",
            attached.mode,
            served
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        running.programs.push(attached);
    }
    Ok(running)
}

/// A raw fd to hand to aya's map setter, which only reads its number.
struct BorrowedRawFd(i32);

impl std::os::fd::AsRawFd for BorrowedRawFd {
    fn as_raw_fd(&self) -> i32 {
        self.0
    }
}

fn open_error(iface: &str, queue: u32, e: &socket::OpenError) -> XdpError {
    let io = e.io();
    let what = match (e.step, e.errno) {
        ("socket" | "umem", libc::EPERM | libc::EACCES) => {
            format!("cannot open an AF_XDP socket: {io} ({PRIVILEGE_HINT})")
        }
        ("socket" | "umem", libc::EAFNOSUPPORT) => {
            "this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS)".to_string()
        }
        ("umem", libc::ENOBUFS | libc::ENOMEM) => format!(
            "cannot lock the frame memory: {io} (raise the locked-memory limit, LimitMEMLOCK, \
             or grant CAP_IPC_LOCK)"
        ),
        ("bind", libc::EINVAL) => {
            format!("cannot bind to the queue: {io} (does {iface} have queue {queue}?)")
        }
        ("bind", libc::EBUSY) => {
            format!("cannot bind to the queue: {io} (another AF_XDP socket already serves it)")
        }
        (step, _) => format!("AF_XDP {step}: {io}"),
    };
    XdpError::new(format!("--xdp {iface}@{queue}: {what}"))
}

/// The listen addresses whose UDP traffic can arrive on `iface`: the unspecified ones, and
/// those assigned to it. An error if there are none (the XDP path would serve nothing), or
/// more than the program's map holds.
fn served_addrs(iface: &str, listen: &[SocketAddr]) -> Result<Vec<SocketAddr>, XdpError> {
    let index = if_index(iface)?;
    if let Some(mtu) = iface_mtu(iface).filter(|&m| m < 1280) {
        return Err(XdpError::new(format!(
            "--xdp {iface}: MTU {mtu} is below 1280, too small for a full-size UDP answer"
        )));
    }
    let own = iface_addrs(index);
    let served: Vec<SocketAddr> = listen
        .iter()
        .copied()
        .filter(|a| a.ip().is_unspecified() || own.contains(&a.ip()))
        .collect();
    if served.is_empty() {
        return Err(XdpError::new(format!(
            "--xdp {iface}: none of the --listen addresses ({}) is on {iface}; listen on an \
             address of {iface}, or on 0.0.0.0 / [::]",
            listen
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if served.len() > MAX_ADDRS {
        return Err(XdpError::new(format!(
            "--xdp {iface}: more than {MAX_ADDRS} listen addresses"
        )));
    }
    Ok(served)
}

fn if_index(iface: &str) -> Result<u32, XdpError> {
    let name = std::ffi::CString::new(iface)
        .map_err(|_| XdpError::new(format!("--xdp {iface:?}: not an interface name")))?;
    // SAFETY: a NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(XdpError::new(format!("--xdp {iface}: no such interface")));
    }
    Ok(index)
}

/// The IPv4 and IPv6 addresses assigned to the interface with index `index`.
fn iface_addrs(index: u32) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list freed below; each entry is read only
    // through the pointers it provides, by the family it states.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let ifa = &*cur;
            cur = ifa.ifa_next;
            if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
                continue;
            }
            if libc::if_nametoindex(ifa.ifa_name) != index {
                continue;
            }
            match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let a = &*ifa.ifa_addr.cast::<libc::sockaddr_in>();
                    out.push(IpAddr::from(u32::from_be(a.sin_addr.s_addr).to_be_bytes()));
                }
                libc::AF_INET6 => {
                    let a = &*ifa.ifa_addr.cast::<libc::sockaddr_in6>();
                    out.push(IpAddr::from(a.sin6_addr.s6_addr));
                }
                _ => {}
            }
        }
        libc::freeifaddrs(head);
    }
    out
}

/// An `ifreq`-style ioctl on a throwaway socket. The interface's name goes first in `req`.
fn iface_ioctl<T>(request: libc::c_ulong, req: &mut T) -> io::Result<()> {
    // SAFETY: a plain datagram socket, closed below; `req` is a live, writable struct of the
    // layout the request expects (the caller's choice of T).
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let rc = libc::ioctl(fd, request, req as *mut T);
        let err = io::Error::last_os_error();
        libc::close(fd);
        if rc < 0 { Err(err) } else { Ok(()) }
    }
}

fn ifreq_for(iface: &str) -> libc::ifreq {
    // SAFETY: all-zero is a valid ifreq.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(iface.bytes()) {
        *d = s as libc::c_char;
    }
    req
}

/// The interface's MTU (SIOCGIFMTU; unlike /sys, right in any network namespace).
fn iface_mtu(iface: &str) -> Option<u32> {
    let mut req = ifreq_for(iface);
    iface_ioctl(libc::SIOCGIFMTU, &mut req).ok()?;
    // SAFETY: SIOCGIFMTU filled in the mtu member.
    u32::try_from(unsafe { req.ifr_ifru.ifru_mtu }).ok()
}

/// The interface's receive queues, as ethtool reports its channels (what Knot DNS does):
/// the combined or rx channel count. A driver without the call has one queue.
fn rx_queues(iface: &str) -> Result<Vec<u32>, XdpError> {
    #[repr(C)]
    #[derive(Default)]
    struct EthtoolChannels {
        cmd: u32,
        max_rx: u32,
        max_tx: u32,
        max_other: u32,
        max_combined: u32,
        rx_count: u32,
        tx_count: u32,
        other_count: u32,
        combined_count: u32,
    }
    const ETHTOOL_GCHANNELS: u32 = 0x3c;
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..Default::default()
    };
    let mut req = ifreq_for(iface);
    req.ifr_ifru.ifru_data = (&mut ch as *mut EthtoolChannels).cast();
    let n = match iface_ioctl(libc::SIOCETHTOOL, &mut req) {
        Ok(()) => ch.combined_count.max(ch.rx_count).max(1),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => 1,
        Err(e) => {
            return Err(XdpError::new(format!(
                "--xdp {iface}: cannot read its queue count: {e}"
            )));
        }
    };
    if n > MAX_QUEUES {
        return Err(XdpError::new(format!(
            "--xdp {iface}: {n} queues, more than the {MAX_QUEUES} the program serves; list \
             the queues to serve (IFACE@0-{})",
            MAX_QUEUES - 1
        )));
    }
    Ok((0..n).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let p = |s: &str| s.parse::<XdpSpec>();
        assert_eq!(
            p("eth0").unwrap(),
            XdpSpec {
                iface: "eth0".into(),
                queues: None
            }
        );
        assert_eq!(p("eth0@3").unwrap().queues, Some(vec![3]));
        assert_eq!(p("eth0@0,2-4,2").unwrap().queues, Some(vec![0, 2, 3, 4]));
        assert!(p("").is_err());
        assert!(p("@1").is_err());
        assert!(p("eth0@").is_err());
        assert!(p("eth0@x").is_err());
        assert!(p("eth0@4-2").is_err());
        assert!(p("eth0@256").is_err());
        assert!(p("a-very-long-interface-name").is_err());
    }

    #[test]
    fn unknown_interface_is_a_clear_error() {
        let e = start_with(
            &["gsxdp-none0".parse().unwrap()],
            &["0.0.0.0:53".parse().unwrap()],
            || NoAnswer,
        )
        .err()
        .expect("no such interface");
        assert_eq!(e.to_string(), "--xdp gsxdp-none0: no such interface");
    }

    struct NoAnswer;
    impl Answerer for NoAnswer {
        fn answer(&mut self, _: &[u8], _: SocketAddr, _: &mut Vec<u8>) -> bool {
            false
        }
    }

    #[test]
    fn listen_addresses_must_reach_the_interface() {
        // Loopback exists everywhere and carries 127.0.0.1 (and ::1 where IPv6 is on).
        let lo = |addrs: &[&str]| {
            served_addrs(
                "lo",
                &addrs.iter().map(|a| a.parse().unwrap()).collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            lo(&["127.0.0.1:53", "198.18.0.1:53"]).unwrap(),
            vec!["127.0.0.1:53".parse().unwrap()]
        );
        assert_eq!(lo(&["0.0.0.0:53"]).unwrap().len(), 1);
        assert_eq!(iface_mtu("lo"), Some(65536));
        // Loopback has no ethtool channels: one queue.
        assert_eq!(rx_queues("lo").unwrap(), vec![0]);
        let e = lo(&["198.18.0.1:53"]).unwrap_err().to_string();
        assert!(e.contains("none of the --listen addresses"), "{e}");
    }
}
