//! Do validating resolvers accept the denial proofs geosteer builds?
//!
//! The proofs an online signer makes per answer (compact denial with NXNAME, RFC 9824; white
//! lies, RFC 4470; NODATA at a name and at an empty non-terminal; no DS at an insecure
//! delegation) are written, signed by geosteer, into a static zone that Knot serves on
//! loopback: an NSEC at a name the zone otherwise lacks makes Knot answer NODATA with exactly
//! the NSEC a compact-denial server sends, and the white lies' owner names are the nodes Knot
//! finds as predecessors. BIND's `delv` and an Unbound resolver (stub zone, trust anchor from
//! the DS geosteer computes) must then call each answer secure.
//!
//! This checks what the validators accept, independently of geosteer's answer path (which
//! is checked by tests/dnssec_serve.rs). Needs knot (knotd), unbound, bind9-utils (delv) and dig. All traffic
//! stays on 127.0.0.1.

#[path = "support/daemons.rs"]
mod daemons;
#[path = "support/nsec_zone.rs"]
mod nsec_zone;

use std::path::Path;
use std::process::Command;

use daemons::{dig, free_port, spawn};

use geosteer::dnssec::denial::{self, Scheme};
use geosteer::dnssec::key::{self, Algorithm, FLAGS_KSK};
use geosteer::dnssec::name;
use geosteer::dnssec::sign::{KeySet, OwnedRrset, Scratch, Validity, ZoneSigner};
use geosteer::dnssec::{text, time, types};

fn w(s: &str) -> Vec<u8> {
    name::parse_text(s).unwrap()
}

fn set(owner: &[u8], rtype: u16, ttl: u32, rdatas: Vec<Vec<u8>>) -> OwnedRrset {
    OwnedRrset {
        owner: owner.to_vec(),
        rtype,
        class: 1,
        ttl,
        rdatas,
    }
}

/// Appends `r` (generic form, or DNSSEC presentation) and, if `sign`, its RRSIGs.
fn emit(out: &mut String, r: &OwnedRrset, signer: Option<&ZoneSigner>, scratch: &mut Scratch) {
    for rd in &r.rdatas {
        let line = match r.rtype {
            types::NSEC => text::nsec(&r.owner, r.ttl, rd).unwrap(),
            types::DNSKEY => text::dnskey(&r.owner, r.ttl, rd).unwrap(),
            types::DS => text::ds(&r.owner, r.ttl, rd).unwrap(),
            _ => text::generic(&r.owner, r.ttl, r.rtype, rd),
        };
        out.push_str(&line);
        out.push('\n');
    }
    if let Some(s) = signer {
        for sig in s.sign(&r.as_ref(), time::now(), scratch).unwrap() {
            out.push_str(&text::rrsig(&r.owner, r.ttl, &sig.rdata).unwrap());
            out.push('\n');
        }
    }
}

