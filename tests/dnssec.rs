//! DNSSEC signing checked by independent implementations.
//!
//! * Keys made by BIND's `dnssec-keygen` and by `ldns-keygen` load, and the DS records
//!   geosteer computes equal `dnssec-dsfromkey`'s; keys made by `geosteer keygen` sign zones
//!   in BIND's `dnssec-signzone` and `ldns-signzone` and their DS equal `dnssec-dsfromkey`'s.
//! * Zones signed by geosteer's signer (every RRset, a classic NSEC chain, written by
//!   `support/nsec_zone.rs`) pass BIND's `dnssec-verify`, `ldns-verify-zone` and Knot's
//!   `kzonecheck --dnssec on`, for ECDSA P-256 and Ed25519, combined keys and KSK/ZSK pairs;
//!   one flipped bit in one signature fails all three.
//!
//! Needs bind9-utils, ldnsutils and knot-dnssecutils (`.ci/run` installs them). Nothing here
//! uses the network.

mod common;
#[path = "support/nsec_zone.rs"]
mod nsec_zone;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::BIN;
use geosteer::dnssec::key::{self, Algorithm, FLAGS_KSK, FLAGS_ZSK};
use geosteer::dnssec::name;
use geosteer::dnssec::sign::{KeySet, OwnedRrset, Validity};
use geosteer::dnssec::{time, types};

/// Runs an external tool, failing the test with a clear message when it is not installed.
fn run(tool: &str, args: &[&str], cwd: &Path) -> Output {
    Command::new(tool)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {tool} ({e}): install bind9-utils, ldnsutils and knot-dnssecutils \
                 (as .ci/run does)"
            )
        })
}

fn ok(tool: &str, args: &[&str], cwd: &Path) -> String {
    let o = run(tool, args, cwd);
    assert!(
        o.status.success(),
        "{tool} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn zone() -> Vec<u8> {
    name::parse_text("example.com.").unwrap()
}

/// The `.key` files of a directory, sorted.
fn key_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "key"))
        .collect();
    v.sort();
    v
}

