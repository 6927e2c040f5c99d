//! UDP and TCP listeners.
//!
//! UDP: several `SO_REUSEPORT` sockets per address, each served by a thread of its own that
//! receives, answers and sends in batches (see `udp.rs`). Answering is pure computation, so a
//! task per packet (hickory's server model) would only add a spawn and a channel hop per
//! query. It also makes shutdown exact: a thread stops between batches, so every query it
//! received is answered.
//!
//! TCP: one task per connection, queries answered in order, with every resource a client can
//! hold bounded (see [`ServerOptions`]): connections in all and per client address (at the cap,
//! the connection idle the longest makes room for a new one, so idle clients cannot lock
//! others out), the time between queries, the time a query may take to arrive once it has
//! begun (not reset by each byte: a client that trickles a byte at a time is closed), the
//! replies waiting for a client that does not read (no more queries are read until they are
//! taken), and the buffers, which shrink back after a large message.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use super::{Responder, Transport};
use crate::metrics::Shard;

/// What `start` listens on, and its limits.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Addresses to answer on, UDP and TCP each.
    pub listen: Vec<SocketAddr>,
    /// UDP sockets (and serving tasks) per listen address.
    pub udp_sockets: usize,
    /// A TCP connection that starts no query for this long is closed, and so is one whose
    /// client does not take its replies for this long.
    pub tcp_idle_timeout: Duration,
    /// A query that has begun (its first byte arrived) must be complete within this; the
    /// connection is closed otherwise.
    pub tcp_query_timeout: Duration,
    /// Open TCP connections in all, over every listen address. At the cap, the connection
    /// idle the longest is closed to make room; if none is idle, the new one is.
    pub tcp_max_connections: usize,
    /// Open TCP connections per client address (per /64 for IPv6); more are closed at once.
    pub tcp_max_per_client: usize,
}

/// Default `--tcp-idle-timeout` (as Knot's tcp-idle-timeout).
pub const DEFAULT_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `--tcp-query-timeout`: time for a whole query once it has begun.
pub const DEFAULT_TCP_QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// Default `--tcp-max-connections`.
pub const DEFAULT_TCP_MAX_CONNECTIONS: usize = 1024;
/// Default `--tcp-max-per-client`.
pub const DEFAULT_TCP_MAX_PER_CLIENT: usize = 64;
/// Replies a connection may have waiting for its client: once this much is pending, no more
/// of its queries are answered (nor read) until the client takes them. One reply can be
/// 64 KiB, so a connection holds at most about twice this.
pub const TCP_MAX_PENDING_REPLIES: usize = 64 * 1024;
/// Buffers are shrunk back to this after a large message.
const TCP_BUFFER: usize = 4096;

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 5353))],
            udp_sockets: std::thread::available_parallelism().map_or(1, |n| n.get()),
            tcp_idle_timeout: DEFAULT_TCP_IDLE_TIMEOUT,
            tcp_query_timeout: DEFAULT_TCP_QUERY_TIMEOUT,
            tcp_max_connections: DEFAULT_TCP_MAX_CONNECTIONS,
            tcp_max_per_client: DEFAULT_TCP_MAX_PER_CLIENT,
        }
    }
}

/// Listeners that are up; [`Running::shutdown`] stops them.
pub struct Running {
    /// The bound addresses (UDP and TCP share each), with any port 0 resolved.
    pub local_addrs: Vec<SocketAddr>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    udp_stop: Arc<AtomicBool>,
    udp_threads: Vec<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets every query already received be answered, and returns when all
    /// listener and connection tasks have finished.
    pub async fn shutdown(self) {
        self.udp_stop.store(true, Ordering::Relaxed);
        self.shutdown.cancel();
        self.tracker.close();
        let threads = self.udp_threads;
        // The UDP threads answer what they have received, then notice the flag.
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
        self.tracker.wait().await;
    }
}

