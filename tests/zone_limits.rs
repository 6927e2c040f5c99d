//! Zone data limits enforced at load (issue 11): RDATA over 65,535 octets, an RRset that can
//! never fit a 64 KiB message, and unbounded `$INCLUDE` fan-out are refused with the file, the
//! line and why, instead of being served corrupted or empty, or loading for ever.

use std::path::Path;

use geosteer::load;

const HEAD: &str =
    "$ORIGIN example.com.\n$TTL 60\n@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n";

fn load_zone(dir: &Path, text: &str) -> Result<(), Vec<String>> {
    std::fs::write(dir.join("example.com.zone"), text).unwrap();
    load::load_with_env(&load::Sources::new(dir, dir.join("none.mmdb")), &|_| None)
        .map(|_| ())
        .map_err(|e| e.0.iter().map(|e| e.to_string()).collect())
}

#[test]
fn rdata_over_65535_octets_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let strings = vec![format!("\"{}\"", "x".repeat(255)); 300].join(" ");
    let errors = load_zone(dir.path(), &format!("{HEAD}big IN TXT {strings}\n")).unwrap_err();
    assert!(
        errors.iter().any(|e| e.contains("example.com.zone:6")),
        "{errors:?}"
    );
}

#[test]
fn an_rrset_that_cannot_fit_a_message_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = HEAD.to_string();
    // 300 records of ~250 octets each: every one is fine, together ~77 KB.
    for i in 0..300 {
        text.push_str(&format!("big IN TXT \"{i:03}{}\"\n", "y".repeat(245)));
    }
    let errors = load_zone(dir.path(), &text).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("does not fit in a 64 KiB DNS message")),
        "{errors:?}"
    );
    // 200 of them fit (~51 KB) and load.
    let mut text = HEAD.to_string();
    for i in 0..200 {
        text.push_str(&format!("big IN TXT \"{i:03}{}\"\n", "y".repeat(245)));
    }
    load_zone(dir.path(), &text).unwrap();
}

#[test]
fn include_fan_out_is_bounded() {
    // Each level includes the same file four times: 4^16 files within the depth limit.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fan.inc"),
        "$INCLUDE fan.inc\n$INCLUDE fan.inc\n$INCLUDE fan.inc\n$INCLUDE fan.inc\n",
    )
    .unwrap();
    let errors = load_zone(dir.path(), &format!("{HEAD}$INCLUDE fan.inc\n")).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("more than 1024 files through $INCLUDE")),
        "{errors:?}"
    );
    // The errors themselves are bounded too.
    assert!(errors.len() < 5000, "{} errors", errors.len());
}
