//! The whole query path, bytes in and response out, through the function the UDP loop's
//! answerer calls (`Responder::respond_counted`), with the shipped example (`zones/`,
//! `geoip/sample-city.mmdb`) loaded. The first two input bytes choose the transport and the
//! client address; the rest is the packet.
//!
//! Beyond "no panic", every response must be one: at least a header, the query's ID, QR set,
//! within the UDP limit, and decodable by an independent decoder (hickory's).
//!
//! The check itself is `checks::query` (shared with `tests/fuzz_corpus.rs`, which replays
//! the seeds in `fuzz/corpus/query/` on stable).

#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::query(data));
