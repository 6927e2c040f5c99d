//! Where the memory of a load and of reloads goes (issue 17): loads a zones directory and a
//! GeoIP database the way `geosteer serve` does, then reloads it with the same files and with
//! the database replaced, printing after every log line of the load the heap in use, the
//! highest it reached since the line before, and the process's RSS and peak RSS.
//!
//! ```sh
//! cargo run --release --example scale_mem -- ZONES_DIR GEOIP.mmdb [NEWDB_RELOADS]
//! ```
//!
//! The heap is counted by a global allocator that wraps the system's (glibc malloc): the
//! bytes asked for and not yet freed, whatever thread asked. The difference between RSS and
//! that count is what the allocator holds (free memory not given back, per-thread arenas) plus
//! code, stacks and the database's bytes when mapped.
//!
//! `bench/scale.sh --keep` leaves a zones directory and its database in its work directory.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tracing_subscriber::layer::SubscriberExt;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is passed to the system allocator unchanged; only counters are kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller's contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller's contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as the caller's contract.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as the caller's contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const MIB: f64 = 1024.0 * 1024.0;

fn status(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// Prints the memory line, and resets the peak since the last one.
fn mark(what: &str) {
    let live = LIVE.load(Ordering::Relaxed);
    let peak = PEAK.swap(live, Ordering::Relaxed);
    eprintln!(
        "[{:>6} ms] heap {:>6.1} MiB (peak since last {:>6.1}) | RSS {:>6.1} MiB (peak {:>6.1}) | {what}",
        START.get().map_or(0, |s| s.elapsed().as_millis()),
        live as f64 / MIB,
        peak as f64 / MIB,
        status("VmRSS:"),
        status("VmHWM:"),
    );
}

/// Marks every log event of the load.
struct Marks;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Marks {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        let mut text = m.0;
        text.truncate(150);
        mark(&text);
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(zones), Some(geoip)) = (args.next(), args.next()) else {
        eprintln!("usage: scale_mem ZONES_DIR GEOIP.mmdb [NEWDB_RELOADS, default 2]");
        std::process::exit(2)
    };
    let newdb: usize = args.next().map_or(2, |n| n.parse().expect("a number"));
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("debug"));
    let subscriber = tracing_subscriber::registry().with(filter).with(Marks);
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
    START.get_or_init(Instant::now);
    if std::env::var_os("SCALE_MEM_DEFAULT_MALLOC").is_none() {
        geosteer::load::tune_allocator();
    }

    // The database is replaced by renaming a copy over it: use a copy of the caller's.
    let dir = tempfile_dir();
    let db = dir.join("geo.mmdb");
    std::fs::copy(&geoip, &db).expect("copy the database");
    let src = geosteer::load::Sources::new(PathBuf::from(&zones), &db);

    mark("start");
    let t = Instant::now();
    let first = geosteer::load::load_to_serve(&src).unwrap_or_else(|e| panic!("{e:?}"));
    let mut current = Arc::new(first);
    mark(&format!(
        "loaded, ready to serve, in {} ms",
        t.elapsed().as_millis()
    ));

    let mut reload = |what: &str| {
        let t = Instant::now();
        let next = geosteer::load::reload(&src, &current)
            .map(geosteer::load::for_serving)
            .unwrap_or_else(|e| panic!("{e:?}"));
        mark(&format!(
            "reload ({what}) built in {} ms",
            t.elapsed().as_millis()
        ));
        current = Arc::new(next);
        geosteer::load::release_freed_memory();
        mark(&format!("reload ({what}) swapped, old dropped, trimmed"));
    };
    reload("same files");
    for _ in 0..newdb {
        let tmp = dir.join("geo.new");
        std::fs::copy(&db, &tmp).expect("copy the database");
        std::fs::rename(&tmp, &db).expect("rename over the database");
        reload("database replaced");
    }
    mark("done");
    drop(current);
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("geosteer-scale-mem.{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}
