//! Regenerates `geoip/sample-city.mmdb` from `geoip/sample-city.toml`:
//!
//! ```sh
//! cargo run --example build_sample_geoip
//! ```
//!
//! The output depends only on the source (the build epoch is fixed), so a clean checkout
//! reproduces the committed file byte for byte; `tests/geo.rs` checks that it does.

#[path = "../tests/support/mmdb.rs"]
mod mmdb;
#[path = "../tests/support/sample.rs"]
mod sample;

use std::process::ExitCode;

fn main() -> ExitCode {
    let src = sample::toml_path();
    let out = sample::mmdb_path();
    let text = match std::fs::read_to_string(&src) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: {e}", src.display());
            return ExitCode::FAILURE;
        }
    };
    let source = match sample::parse(&text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: {e}", src.display());
            return ExitCode::FAILURE;
        }
    };
    let bytes = sample::build(&source);
    // Write beside and rename over: a running server maps the old file, and rename leaves
    // its mapping intact.
    let tmp = out.with_extension("mmdb.tmp");
    if let Err(e) = std::fs::write(&tmp, &bytes).and_then(|()| std::fs::rename(&tmp, &out)) {
        eprintln!("{}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    println!(
        "{}: {} networks, {} bytes",
        out.display(),
        source.network.len(),
        bytes.len()
    );
    ExitCode::SUCCESS
}
