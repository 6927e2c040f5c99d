//! One AF_XDP socket (one interface queue) and the loop that serves it.
//!
//! xdpilone provides the socket, the UMEM registration and the four rings; this file owns
//! the memory behind the UMEM and the frame bookkeeping, which is kept deliberately simple:
//! the UMEM has exactly as many frames as each ring has slots, a received frame is turned
//! into its reply in place and sent from the same frame, and every frame that comes back
//! (transmitted, or dropped unanswered) goes straight back to the fill ring. So no ring can
//! ever be full when a frame is put on it, and no frame is ever copied or lost:
//!
//! ```text
//!   fill ring ──kernel──▶ rx ring ──answer in place──▶ tx ring ──kernel──▶ completion ring
//!       ▲                    │ (not answered)                                   │
//!       └────────────────────┴───────────────────────────────────────────────────┘
//! ```

use std::ffi::CString;
use std::io;
use std::num::NonZeroU32;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

use xdpilone::xdp::XdpDesc;
use xdpilone::{DeviceQueue, IfInfo, RingRx, RingTx, Socket, SocketConfig, Umem, UmemConfig};

use super::frame;
use crate::dns::udp::Answerer;

/// Frame (UMEM chunk) size: a full Ethernet frame plus the kernel's 256-byte headroom fits.
pub(crate) const FRAME_SIZE: u32 = 2048;
/// Frames per socket, and the size of each of its four rings (see the module comment).
/// 2048 × 2 KiB = 4 MiB of locked memory per queue.
pub(crate) const FRAMES: u32 = 2048;
/// Descriptors taken from the rx ring per round.
const BATCH: usize = 64;
/// How long an idle loop sleeps in poll() before it looks at the stop flag.
const IDLE_POLL_MS: i32 = 100;
/// How long it sleeps while frames are out for transmission (their completions refill the
/// fill ring, so they must be collected promptly).
const BUSY_POLL_MS: i32 = 1;

/// Anonymous, page-aligned memory for the UMEM; unmapped on drop.
struct Area {
    ptr: NonNull<u8>,
    len: usize,
}