/// The zone: ordinary data signed, plus the NSECs geosteer's denial functions make for the
/// queries the test asks.
fn build_zone(dir: &Path) -> (String, String) {
    let apex = w("example.com.");
    key::generate_into(
        &dir.join("keys"),
        &apex,
        Algorithm::EcdsaP256Sha256,
        FLAGS_KSK,
        "test key",
        time::now(),
    )
    .unwrap();
    let mut warnings = Vec::new();
    let keys = key::load_zone_keys(&dir.join("keys"), &apex, &mut warnings).unwrap();
    let ds = keys[0].dnskey.ds_rdata();
    let signer = KeySet::new(&apex, keys)
        .signer(time::now(), Validity::default())
        .unwrap();
    let soa = nsec_zone::rrsets_from_text(
        "$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n",
        "example.com.",
    )
    .remove(0);
    let ip = |a: [u8; 4]| a.to_vec();
    let signed = [
        soa,
        set(&apex, types::NS, 3600, vec![w("ns1.example.com.")]),
        set(&apex, types::DNSKEY, 3600, signer.dnskey_rdatas()),
        set(&w("ns1.example.com."), 1, 3600, vec![ip([127, 0, 0, 1])]),
        set(&w("www.example.com."), 1, 300, vec![ip([192, 0, 2, 80])]),
        set(
            &w("www.example.com."),
            28,
            300,
            vec![vec![
                0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80,
            ]],
        ),
        set(&w("a.ent.example.com."), 1, 300, vec![ip([192, 0, 2, 7])]),
        // A secure delegation's DS (of some child key).
        set(
            &w("secure.example.com."),
            types::DS,
            3600,
            vec![
                key::generate(&w("secure.example.com."), Algorithm::Ed25519, FLAGS_KSK, 0)
                    .unwrap()
                    .dnskey
                    .ds_rdata(),
            ],
        ),
    ];
    let unsigned = vec![
        set(
            &w("insecure.example.com."),
            types::NS,
            3600,
            vec![w("ns.insecure.example.com.")],
        ),
        set(
            &w("ns.insecure.example.com."),
            1,
            3600,
            vec![ip([127, 0, 0, 1])],
        ),
        set(
            &w("secure.example.com."),
            types::NS,
            3600,
            vec![w("ns.elsewhere.example.net.")],
        ),
    ];
    // The denial proofs, as the answer path will make them.
    let mut nsecs = Vec::new();
    let mut add = |p: denial::Proof| {
        for n in p.nsecs {
            nsecs.push(set(
                n.owner.as_bytes(),
                types::NSEC,
                300,
                vec![n.rdata.to_vec()],
            ));
        }
    };
    add(denial::nxdomain(
        Scheme::Compact,
        &w("nx.example.com."),
        &apex,
        false,
    ));
    add(denial::nodata(&w("www.example.com."), &[1, 28]));
    add(denial::nodata(&w("ent.example.com."), &[]));
    add(denial::insecure_delegation(
        &w("insecure.example.com."),
        &[types::NS],
    ));
    add(denial::nxdomain(
        Scheme::WhiteLies,
        &w("wl.example.com."),
        &apex,
        false,
    ));

    let mut zone = String::new();
    let mut scratch = Scratch::default();
    for r in signed.iter().chain(&nsecs) {
        emit(&mut zone, r, Some(&signer), &mut scratch);
    }
    // The control: a compact-denial NSEC signed by a key the zone does not publish.
    key::generate_into(
        &dir.join("other"),
        &apex,
        Algorithm::EcdsaP256Sha256,
        FLAGS_KSK,
        "x",
        0,
    )
    .unwrap();
    let other = KeySet::new(
        &apex,
        key::load_zone_keys(&dir.join("other"), &apex, &mut warnings).unwrap(),
    )
    .signer(time::now(), Validity::default())
    .unwrap();
    for n in denial::nxdomain(Scheme::Compact, &w("bogus.example.com."), &apex, false).nsecs {
        let r = set(n.owner.as_bytes(), types::NSEC, 300, vec![n.rdata.to_vec()]);
        emit(&mut zone, &r, Some(&other), &mut scratch);
    }
    for r in &unsigned {
        emit(&mut zone, r, None, &mut scratch);
    }
    let anchor = text::ds(&apex, 3600, &ds).unwrap();
    (zone, anchor)
}

struct Case {
    qname: &'static str,
    qtype: &'static str,
    /// The rcode the server sends (and the resolver passes on).
    status: &'static str,
    /// What delv must print.
    delv: &'static str,
    /// Whether the resolver must validate it (else it must fail it: SERVFAIL).
    secure: bool,
}

const CASES: &[Case] = &[
    Case {
        qname: "www.example.com",
        qtype: "A",
        status: "NOERROR",
        delv: "; fully validated",
        secure: true,
    },
    // Compact denial: a nonexistent name, NODATA with NXNAME.
    Case {
        qname: "nx.example.com",
        qtype: "A",
        status: "NOERROR",
        delv: "; negative response, fully validated",
        secure: true,
    },
    // NODATA at a name, and at an empty non-terminal.
    Case {
        qname: "www.example.com",
        qtype: "TXT",
        status: "NOERROR",
        delv: "; negative response, fully validated",
        secure: true,
    },
    Case {
        qname: "ent.example.com",
        qtype: "A",
        status: "NOERROR",
        delv: "; negative response, fully validated",
        secure: true,
    },
    // White lies: NXDOMAIN proven by two minimally covering NSECs.
    Case {
        qname: "wl.example.com",
        qtype: "A",
        status: "NXDOMAIN",
        delv: "; negative response, fully validated",
        secure: true,
    },
    // No DS at an insecure delegation; the DS of a secure one.
    Case {
        qname: "insecure.example.com",
        qtype: "DS",
        status: "NOERROR",
        delv: "; negative response, fully validated",
        secure: true,
    },
    Case {
        qname: "secure.example.com",
        qtype: "DS",
        status: "NOERROR",
        delv: "; fully validated",
        secure: true,
    },
    // The control: validators do check (a signature by an unpublished key).
    Case {
        qname: "bogus.example.com",
        qtype: "A",
        status: "NOERROR",
        delv: "resolution failed",
        secure: false,
    },
];

