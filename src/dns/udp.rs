//! The UDP serving loop: one OS thread per `SO_REUSEPORT` socket, receiving and sending in
//! batches with `recvmmsg`/`sendmmsg`.
//!
//! Measured before this loop existed (tokio task per socket, `recv_from`/`send_to`, dnsperf
//! on loopback, server pinned to one core): ~71 % of the server's CPU was kernel time, mostly
//! per-packet syscall entry and the epoll/wakeup path, against ~29 % answering. Batching
//! amortises the syscalls over up to [`BATCH`] packets, and a blocking thread needs no
//! readiness polling at all; gdnsd and NSD serve UDP the same way.
//!
//! Shutdown: the socket has a receive timeout, so a thread notices the stop flag within
//! [`POLL`] even when idle; a batch that has been received is always answered first.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use tracing::debug;

use super::{MAX_UDP_PAYLOAD, Responder, Transport};
use crate::metrics::Shard;

/// Datagrams taken per `recvmmsg`.
const BATCH: usize = 32;

/// How long a blocked receive waits before looking at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// Receive buffer per datagram. Queries are small; a datagram longer than this arrives cut
/// short, fails to parse and gets FORMERR, which is the right answer to such a query anyway.
const RECV_BUF: usize = 4096;

/// What the loop needs from whoever answers: one datagram in, at most one answer out.
///
/// `Responder` is the real one; `examples/udp_floor.rs` plugs in one that does no DNS work at
/// all, which measures what this loop and the kernel cost alone (the floor under any answer).
pub trait Answerer {
    /// Writes the answer to `query` from `src` into `out` (cleared first); false: no answer.
    fn answer(&mut self, query: &[u8], src: SocketAddr, out: &mut Vec<u8>) -> bool;
}

/// The real answerer: the responder, counting into this thread's own metrics shard.
pub(crate) struct Counted {
    responder: Arc<Responder>,
    shard: Arc<Shard>,
}

/// The real answerer for a serving thread of its own (the XDP path uses it too).
pub(crate) fn counted(responder: Arc<Responder>) -> Counted {
    let shard = responder.metrics().shard();
    Counted { responder, shard }
}

impl Answerer for Counted {
    #[inline]
    fn answer(&mut self, query: &[u8], src: SocketAddr, out: &mut Vec<u8>) -> bool {
        self.responder
            .respond_caught(query, src, Transport::Udp, out, Some(&self.shard))
    }
}

/// Serves `sock` until `stop` is set. Runs on its own thread.
pub(crate) fn serve(sock: std::net::UdpSocket, responder: Arc<Responder>, stop: Arc<AtomicBool>) {
    serve_with(sock, &mut counted(responder), &stop);
}

/// Room for one `IP_PKTINFO` or `IPV6_PKTINFO` control message (CMSG_SPACE of the larger,
/// `in6_pktinfo`, is 40 on 64-bit Linux), aligned as `cmsghdr` needs.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct Control([u8; 64]);

/// Whether replies on `sock` need the query's destination address passed back to the kernel:
/// on a wildcard IPv4 socket (`0.0.0.0`), else the kernel picks the source address by its
/// routing table (the host's primary address, not the one queried: resolvers drop such a
/// reply), and on every IPv6 socket (also for link-local scope). A specific IPv4 address
/// replies from itself anyway and skips the cost, as gdnsd does.
fn wants_pktinfo(sock: &std::net::UdpSocket) -> bool {
    match sock.local_addr() {
        Ok(SocketAddr::V4(a)) => a.ip().is_unspecified(),
        Ok(SocketAddr::V6(_)) => true,
        Err(_) => false,
    }
}

/// Turns on `IP_PKTINFO` / `IPV6_RECVPKTINFO`: each datagram then arrives with its
/// destination address (and interface).
fn enable_pktinfo(sock: &std::net::UdpSocket) -> io::Result<()> {
    let (level, name) = match sock.local_addr()? {
        SocketAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_PKTINFO),
        SocketAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO),
    };
    let on: libc::c_int = 1;
    // SAFETY: setsockopt with a valid fd and a pointer to an int of the size given.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&raw const on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Per-datagram storage of one batch: the query, its source address and (with pktinfo) its
