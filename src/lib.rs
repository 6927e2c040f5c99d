//! geosteer: an authoritative DNS server that steers load-balanced names by client location and
//! origin health.
//!
//! Data flows one way: configuration ([`load`]) and, later, health snapshots are compiled into
//! an immutable [`load::Snapshot`]; the query path ([`dns`]) only reads the current snapshot.

pub mod api;
pub mod config;
pub mod dns;
pub mod error;
pub mod explain;
pub mod geo;
pub mod health;
pub mod load;
pub mod metrics;
pub mod ops;
pub mod steering;
pub mod wire;
pub mod zone;