/// Binds every listen address (UDP and TCP) and starts serving on the current tokio runtime.
pub async fn start(opts: &ServerOptions, responder: Arc<Responder>) -> io::Result<Running> {
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let mut local_addrs = Vec::new();
    let conns = Arc::new(Connections::new(opts));
    let udp_stop = Arc::new(AtomicBool::new(false));
    let mut udp_threads = Vec::new();
    for &addr in &opts.listen {
        let (udp, tcp) = bind_pair(addr, opts.udp_sockets.max(1))?;
        let local = tcp.local_addr()?;
        local_addrs.push(local);
        for (i, sock) in udp.into_iter().enumerate() {
            let (responder, stop) = (responder.clone(), udp_stop.clone());
            udp_threads.push(
                std::thread::Builder::new()
                    .name(format!("udp-{local}-{i}"))
                    .spawn(move || super::udp::serve(sock, responder, stop))?,
            );
        }
        let listener = TcpListener::from_std(tcp)?;
        tracker.spawn(tcp_accept_loop(
            listener,
            responder.clone(),
            shutdown.clone(),
            tracker.clone(),
            conns.clone(),
        ));
    }
    Ok(Running {
        local_addrs,
        shutdown,
        tracker,
        udp_stop,
        udp_threads,
    })
}

/// Binds `count` UDP sockets and one TCP listener on the same address and port.
///
/// The TCP listener is bound without `SO_REUSEPORT`: if another server already holds the port,
/// that bind fails, instead of the UDP sockets silently sharing its traffic.
fn bind_pair(
    addr: SocketAddr,
    count: usize,
) -> io::Result<(Vec<std::net::UdpSocket>, std::net::TcpListener)> {
    if addr.port() != 0 {
        let tcp = bind_tcp(addr)?;
        let udp = (0..count)
            .map(|_| bind_udp(addr))
            .collect::<io::Result<Vec<_>>>()?;
        return Ok((udp, tcp));
    }
    // Port 0: let the kernel pick for UDP, then claim the same port for TCP (retrying when
    // that port happens to be taken for TCP).
    let mut last_err = None;
    for _ in 0..20 {
        let first = bind_udp(addr)?;
        let chosen = first.local_addr()?;
        match bind_tcp(chosen) {
            Ok(tcp) => {
                let mut udp = vec![first];
                for _ in 1..count {
                    udp.push(bind_udp(chosen)?);
                }
                return Ok((udp, tcp));
            }
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no free port")))
}

fn new_socket(addr: SocketAddr, ty: Type, proto: SockProtocol) -> io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    if addr.is_ipv6() {
        // Keep [::] from claiming the IPv4 port too, so 0.0.0.0 can be listed beside it.
        sock.set_only_v6(true)?;
    }
    sock.set_nonblocking(true)?;
    Ok(sock)
}

fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let sock = new_socket(addr, Type::DGRAM, SockProtocol::UDP)?;
    sock.set_reuse_port(true)?;
    // A deeper receive queue absorbs bursts; the kernel caps it at net.core.rmem_max.
    let _ = sock.set_recv_buffer_size(4 << 20);
    sock.bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("udp {addr}: {e}")))?;
    Ok(sock.into())
}

fn bind_tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let sock = new_socket(addr, Type::STREAM, SockProtocol::TCP)?;
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("tcp {addr}: {e}")))?;
    sock.listen(1024)?;
    Ok(sock.into())
}

/// The open TCP connections, for the limits: how many there are in all and per client, and
/// which is idle the longest (to be closed when a new one needs its place).
struct Connections {
    max_total: usize,
    max_per_client: usize,
    idle_timeout: Duration,
    query_timeout: Duration,
    table: Mutex<ConnTable>,
}

#[derive(Default)]
struct ConnTable {
    next_id: u64,
    /// id → (client key, idle since (None: a query is under way), how to close it).
    open: HashMap<u64, (IpAddr, Option<Instant>, Arc<Notify>)>,
    per_client: HashMap<IpAddr, usize>,
}

/// One connection's place in [`Connections`]; leaving it frees the place.
struct Slot {
    conns: Arc<Connections>,
    id: u64,
    /// Notified when the connection must close to make room for another.
    evicted: Arc<Notify>,
}

/// The key a client's connections are counted under: its address, or its /64 for IPv6 (one
/// host has a whole /64).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(a) & !((1u128 << 64) - 1))),
        },
        v4 => v4,
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// Every place is taken by a connection with a query under way.
    Total,
    /// This client has its share.
    PerClient,
}