/// destination, each kept from the receive to the send.
struct Slots {
    bufs: Vec<[u8; RECV_BUF]>,
    addrs: Vec<MaybeUninit<libc::sockaddr_storage>>,
    /// Control data as received, turned into what the reply's send needs
    /// ([`source_from_pktinfo`]); `None` when pktinfo is off.
    control: Option<Vec<Control>>,
    control_lens: [usize; BATCH],
}

/// The loop itself, for any answerer. Runs on the calling thread until `stop` is set.
pub fn serve_with<A: Answerer>(sock: std::net::UdpSocket, answerer: &mut A, stop: &AtomicBool) {
    if let Err(e) = sock
        .set_nonblocking(false)
        .and_then(|()| sock.set_read_timeout(Some(POLL)))
    {
        debug!("udp socket setup: {e}");
        return;
    }
    let pktinfo = wants_pktinfo(&sock);
    if pktinfo && let Err(e) = enable_pktinfo(&sock) {
        // Every reply would leave from whatever address routing picks: refuse to serve
        // rather than answer from the wrong address.
        tracing::error!(
            "udp {:?}: cannot turn on IP_PKTINFO/IPV6_RECVPKTINFO ({e}); not serving it",
            sock.local_addr()
        );
        return;
    }
    let fd = sock.as_raw_fd();
    let mut slots = Slots {
        bufs: vec![[0u8; RECV_BUF]; BATCH],
        addrs: vec![MaybeUninit::zeroed(); BATCH],
        control: pktinfo.then(|| vec![Control([0; 64]); BATCH]),
        control_lens: [0; BATCH],
    };
    let mut out: Vec<Vec<u8>> = (0..BATCH)
        .map(|_| Vec::with_capacity(MAX_UDP_PAYLOAD as usize))
        .collect();
    // Which received datagrams get an answer, in order.
    let mut answered: Vec<usize> = Vec::with_capacity(BATCH);

    while !stop.load(Ordering::Relaxed) {
        let n = match recv_batch(fd, &mut slots) {
            Ok((n, lens, addr_lens)) => {
                answered.clear();
                for i in 0..n {
                    let Some(src) = to_socket_addr(&slots.addrs[i], addr_lens[i]) else {
                        continue;
                    };
                    // Port 0 cannot be answered; unspecified addresses are spoofed or broken.
                    if src.port() == 0 || src.ip().is_unspecified() {
                        continue;
                    }
                    if let Some(control) = &mut slots.control
                        && !source_from_pktinfo(&mut control[i], &mut slots.control_lens[i])
                    {
                        // No destination to answer from (not expected with pktinfo on).
                        continue;
                    }
                    let len = lens[i].min(RECV_BUF);
                    if answerer.answer(&slots.bufs[i][..len], src, &mut out[i]) {
                        answered.push(i);
                    }
                }
                n
            }
            Err(e) => {
                match e.kind() {
                    io::ErrorKind::WouldBlock
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::Interrupted => {}
                    // ICMP errors from earlier sends surface here on some systems; not fatal.
                    _ => debug!("udp recv: {e}"),
                }
                continue;
            }
        };
        if n > 0 && !answered.is_empty() {
            send_batch(fd, &answered, &out, &mut slots);
        }
    }
}