impl Area {
    fn new(len: usize) -> io::Result<Self> {
        // SAFETY: an anonymous private mapping; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            ptr: NonNull::new(p.cast()).expect("mmap returned non-null"),
            len,
        })
    }

    fn as_slice_ptr(&self) -> NonNull<[u8]> {
        NonNull::slice_from_raw_parts(self.ptr, self.len)
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`; everything using it (the UMEM socket and its
        // rings) is dropped before this field (see `Xsk`'s field order).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// An AF_XDP socket bound to one queue of an interface, with its UMEM and rings.
///
/// Field order is drop order: the rings and the socket go before the memory they use.
pub(crate) struct Xsk {
    rx: RingRx,
    tx: RingTx,
    dev: DeviceQueue,
    _user: xdpilone::User,
    _umem: Umem,
    area: Area,
    pub(crate) zero_copy: bool,
    ifindex: u32,
}

/// Why a socket could not be opened: the step, and the OS error.
#[derive(Debug)]
pub(crate) struct OpenError {
    pub(crate) step: &'static str,
    pub(crate) errno: i32,
}

impl OpenError {
    fn at(step: &'static str) -> impl FnOnce(xdpilone::Errno) -> Self {
        move |e| OpenError {
            step,
            errno: e.get_raw().abs(),
        }
    }

    pub(crate) fn io(&self) -> io::Error {
        io::Error::from_raw_os_error(self.errno)
    }
}

impl Xsk {
    /// Opens a socket on `iface` queue `queue`: zero-copy if the driver supports it, else
    /// copy mode.
    pub(crate) fn open(iface: &str, queue: u32) -> Result<Self, OpenError> {
        match Self::open_mode(iface, queue, true) {
            Ok(x) => Ok(x),
            // Drivers without zero-copy support refuse the bind (EOPNOTSUPP, or EINVAL on
            // some): everything else is a real error, reported as it is.
            Err(e) if e.step == "bind" && matches!(e.errno, libc::EOPNOTSUPP | libc::EINVAL) => {
                Self::open_mode(iface, queue, false)
            }
            Err(e) => Err(e),
        }
    }

    fn open_mode(iface: &str, queue: u32, zero_copy: bool) -> Result<Self, OpenError> {
        let area = Area::new((FRAMES * FRAME_SIZE) as usize).map_err(|e| OpenError {
            step: "mmap",
            errno: e.raw_os_error().unwrap_or(libc::ENOMEM),
        })?;
        let config = UmemConfig {
            fill_size: FRAMES,
            complete_size: FRAMES,
            frame_size: FRAME_SIZE,
            headroom: 0,
            flags: 0,
        };
        // SAFETY: `area` is page-aligned, FRAMES × FRAME_SIZE long, and outlives the UMEM
        // (field order of `Xsk`).
        let umem =
            unsafe { Umem::new(config, area.as_slice_ptr()) }.map_err(OpenError::at("umem"))?;
        let name = CString::new(iface).map_err(|_| OpenError {
            step: "interface",
            errno: libc::EINVAL,
        })?;
        let mut info = IfInfo::invalid();
        info.from_name(&name).map_err(OpenError::at("interface"))?;
        info.set_queue(queue);
        let sock = Socket::with_shared(&info, &umem).map_err(OpenError::at("socket"))?;
        let dev = umem.fq_cq(&sock).map_err(OpenError::at("rings"))?;
        let mode = if zero_copy {
            SocketConfig::XDP_BIND_ZEROCOPY
        } else {
            SocketConfig::XDP_BIND_COPY
        };
        let ring = NonZeroU32::new(FRAMES);
        let user = umem
            .rx_tx(
                &sock,
                &SocketConfig {
                    rx_size: ring,
                    tx_size: ring,
                    bind_flags: SocketConfig::XDP_BIND_NEED_WAKEUP | mode,
                },
            )
            .map_err(OpenError::at("rings"))?;
        let rx = user.map_rx().map_err(OpenError::at("rings"))?;
        let tx = user.map_tx().map_err(OpenError::at("rings"))?;
        umem.bind(&user).map_err(OpenError::at("bind"))?;
        let ifindex = info.ifindex();
        Ok(Self {
            ifindex,
            rx,
            tx,
            dev,
            _user: user,
            _umem: umem,
            area,
            zero_copy,
        })
    }

    /// The socket's file descriptor, for the XDP program's socket map.
    pub(crate) fn fd(&self) -> i32 {
        self.rx.as_raw_fd()
    }

    /// Whether the interface the socket is bound to still exists.
    fn iface_exists(&self) -> bool {
        let mut name = [0 as libc::c_char; libc::IFNAMSIZ];
        // SAFETY: the buffer holds IFNAMSIZ bytes, as if_indextoname requires.
        !unsafe { libc::if_indextoname(self.ifindex, name.as_mut_ptr()) }.is_null()
    }

    /// The frame memory from `addr` to the end of its chunk.
    ///
    /// # Safety
    /// The chunk must be owned by user space (taken from the rx ring and not yet given back
    /// through the fill or tx ring), and no other reference to it may be live.
    unsafe fn chunk_from(&mut self, addr: u64) -> Option<&mut [u8]> {
        let start = usize::try_from(addr).ok()?;
        let end = (start / FRAME_SIZE as usize + 1) * FRAME_SIZE as usize;
        if end > self.area.len {
            return None;
        }
        // SAFETY: in bounds (checked), and owned by us (the caller's promise).
        Some(unsafe {
            std::slice::from_raw_parts_mut(self.area.ptr.as_ptr().add(start), end - start)
        })
    }
}

/// Counters kept by one queue's loop, reported when it stops.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct QueueStats {
    pub(crate) received: u64,
    pub(crate) answered: u64,
    /// Frames that were not a query geosteer can answer (see `frame::parse`).
    pub(crate) malformed: u64,
    /// The kernel's counters for the socket: frames it dropped (no room in the rx ring, no
    /// frame in the fill ring, other), and how often the fill ring was found empty.
    pub(crate) kernel_dropped: u64,
    pub(crate) rx_ring_full: u64,
    pub(crate) fill_ring_empty: u64,
}

/// Serves `xsk` until `stop` is set, answering with `answerer`. On stop, the queries already
/// in the rx ring are answered and their replies handed to the kernel before returning.
///
/// `name` ("eth0 queue 3") is for the one log line of a queue that ends on its own: when its
/// interface goes away (the rest of the server goes on; the program went with the
/// interface).
pub(crate) fn serve<A: Answerer>(
    xsk: &mut Xsk,
    answerer: &mut A,
    stop: &AtomicBool,
    name: &str,
) -> QueueStats {
    let mut stats = QueueStats::default();
    // Frames user space holds, to go to the fill ring: at the start, all of them.
    let mut free: Vec<u64> = (0..u64::from(FRAMES))
        .map(|i| i * u64::from(FRAME_SIZE))
        .collect();
    let mut descs = [XdpDesc::default(); BATCH];
    let mut replies: Vec<XdpDesc> = Vec::with_capacity(BATCH);
    let mut out: Vec<u8> = Vec::with_capacity(usize::from(crate::dns::MAX_UDP_PAYLOAD));
    // Frames on the tx ring or in the kernel's hands for transmission.
    let mut in_flight: u32 = 0;
    let mut stopping = false;
    let mut drain_rounds = 0;
    loop {
        // Transmitted frames come back.
        {
            let mut done = xsk.dev.complete(FRAMES);
            while let Some(addr) = done.read() {
                free.push(addr);
                in_flight = in_flight.saturating_sub(1);
            }
            done.release();
        }
        // Everything user space holds goes back to the kernel to receive into. The fill
        // ring has a slot for every frame, so it always takes them all (in more than one
        // reservation when xdpilone's cached view is short: see the tx ring below).
        if !free.is_empty() {
            while !free.is_empty() {
                let mut fill = xsk.dev.fill(free.len() as u32);
                let n = fill.insert(free.iter().copied()) as usize;
                fill.commit();
                drop(fill);
                if n == 0 {
                    break;
                }
                free.drain(..n);
            }
            if xsk.dev.needs_wakeup() {
                xsk.dev.wake();
            }
        }
        // Receive a batch.
        let n = {
            let mut rx = xsk.rx.receive(BATCH as u32);
            let mut n = 0;
            while let Some(d) = rx.read() {
                descs[n] = d;
                n += 1;
            }
            rx.release();
            n
        };
        replies.clear();
        for d in &descs[..n] {
            stats.received += 1;
            // SAFETY: the frame was just taken from the rx ring; only this reference to it
            // exists until it is put on the tx ring or back on the fill ring.
            let Some(chunk) = (unsafe { xsk.chunk_from(d.addr) }) else {
                continue; // outside the UMEM: impossible from the kernel; never reused
            };
            let len = (d.len as usize).min(chunk.len());
            let reply_len = match frame::parse(&chunk[..len]) {
                None => {
                    stats.malformed += 1;
                    None
                }
                // Not answered: a response, or no DNS header (as on the socket path).
                Some(q) if !answerer.answer(&chunk[q.payload()], q.src, &mut out) => None,
                Some(q) => frame::write_reply(chunk, &q, &out),
            };
            match reply_len {
                Some(l) => replies.push(XdpDesc {
                    addr: d.addr,
                    len: l as u32,
                    options: 0,
                }),
                None => free.push(d.addr),
            }
        }
        // The tx ring has a slot for every frame, so it takes them all; a reservation may
        // return fewer slots than are free (xdpilone serves it from its cached view of the
        // kernel's consumer and refreshes that only when it is empty), hence the loop.
        let mut queued = 0;
        while queued < replies.len() {
            let mut tx = xsk.tx.transmit((replies.len() - queued) as u32);
            let k = tx.insert(replies[queued..].iter().copied()) as usize;
            tx.commit();
            drop(tx);
            if k == 0 {
                // Cannot happen (see above); the frames go back to the fill ring unanswered
                // rather than be lost.
                free.extend(replies[queued..].iter().map(|d| d.addr));
                break;
            }
            queued += k;
        }
        stats.answered += queued as u64;
        in_flight += queued as u32;
        // Copy mode sends only when asked (sendto), up to a kernel budget per call; zero-copy
        // drivers need a wakeup only when they say so. Only while the tx ring holds frames
        // the kernel has not taken: a kick for an empty ring is a wasted system call.
        if xsk.tx.pending() > 0 && xsk.tx.needs_wakeup() {
            for _ in 0..8 {
                xsk.tx.wake();
                if xsk.tx.pending() == 0 {
                    break;
                }
            }
        }
        if stop.load(Ordering::Relaxed) {
            // One more round after the flag is seen, so what was received is answered; then
            // up to ~100 ms for the last replies to leave.
            if !stopping {
                stopping = true;
                continue;
            }
            if n == 0 {
                if in_flight == 0 || drain_rounds >= 10 {
                    break;
                }
                drain_rounds += 1;
                wait(xsk, 10);
            }
            continue;
        }
        if n == 0 {
            let ms = if in_flight > 0 {
                BUSY_POLL_MS
            } else {
                IDLE_POLL_MS
            };
            // Idle for a whole poll: a cheap look whether the interface is still there (the
            // socket itself reports nothing when it goes), never on the busy path.
            if wait(xsk, ms) == 0 && ms == IDLE_POLL_MS && !xsk.iface_exists() {
                tracing::error!(
                    "xdp: {name}: the interface is gone; this queue is no longer served"
                );
                break;
            }
        }
    }
    if let Ok(k) = xsk.dev.statistics_v2() {
        stats.kernel_dropped = k.rx_dropped;
        stats.rx_ring_full = k.rx_ring_full;
        stats.fill_ring_empty = k.rx_fill_ring_empty_descs;
    }
    stats
}

/// Sleeps until the socket has something to receive, at most `ms` milliseconds. In copy
/// mode poll() also sends what the tx ring holds. Returns poll's result.
fn wait(xsk: &Xsk, ms: i32) -> i32 {
    let mut p = libc::pollfd {
        fd: xsk.fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, ms) }
}
