//! Response rate limiting (RRL) for UDP, with the semantics operators know from BIND and Knot.
//!
//! Each (client network, response kind, what the response is about) has an account that earns
//! `rate` credits a second and can hold at most `rate`; each response debits one. While the
//! account is negative, responses are limited: every `slip`-th one is sent empty with TC=1 (a
//! real client retries over TCP, which is never limited; a spoofed victim gets a packet no
//! bigger than the query), the rest are dropped. The account cannot fall below `-window ×
//! rate`, so a network that keeps flooding is limited until it has been quiet for up to
//! `window` seconds (BIND's `window`). Kinds, as BIND classifies them:
//!
//! - an answer: per client network and RRset answered (and query type), so a wildcard's
//!   answers share one account whatever name was asked;
//! - NXDOMAIN and NODATA: per client network and zone (random names cannot spread a flood
//!   over many accounts);
//! - a referral: per client network and zone;
//! - an error (REFUSED, FORMERR, SERVFAIL, …): per client network and response code.
//!
//! **One table for all UDP threads.** `SO_REUSEPORT` spreads a client's datagrams over the
//! sockets by the hash of their addresses *and ports*: one network that sends from many ports
//! reaches every socket. Per-thread tables would let N sockets answer N × `rate`; a shared
//! table keeps the limit what it says. It takes no lock: the table is a fixed array of
//! 8-entry sets (one cache line each), an account is one `AtomicU64` (tag, time, balance),
//! updated with a compare-and-swap; a key that is not in its set replaces the set's oldest
//! account. Memory is fixed at start (8 bytes an account) whatever the number of client
//! networks, as Knot's table is; when more networks are active than there are accounts, the
//! oldest are forgotten first. Keys are hashed with a per-process random key (SipHash), so a
//! client cannot aim its keys at one set.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use ipnet::IpNet;
use tracing::warn;

/// Response rate limiting settings (`serve --rrl-*`).
#[derive(Debug, Clone)]
pub struct RrlConfig {
    /// Responses per second per account.
    pub rate: u32,
    /// Every `slip`-th limited response is sent empty with TC=1 (0: none, 1: all).
    pub slip: u32,
    /// Seconds of history: an account holds no less than `-window × rate`.
    pub window: u32,
    /// Prefix length that makes an IPv4 client network.
    pub ipv4_prefix: u8,
    /// Prefix length that makes an IPv6 client network.
    pub ipv6_prefix: u8,
    /// Networks never limited.
    pub exempt: Vec<IpNet>,
    /// Count and log what would be limited, but send everything.
    pub log_only: bool,
    /// Accounts in the table (rounded up to a power of two, at least one set of 8).
    pub table_size: usize,
}

/// Default `--rrl-slip`: every other limited response slips (BIND's and Knot's default).
pub const DEFAULT_SLIP: u32 = 2;
/// Default `--rrl-window`, seconds: short, so a resolver caught in a flood of spoofed
/// queries recovers soon after it ends (BIND's default is 15).
pub const DEFAULT_WINDOW: u32 = 5;
/// Default `--rrl-ipv4-prefix` (BIND, Knot).
pub const DEFAULT_IPV4_PREFIX: u8 = 24;
/// Default `--rrl-ipv6-prefix` (BIND, Knot).
pub const DEFAULT_IPV6_PREFIX: u8 = 56;
/// Default `--rrl-table-size`: 524,288 accounts, 4 MiB.
pub const DEFAULT_TABLE_SIZE: usize = 1 << 19;

impl RrlConfig {
    /// `rate` responses a second, everything else at its default.
    pub fn with_rate(rate: u32) -> Self {
        Self {
            rate,
            slip: DEFAULT_SLIP,
            window: DEFAULT_WINDOW,
            ipv4_prefix: DEFAULT_IPV4_PREFIX,
            ipv6_prefix: DEFAULT_IPV6_PREFIX,
            exempt: Vec::new(),
            log_only: false,
            table_size: DEFAULT_TABLE_SIZE,
        }
    }
}

/// What a response is, for its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Data for the name asked (keyed by the RRset and query type).
    Answer,
    /// NXDOMAIN (keyed by the zone).
    NxDomain,
    /// NOERROR without data (keyed by the zone).
    NoData,
    /// A referral to a delegated zone (keyed by the zone).
    Referral,
    /// Any other response code (keyed by the code).
    Error,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Answer => "answer",
            Kind::NxDomain => "nxdomain",
            Kind::NoData => "nodata",
            Kind::Referral => "referral",
            Kind::Error => "error",
        }
    }
}

