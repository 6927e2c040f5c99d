//! UDP and TCP listeners.
//!
//! UDP: several `SO_REUSEPORT` sockets per address, each served by a thread of its own that
//! receives, answers and sends in batches (see `udp.rs`). Answering is pure computation, so a
//! task per packet (hickory's server model) would only add a spawn and a channel hop per
//! query. It also makes shutdown exact: a thread stops between batches, so every query it
//! received is answered.
//!
//! TCP: one task per connection, queries answered in order, an idle timeout (also bounding how
//! long a reply may wait for a client that does not read), and a cap on open connections so that
//! idle clients cannot exhaust file descriptors.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
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
    /// A TCP connection with no complete query for this long is closed, and so is one whose
    /// client does not take a reply for this long.
    pub tcp_idle_timeout: Duration,
    /// Open TCP connections beyond this are closed at once.
    pub tcp_max_connections: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 5353))],
            udp_sockets: std::thread::available_parallelism().map_or(1, |n| n.get()),
            tcp_idle_timeout: Duration::from_secs(10),
            tcp_max_connections: 512,
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
    let conn_limit = Arc::new(Semaphore::new(opts.tcp_max_connections));
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
            conn_limit.clone(),
            opts.tcp_idle_timeout,
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

async fn tcp_accept_loop(
    listener: TcpListener,
    responder: Arc<Responder>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    limit: Arc<Semaphore>,
    idle: Duration,
) {
    // One shard for all connections of this listener: TCP is the slow path.
    let shard = responder.metrics().shard();
    loop {
        let (stream, src) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    warn!("tcp accept: {e}");
                    // EMFILE and friends: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            debug!("tcp connection from {src} closed: connection limit reached");
            continue;
        };
        let responder = responder.clone();
        let shutdown = shutdown.clone();
        let shard = shard.clone();
        tracker.spawn(async move {
            let _permit = permit;
            if let Err(e) = tcp_conn(stream, src, &responder, &shard, &shutdown, idle).await {
                debug!("tcp {src}: {e}");
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
    idle: Duration,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    // Reads take whatever has arrived, so queries a client pipelines are answered from one
    // read and their replies leave in one write: two syscalls for a burst instead of three
    // per query.
    let mut inbuf: Vec<u8> = Vec::with_capacity(4096);
    let mut start = 0;
    let mut out = Vec::with_capacity(512);
    let mut replies = Vec::with_capacity(4096);
    loop {
        // Answer every complete query buffered.
        let mut close = false;
        while let Some(len) = inbuf
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
            if responder.respond_counted(query, src, Transport::Tcp, &mut out, Some(shard)) {
                replies.extend_from_slice(&(out.len() as u16).to_be_bytes());
                replies.extend_from_slice(&out);
            }
        }
        if !replies.is_empty() {
            // A client that stops reading must not hold the connection (and shutdown) forever.
            tokio::time::timeout(idle, stream.write_all(&replies))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "reply not taken"))??;
            replies.clear();
        }
        if close {
            return Ok(());
        }
        inbuf.drain(..start);
        start = 0;
        // Between queries: stop on shutdown or when idle too long. A query that has begun
        // is read and answered even during shutdown.
        let midway = !inbuf.is_empty();
        if inbuf.capacity() - inbuf.len() < 2048 {
            inbuf.reserve(4096);
        }
        let read = tokio::select! {
            biased;
            _ = shutdown.cancelled(), if !midway => return Ok(()),
            r = tokio::time::timeout(idle, stream.read_buf(&mut inbuf)) => r,
        };
        match read {
            Err(_) if midway => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "query not completed",
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
