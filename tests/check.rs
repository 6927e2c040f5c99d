//! `geosteer check`: valid data passes with a summary; every kind of mistake is reported as
//! `path:line: reason` on stderr with exit status 1.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

const SOA: &str =
    "$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n  IN NS ns1\nns1 IN A 192.0.2.1\n";

fn check(dir: &Path) -> Output {
    Command::new(BIN)
        .arg("check")
        .arg("--zones")
        .arg(dir)
        .output()
        .expect("run geosteer check")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs check on a directory expected to be rejected, and returns its stderr lines.
fn rejected(dir: &ZoneDir) -> Vec<String> {
    let o = check(dir.path());
    assert_eq!(
        o.status.code(),
        Some(1),
        "check should fail:\nstdout: {}\nstderr: {}",
        stdout(&o),
        stderr(&o)
    );
    assert!(
        !stdout(&o).contains("ok"),
        "no ok on failure: {}",
        stdout(&o)
    );
    stderr(&o).lines().map(str::to_string).collect()
}

/// Asserts that one stderr line is exactly `<dir>/<file>:<line>: ` followed by text
/// containing `reason`.
fn assert_error(lines: &[String], dir: &ZoneDir, file: &str, line: usize, reason: &str) {
    let prefix = format!("{}:{line}: ", dir.path().join(file).display());
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&prefix) && l[prefix.len()..].contains(reason)),
        "no error `{prefix}…{reason}…` in:\n{}",
        lines.join("\n")
    );
}

#[test]
fn the_shipped_zones_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
    let o = check(&dir);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("ok"), "{out}");
    assert!(
        out.contains("example.com."),
        "summary names the zone: {out}"
    );
    assert!(out.contains("records"), "summary counts records: {out}");

    // The default --zones is ./zones.
    let o = Command::new(BIN)
        .arg("check")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_valid_directory_passes_with_a_summary() {
    let dir = ZoneDir::new();
    dir.write(
        "example.com.zone",
        &format!("{SOA}www A 192.0.2.2\nwww AAAA 2001:db8::2\n"),
    );
    dir.write("example.net.zone", SOA);
    // Files that are not <origin>.zone are not zones.
    dir.write("README", "not a zone");
    dir.write("example.org.zone.bak", "garbage (");
    let o = check(dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        "ok: 2 zones (example.com., example.net.), 8 records, 0 load balancers, 0 pools, \
         0 origins, 0 monitors"
    );
}

#[test]
fn a_syntax_error_is_reported_with_file_and_line() {
    let dir = ZoneDir::with_zone(
        "example.com",
        &format!("{SOA}good A 192.0.2.2\nbad A 192.0.2.999\nalso-bad IN BOGUS 1\n"),
    );
    let lines = rejected(&dir);
    assert_error(&lines, &dir, "example.com.zone", 6, "bad A record");
    assert_error(&lines, &dir, "example.com.zone", 7, "BOGUS");
    // Every error is reported, then a count.
    assert_eq!(lines.last().map(String::as_str), Some("2 errors"));
}

#[test]
fn lexical_errors_point_at_where_they_start() {
    let dir = ZoneDir::new();
    dir.write(
        "example.com.zone",
        "$TTL 300\n@ SOA ns1 hostmaster (\n 1 7200 3600\n 1209600 300\n",
    );
    dir.write("example.net.zone", &format!("{SOA}t TXT \"never closed\n"));
    let lines = rejected(&dir);
    assert_error(&lines, &dir, "example.com.zone", 2, "never closed");
    assert_error(&lines, &dir, "example.net.zone", 5, "unterminated");
}

#[test]
fn a_zone_without_soa_is_rejected() {
    let dir = ZoneDir::with_zone("example.com", "$TTL 300\n\n@ NS ns1\nns1 A 192.0.2.1\n");
    let lines = rejected(&dir);
    assert_error(&lines, &dir, "example.com.zone", 3, "no SOA");
}

#[test]
fn a_zone_without_apex_ns_is_rejected() {
    let dir = ZoneDir::with_zone(
        "example.com",
        "$TTL 300\n@ SOA ns1 hostmaster 1 2 3 4 5\nns1 A 192.0.2.1\n",
    );
    let lines = rejected(&dir);
    assert_error(&lines, &dir, "example.com.zone", 2, "no NS");
}

