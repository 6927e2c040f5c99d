//! The panic policy: a panic never leaves a socket or a task silently dead.
//!
//! - **Answering a query** (UDP, XDP or TCP): the panic is caught, the query is answered
//!   SERVFAIL, counted in `geosteer_panics_total{where="udp"|"tcp"}`, and the thread or
//!   connection goes on serving.
//! - **A TCP or HTTP connection** outside answering: the connection is closed and counted.
//! - **A health probe**: its result is a local error, which never counts against the origin
//!   (its state is kept), and the panic is counted (`where="probe"`).
//! - **A reload**: it fails like a bad configuration (the old one stays), counted
//!   (`where="reload"`).
//! - **Anywhere else** (a UDP or XDP thread's loop, an accept loop, the health scheduler,
//!   start-up): the process aborts after logging the panic, so that its supervisor (the
//!   systemd unit's `Restart=on-failure`) starts it afresh. Nothing is left half-running.
//!
//! Caught panics are logged at most once every [`LOG_EVERY`] (a panic an input can cause must
//! not become a log line per packet); the counters say how many. The hook that makes the
//! uncaught ones abort is installed by the binary ([`install_hook`]); without it (the library
//! in tests) panics behave as Rust's default.
//!
//! For the tests that show this policy, `GEOSTEER_TEST_PANIC` arms a panic on purpose
//! ([`inject`]): `query` (a query whose name starts with the label `panic`), `accept` (the
//! DNS TCP accept loop, at its first connection), `probe` (every health probe). It is read
//! once at start; unset, each injection point costs one relaxed atomic load.

use std::cell::Cell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// Where a panic is caught (the `where` label of `geosteer_panics_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// Answering a UDP (or XDP) query: answered SERVFAIL.
    Udp,
    /// A DNS TCP connection: the query answered SERVFAIL, or the connection closed.
    Tcp,
    /// An HTTP connection: closed.
    Http,
    /// A health probe: a local error, the origin's state kept.
    Probe,
    /// A reload: failed, the old configuration kept.
    Reload,
}

impl Site {
    /// Every site, in label order.
    pub const ALL: [Site; 5] = [Site::Udp, Site::Tcp, Site::Http, Site::Probe, Site::Reload];

    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Site::Udp => "udp",
            Site::Tcp => "tcp",
            Site::Http => "http",
            Site::Probe => "probe",
            Site::Reload => "reload",
        }
    }
}

static CAUGHT: [AtomicU64; Site::ALL.len()] = [const { AtomicU64::new(0) }; Site::ALL.len()];

/// Panics caught at `site` since start (process-wide).
pub fn caught(site: Site) -> u64 {
    CAUGHT[site as usize].load(Ordering::Relaxed)
}

thread_local! {
    /// How many [`catch`] scopes this thread is in: a panic inside one is caught.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Runs `f`; a panic in it is caught and counted at `site` (None).
pub fn catch<R>(site: Site, f: impl FnOnce() -> R) -> Option<R> {
    DEPTH.with(|d| d.set(d.get() + 1));
    let r = catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get() - 1));
    match r {
        Ok(r) => Some(r),
        Err(_) => {
            CAUGHT[site as usize].fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// A future whose panics are caught at `site` (it then ends with None).
pub fn catch_future<F: Future>(site: Site, fut: F) -> CatchFuture<F> {
    CatchFuture {
        site,
        fut: Box::pin(fut),
    }
}

/// See [`catch_future`].
pub struct CatchFuture<F> {
    site: Site,
    fut: Pin<Box<F>>,
}

impl<F: Future> Future for CatchFuture<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let site = self.site;
        match catch(site, || self.fut.as_mut().poll(cx)) {
            Some(Poll::Ready(v)) => Poll::Ready(Some(v)),
            Some(Poll::Pending) => Poll::Pending,
            None => Poll::Ready(None),
        }
    }
}

/// At most one log line about caught panics this often.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Installs the policy's hook: a panic inside [`catch`] is logged at most every
/// [`LOG_EVERY`]; any other is logged and aborts the process (see the module's doc).
pub fn install_hook() {
    let default = std::panic::take_hook();
    let last_log = AtomicU64::new(0);
    let start = std::time::Instant::now();
    std::panic::set_hook(Box::new(move |info| {
        if DEPTH.with(Cell::get) > 0 {
            let now = start.elapsed().as_secs() + 1;
            let last = last_log.load(Ordering::Relaxed);
            if (last == 0 || now >= last + LOG_EVERY.as_secs())
                && last_log
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                tracing::error!(
                    "caught a panic ({info}); the query or connection was given up, serving \
                     goes on (counted in geosteer_panics_total; logged at most every {} s)",
                    LOG_EVERY.as_secs()
                );
            }
            return;
        }
        default(info);
        tracing::error!("panic outside any caught scope: aborting so that the service restarts");
        // Give the log writer thread a moment to flush the line above.
        std::thread::sleep(Duration::from_millis(200));
        std::process::abort();
    }));
}

/// A panic the tests can arm (see the module's doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Inject {
    /// A query whose name starts with the label `panic`.
    Query = 1,
    /// The DNS TCP accept loop.
    Accept = 2,
    /// Every health probe.
    Probe = 3,
}

static ARMED: AtomicU8 = AtomicU8::new(0);

/// Reads `GEOSTEER_TEST_PANIC` (once, at start).
pub fn arm_from_env() {
    let armed = match std::env::var("GEOSTEER_TEST_PANIC").as_deref() {
        Ok("query") => Inject::Query as u8,
        Ok("accept") => Inject::Accept as u8,
        Ok("probe") => Inject::Probe as u8,
        _ => 0,
    };
    ARMED.store(armed, Ordering::Relaxed);
}

/// Arms `what` (None: nothing), as `GEOSTEER_TEST_PANIC` does; for in-process tests.
pub fn arm(what: Option<Inject>) {
    ARMED.store(what.map_or(0, |w| w as u8), Ordering::Relaxed);
}

/// Panics if the tests armed `what` (and `cond` holds).
#[inline]
pub fn inject(what: Inject, cond: impl FnOnce() -> bool) {
    if ARMED.load(Ordering::Relaxed) == what as u8 && cond() {
        panic!("injected panic ({what:?}) for a test");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_is_counted_and_the_caller_goes_on() {
        let before = caught(Site::Reload);
        assert_eq!(catch(Site::Reload, || 7), Some(7));
        assert_eq!(catch(Site::Reload, || -> u8 { panic!("boom") }), None);
        assert_eq!(caught(Site::Reload), before + 1);
        assert_eq!(DEPTH.with(Cell::get), 0);
    }

    #[test]
    fn a_future_that_panics_ends_with_none() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let before = caught(Site::Http);
        let r = rt.block_on(catch_future(Site::Http, async {
            tokio::task::yield_now().await;
            if before < u64::MAX {
                panic!("boom");
            }
            1
        }));
        assert_eq!(r, None);
        assert_eq!(rt.block_on(catch_future(Site::Http, async { 2 })), Some(2));
        assert_eq!(caught(Site::Http), before + 1);
    }
}
