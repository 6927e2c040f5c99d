//! A bounded UDP load generator for benchmarks: sends A queries for one name to one server
//! (which must be on this machine) with a fixed number outstanding per socket, and prints
//! the answers received per second.
//!
//! `udp_load SERVER NAME [SECONDS] [SOCKETS] [WINDOW]` — stops after SECONDS (default 10,
//! at most 120) or 50 million queries, whichever comes first.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

const MAX_QUERIES: u64 = 50_000_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: udp_load SERVER NAME [SECONDS] [SOCKETS] [WINDOW]");
        std::process::exit(2);
    }
    let server: SocketAddr = args[1].parse().expect("SERVER is ip:port");
    assert!(
        server.ip().is_loopback(),
        "load is only ever sent to this machine (loopback)"
    );
    let name = Name::from_ascii(&args[2]).expect("NAME is a domain name");
    let seconds: u64 = args.get(3).map_or(10, |s| s.parse().expect("SECONDS"));
    let sockets: usize = args.get(4).map_or(2, |s| s.parse().expect("SOCKETS"));
    let window: usize = args.get(5).map_or(32, |s| s.parse().expect("WINDOW"));
    let duration = Duration::from_secs(seconds.clamp(1, 120));

    let mut msg = Message::new(0, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(name, RecordType::A));
    let query = Arc::new(msg.to_vec().expect("query encodes"));

    let sent = Arc::new(AtomicU64::new(0));
    let received = Arc::new(AtomicU64::new(0));
    let stalls = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..sockets.max(1))
        .map(|t| {
            let (query, sent, received, stalls) = (
                query.clone(),
                sent.clone(),
                received.clone(),
                stalls.clone(),
            );
            std::thread::spawn(move || {
                let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
                sock.connect(server).expect("connect");
                sock.set_read_timeout(Some(Duration::from_millis(50)))
                    .expect("timeout");
                let mut q = query.to_vec();
                let mut id: u16 = (t as u16).wrapping_mul(7919);
                let mut send = |q: &mut Vec<u8>| {
                    id = id.wrapping_add(1);
                    q[..2].copy_from_slice(&id.to_be_bytes());
                    if sent.fetch_add(1, Ordering::Relaxed) < MAX_QUERIES {
                        let _ = sock.send(q);
                        true
                    } else {
                        false
                    }
                };
                for _ in 0..window {
                    send(&mut q);
                }
                let mut buf = [0u8; 1500];
                while start.elapsed() < duration {
                    match sock.recv(&mut buf) {
                        Ok(_) => {
                            received.fetch_add(1, Ordering::Relaxed);
                            if !send(&mut q) {
                                break;
                            }
                        }
                        // Lost queries: refill the window.
                        Err(_) => {
                            stalls.fetch_add(1, Ordering::Relaxed);
                            for _ in 0..window {
                                send(&mut q);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("load thread");
    }
    let secs = start.elapsed().as_secs_f64();
    let got = received.load(Ordering::Relaxed);
    println!(
        "udp_load: {got} answers in {secs:.1} s = {:.0} qps ({} sockets, window {window}, \
         {} stalls of 50 ms refilling a window)",
        got as f64 / secs,
        sockets.max(1),
        stalls.load(Ordering::Relaxed)
    );
}