#[test]
fn delv_and_unbound_validate_online_denial_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (zone, anchor) = build_zone(d);
    std::fs::write(d.join("example.com.zone"), &zone).unwrap();

    // Knot serves the zone as it is (no signing, no semantic checks).
    let knot_port = free_port();
    std::fs::create_dir_all(d.join("run")).unwrap();
    std::fs::create_dir_all(d.join("db")).unwrap();
    let p = d.display();
    std::fs::write(
        d.join("knot.conf"),
        format!(
            "server:\n    rundir: {p}/run\n    listen: 127.0.0.1@{knot_port}\n    \
             udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
             log:\n  - target: stderr\n    any: warning\n\
             database:\n    storage: {p}/db\n\
             template:\n  - id: default\n    storage: {p}\n    zonefile-sync: -1\n    \
             journal-content: none\n\
             zone:\n  - domain: example.com\n    file: example.com.zone\n"
        ),
    )
    .unwrap();
    let mut knot = spawn("knotd", &["-c", d.join("knot.conf").to_str().unwrap()]);
    daemons::wait_until_answers(knot_port, "example.com", &mut knot);

    // Unbound: validating, example.com stubbed to Knot, the anchor from geosteer's DS.
    let unbound_port = free_port();
    let (ds_owner, ds_rest) = anchor.split_once(' ').unwrap();
    let ds_rest = ds_rest.split_once(" IN ").unwrap().1;
    std::fs::write(
        d.join("unbound.conf"),
        format!(
            "server:\n  interface: 127.0.0.1@{unbound_port}\n  do-daemonize: no\n  \
             username: \"\"\n  chroot: \"\"\n  directory: \"{p}\"\n  pidfile: \"\"\n  \
             use-syslog: no\n  logfile: \"\"\n  verbosity: 0\n  val-log-level: 2\n  \
             do-not-query-localhost: no\n  module-config: \"validator iterator\"\n  \
             trust-anchor: \"{ds_owner} {ds_rest}\"\n  qname-minimisation: no\n  \
             aggressive-nsec: yes\n\
             stub-zone:\n  name: \"example.com\"\n  stub-addr: 127.0.0.1@{knot_port}\n\
             remote-control:\n  control-enable: no\n"
        ),
    )
    .unwrap();
    let mut unbound = spawn(
        "unbound",
        &["-d", "-c", d.join("unbound.conf").to_str().unwrap()],
    );
    daemons::wait_until_answers(unbound_port, "example.com", &mut unbound);

    // delv: the same anchor as a static DS.
    let fields: Vec<&str> = ds_rest.split_whitespace().collect();
    std::fs::write(
        d.join("anchors.conf"),
        format!(
            "trust-anchors {{ {ds_owner} static-ds {} {} {} \"{}\"; }};\n",
            fields[1], fields[2], fields[3], fields[4]
        ),
    )
    .unwrap();

    let mut failures = Vec::new();
    for c in CASES {
        let label = format!("{} {}", c.qname, c.qtype);
        // The server's own answer: the rcode, and an NSEC where there is no data.
        let auth = dig(knot_port, &["+dnssec", "+norec", c.qname, c.qtype]);
        if !auth.contains(&format!("status: {}", c.status)) {
            failures.push(format!("{label}: knot answered\n{auth}"));
            continue;
        }
        let delv = Command::new("delv")
            .args(["@127.0.0.1", "-p", &knot_port.to_string(), "-a"])
            .arg(d.join("anchors.conf"))
            .args(["+root=example.com", c.qname, c.qtype])
            .output()
            .expect("delv (bind9-utils)");
        let delv_out = format!(
            "{}{}",
            String::from_utf8_lossy(&delv.stdout),
            String::from_utf8_lossy(&delv.stderr)
        );
        if !delv_out.contains(c.delv) {
            failures.push(format!(
                "{label}: delv says\n{delv_out}\nserver sent\n{auth}"
            ));
        }
        let resolved = dig(unbound_port, &["+dnssec", c.qname, c.qtype]);
        let flags = resolved
            .lines()
            .find(|l| l.starts_with(";; flags:"))
            .unwrap_or("");
        let good = if c.secure {
            resolved.contains(&format!("status: {}", c.status)) && flags.contains(" ad")
        } else {
            resolved.contains("status: SERVFAIL")
        };
        if !good {
            failures.push(format!(
                "{label}: unbound (want {}) answered\n{resolved}",
                if c.secure { "AD=1" } else { "SERVFAIL" }
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n\nzone:\n{zone}",
        failures.join("\n----\n")
    );
}