#[test]
fn a_file_written_for_another_zone_is_rejected() {
    // $ORIGIN may name anything (BIND, Knot and NSD allow it); what counts is that the records
    // land in the zone the file name sets. Here none does, so the zone has no SOA, and the
    // error says why.
    let dir = ZoneDir::with_zone(
        "example.com",
        "$ORIGIN example.org.\n$TTL 300\n@ SOA ns1 hostmaster 1 2 3 4 5\n NS ns1\nns1 A 192.0.2.1\n",
    );
    let lines = rejected(&dir);
    assert_error(
        &lines,
        &dir,
        "example.com.zone",
        3,
        "zone example.com. has no SOA record at its apex (example.org. at ",
    );
    assert_error(
        &lines,
        &dir,
        "example.com.zone",
        3,
        "is the file named for its zone",
    );
    assert_eq!(lines.last().map(String::as_str), Some("1 error"));
    // A $ORIGIN above the apex is fine when the records fall inside the zone.
    let ok = ZoneDir::with_zone(
        "example.com",
        "$ORIGIN com.\n$TTL 300\nexample SOA ns1.example hostmaster.example 1 2 3 4 5\n\
         example NS ns1.example\nns1.example A 192.0.2.1\n$ORIGIN sub.example.com.\n\
         www A 192.0.2.3\n",
    );
    let o = check(ok.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_second_soa_or_one_off_the_apex_is_rejected() {
    let dir = ZoneDir::with_zone(
        "example.com",
        &format!("{SOA}@ SOA ns1 hostmaster 2 2 3 4 5\nsub SOA ns1 hostmaster 1 2 3 4 5\n"),
    );
    let lines = rejected(&dir);
    assert_error(&lines, &dir, "example.com.zone", 5, "second SOA");
    assert_error(&lines, &dir, "example.com.zone", 6, "not at the zone apex");
}

#[test]
fn cname_and_other_data_is_rejected_with_its_line() {
    let dir = ZoneDir::with_zone(
        "example.com",
        &format!(
            "{SOA}www CNAME ns1\nother A 192.0.2.5\nwww A 192.0.2.2\nx CNAME ns1\nx CNAME www\n"
        ),
    );
    let lines = rejected(&dir);
    assert_error(&lines, &dir, "example.com.zone", 7, "CNAME and other data");
    assert_error(&lines, &dir, "example.com.zone", 9, "more than one CNAME");
}

#[test]
fn records_outside_the_zone_are_ignored_with_a_warning() {
    // BIND and Knot load such a zone and drop the out-of-zone records (NSD refuses it).
    let dir = ZoneDir::with_zone(
        "example.com",
        &format!("{SOA}www.example.net. A 192.0.2.2\nexample.com.evil. A 192.0.2.3\n"),
    );
    let o = check(dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("3 records"), "{}", stdout(&o));
    let want = format!(
        "{}:5: www.example.net. is outside zone example.com.: ignored, as BIND and Knot do \
         (2 out-of-zone records in all)",
        dir.path().join("example.com.zone").display()
    );
    assert!(
        stderr(&o).contains(&want),
        "no `{want}` in:\n{}",
        stderr(&o)
    );
}

#[test]
fn include_is_relative_to_the_including_file() {
    let dir = ZoneDir::new();
    dir.write(
        "example.com.zone",
        &format!("{SOA}$INCLUDE parts/hosts.inc\n$INCLUDE parts/sub.inc sub.example.com.\nafter A 192.0.2.9\n"),
    );
    // Nested: parts/hosts.inc includes parts/more/deeper.inc relative to itself.
    dir.write(
        "parts/hosts.inc",
        "www A 192.0.2.2\n$INCLUDE more/deeper.inc\n",
    );
    dir.write("parts/more/deeper.inc", "deep A 192.0.2.3\n");
    dir.write("parts/sub.inc", "host A 192.0.2.4\n");
    let o = check(dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("7 records"), "{}", stdout(&o));

    // And the included names are served, each under the right origin.
    let s = Server::start(dir.path(), &[]);
    for (qname, addr) in [
        ("www.example.com.", "A 192.0.2.2"),
        ("deep.example.com.", "A 192.0.2.3"),
        ("host.sub.example.com.", "A 192.0.2.4"),
        ("after.example.com.", "A 192.0.2.9"),
    ] {
        let r = udp(s.addr, &query(qname, hickory_proto::rr::RecordType::A));
        assert_eq!(rdata_strings(&r.answers), [addr], "{qname}");
    }
}

#[test]
fn errors_in_included_files_name_that_file() {
    let dir = ZoneDir::new();
    dir.write(
        "example.com.zone",
        &format!("{SOA}$INCLUDE inc/bad.inc\n$INCLUDE inc/missing.inc\n$INCLUDE inc/loop.inc\n"),
    );
    dir.write(
        "inc/bad.inc",
        "; comment\nok A 192.0.2.2\nbroken AAAA not-an-address\n",
    );
    dir.write("inc/loop.inc", "$INCLUDE loop.inc\n");
    let lines = rejected(&dir);
    assert_error(&lines, &dir, "inc/bad.inc", 3, "bad AAAA record");
    assert_error(&lines, &dir, "example.com.zone", 6, "no such file");
    assert_error(&lines, &dir, "inc/loop.inc", 1, "nested more than");
}

#[test]
fn all_zones_are_checked_and_every_error_listed() {
    let dir = ZoneDir::new();
    dir.write("a.example.zone", &format!("{SOA}x A 1.2.3\n"));
    dir.write("b.example.zone", "$TTL 300\n@ NS ns1\n");
    dir.write("c.example.zone", SOA);
    dir.write("bad..name.zone", SOA);
    let lines = rejected(&dir);
    assert_error(&lines, &dir, "a.example.zone", 5, "bad A record");
    assert_error(&lines, &dir, "b.example.zone", 2, "no SOA");
    let bad_name = format!("{}: ", dir.path().join("bad..name.zone").display());
    assert!(
        lines.iter().any(|l| l.starts_with(&bad_name)),
        "{}",
        lines.join("\n")
    );
    assert_eq!(lines.last().map(String::as_str), Some("3 errors"));
}

#[test]
fn an_empty_directory_is_rejected() {
    let dir = ZoneDir::new();
    let o = check(dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no zone files"), "{}", stderr(&o));
    let o = check(&dir.path().join("does-not-exist"));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot read zones directory"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn serve_refuses_to_start_on_invalid_zones() {
    let dir = ZoneDir::with_zone("example.com", "$TTL 300\n@ NS ns1\n");
    let o = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--zones"])
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("example.com.zone:2: zone example.com. has no SOA"),
        "{err}"
    );
    assert!(!err.contains("listening"), "{err}");
}

#[test]
fn two_files_for_one_zone_are_rejected() {
    let dir = ZoneDir::new();
    dir.write("example.com.zone", SOA);
    // Names are case-insensitive, and a trailing dot names the same zone.
    dir.write("Example.COM.zone", SOA);
    dir.write("example.com..zone", SOA);
    let lines = rejected(&dir);
    let first = dir.path().join("Example.COM.zone");
    for dup in ["example.com..zone", "example.com.zone"] {
        let want = format!(
            "{}: zone example.com. is already defined by {}",
            dir.path().join(dup).display(),
            first.display()
        );
        assert!(
            lines.contains(&want),
            "no `{want}` in:\n{}",
            lines.join("\n")
        );
    }
}

#[test]
fn txt_strings_over_255_octets_and_bad_escapes_are_rejected() {
    let dir = ZoneDir::with_zone(
        "example.com",
        &format!(
            "{SOA}long TXT \"{}\"\nbadesc TXT \"\\12x\"\nbig TXT \"\\300\"\nname\\999 A 192.0.2.1\n\
             ok TXT \"{}\" \"{}\"\n",
            "k".repeat(256),
            "k".repeat(255),
            "k".repeat(255)
        ),
    );
    let lines = rejected(&dir);
    assert_error(&lines, &dir, "example.com.zone", 5, "longer than 255");
    assert_error(&lines, &dir, "example.com.zone", 6, "three decimal digits");
    assert_error(&lines, &dir, "example.com.zone", 7, "over 255");
    assert_error(&lines, &dir, "example.com.zone", 8, "over 255");
    assert_eq!(lines.last().map(String::as_str), Some("4 errors"));
}
