//! geosteer: an authoritative DNS server that steers load-balanced names by client location and
//! origin health.
//!
//! Data flows one way: configuration is compiled by [`load`] into an immutable
//! [`state::Snapshot`]; health monitoring ([`health`]) pairs it with what its probes found and
//! publishes the pair as one [`state::State`]; the query path ([`dns`]), the API, metrics and
//! `explain` read one published state at a time.

#![warn(missing_docs, clippy::dbg_macro)]
#![deny(clippy::print_stdout, unsafe_op_in_unsafe_fn)]

pub mod api;
pub mod config;
pub mod dns;
pub mod dnssec;
pub mod drains;
pub mod error;
pub mod explain;
pub mod fleet;
pub mod geo;
pub mod health;
pub mod import;
pub mod load;
pub mod logfmt;
pub mod metrics;
pub mod notify;
pub mod ops;
pub mod panics;
pub mod peers;
pub mod state;
pub mod status_page;
pub mod steering;
pub mod systemd;
pub mod transitions;
pub mod wire;
pub mod zone;