/// What to do with a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it.
    Send,
    /// Over the limit, but log-only: send it.
    LogOnly,
    /// Over the limit: send it empty with TC=1.
    Slip,
    /// Over the limit: send nothing.
    Drop,
}

/// Accounts per set: one cache line of `AtomicU64`.
const WAYS: usize = 8;

#[repr(align(64))]
struct Set([AtomicU64; WAYS]);

/// An account packed into 64 bits: a 20-bit tag (0: empty), the second it was last debited
/// (20 bits, wrapping every 12 days: anything older than the window counts as fresh), and
/// the balance (24 bits, offset by 2^23).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Account {
    tag: u32,
    stamp: u32,
    balance: i32,
}

const TIME_MASK: u32 = (1 << 20) - 1;
const BALANCE_OFFSET: i32 = 1 << 23;
/// The lowest balance an account can hold (the 24 bits' range).
const BALANCE_MIN: i32 = -BALANCE_OFFSET + 1;
/// The highest rate whose balance fits (the account holds at most `rate`).
pub const MAX_RATE: u32 = (BALANCE_OFFSET - 1) as u32;

impl Account {
    fn pack(self) -> u64 {
        u64::from(self.tag) << 44
            | u64::from(self.stamp & TIME_MASK) << 24
            | u64::from((self.balance + BALANCE_OFFSET) as u32 & 0xFF_FFFF)
    }

    fn unpack(v: u64) -> Self {
        Self {
            tag: (v >> 44) as u32,
            stamp: (v >> 24) as u32 & TIME_MASK,
            balance: (v & 0xFF_FFFF) as i32 - BALANCE_OFFSET,
        }
    }

    /// Seconds since this account was last debited, as of `now`.
    fn age(self, now: u32) -> u32 {
        now.wrapping_sub(self.stamp) & TIME_MASK
    }
}

/// The balance after one more response at second `now`, and whether that response is
/// limited: `previous` is the account (None: a new one, which starts full), credited `rate`
/// a second since it was last debited (capped at `rate`), then debited one; a response
/// that leaves it negative is limited, and it holds no less than `-window × rate`. An
/// account idle for longer than the window starts afresh. (BIND's accounting.)
fn debit(previous: Option<Account>, now: u32, rate: u32, window: u32) -> (i32, bool) {
    let rate = rate.min(MAX_RATE) as i64;
    let credited = match previous {
        Some(a) if a.age(now) <= window => {
            (i64::from(a.balance) + rate * i64::from(a.age(now))).min(rate)
        }
        _ => rate,
    };
    let after = credited - 1;
    let floor = (-(i64::from(window)) * rate).max(i64::from(BALANCE_MIN));
    (after.max(floor) as i32, after < 0)
}

/// The shared table and the settings.
pub struct Rrl {
    cfg: RrlConfig,
    sets: Box<[Set]>,
    hasher: RandomState,
    /// Monotonic seconds at start (the table's time is seconds since).
    epoch: libc::time_t,
    /// When a limiting event was last logged (table seconds + 1; 0: never).
    last_log: AtomicU64,
}

/// Seconds between log lines about limiting (the counters say the rest).
const LOG_EVERY: u64 = 10;

thread_local! {
    /// Limited responses on this thread since its last slip: every `slip`-th slips.
    static SINCE_SLIP: Cell<u32> = const { Cell::new(0) };
}

fn monotonic_coarse() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to a valid pointer. The coarse clock costs a
    // few nanoseconds (no syscall) and its millisecond-level resolution is plenty for
    // whole seconds.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts
}