fn geosteer_ds(dir: &Path) -> Output {
    Command::new(BIN)
        .args(["ds", "example.com", "--keys"])
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn bind_and_ldns_keys_load_and_their_ds_match_dnssec_dsfromkey() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let k = |args: &[&str]| ok("dnssec-keygen", args, d);
    k(&[
        "-K",
        ".",
        "-a",
        "ECDSAP256SHA256",
        "-f",
        "KSK",
        "example.com",
    ]);
    k(&["-K", ".", "-a", "ECDSAP256SHA256", "example.com"]);
    k(&["-K", ".", "-a", "ED25519", "-f", "KSK", "example.com"]);
    // ldns-keygen writes into the current directory; -k makes a KSK.
    ok(
        "ldns-keygen",
        &["-a", "ECDSAP256SHA256", "-k", "example.com"],
        d,
    );
    ok("ldns-keygen", &["-a", "ED25519", "example.com"], d);
    // ldns-keygen also writes a .ds file; a key for another zone must be left alone.
    ok("ldns-keygen", &["-a", "ED25519", "example.net"], d);

    let mut warnings = Vec::new();
    let keys = key::load_zone_keys(d, &zone(), &mut warnings).expect("keys load");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(keys.len(), 5);
    for k in &keys {
        assert!(k.pair.is_some(), "{} has its private key", k.path.display());
        let file = key::with_ext(&k.path, "key");
        let theirs = ok("dnssec-dsfromkey", &["-2", file.to_str().unwrap()], d);
        assert_eq!(theirs.trim(), k.dnskey.ds_text(), "{}", file.display());
    }
    // BIND's KSKs carry timing metadata; ldns's keys none (published and active).
    let now = time::now();
    assert!(keys.iter().all(|k| k.timing.is_active(now)));
    assert_eq!(
        keys.iter().filter(|k| k.timing.publish.is_some()).count(),
        3
    );

    // `geosteer ds` prints the SEP keys' DS, exactly as dnssec-dsfromkey does.
    let out = geosteer_ds(d);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let mut theirs: Vec<String> = keys
        .iter()
        .filter(|k| k.dnskey.is_sep())
        .map(|k| {
            let f = key::with_ext(&k.path, "key");
            ok("dnssec-dsfromkey", &["-2", f.to_str().unwrap()], d)
                .trim()
                .to_string()
        })
        .collect();
    theirs.sort();
    let mut ours_sorted = ours.clone();
    ours_sorted.sort();
    assert_eq!(ours_sorted, theirs);
    assert_eq!(ours.len(), 3);

    // A private key others can read loads, with a warning that names the file only.
    let private = key::with_ext(&keys[0].path, "private");
    let secret = std::fs::read_to_string(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut warnings = Vec::new();
    key::load_zone_keys(d, &zone(), &mut warnings).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains(private.to_str().unwrap()) && warnings[0].contains("0644"));
    let secret_line = secret
        .lines()
        .find_map(|l| l.strip_prefix("PrivateKey: "))
        .unwrap();
    let out = geosteer_ds(d);
    let all = format!(
        "{}{}{warnings:?}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("chmod 600"), "{all}");
    assert!(!all.contains(secret_line), "private key material printed");
}

#[test]
fn geosteer_keygen_keys_sign_in_bind_and_ldns() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let keygen = |extra: &[&str]| {
        let out = Command::new(BIN)
            .args(["keygen", "Example.COM", "--keys"])
            .arg(&keys)
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let ksk = keygen(&["--ksk"]);
    let zsk = keygen(&["--zsk"]);
    assert!(ksk.starts_with("Kexample.com.+013+"), "{ksk}");
    assert_ne!(ksk, zsk);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&keys), 0o700);
    for base in [&ksk, &zsk] {
        assert_eq!(mode(&keys.join(format!("{base}.private"))), 0o600);
    }
    let dnskeys: Vec<String> = [&ksk, &zsk]
        .iter()
        .map(|b| std::fs::read_to_string(keys.join(format!("{b}.key"))).unwrap())
        .collect();
    assert!(
        dnskeys[0].contains("IN DNSKEY 257 3 13 ") && dnskeys[1].contains("IN DNSKEY 256 3 13 ")
    );
    assert!(
        dnskeys[0].contains("; Activate: "),
        "timing comments as dnssec-keygen"
    );

    // `geosteer ds` prints the KSK's DS only, equal to dnssec-dsfromkey's.
    let out = geosteer_ds(&keys);
    let theirs = ok(
        "dnssec-dsfromkey",
        &["-2", keys.join(format!("{ksk}.key")).to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), theirs);

    // BIND and ldns read our key files and sign with them; their verifiers accept the result.
    let zone_file = dir.path().join("example.com.zone");
    std::fs::write(
        &zone_file,
        "$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 60\n  NS ns1\nns1 A 192.0.2.1\n\
         www A 192.0.2.2\n",
    )
    .unwrap();
    ok(
        "dnssec-signzone",
        &[
            "-K",
            "keys",
            "-S",
            "-o",
            "example.com",
            "-f",
            "bind.signed",
            "example.com.zone",
        ],
        dir.path(),
    );
    ok(
        "dnssec-verify",
        &["-o", "example.com", "bind.signed"],
        dir.path(),
    );
    ok(
        "ldns-signzone",
        &[
            "-o",
            "example.com.",
            "-f",
            "ldns.signed",
            "example.com.zone",
            &format!("keys/{ksk}"),
            &format!("keys/{zsk}"),
        ],
        dir.path(),
    );
    ok("ldns-verify-zone", &["ldns.signed"], dir.path());
    let signed = std::fs::read_to_string(dir.path().join("ldns.signed")).unwrap();
    for base in [&ksk, &zsk] {
        let tag: u16 = base.rsplit('+').next().unwrap().parse().unwrap();
        assert!(
            signed.contains(&format!(" {tag} example.com. ")),
            "signed with {base}"
        );
    }

    // A second key never overwrites an existing one.
    let csk = keygen(&["--algorithm", "ed25519"]);
    assert!(csk.starts_with("Kexample.com.+015+"));
    assert_eq!(key_files(&keys).len(), 3);
}

/// The test zone: every record type the signer must canonicalize, in mixed case, plus a
/// wildcard, an empty non-terminal, a signed and an unsigned delegation with glue.
const ZONE: &str = r#"$ORIGIN Example.COM.
$TTL 3600
@ SOA NS1.Example.com. HostMaster.EXAMPLE.com. 2026120101 7200 3600 1209600 300
  NS ns1
  NS NS2.Example.Com.
  MX 10 MAIL
  MX 20 mail2.EXAMPLE.com.
  TXT "v=spf1 mx -all"
  CAA 0 issue "letsencrypt.org"
ns1 A 192.0.2.53
    AAAA 2001:db8::53
NS2 A 192.0.2.54
mail A 192.0.2.25
mail2 A 192.0.2.26
WWW 300 A 192.0.2.80
    300 A 192.0.2.8
    300 A 192.0.2.180
    300 AAAA 2001:db8::80
Alias CNAME WWW
_sip._udp SRV 10 5 5060 SIP.Example.COM.
sip A 192.0.2.60
naptr NAPTR 100 10 "U" "E2U+sip" "!^.*$!sip:info@example.com!" SIP.Example.com.
ptr PTR WWW.Example.Com.
*.wild A 192.0.2.99
*.wild TXT "wildcard" "two strings"
deep.a.B.ent A 192.0.2.7
signed-child NS ns.signed-child
ns.signed-child A 192.0.2.77
unsigned-child NS ns.elsewhere.example.net.
unsigned-child NS NS.Unsigned-Child
ns.unsigned-child A 192.0.2.78
"#;

fn test_rrsets() -> Vec<OwnedRrset> {
    let mut sets = nsec_zone::rrsets_from_text(ZONE, "example.com.");
    // A DS for the signed child, from a key of the child's.
    let child = name::parse_text("signed-child.example.com.").unwrap();
    let child_key = key::generate(&child, Algorithm::EcdsaP256Sha256, FLAGS_KSK, 0).unwrap();
    sets.push(OwnedRrset {
        owner: child,
        rtype: types::DS,
        class: 1,
        ttl: 3600,
        rdatas: vec![child_key.dnskey.ds_rdata()],
    });
    sets
}

