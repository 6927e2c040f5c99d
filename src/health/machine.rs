//! The per-origin health state machine and the RTT average: pure functions of probe outcomes,
//! tested without sockets or clocks.
//!
//! - The first probe sets the state directly: up if it succeeded, down if not (gdnsd's
//!   synchronous first round, so a restart neither serves a dead origin nor fails everything
//!   over while counters fill).
//! - After that, an up origin goes down after `consecutive_down` failed probes in a row, and a
//!   down origin comes back after `consecutive_up` successful probes in a row (Cloudflare's
//!   hysteresis). A probe counts as failed only when all its attempts (`retries` + 1) failed;
//!   that is decided by the prober, so here one call is one probe.

/// Smoothing factor of the RTT average: each new sample weighs 30 %, so a change in latency
/// shows within a few probes without one slow probe swinging the choice of pool.
pub const RTT_ALPHA: f64 = 0.3;

/// The hysteresis thresholds of a monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Failed probes in a row that take an up origin down.
    pub consecutive_down: u32,
    /// Successful probes in a row that bring a down origin back.
    pub consecutive_up: u32,
}

/// What one probe changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The first probe: the initial state (up or down).
    Initial(bool),
    /// The origin went up (true) or down (false).
    Flipped(bool),
    /// Same state as before.
    None,
}

impl Change {
    /// Whether the query path's view must change at once.
    pub fn changes_state(self) -> bool {
        !matches!(self, Change::None)
    }
}

/// One origin's verdict and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Machine {
    /// None until the first probe has finished.
    pub up: Option<bool>,
    /// Successful probes in a row (reset by a failure).
    pub successes: u32,
    /// Failed probes in a row (reset by a success).
    pub failures: u32,
}

impl Machine {
    /// Applies one probe's outcome.
    pub fn record(&mut self, ok: bool, t: Thresholds) -> Change {
        if ok {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
        }
        match self.up {
            None => {
                self.up = Some(ok);
                Change::Initial(ok)
            }
            Some(false) if ok && self.successes >= t.consecutive_up => {
                self.up = Some(true);
                Change::Flipped(true)
            }
            Some(true) if !ok && self.failures >= t.consecutive_down => {
                self.up = Some(false);
                Change::Flipped(false)
            }
            Some(_) => Change::None,
        }
    }
}

/// Exponentially weighted moving average of successful probes' times, in milliseconds.
pub fn ewma(previous: Option<f64>, sample_ms: f64) -> f64 {
    match previous {
        None => sample_ms,
        Some(p) => p + RTT_ALPHA * (sample_ms - p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T22: Thresholds = Thresholds {
        consecutive_down: 2,
        consecutive_up: 2,
    };

    fn run(m: &mut Machine, t: Thresholds, outcomes: &[bool]) -> Vec<Change> {
        outcomes.iter().map(|&ok| m.record(ok, t)).collect()
    }

    #[test]
    fn first_probe_sets_state_directly() {
        let mut m = Machine::default();
        assert_eq!(m.record(true, T22), Change::Initial(true));
        assert_eq!(m.up, Some(true));

        let mut m = Machine::default();
        assert_eq!(m.record(false, T22), Change::Initial(false));
        assert_eq!(m.up, Some(false));
        assert!(Change::Initial(false).changes_state());
    }

    #[test]
    fn goes_down_after_consecutive_down_failures() {
        let mut m = Machine::default();
        m.record(true, T22);
        assert_eq!(
            run(&mut m, T22, &[false, false]),
            [Change::None, Change::Flipped(false)]
        );
        assert_eq!(m.up, Some(false));
        // Further failures do not flip again.
        assert_eq!(m.record(false, T22), Change::None);
    }

    #[test]
    fn a_success_between_failures_resets_the_count() {
        let mut m = Machine::default();
        m.record(true, T22);
        let changes = run(&mut m, T22, &[false, true, false, true, false]);
        assert!(changes.iter().all(|c| *c == Change::None), "{changes:?}");
        assert_eq!(m.up, Some(true));
    }

    #[test]
    fn comes_back_after_consecutive_up_successes() {
        let t = Thresholds {
            consecutive_down: 1,
            consecutive_up: 3,
        };
        let mut m = Machine::default();
        assert_eq!(m.record(false, t), Change::Initial(false));
        assert_eq!(
            run(&mut m, t, &[true, true, false, true, true, true]),
            [
                Change::None,
                Change::None,
                Change::None,
                Change::None,
                Change::None,
                Change::Flipped(true)
            ]
        );
        assert_eq!(m.up, Some(true));
        // consecutive_down = 1: the next failure takes it down at once.
        assert_eq!(m.record(false, t), Change::Flipped(false));
    }

    #[test]
    fn first_round_down_needs_consecutive_up_to_return() {
        // A restart with a dead origin: down at once, and back only after the full count.
        let mut m = Machine::default();
        assert_eq!(
            run(&mut m, T22, &[false, true, true]),
            [Change::Initial(false), Change::None, Change::Flipped(true)]
        );
    }

    #[test]
    fn counters_are_visible() {
        let mut m = Machine::default();
        run(&mut m, T22, &[true, true, true, false]);
        assert_eq!((m.successes, m.failures), (0, 1));
        run(&mut m, T22, &[true]);
        assert_eq!((m.successes, m.failures), (1, 0));
    }

    #[test]
    fn rtt_average() {
        assert_eq!(ewma(None, 10.0), 10.0);
        let x = ewma(Some(10.0), 20.0);
        assert!((x - 13.0).abs() < 1e-9);
        // Converges towards a new steady latency.
        let mut r = Some(80.0);
        for _ in 0..20 {
            r = Some(ewma(r, 5.0));
        }
        assert!(r.unwrap() < 6.0);
    }
}
