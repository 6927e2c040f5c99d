//! Cloudflare's names in the steering file, shared pools and origins by host name (issue 15,
//! items 2 and 6), through the real binary: `check` reports mistakes as `path:line: reason`,
//! `serve` answers from `zones/_pools.toml` and from host names.

mod common;

use std::path::Path;
use std::process::Command;

use hickory_proto::rr::RecordType;

use common::*;

const SOA: &str =
    "$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n  IN NS ns1\nns1 IN A 192.0.2.53\n";

fn check(dir: &Path) -> (i32, String) {
    let o = Command::new(BIN)
        .arg("check")
        .arg("--zones")
        .arg(dir)
        .output()
        .expect("run geosteer check");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle")
        + 1
}

#[test]
fn check_reports_both_spellings_of_a_knob_with_file_and_line() {
    let toml = "[pools.a]\norigins = [ { address = \"127.0.15.1\" } ]\n\n\
                [load_balancers.www]\nsteering = \"off\"\nsteering_policy = \"off\"\ndefault_pools = [\"a\"]\n";
    let dir = ZoneDir::with_zone("example.com", SOA);
    let path = dir.write("example.com.toml", toml);
    let (code, stderr) = check(dir.path());
    assert_eq!(code, 1, "{stderr}");
    let at = |needle| format!("{}:{}: ", path.display(), line_of(toml, needle));
    assert!(
        stderr.lines().any(|l| (l.starts_with(&at("steering ="))
            || l.starts_with(&at("steering_policy")))
            && l.contains("duplicate")),
        "{stderr}"
    );
}

#[test]
fn check_reports_bad_cloudflare_values_with_file_and_line() {
    let toml = "[pools.a]\norigins = [ { address = \"127.0.15.1\" } ]\n\n\
                [load_balancers.www]\nsteering_policy = \"geo\"\ndefault_pools = [\"a\"]\n\
                location_strategy = { prefer_ecs = \"sometimes\" }\n";
    let dir = ZoneDir::with_zone("example.com", SOA);
    let path = dir.write("example.com.toml", toml);
    let (code, stderr) = check(dir.path());
    assert_eq!(code, 1, "{stderr}");
    let prefix = format!("{}:{}: ", path.display(), line_of(toml, "sometimes"));
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&prefix) && l.contains("prefer_ecs")),
        "{stderr}"
    );
}

#[test]
fn shared_pools_answer_for_every_zone_and_host_names_are_answered_as_addresses() {
    let dir = ZoneDir::new();
    dir.write("example.com.zone", &format!("$ORIGIN example.com.\n{SOA}"));
    dir.write("example.net.zone", &format!("$ORIGIN example.net.\n{SOA}"));
    dir.write(
        "_pools.toml",
        "[pools.shared]\norigins = [ { address = \"127.0.15.40\" } ]\n\n\
         [pools.by-name]\norigins = [ { address = \"localhost\", name = \"local\" } ]\n",
    );
    dir.write(
        "example.com.toml",
        "[load_balancers.www]\nsteering_policy = \"off\"\ndefault_pools = [\"shared\"]\n\n\
         [load_balancers.local]\ndefault_pools = [\"by-name\"]\n",
    );
    dir.write(
        "example.net.toml",
        "[load_balancers.www]\nsteering_policy = \"off\"\ndefault_pools = [\"shared\"]\n",
    );
    let (code, stderr) = check(dir.path());
    assert_eq!(code, 0, "{stderr}");
    let s = Server::start_owned(dir, &[]);
    for name in ["www.example.com.", "www.example.net."] {
        let r = udp(s.addr, &query(name, RecordType::A));
        assert_eq!(rdata_strings(&r.answers), vec!["A 127.0.15.40"], "{name}");
    }
    // localhost, through /etc/hosts: its IPv4 address as A.
    let r = udp(s.addr, &query("local.example.com.", RecordType::A));
    let got = rdata_strings(&r.answers);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("A 127."), "{got:?}");
}

#[test]
fn a_zone_may_not_redefine_a_shared_pool() {
    let dir = ZoneDir::with_zone("example.com", SOA);
    dir.write(
        "_pools.toml",
        "[pools.shared]\norigins = [ { address = \"127.0.15.40\" } ]\n",
    );
    let toml = "# own\n[pools.shared]\norigins = [ { address = \"127.0.15.41\" } ]\n";
    let path = dir.write("example.com.toml", toml);
    let (code, stderr) = check(dir.path());
    assert_eq!(code, 1, "{stderr}");
    let prefix = format!("{}:2: ", path.display());
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&prefix) && l.contains("already defined in _pools.toml")),
        "{stderr}"
    );
}
