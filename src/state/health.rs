//! What is known of each origin: the view the query path steers by, and what the probes
//! found, for the status API, metrics and `explain`. Health monitoring writes both; everyone
//! else reads them through a published [`super::State`].

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use hickory_proto::rr::Name;

use crate::config::{OriginId, SteeringConfig};

/// What health monitoring knows, indexed like the configuration's origins and pools.
#[derive(Debug, Clone, Default)]
pub struct HealthView {
    /// By origin id.
    pub origins: Vec<OriginHealth>,
    /// By pool id.
    pub pools: Vec<PoolHealth>,
    /// With peers (`serve --peer`): what the fleet's observations were folded with, and the
    /// RTTs each instance measured. `None` for an instance on its own.
    pub fleet: Option<std::sync::Arc<FleetView>>,
}

/// The fleet as one published health view saw it: its instances, whether this one is cut
/// off, and every instance's RTT per origin. Made off the query path ([`crate::fleet`]).
#[derive(Debug, Clone, Default)]
pub struct FleetView {
    /// Every instance, this one first.
    pub members: Vec<Member>,
    /// Peers are configured but none has reported within 3 poll intervals: every origin is
    /// judged by this instance's own probes.
    pub isolated: bool,
    /// `--quorum` (`None`: a majority of the instances reporting).
    pub quorum: Option<u32>,
    /// By instance (as `members`), by origin id: that instance's smoothed RTT, when fresh.
    pub rtt: Vec<Vec<Option<f64>>>,
    /// By Cloudflare region ([`crate::geo::countries::REGIONS`] index; the last slot for an
    /// unknown region): the instance nearest to it that reports, whose RTTs steer `dynamic`
    /// load balancers for its clients.
    pub region_instance: [u8; crate::geo::countries::REGION_SLOTS],
    /// `region_instance` names more than one instance: `dynamic` answers depend on the
    /// client's region (and the ECS scope says so).
    pub by_region: bool,
    /// By origin id: (instances that see it down, instances reporting on it); (0, 0) for
    /// origins without a monitor.
    pub votes: Vec<(u16, u16)>,
}

/// One instance of the fleet.
#[derive(Debug, Clone, Default)]
pub struct Member {
    /// Its `--instance` name (a peer's as it reported it; its URL until it has).
    pub name: String,
    /// Its `--peer` URL (`None` for this instance).
    pub url: Option<String>,
    /// Its `--location` (latitude, longitude), if it has one.
    pub location: Option<(f64, f64)>,
    /// Reported within the last 3 poll intervals (this instance always).
    pub reporting: bool,
    /// When it last answered, in Unix milliseconds.
    pub last_ok_ms: Option<u64>,
    /// Why its last poll failed, if it did.
    pub error: Option<String>,
    /// Polls that failed since start.
    pub failures: u64,
}

/// One origin's health, as steering uses it.
#[derive(Debug, Clone, Default)]
pub struct OriginHealth {
    /// The monitor's verdict (always true without a monitor).
    pub up: bool,
    /// Taken out of service by an operator (drain), whatever its health.
    pub drained: bool,
    /// Smoothed probe round-trip time.
    pub rtt_ms: Option<f64>,
    /// This instance's own verdict (`up` is the fleet's when there are peers).
    pub local_up: bool,
    /// The last load reading of its monitor's load signal, if it has one and the last
    /// passing probe carried a number.
    pub load: Option<f64>,
}

/// One pool's health, as steering uses it.
#[derive(Debug, Clone, Default)]
pub struct PoolHealth {
    /// Taken out of service by an operator (drain).
    pub drained: bool,
}

impl HealthView {
    /// Every origin up: the view before any monitor has reported, and without monitors.
    pub fn all_up(cfg: &SteeringConfig) -> Self {
        Self {
            origins: vec![
                OriginHealth {
                    up: true,
                    drained: false,
                    rtt_ms: None,
                    local_up: true,
                    load: None,
                };
                cfg.origins.len()
            ],
            pools: vec![PoolHealth::default(); cfg.pools.len()],
            fleet: None,
        }
    }

    /// The health of origin `id`, if the view has it.
    pub fn origin(&self, id: OriginId) -> Option<&OriginHealth> {
        self.origins.get(id as usize)
    }
}

/// A probe that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Success {
    /// TCP: the connection was established.
    Connected,
    /// HTTP: an expected status (and body, if one is expected).
    Status(u16),
    /// HTTP: an expected status, and the monitor's load signal read from the response.
    Loaded(u16, Load),
}

/// A load reading. Compared by bit pattern, so that [`Success`] stays `Eq`.
#[derive(Debug, Clone, Copy)]
pub struct Load(pub f64);

impl PartialEq for Load {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Load {}

impl Success {
    /// The load reading, if the probe read one.
    pub fn load(&self) -> Option<f64> {
        match self {
            Success::Loaded(_, l) => Some(l.0),
            _ => None,
        }
    }
}

/// Why a probe failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The origin refused the connection (nothing listening).
    Refused,
    /// No verdict within the monitor's timeout.
    Timeout,
    /// The connection was reset or closed before a response.
    Reset,
    /// An HTTP status outside `expected_codes`.
    Status(u16),
    /// `expected_body` was not in the first 64 KiB of the response.
    BodyMismatch,
    /// The TLS handshake or certificate check failed.
    Tls(String),
    /// Any other connection or protocol error.
    Error(String),
    /// The monitor cannot be probed as configured (e.g. an invalid header).
    Config(String),
    /// This host could not make the probe (out of file descriptors or memory, the probe
    /// panicked): it says nothing about the origin, whose state is kept.
    Local(String),
}