impl Connections {
    fn new(opts: &ServerOptions) -> Self {
        Self {
            max_total: opts.tcp_max_connections.max(1),
            max_per_client: opts.tcp_max_per_client.max(1),
            idle_timeout: opts.tcp_idle_timeout,
            query_timeout: opts.tcp_query_timeout,
            table: Mutex::new(ConnTable::default()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, ConnTable> {
        // Nothing panics while holding it; a poisoned lock still holds a consistent table.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for a connection from `client`, closing the connection idle the longest when
    /// every place is taken.
    fn admit(self: &Arc<Self>, client: IpAddr) -> Result<Slot, Refused> {
        let key = client_key(client);
        let mut t = self.table();
        if t.per_client.get(&key).copied().unwrap_or(0) >= self.max_per_client {
            return Err(Refused::PerClient);
        }
        if t.open.len() >= self.max_total && !t.evict_oldest_idle() {
            return Err(Refused::Total);
        }
        let id = t.next_id;
        t.next_id += 1;
        let evicted = Arc::new(Notify::new());
        t.open
            .insert(id, (key, Some(Instant::now()), evicted.clone()));
        *t.per_client.entry(key).or_default() += 1;
        Ok(Slot {
            conns: self.clone(),
            id,
            evicted,
        })
    }
}

impl ConnTable {
    /// Closes (and forgets) the connection idle the longest; false when none is idle.
    fn evict_oldest_idle(&mut self) -> bool {
        let Some((&id, _)) = self
            .open
            .iter()
            .filter_map(|(id, (_, idle, _))| idle.map(|since| (id, since)))
            .min_by_key(|&(_, since)| since)
        else {
            return false;
        };
        if let Some((key, _, notify)) = self.open.remove(&id) {
            self.forget_client(key);
            notify.notify_one();
        }
        true
    }

    fn forget_client(&mut self, key: IpAddr) {
        if let Some(n) = self.per_client.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.per_client.remove(&key);
            }
        }
    }
}

impl Slot {
    /// Marks the connection idle (waiting for a query: it may be closed to make room) or
    /// busy (a query under way).
    fn set_idle(&self, idle: bool) {
        if let Some(e) = self.conns.table().open.get_mut(&self.id) {
            e.1 = idle.then(Instant::now);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut t = self.conns.table();
        if let Some((key, _, _)) = t.open.remove(&self.id) {
            t.forget_client(key);
        }
    }
}

/// Seconds between log lines about accept errors (they are counted in the metrics).
const ACCEPT_ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

async fn tcp_accept_loop(
    listener: TcpListener,
    responder: Arc<Responder>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    conns: Arc<Connections>,
) {
    // One shard for all connections of this listener: TCP is the slow path.
    let shard = responder.metrics().shard();
    let events = &responder.metrics().events;
    let mut last_error_log: Option<Instant> = None;
    loop {
        let (stream, src) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    events.accept_errors.fetch_add(1, Ordering::Relaxed);
                    if last_error_log.is_none_or(|t| t.elapsed() >= ACCEPT_ERROR_LOG_EVERY) {
                        last_error_log = Some(Instant::now());
                        warn!(
                            "tcp accept: {e} (counted in geosteer_accept_errors_total; \
                             logged at most every {ACCEPT_ERROR_LOG_EVERY:?})"
                        );
                    }
                    // Out of file descriptors: an idle connection gives one back. Either
                    // way, back off instead of spinning.
                    if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                        conns.table().evict_oldest_idle();
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let slot = match conns.admit(src.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                let i = match why {
                    Refused::Total => 0,
                    Refused::PerClient => 1,
                };
                events.tcp_rejected[i].fetch_add(1, Ordering::Relaxed);
                // Dropping the stream closes it.
                continue;
            }
        };
        let responder = responder.clone();
        let shutdown = shutdown.clone();
        let shard = shard.clone();
        crate::panics::inject(crate::panics::Inject::Accept, || true);
        tracker.spawn(async move {
            // A panic in the connection closes it (and is counted): see crate::panics.
            let conn = crate::panics::catch_future(
                crate::panics::Site::Tcp,
                tcp_conn(stream, src, &responder, &shard, &shutdown, &slot),
            );
            match conn.await.unwrap_or(Ok(())) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    responder
                        .metrics()
                        .events
                        .tcp_timeouts
                        .fetch_add(1, Ordering::Relaxed);
                    debug!("tcp {src}: {e}");
                }
                Err(e) => debug!("tcp {src}: {e}"),
            }
        });
    }
}

