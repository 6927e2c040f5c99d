//! DNSSEC: keys, RRSIGs, online denial of existence and the signature cache.
//!
//! The signing core works on plain bytes (uncompressed wire names and RDATAs) and hickory
//! types only, so that it does not depend on how the zone data is stored:
//!
//! * [`key`]: BIND-format key pairs (`K<zone>.+<alg>+<tag>.key` / `.private`), key tags, DS
//!   digests, new keys; algorithms 13 (ECDSAP256SHA256) and 15 (ED25519).
//! * [`sign`]: canonical RRsets signed into RRSIGs ([`sign::ZoneSigner`]), validity with Knot's
//!   defaults ([`sign::Validity`]).
//! * [`denial`]: NSEC records made per answer: compact denial (RFC 9824, the default) or white
//!   lies (RFC 4470); NODATA, wildcard and delegation proofs.
//! * [`cache`]: the bounded, lock-free-read cache of RRSIGs for steered RRsets.
//! * [`zone`]: a zone's static signatures (every authoritative RRset, the apex keys, an NSEC
//!   per name), made at load and refreshed.
//! * [`name`], [`canon`], [`text`], [`time`]: canonical order and form, presentation format,
//!   timestamps.

pub mod cache;
pub mod canon;
pub mod denial;
pub mod key;
pub mod name;
pub mod sign;
pub mod text;
pub mod time;
pub mod tool;
pub mod zone;

/// Type codes used here (hickory has them too; these are plain `u16`s for the wire code).
pub mod types {
    /// NS.
    pub const NS: u16 = 2;
    /// SOA.
    pub const SOA: u16 = 6;
    /// CNAME.
    pub const CNAME: u16 = 5;
    /// DS.
    pub const DS: u16 = 43;
    /// RRSIG.
    pub const RRSIG: u16 = 46;
    /// NSEC.
    pub const NSEC: u16 = 47;
    /// DNSKEY.
    pub const DNSKEY: u16 = 48;
    /// CDS (RFC 7344).
    pub const CDS: u16 = 59;
    /// CDNSKEY (RFC 7344).
    pub const CDNSKEY: u16 = 60;
    /// NXDOMAIN indicator of compact denial of existence (RFC 9824 §2), a meta-type.
    pub const NXNAME: u16 = 128;
}

/// Class IN.
pub const CLASS_IN: u16 = 1;
