//! Replays the fuzz seeds (`fuzz/corpus/<target>/`) through the fuzz targets' own checks
//! (`fuzz/checks.rs`) on stable, so that every input that once found a bug, and the
//! hand-made seeds, stay fixed in CI without a nightly toolchain. The fuzzing itself
//! (`cargo +nightly fuzz run <target>`) is described in `fuzz/README.md`.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        if let Err(e) = std::panic::catch_unwind(|| check(&data)) {
            panic!("{} fails: {e:?}", path.display());
        }
        n += 1;
    }
    assert!(n >= 3, "{target}: only {n} seeds in {}", dir.display());
}

#[test]
fn query_seeds() {
    replay("query", checks::query);
}

#[test]
fn zone_file_seeds() {
    replay("zone_file", checks::zone_file);
}

#[test]
fn steering_toml_seeds() {
    replay("steering_toml", checks::steering_toml);
}