async fn tcp_conn(
    mut stream: TcpStream,
    src: SocketAddr,
    responder: &Responder,
    shard: &Shard,
    shutdown: &CancellationToken,
    slot: &Slot,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let limits = &slot.conns;
    // Reads take whatever has arrived, so queries a client pipelines are answered from one
    // read and their replies leave in one write: two syscalls for a burst instead of three
    // per query.
    let mut inbuf: Vec<u8> = Vec::with_capacity(TCP_BUFFER);
    let mut start = 0;
    let mut out = Vec::with_capacity(512);
    let mut replies = Vec::with_capacity(TCP_BUFFER);
    // When the query now arriving began (None: between queries, since `idle_since`).
    let mut query_began: Option<tokio::time::Instant> = None;
    let mut idle_since = tokio::time::Instant::now();
    loop {
        let mut took_any = false;
        let mut close = false;
        // Answer the complete queries buffered, until the replies waiting reach the cap.
        while replies.len() < TCP_MAX_PENDING_REPLIES
            && let Some(len) = inbuf
                .get(start..start + 2)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                .filter(|&len| inbuf.len() >= start + 2 + len)
        {
            if len == 0 {
                // A zero-length message is no DNS message and the stream cannot be trusted
                // after it: close, as NSD and Knot do, once what came before is answered.
                close = true;
                break;
            }
            let query = &inbuf[start + 2..start + 2 + len];
            start += 2 + len;
            took_any = true;
            if responder.respond_caught(query, src, Transport::Tcp, &mut out, Some(shard)) {
                replies.extend_from_slice(&(out.len() as u16).to_be_bytes());
                replies.extend_from_slice(&out);
            }
        }
        if !replies.is_empty() {
            // A client that stops reading must not hold the connection (and shutdown) forever.
            tokio::time::timeout(limits.idle_timeout, stream.write_all(&replies))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "replies not taken"))??;
            replies.clear();
            if replies.capacity() > 4 * TCP_BUFFER {
                replies.shrink_to(TCP_BUFFER);
            }
        }
        if close {
            return Ok(());
        }
        inbuf.drain(..start);
        start = 0;
        if inbuf.len() >= 2 {
            let want = 2 + usize::from(u16::from_be_bytes([inbuf[0], inbuf[1]]));
            if inbuf.len() >= want {
                // More complete queries are buffered (held back by the reply cap).
                continue;
            }
        }
        if inbuf.capacity() > 4 * TCP_BUFFER && inbuf.len() <= TCP_BUFFER {
            inbuf.shrink_to(TCP_BUFFER);
        }
        // Between queries: stop on shutdown, when idle too long, or when evicted to make
        // room. A query that has begun is read and answered even during shutdown, within
        // its own deadline.
        let midway = !inbuf.is_empty();
        let now = tokio::time::Instant::now();
        let was_busy = query_began.is_some();
        if took_any {
            // A query was answered: the idle time (and a new query's time) count from now.
            query_began = None;
            idle_since = now;
        }
        if midway && query_began.is_none() {
            query_began = Some(now);
        } else if !midway {
            query_began = None;
        }
        if took_any || was_busy != query_began.is_some() {
            slot.set_idle(query_began.is_none());
        }
        let deadline = match query_began {
            Some(t) => t + limits.query_timeout,
            None => idle_since + limits.idle_timeout,
        };
        if inbuf.capacity() - inbuf.len() < 2048 {
            inbuf.reserve(TCP_BUFFER);
        }
        let read = tokio::select! {
            biased;
            _ = shutdown.cancelled(), if !midway => return Ok(()),
            _ = slot.evicted.notified(), if !midway => return Ok(()),
            r = tokio::time::timeout_at(deadline, stream.read_buf(&mut inbuf)) => r,
        };
        match read {
            Err(_) if midway => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "query not completed in time",
                ));
            }
            Err(_) => return Ok(()),
            Ok(Ok(0)) if midway => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "query cut short",
                ));
            }
            Ok(Ok(0)) => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
    }
}