impl Rrl {
    /// A table of `cfg.table_size` accounts (rounded up to a power of two).
    pub fn new(cfg: RrlConfig) -> Self {
        let sets = cfg.table_size.div_ceil(WAYS).max(1).next_power_of_two();
        let sets = (0..sets)
            .map(|_| Set(std::array::from_fn(|_| AtomicU64::new(0))))
            .collect();
        Self {
            cfg,
            sets,
            hasher: RandomState::new(),
            epoch: monotonic_coarse().tv_sec,
            last_log: AtomicU64::new(0),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RrlConfig {
        &self.cfg
    }

    /// Seconds since the table was made.
    fn now(&self) -> u32 {
        (monotonic_coarse().tv_sec - self.epoch) as u32
    }

    /// The client's network: its address with the bits beyond the configured prefix cleared.
    fn network(&self, client: IpAddr) -> IpNet {
        let net = match client {
            IpAddr::V4(a) => IpNet::new(IpAddr::V4(a), self.cfg.ipv4_prefix.min(32)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => IpNet::new(IpAddr::V4(v4), self.cfg.ipv4_prefix.min(32)),
                None => IpNet::new(IpAddr::V6(a), self.cfg.ipv6_prefix.min(128)),
            },
        };
        net.map(|n| n.trunc())
            .unwrap_or_else(|_| IpNet::from(client))
    }

    /// Decides on one UDP response to `client` of `kind`, about `key` (what identifies the
    /// response within its kind: an RRset, a zone, a response code).
    pub fn check(&self, client: IpAddr, kind: Kind, key: u64) -> Verdict {
        self.check_at(client, kind, key, self.now())
    }

    /// [`Rrl::check`] at table second `now`.
    fn check_at(&self, client: IpAddr, kind: Kind, key: u64, now: u32) -> Verdict {
        if self.cfg.exempt.iter().any(|n| n.contains(&client)) {
            return Verdict::Send;
        }
        let net = self.network(client);
        let hash = self.account(net, kind, key);
        if !self.debit(hash, now) {
            return Verdict::Send;
        }
        let verdict = if self.cfg.log_only {
            Verdict::LogOnly
        } else {
            self.slip_or_drop()
        };
        self.log_limited(net, kind, verdict, now);
        verdict
    }

    /// The hash that names the account of responses of `kind` about `key` to network `net`.
    /// SipHash with a per-process random key, so that nobody outside can aim responses at one
    /// set of the table; it is most of what RRL costs per answer (benches/rrl_cost.rs), so the
    /// inputs go in as few writes as they fit in (each write has its own overhead).
    fn account(&self, net: IpNet, kind: Kind, key: u64) -> u64 {
        let tag = u64::from(net.prefix_len()) << 8 | kind as u64;
        // One write of whole 8-byte words: SipHash's cheapest input. 16 bytes for an IPv4
        // network, 32 for IPv6: SipHash counts the length in, so the families never share an
        // account.
        let mut buf = [0u8; 32];
        let len = match net.addr() {
            IpAddr::V4(a) => {
                buf[..8].copy_from_slice(&(u64::from(u32::from(a)) << 16 | tag).to_le_bytes());
                buf[8..16].copy_from_slice(&key.to_le_bytes());
                16
            }
            IpAddr::V6(a) => {
                buf[..16].copy_from_slice(&u128::from(a).to_le_bytes());
                buf[16..24].copy_from_slice(&tag.to_le_bytes());
                buf[24..].copy_from_slice(&key.to_le_bytes());
                32
            }
        };
        let mut h = self.hasher.build_hasher();
        h.write(&buf[..len]);
        h.finish()
    }

    /// Debits the account for `hash` at second `now`; true when the response is limited.
    fn debit(&self, hash: u64, now: u32) -> bool {
        let set = &self.sets[hash as usize & (self.sets.len() - 1)].0;
        let tag = ((hash >> 44) as u32).max(1);
        // A few tries: another thread may update the same set at the same moment. Past
        // them, the response is let through (never limited by contention alone).
        for _ in 0..4 {
            let mut slot = None;
            let mut oldest: Option<(usize, u64, u32)> = None;
            for (i, cell) in set.iter().enumerate() {
                let v = cell.load(Ordering::Relaxed);
                let a = Account::unpack(v);
                if v != 0 && a.tag == tag {
                    slot = Some((i, v, Some(a)));
                    break;
                }
                // Empty accounts first, then the one debited longest ago.
                let age = if v == 0 { u32::MAX } else { a.age(now) };
                if oldest.is_none_or(|(_, _, o)| age > o) {
                    oldest = Some((i, v, age));
                }
            }
            let (i, old, previous) = match (slot, oldest) {
                (Some(s), _) => s,
                (None, Some((i, v, _))) => (i, v, None),
                (None, None) => return false,
            };
            let (balance, limited) = debit(previous, now, self.cfg.rate, self.cfg.window);
            let new = Account {
                tag,
                stamp: now,
                balance,
            }
            .pack();
            if set[i]
                .compare_exchange(old, new, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return limited;
            }
        }
        false
    }

    fn slip_or_drop(&self) -> Verdict {
        match self.cfg.slip {
            0 => Verdict::Drop,
            1 => Verdict::Slip,
            n => SINCE_SLIP.with(|c| {
                let k = c.get() + 1;
                if k >= n {
                    c.set(0);
                    Verdict::Slip
                } else {
                    c.set(k);
                    Verdict::Drop
                }
            }),
        }
    }

    /// One line every [`LOG_EVERY`] seconds at most, whichever thread limits.
    fn log_limited(&self, net: IpNet, kind: Kind, verdict: Verdict, now: u32) {
        let now = u64::from(now) + 1;
        let last = self.last_log.load(Ordering::Relaxed);
        if last != 0 && now < last + LOG_EVERY {
            return;
        }
        if self
            .last_log
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let what = match verdict {
            Verdict::LogOnly => "log-only: sent anyway",
            _ => "slipped or dropped",
        };
        warn!(
            "response rate limiting: {net} over {} {} responses/s ({what}); counted in \
             geosteer_rrl_*_total, logged at most every {LOG_EVERY} s",
            self.cfg.rate,
            kind.label()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(rate: u32) -> RrlConfig {
        RrlConfig {
            table_size: 64,
            ..RrlConfig::with_rate(rate)
        }
    }

    #[test]
    fn accounts_pack_and_unpack() {
        for (tag, stamp, balance) in [
            (1, 0, 0),
            ((1 << 20) - 1, TIME_MASK, MAX_RATE as i32),
            (77, 12345, BALANCE_MIN),
            (5, 3, -1),
        ] {
            let a = Account {
                tag,
                stamp,
                balance,
            };
            assert_eq!(Account::unpack(a.pack()), a);
        }
        assert_ne!(
            Account {
                tag: 1,
                stamp: 0,
                balance: 0
            }
            .pack(),
            0,
            "a used account is never the empty word"
        );
    }

    #[test]
    fn a_new_account_allows_rate_responses_in_its_first_second() {
        let rate = 5;
        let mut acct = None;
        let mut limited = Vec::new();
        for _ in 0..8 {
            let (b, l) = debit(acct, 100, rate, 5);
            acct = Some(Account {
                tag: 1,
                stamp: 100,
                balance: b,
            });
            limited.push(l);
        }
        assert_eq!(
            limited,
            [false, false, false, false, false, true, true, true]
        );
    }

    #[test]
    fn credit_accrues_per_second_up_to_rate() {
        // Emptied at second 0 (balance -1 after one limited response), then quiet.
        let a = |stamp, balance| {
            Some(Account {
                tag: 1,
                stamp,
                balance,
            })
        };
        // One second later: -1 + 10 = 9, debited to 8: sent.
        assert_eq!(debit(a(0, -1), 1, 10, 5), (8, false));
        // Three seconds: capped at the rate, 10 - 1.
        assert_eq!(debit(a(0, -1), 3, 10, 5), (9, false));
        // At the floor (-window × rate = -50), one second earns 10: still -40, limited.
        assert_eq!(debit(a(0, -50), 1, 10, 5), (-41, true));
        // Four quiet seconds: -10, still limited; five: 0 → -1, limited; then it recovers.
        assert_eq!(debit(a(0, -50), 4, 10, 5), (-11, true));
        assert_eq!(debit(a(0, -50), 5, 10, 5), (-1, true));
        assert_eq!(
            debit(a(0, -50), 6, 10, 5),
            (9, false),
            "older than the window: fresh"
        );
        // Within the same second it never goes below the floor.
        assert_eq!(debit(a(7, -50), 7, 10, 5), (-50, true));
    }

    #[test]
    fn a_flood_is_answered_at_most_rate_per_second_and_then_not_at_all() {
        // BIND's semantics: a network that keeps exceeding the rate drives its account to
        // the floor, where a second's credit does not lift it above zero.
        let (rate, window) = (20u32, 5u32);
        let mut acct: Option<Account> = None;
        let mut sent_per_second = Vec::new();
        for second in 0..10u32 {
            let mut sent = 0;
            for _ in 0..1000 {
                let (b, limited) = debit(acct, second, rate, window);
                acct = Some(Account {
                    tag: 1,
                    stamp: second,
                    balance: b,
                });
                sent += u32::from(!limited);
            }
            sent_per_second.push(sent);
        }
        assert_eq!(sent_per_second[0], rate);
        assert!(
            sent_per_second[1..].iter().all(|&s| s == 0),
            "{sent_per_second:?}"
        );
        // And a client just under the rate is never limited.
        let mut acct: Option<Account> = None;
        for second in 0..30u32 {
            for _ in 0..rate {
                let (b, limited) = debit(acct, second, rate, window);
                assert!(!limited, "second {second}");
                acct = Some(Account {
                    tag: 1,
                    stamp: second,
                    balance: b,
                });
            }
        }
    }

    #[test]
    fn the_time_stamp_wraps_without_harm() {
        let a = Account {
            tag: 1,
            stamp: TIME_MASK,
            balance: -3,
        };
        // Two seconds after the wrap.
        assert_eq!(a.age(1), 2);
        assert_eq!(debit(Some(a), 1, 10, 5), (9, false));
    }

    #[test]
    fn networks_share_an_account_and_others_do_not() {
        let rrl = Rrl::new(cfg(3));
        let key = 42;
        let now = 1000;
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let hash =
            |client: &str, kind: Kind, key: u64| rrl.account(rrl.network(ip(client)), kind, key);
        // Three from one /24 (two addresses): the fourth is limited.
        let a = hash("198.51.100.1", Kind::Answer, key);
        let b = hash("198.51.100.200", Kind::Answer, key);
        assert_eq!(a, b, "one /24, one account");
        assert!(!rrl.debit(a, now));
        assert!(!rrl.debit(b, now));
        assert!(!rrl.debit(a, now));
        assert!(rrl.debit(b, now));
        // Another network, another kind, another key: their own accounts.
        for other in [
            hash("198.51.101.1", Kind::Answer, key),
            hash("198.51.100.1", Kind::NxDomain, key),
            hash("198.51.100.1", Kind::Answer, key + 1),
        ] {
            assert_ne!(other, a);
            assert!(!rrl.debit(other, now));
        }
        // IPv6: one /56.
        assert_eq!(
            hash("2001:db8:0:ff::1", Kind::Answer, key),
            hash("2001:db8:0:1::2", Kind::Answer, key)
        );
        assert_ne!(
            hash("2001:db8:0:100::1", Kind::Answer, key),
            hash("2001:db8:0:1::2", Kind::Answer, key)
        );
    }

    #[test]
    fn the_table_is_bounded_and_forgets_the_oldest() {
        // 64 accounts; 10,000 networks each send one response a second apart: the table
        // never grows, and a network seen long ago starts afresh.
        let rrl = Rrl::new(cfg(1));
        assert_eq!(rrl.sets.len() * WAYS, 64);
        for i in 0..10_000u64 {
            rrl.debit(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), (i / 100) as u32);
        }
        let used = rrl
            .sets
            .iter()
            .flat_map(|s| s.0.iter())
            .filter(|c| c.load(Ordering::Relaxed) != 0)
            .count();
        assert!(used <= 64);
        // A key over its limit …
        let k = 0xdead_beef_u64 << 8;
        assert!(!rrl.debit(k, 200));
        assert!(rrl.debit(k, 200));
        // … pushed out by eight others of its set at a later second, then back: fresh.
        for j in 1..=8u64 {
            rrl.debit(k + (j << 44) * 2, 201);
        }
        assert!(!rrl.debit(k, 201), "an evicted account starts afresh");
    }

    #[test]
    fn slip_sends_every_nth_limited_response() {
        let mut c = cfg(1);
        c.slip = 3;
        let rrl = Rrl::new(c);
        let verdicts: Vec<_> = (0..6).map(|_| rrl.slip_or_drop()).collect();
        use Verdict::*;
        assert_eq!(verdicts, [Drop, Drop, Slip, Drop, Drop, Slip]);
        let mut c = cfg(1);
        c.slip = 0;
        assert_eq!(Rrl::new(c).slip_or_drop(), Drop);
        let mut c = cfg(1);
        c.slip = 1;
        assert_eq!(Rrl::new(c).slip_or_drop(), Slip);
    }

    #[test]
    fn exempt_networks_and_log_only() {
        let mut c = cfg(1);
        c.exempt = vec!["198.51.100.0/24".parse().unwrap()];
        let rrl = Rrl::new(c);
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        for _ in 0..10 {
            assert_eq!(rrl.check_at(ip, Kind::Answer, 1, 9), Verdict::Send);
        }
        let other: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(rrl.check_at(other, Kind::Answer, 1, 9), Verdict::Send);
        assert_ne!(rrl.check_at(other, Kind::Answer, 1, 9), Verdict::Send);
        let mut c = cfg(1);
        c.log_only = true;
        let rrl = Rrl::new(c);
        assert_eq!(rrl.check_at(other, Kind::Answer, 1, 9), Verdict::Send);
        assert_eq!(rrl.check_at(other, Kind::Answer, 1, 9), Verdict::LogOnly);
    }
}
