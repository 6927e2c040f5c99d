//! The steering TOML loader, on arbitrary file contents beside the shipped example zone,
//! with the sample GeoIP database; a configuration that loads is then queried for each of
//! its load-balanced names from clients in several regions (steering on fuzzed
//! configuration).
//!
//! The check itself is `checks::steering_toml` (shared with `tests/fuzz_corpus.rs`, which replays
//! the seeds in `fuzz/corpus/steering_toml/` on stable).

#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::steering_toml(data));