/// Key sets to sign with: (label, keys made for it in `dir`).
fn key_sets(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    let mk = |label: &'static str, specs: &[(Algorithm, u16)]| {
        let d = dir.join(label);
        for &(alg, flags) in specs {
            key::generate_into(&d, &zone(), alg, flags, "test key", time::now()).unwrap();
        }
        (label, d)
    };
    out.push(mk("csk-p256", &[(Algorithm::EcdsaP256Sha256, FLAGS_KSK)]));
    out.push(mk("csk-ed25519", &[(Algorithm::Ed25519, FLAGS_KSK)]));
    out.push(mk(
        "ksk-zsk-p256",
        &[
            (Algorithm::EcdsaP256Sha256, FLAGS_KSK),
            (Algorithm::EcdsaP256Sha256, FLAGS_ZSK),
        ],
    ));
    // Keys made by BIND: a KSK and a ZSK, Ed25519.
    let bind = dir.join("bind-ed25519");
    std::fs::create_dir_all(&bind).unwrap();
    ok(
        "dnssec-keygen",
        &["-K", ".", "-a", "ED25519", "-f", "KSK", "example.com"],
        &bind,
    );
    ok(
        "dnssec-keygen",
        &["-K", ".", "-a", "ED25519", "example.com"],
        &bind,
    );
    out.push(("bind-ed25519", bind));
    out
}

fn sign_test_zone(keys_dir: &Path) -> String {
    let mut warnings = Vec::new();
    let keys = key::load_zone_keys(keys_dir, &zone(), &mut warnings).unwrap();
    let now = time::now();
    let signer = KeySet::new(&zone(), keys)
        .signer(now, Validity::default())
        .unwrap();
    let (inception, expiration) = signer.validity.window(now);
    nsec_zone::sign_zone(&zone(), test_rrsets(), &signer, inception, expiration)
}

/// (tool, args) of each verifier, for the file `f`.
fn verifiers(f: &str) -> Vec<(&'static str, Vec<String>)> {
    vec![
        // -z: a combined key (KSK flag) signing every RRset is intended.
        (
            "dnssec-verify",
            vec!["-z".into(), "-o".into(), "example.com".into(), f.into()],
        ),
        ("ldns-verify-zone", vec![f.into()]),
        (
            "kzonecheck",
            vec![
                "-o".into(),
                "example.com".into(),
                "--dnssec".into(),
                "on".into(),
                f.into(),
            ],
        ),
    ]
}

#[test]
fn zones_signed_by_geosteer_pass_bind_ldns_and_knot_verifiers() {
    let dir = tempfile::tempdir().unwrap();
    for (label, keys) in key_sets(dir.path()) {
        let signed = sign_test_zone(&keys);
        let file = dir.path().join(format!("{label}.signed"));
        std::fs::write(&file, &signed).unwrap();
        // The zone has what the test means it to have.
        for want in [
            " IN RRSIG DS ",                        // the DS is signed
            "*.WiLd.ExAmPlE.CoM. 3600 IN RRSIG A ", // the wildcard, as a wildcard
            " IN NSEC signed-child.example.com. ",
            " IN DNSKEY ",
            " IN TYPE59 ", // CDS
        ] {
            assert!(signed.contains(want), "{label}: no {want:?} in\n{signed}");
        }
        let lower = signed.to_ascii_lowercase();
        for cut in ["signed-child", "unsigned-child"] {
            let ns_sig = format!("{cut}.example.com. 3600 in rrsig ns ");
            assert!(!lower.contains(&ns_sig), "{label}: delegation NS signed");
        }
        for (tool, args) in verifiers(file.to_str().unwrap()) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = run(tool, &args, dir.path());
            assert!(
                out.status.success(),
                "{label}: {tool} rejects the zone:\n{}{}\n{signed}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn one_flipped_signature_fails_every_verifier() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    key::generate_into(
        &keys,
        &zone(),
        Algorithm::EcdsaP256Sha256,
        FLAGS_KSK,
        "k",
        time::now(),
    )
    .unwrap();
    let signed = sign_test_zone(&keys);
    // Change one base64 character of the signature over www's A RRset.
    let mut lines: Vec<String> = signed.lines().map(str::to_string).collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("WwW.ExAmPlE.CoM. 300 IN RRSIG A "))
        .expect("www A is signed");
    let l = &mut lines[at];
    let pos = l.len() - 10;
    let c = l.as_bytes()[pos];
    let flipped = if c == b'A' { 'B' } else { 'A' };
    l.replace_range(pos..pos + 1, &flipped.to_string());
    let file = dir.path().join("tampered.signed");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    for (tool, args) in verifiers(file.to_str().unwrap()) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(tool, &args, dir.path());
        assert!(
            !out.status.success(),
            "{tool} accepted a bad signature:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
