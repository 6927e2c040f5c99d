//! Writes the seeded synthetic data of the scale benchmark (`bench/run.sh --scale`).
//!
//! ```sh
//! cargo run --release --example scale_data -- geoip OUT.mmdb [NETWORKS|geolite2] [SEED]
//! cargo run --release --example scale_data -- lbs DIR COUNT [SEED]
//! cargo run --release --example scale_data -- zone DIR RECORDS [SEED]
//! ```
//!
//! `geoip` writes a GeoIP2-City-shaped database: `geolite2` (the default) is the size of a
//! GeoLite2-City (3.3 million networks, 118,000 city records), a number is that many
//! networks in the same proportions. `lbs` writes `lb.example.zone` and `lb.example.toml`
//! with COUNT load balancers; `zone` writes `big.example.zone` with about RECORDS records,
//! and `positive.txt`, `nxdomain.txt` and `referral.txt` (dnsperf input) beside it. Each
//! prints one JSON line describing what it wrote. Nothing is real data; see
//! `tests/support/scale.rs` for how it is shaped.

#[path = "../tests/support/scale.rs"]
mod scale;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

fn usage() -> ! {
    eprintln!(
        "usage: scale_data geoip OUT.mmdb [NETWORKS|geolite2] [SEED]\n       \
         scale_data lbs DIR COUNT [SEED]\n       scale_data zone DIR RECORDS [SEED]"
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seed = |i: usize| {
        args.get(i)
            .map_or(1, |s| s.parse().unwrap_or_else(|_| usage()))
    };
    let started = Instant::now();
    match args.first().map(String::as_str) {
        Some("geoip") => {
            let out = args.get(1).unwrap_or_else(|| usage());
            let mut p = match args.get(2).map(String::as_str) {
                None | Some("geolite2") => scale::GeoParams::geolite2_city(),
                Some(n) => scale::GeoParams::networks(n.parse().unwrap_or_else(|_| usage())),
            };
            p.seed = seed(3);
            let s = scale::write_geoip(Path::new(out), &p);
            println!(
                "{{\"file\": {out:?}, \"v4_networks\": {}, \"v6_networks\": {}, \"records\": {}, \
                 \"bytes\": {}, \"seed\": {}, \"seconds\": {:.1}}}",
                s.v4_networks,
                s.v6_networks,
                s.records,
                s.bytes,
                p.seed,
                started.elapsed().as_secs_f64()
            );
        }
        Some("lbs") => {
            let dir = Path::new(args.get(1).unwrap_or_else(|| usage()));
            let count = args
                .get(2)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| usage());
            let mut p = scale::LbParams::new(count);
            p.seed = seed(3);
            std::fs::create_dir_all(dir).expect("create DIR");
            let s = scale::write_lb_config(dir, &p);
            let mut names = String::new();
            for n in &s.names {
                let _ = writeln!(names, "{n} A");
            }
            std::fs::write(dir.join("names.txt"), names).expect("write names.txt");
            println!(
                "{{\"load_balancers\": {}, \"pools\": {}, \"origins\": {}, \"policies\": {:?}, \
                 \"geo_templates\": {:?}, \"seed\": {}}}",
                s.names.len(),
                s.pools,
                s.origins,
                s.policies,
                s.templates,
                p.seed
            );
        }
        Some("zone") => {
            let dir = Path::new(args.get(1).unwrap_or_else(|| usage()));
            let records = args
                .get(2)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| usage());
            let mut p = scale::ZoneParams::new(records);
            p.seed = seed(3);
            std::fs::create_dir_all(dir).expect("create DIR");
            let zone = p.zone.trim_end_matches('.').to_string();
            let s = scale::write_big_zone(&dir.join(format!("{zone}.zone")), &p);
            let lines = |names: &[String], t: &str| {
                names.iter().fold(String::new(), |mut o, n| {
                    let _ = writeln!(o, "{n} {t}");
                    o
                })
            };
            std::fs::write(dir.join("positive.txt"), lines(&s.a_names, "A")).expect("write");
            std::fs::write(dir.join("referral.txt"), lines(&s.delegations, "A")).expect("write");
            let nx: Vec<String> = (0..20_000u64)
                .map(|i| {
                    let r = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20;
                    format!("nx{r:x}.{zone}.")
                })
                .collect();
            std::fs::write(dir.join("nxdomain.txt"), lines(&nx, "A")).expect("write");
            println!(
                "{{\"zone\": \"{zone}.\", \"records\": {}, \"names\": {}, \"by_type\": {:?}, \
                 \"seed\": {}, \"seconds\": {:.1}}}",
                s.records,
                s.names,
                s.by_type,
                p.seed,
                started.elapsed().as_secs_f64()
            );
        }
        _ => usage(),
    }
}
