//! How late scheduled probes start: a lock-free log-scale histogram.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two: quantiles are exact to within 1/8 octave (about 9 %).
const SUB: u32 = 8;
/// Microseconds up to 2^40 (about 12 days) are bucketed; longer ones land in the last bucket.
const BUCKETS: usize = 41 * SUB as usize;

pub struct Lateness {
    counts: Box<[AtomicU64]>,
    total: AtomicU64,
    max_us: AtomicU64,
}

/// A summary of the probes started so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScheduleStats {
    /// Scheduled probes started (the first round is not scheduled, so not counted).
    pub probes: u64,
    /// Start time minus due time.
    pub p50: Duration,
    /// The 99th percentile of start time minus due time.
    pub p99: Duration,
    /// The latest start.
    pub max: Duration,
}

impl std::fmt::Display for ScheduleStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} probes started, lateness p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.probes,
            self.p50.as_secs_f64() * 1000.0,
            self.p99.as_secs_f64() * 1000.0,
            self.max.as_secs_f64() * 1000.0
        )
    }
}

fn bucket(us: u64) -> usize {
    if us < u64::from(SUB) {
        return us as usize;
    }
    let octave = 63 - us.leading_zeros(); // ≥ 3
    let shift = octave - SUB.trailing_zeros();
    let sub = ((us >> shift) as u32) - SUB; // 0..SUB
    (((octave - 2) * SUB + sub) as usize).min(BUCKETS - 1)
}

/// The largest value in a bucket (quantiles are reported as upper bounds).
fn upper(b: usize) -> u64 {
    let b = b as u32;
    if b < SUB {
        return u64::from(b);
    }
    let octave = b / SUB + 2;
    let sub = b % SUB;
    let shift = octave - SUB.trailing_zeros();
    ((u64::from(SUB + sub) + 1) << shift) - 1
}

impl Default for Lateness {
    fn default() -> Self {
        Self {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            total: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }
}

impl Lateness {
    pub fn record(&self, late: Duration) {
        let us = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket(us)].fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    pub fn summary(&self) -> ScheduleStats {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let max_us = self.max_us.load(Ordering::Relaxed);
        let quantile = |q: f64| {
            if total == 0 {
                return Duration::ZERO;
            }
            let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
            let mut seen = 0;
            for (b, &c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return Duration::from_micros(upper(b).min(max_us));
                }
            }
            Duration::from_micros(max_us)
        };
        ScheduleStats {
            probes: total,
            p50: quantile(0.50),
            p99: quantile(0.99),
            max: Duration::from_micros(max_us),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_tight() {
        let mut last = 0;
        for us in [0u64, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 123_456, 10_000_000] {
            let b = bucket(us);
            assert!(b >= last, "{us}");
            last = b;
            assert!(upper(b) >= us, "{us} above its bucket's bound {}", upper(b));
            assert!(
                upper(b) as f64 <= (us as f64 * 1.13).max(us as f64 + 1.0),
                "{us}: bound {}",
                upper(b)
            );
        }
    }

    #[test]
    fn quantiles() {
        let l = Lateness::default();
        for ms in 1..=100u64 {
            l.record(Duration::from_millis(ms));
        }
        let s = l.summary();
        assert_eq!(s.probes, 100);
        let p50 = s.p50.as_secs_f64() * 1000.0;
        let p99 = s.p99.as_secs_f64() * 1000.0;
        assert!((50.0..=55.0).contains(&p50), "{p50}");
        assert!((99.0..=100.0).contains(&p99), "{p99}");
        assert_eq!(s.max, Duration::from_millis(100));
    }
}