impl Failure {
    /// Every reason class, for metrics labels.
    pub const REASONS: [&'static str; 9] = [
        "refused",
        "timeout",
        "reset",
        "status",
        "body_mismatch",
        "tls",
        "error",
        "config",
        "local",
    ];

    /// The reason class, an index into [`Failure::REASONS`].
    pub fn reason_index(&self) -> usize {
        match self {
            Failure::Refused => 0,
            Failure::Timeout => 1,
            Failure::Reset => 2,
            Failure::Status(_) => 3,
            Failure::BodyMismatch => 4,
            Failure::Tls(_) => 5,
            Failure::Error(_) => 6,
            Failure::Config(_) => 7,
            Failure::Local(_) => 8,
        }
    }
}

impl std::fmt::Display for Success {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Success::Connected => f.write_str("connected"),
            Success::Status(c) => write!(f, "status {c}"),
            Success::Loaded(c, l) => write!(f, "status {c}, load {}", l.0),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused => f.write_str("refused"),
            Failure::Timeout => f.write_str("timeout"),
            Failure::Reset => f.write_str("connection reset"),
            Failure::Status(c) => write!(f, "status {c}"),
            Failure::BodyMismatch => f.write_str("body mismatch"),
            Failure::Tls(e) => write!(f, "TLS error: {e}"),
            Failure::Error(e) => f.write_str(e),
            Failure::Config(e) => write!(f, "cannot probe: {e}"),
            Failure::Local(e) => write!(f, "local error, origin state kept: {e}"),
        }
    }
}

/// The outcome of one probe (all its attempts).
#[derive(Debug, Clone)]
pub struct ProbeResult {
    /// When the probe finished.
    pub at: SystemTime,
    /// Attempts made (1 + re-tries used).
    pub attempts: u32,
    /// How long the deciding (last) attempt took: the RTT sample when it succeeded.
    pub time: Duration,
    /// What the deciding attempt found.
    pub outcome: Result<Success, Failure>,
}

impl ProbeResult {
    /// Whether the probe passed.
    pub fn ok(&self) -> bool {
        self.outcome.is_ok()
    }
}

impl std::fmt::Display for ProbeResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.time.as_secs_f64() * 1000.0;
        match &self.outcome {
            Ok(s) => write!(f, "ok: {s} in {ms:.1} ms")?,
            Err(e) => write!(f, "failed: {e}")?,
        }
        if self.attempts > 1 {
            write!(f, " ({} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

/// What the probes of one origin have found so far. Health monitoring updates it after every
/// probe; a published [`super::State`] holds it (for the origins it monitors) by origin id.
#[derive(Debug, Clone)]
pub struct ProbeRecord {
    /// The monitor's name.
    pub monitor: String,
    /// Successful probes in a row.
    pub successes: u32,
    /// Failed probes in a row.
    pub failures: u32,
    /// The last probe.
    pub last: Option<ProbeResult>,
    /// When the state last changed (the first probe counts as a change).
    pub since: Option<SystemTime>,
    /// Failed probes by reason class ([`Failure::REASONS`]), since the origin was first
    /// probed (kept across reloads with the rest of its state).
    pub failures_by_reason: [u64; Failure::REASONS.len()],
}

impl ProbeRecord {
    /// The record of an origin not probed yet.
    pub fn new(monitor: &str) -> Self {
        Self {
            monitor: monitor.to_string(),
            successes: 0,
            failures: 0,
            last: None,
            since: None,
            failures_by_reason: [0; Failure::REASONS.len()],
        }
    }
}

/// A [`ProbeRecord`] shared between the prober that writes it and the states that show it.
pub type ProbeCell = Mutex<ProbeRecord>;

/// What is known of one origin, for `explain`, the status API and metrics.
#[derive(Debug, Clone)]
pub struct OriginStatus {
    /// Its origin id.
    pub origin: OriginId,
    /// The zone of its pool.
    pub zone: Name,
    /// Its pool's name.
    pub pool: String,
    /// Its name.
    pub name: String,
    /// The address probed (its health applies to both families).
    pub address: IpAddr,
    /// The pool's monitor; None: not monitored (always up).
    pub monitor: Option<String>,
    /// The verdict the query path uses.
    pub up: bool,
    /// Drained by an operator.
    pub drained: bool,
    /// Its pool drained by an operator.
    pub pool_drained: bool,
    /// Successful probes in a row.
    pub successes: u32,
    /// Failed probes in a row.
    pub failures: u32,
    /// Smoothed round-trip time of its successful probes.
    pub rtt_ms: Option<f64>,
    /// The last load reading (see [`OriginHealth::load`]).
    pub load: Option<f64>,
    /// The last probe.
    pub last: Option<ProbeResult>,
    /// When the state last changed (the first probe counts as a change).
    pub since: Option<SystemTime>,
    /// Failed probes by reason class ([`Failure::REASONS`]), since the origin was first
    /// probed (kept across reloads with the rest of its state).
    pub failures_by_reason: [u64; Failure::REASONS.len()],
}
