//! The floor under any UDP answer: geosteer's own receive/send loop (`dns::udp::serve_with`,
//! `recvmmsg`/`sendmmsg` in batches) with an answerer that does no DNS work. It echoes each
//! query back with QR set and the answer count zero, so a load generator counts a NOERROR
//! response of the query's own size.
//!
//! What it measures: the QPS per core that the socket loop and the kernel allow, before
//! parsing, GeoIP and answer writing. `bench/run.sh --servers geosteer,gdnsd,udp-floor` runs
//! it round-robin with the others; its UDP rows are the ceiling for any server that sends
//! one datagram per answer on this machine.
//!
//! `udp_floor ADDR` — ADDR must be a loopback address (e.g. 127.0.0.1:15309). Stops on
//! SIGINT/SIGTERM (default action) — it holds nothing that needs a clean exit.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::AtomicBool;

use geosteer::dns::udp::{Answerer, serve_with};

struct Echo;

impl Answerer for Echo {
    #[inline]
    fn answer(&mut self, query: &[u8], _src: SocketAddr, out: &mut Vec<u8>) -> bool {
        if query.len() < 12 || query[2] & 0x80 != 0 {
            return false;
        }
        out.clear();
        out.extend_from_slice(query);
        // QR=1, AA=1, keep opcode and RD; RCODE 0.
        out[2] = (query[2] & 0x79) | 0x84;
        out[3] = 0;
        true
    }
}

fn main() {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| {
            eprintln!("usage: udp_floor ADDR   (a loopback ip:port)");
            std::process::exit(2)
        })
        .parse()
        .unwrap_or_else(|e| {
            eprintln!("udp_floor: ADDR: {e}");
            std::process::exit(2)
        });
    if !addr.ip().is_loopback() {
        eprintln!("udp_floor: {addr} is not a loopback address");
        std::process::exit(2);
    }
    let sock = UdpSocket::bind(addr).unwrap_or_else(|e| {
        eprintln!("udp_floor: bind {addr}: {e}");
        std::process::exit(1)
    });
    eprintln!(
        "udp_floor listening on {}",
        sock.local_addr().expect("bound")
    );
    serve_with(sock, &mut Echo, &AtomicBool::new(false));
}
