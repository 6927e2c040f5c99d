//! The zone master-file reader, on arbitrary file contents: everything `geosteer check` does
//! with a zone file (reading, `$INCLUDE`, the checks of the zone as a whole), through
//! `load::load` on a directory holding just that file.
//!
//! The check itself is `checks::zone_file` (shared with `tests/fuzz_corpus.rs`, which replays
//! the seeds in `fuzz/corpus/zone_file/` on stable).

#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::zone_file(data));
