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
            .respond_counted(query, src, Transport::Udp, out, Some(&self.shard))
    }
}

/// Serves `sock` until `stop` is set. Runs on its own thread.
pub(crate) fn serve(sock: std::net::UdpSocket, responder: Arc<Responder>, stop: Arc<AtomicBool>) {
    serve_with(sock, &mut counted(responder), &stop);
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
    let fd = sock.as_raw_fd();
    let mut recv_bufs = vec![[0u8; RECV_BUF]; BATCH];
    let mut addrs: Vec<MaybeUninit<libc::sockaddr_storage>> = vec![MaybeUninit::zeroed(); BATCH];
    let mut out: Vec<Vec<u8>> = (0..BATCH)
        .map(|_| Vec::with_capacity(MAX_UDP_PAYLOAD as usize))
        .collect();
    // Which received datagrams get an answer, in order.
    let mut answered: Vec<usize> = Vec::with_capacity(BATCH);

    while !stop.load(Ordering::Relaxed) {
        let n = match recv_batch(fd, &mut recv_bufs, &mut addrs) {
            Ok((n, lens, addr_lens)) => {
                answered.clear();
                for i in 0..n {
                    let Some(src) = to_socket_addr(&addrs[i], addr_lens[i]) else {
                        continue;
                    };
                    // Port 0 cannot be answered; unspecified addresses are spoofed or broken.
                    if src.port() == 0 || src.ip().is_unspecified() {
                        continue;
                    }
                    let len = lens[i].min(RECV_BUF);
                    if answerer.answer(&recv_bufs[i][..len], src, &mut out[i]) {
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
            send_batch(fd, &answered, &out, &mut addrs);
        }
    }
}

/// Receives up to `BATCH` datagrams, blocking for the first. Returns how many, with each
/// one's length and address length.
fn recv_batch(
    fd: i32,
    bufs: &mut [[u8; RECV_BUF]],
    addrs: &mut [MaybeUninit<libc::sockaddr_storage>],
) -> io::Result<(usize, [usize; BATCH], [libc::socklen_t; BATCH])> {
    let mut iovs: [MaybeUninit<libc::iovec>; BATCH] = [const { MaybeUninit::uninit() }; BATCH];
    let mut hdrs: [MaybeUninit<libc::mmsghdr>; BATCH] = [const { MaybeUninit::uninit() }; BATCH];
    for i in 0..BATCH {
        iovs[i].write(libc::iovec {
            iov_base: bufs[i].as_mut_ptr().cast(),
            iov_len: RECV_BUF,
        });
        // SAFETY: an all-zero mmsghdr is valid (null pointers, zero lengths); the fields set
        // below point at buffers that outlive the call.
        let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
        h.msg_hdr.msg_name = addrs[i].as_mut_ptr().cast();
        h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        h.msg_hdr.msg_iov = iovs[i].as_mut_ptr();
        h.msg_hdr.msg_iovlen = 1;
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
    }
    Ok((n, lens, addr_lens))
}

/// Sends the answers `which` (indices into `out` and `addrs`), retrying what a partial
/// `sendmmsg` left.
fn send_batch(
    fd: i32,
    which: &[usize],
    out: &[Vec<u8>],
    addrs: &mut [MaybeUninit<libc::sockaddr_storage>],
) {
    let mut iovs: [MaybeUninit<libc::iovec>; BATCH] = [const { MaybeUninit::uninit() }; BATCH];
    let mut hdrs: [MaybeUninit<libc::mmsghdr>; BATCH] = [const { MaybeUninit::uninit() }; BATCH];
    for (k, &i) in which.iter().enumerate() {
        iovs[k].write(libc::iovec {
            iov_base: out[i].as_ptr() as *mut libc::c_void,
            iov_len: out[i].len(),
        });
        // SAFETY: as in recv_batch.
        let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
        h.msg_hdr.msg_name = addrs[i].as_mut_ptr().cast();
        h.msg_hdr.msg_namelen = socklen_of(&addrs[i]);
        h.msg_hdr.msg_iov = iovs[k].as_mut_ptr();
        h.msg_hdr.msg_iovlen = 1;
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
                0,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // One bad destination must not hold back the rest: skip it.
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