/// Receives up to `BATCH` datagrams, blocking for the first. Returns how many, with each
/// one's length and address length (control lengths go to `slots.control_lens`).
fn recv_batch(
    fd: i32,
    slots: &mut Slots,
) -> io::Result<(usize, [usize; BATCH], [libc::socklen_t; BATCH])> {
    let mut iovs: [MaybeUninit<libc::iovec>; BATCH] = [const { MaybeUninit::uninit() }; BATCH];
    let mut hdrs: [MaybeUninit<libc::mmsghdr>; BATCH] = [const { MaybeUninit::uninit() }; BATCH];
    for i in 0..BATCH {
        iovs[i].write(libc::iovec {
            iov_base: slots.bufs[i].as_mut_ptr().cast(),
            iov_len: RECV_BUF,
        });
        // SAFETY: an all-zero mmsghdr is valid (null pointers, zero lengths); the fields set
        // below point at buffers that outlive the call.
        let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
        h.msg_hdr.msg_name = slots.addrs[i].as_mut_ptr().cast();
        h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        h.msg_hdr.msg_iov = iovs[i].as_mut_ptr();
        h.msg_hdr.msg_iovlen = 1;
        if let Some(control) = &mut slots.control {
            h.msg_hdr.msg_control = control[i].0.as_mut_ptr().cast();
            h.msg_hdr.msg_controllen = control[i].0.len();
        }
        hdrs[i].write(h);
    }
    // SAFETY: hdrs holds BATCH initialised headers whose buffers live until we return.
    let n = unsafe {
        libc::recvmmsg(
            fd,
            hdrs.as_mut_ptr().cast(),
            BATCH as libc::c_uint,
            libc::MSG_WAITFORONE,
            std::ptr::null_mut(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    let mut lens = [0usize; BATCH];
    let mut addr_lens = [0 as libc::socklen_t; BATCH];
    for i in 0..n {
        // SAFETY: the first n headers were filled in by the kernel.
        let h = unsafe { hdrs[i].assume_init_ref() };
        lens[i] = h.msg_len as usize;
        addr_lens[i] = h.msg_hdr.msg_namelen;
        slots.control_lens[i] = h.msg_hdr.msg_controllen;
    }
    Ok((n, lens, addr_lens))
}

/// Turns the `IP_PKTINFO` / `IPV6_PKTINFO` control message a datagram arrived with into the
/// one its reply is sent with: the source address is the query's destination. The interface
/// is left to routing (index 0) except for an IPv6 link-local address, which needs it: a
/// reply forced out of the arrival interface is misrouted when the address lives on `lo`
/// behind a router or load balancer (what Knot and gdnsd do too). Returns false when the
/// datagram carries no such message; the control data is then unusable.
fn source_from_pktinfo(control: &mut Control, len: &mut usize) -> bool {
    // SAFETY: a msghdr that describes only this control buffer, as recvmmsg left it; the
    // CMSG_* macros walk within msg_controllen, and each message's data is read and written
    // as the struct its level and type say it holds, unaligned.
    unsafe {
        let mut h: libc::msghdr = std::mem::zeroed();
        h.msg_control = control.0.as_mut_ptr().cast();
        h.msg_controllen = *len;
        let mut c = libc::CMSG_FIRSTHDR(&h);
        while !c.is_null() {
            let (level, ty) = ((*c).cmsg_level, (*c).cmsg_type);
            if level == libc::IPPROTO_IP && ty == libc::IP_PKTINFO {
                let p = libc::CMSG_DATA(c).cast::<libc::in_pktinfo>();
                let mut info = p.read_unaligned();
                info.ipi_spec_dst = info.ipi_addr;
                info.ipi_ifindex = 0;
                p.write_unaligned(info);
                return keep_only(control, len, c.cast::<u8>());
            }
            if level == libc::IPPROTO_IPV6 && ty == libc::IPV6_PKTINFO {
                let p = libc::CMSG_DATA(c).cast::<libc::in6_pktinfo>();
                let mut info = p.read_unaligned();
                let a = info.ipi6_addr.s6_addr;
                let link_local = a[0] == 0xfe && a[1] & 0xc0 == 0x80;
                if !link_local {
                    info.ipi6_ifindex = 0;
                }
                p.write_unaligned(info);
                return keep_only(control, len, c.cast::<u8>());
            }
            c = libc::CMSG_NXTHDR(&h, c);
        }
    }
    false
}

/// Moves the control message at `at` (inside `control`) to its start and makes it the only
/// one sent: other messages the kernel delivered must not go back to it.
fn keep_only(control: &mut Control, len: &mut usize, at: *const u8) -> bool {
    let start = at as usize - control.0.as_ptr() as usize;
    // SAFETY: `at` points at a cmsghdr inside the buffer (CMSG_FIRSTHDR/CMSG_NXTHDR checked
    // that its header lies within msg_controllen).
    let cmsg_len = unsafe { (*at.cast::<libc::cmsghdr>()).cmsg_len };
    // SAFETY: CMSG_SPACE is pure arithmetic.
    let space =
        unsafe { libc::CMSG_SPACE((cmsg_len - libc::CMSG_LEN(0) as usize) as u32) } as usize;
    if start + space > control.0.len() {
        return false;
    }
    control.0.copy_within(start..start + space, 0);
    *len = space;
    true
}

/// Sends the answers `which` (indices into `out` and the slots), retrying what a partial
/// `sendmmsg` left. Never blocks (`MSG_DONTWAIT`, as gdnsd): when the socket's send buffer
/// is full, the answer that does not fit is dropped, as the network would drop it, rather
/// than hold up the answers to everyone else.
fn send_batch(fd: i32, which: &[usize], out: &[Vec<u8>], slots: &mut Slots) {
    let mut iovs: [MaybeUninit<libc::iovec>; BATCH] = [const { MaybeUninit::uninit() }; BATCH];
    let mut hdrs: [MaybeUninit<libc::mmsghdr>; BATCH] = [const { MaybeUninit::uninit() }; BATCH];
    for (k, &i) in which.iter().enumerate() {
        iovs[k].write(libc::iovec {
            iov_base: out[i].as_ptr() as *mut libc::c_void,
            iov_len: out[i].len(),
        });
        // SAFETY: as in recv_batch.
        let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
        h.msg_hdr.msg_name = slots.addrs[i].as_mut_ptr().cast();
        h.msg_hdr.msg_namelen = socklen_of(&slots.addrs[i]);
        h.msg_hdr.msg_iov = iovs[k].as_mut_ptr();
        h.msg_hdr.msg_iovlen = 1;
        if let Some(control) = &mut slots.control {
            h.msg_hdr.msg_control = control[i].0.as_mut_ptr().cast();
            h.msg_hdr.msg_controllen = slots.control_lens[i];
        }
        hdrs[k].write(h);
    }
    let mut sent = 0;
    while sent < which.len() {
        // SAFETY: headers sent..which.len() are initialised and point at live buffers.
        let r = unsafe {
            libc::sendmmsg(
                fd,
                hdrs[sent..].as_mut_ptr().cast(),
                (which.len() - sent) as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // One bad destination (or a full send buffer) must not hold back the rest:
            // skip it.
            debug!("udp send: {e}");
            sent += 1;
        } else {
            sent += r as usize;
        }
    }
}

/// The datagram's source, from what recvmmsg stored.
fn to_socket_addr(
    addr: &MaybeUninit<libc::sockaddr_storage>,
    len: libc::socklen_t,
) -> Option<SocketAddr> {
    let len = len as usize;
    // SAFETY: recvmmsg filled in `len` bytes; each family's struct is read only when that
    // many bytes are there, and sockaddr_storage is aligned for all of them.
    unsafe {
        let storage = addr.as_ptr();
        match (*storage).ss_family as i32 {
            libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
                let a = &*storage.cast::<libc::sockaddr_in>();
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                    u16::from_be(a.sin_port),
                )))
            }
            libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
                let a = &*storage.cast::<libc::sockaddr_in6>();
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(a.sin6_addr.s6_addr),
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

/// The length of the address the kernel stored (by family).
fn socklen_of(addr: &MaybeUninit<libc::sockaddr_storage>) -> libc::socklen_t {
    // SAFETY: only reached for addresses recvmmsg filled in.
    let family = unsafe { addr.assume_init_ref() }.ss_family as i32;
    if family == libc::AF_INET6 {
        std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
    } else {
        std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
    }
}
