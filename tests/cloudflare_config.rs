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

/// The wrapper that runs a program in its own mount namespace with `hosts` bind-mounted on
/// /etc/hosts and `nsswitch` on /etc/nsswitch.conf (`hosts: files`: no lookup leaves the
/// machine), or `None` (with the reason) where that cannot be done here.
fn private_hosts(hosts: &Path, nsswitch: &Path) -> Result<Vec<String>, String> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut w: Vec<String> = vec!["unshare".into()];
    if !root {
        // An unprivileged user maps itself to root in a user namespace to mount.
        w.push("-r".into());
    }
    w.push("-m".into());
    w.extend([
        "sh".into(),
        "-c".into(),
        "mount --bind \"$0\" /etc/hosts && mount --bind \"$1\" /etc/nsswitch.conf && \
         shift && exec \"$@\""
            .into(),
        hosts.display().to_string(),
        nsswitch.display().to_string(),
    ]);
    let probe = Command::new(&w[0])
        .args(&w[1..])
        .args(["grep", "-q", "geosteer-hosts-probe", "/etc/hosts"])
        .output()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    if !probe.status.success() {
        return Err(format!(
            "unshare -m with a bind mount failed: {}",
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
    }
    Ok(w)
}

/// `--resolve-interval`: an origin given by host name is resolved again through the system
/// resolver (getaddrinfo, which reads /etc/hosts on every lookup), and the answers follow its
/// address; a name that stops resolving keeps the addresses answered before. The server runs
/// in a mount namespace of its own, with a private /etc/hosts this test rewrites.
#[test]
fn host_name_origins_are_resolved_again_and_answers_follow() {
    let dir = ZoneDir::with_zone("example.com", &format!("$ORIGIN example.com.\n{SOA}"));
    let hosts_text = |addr: &str| {
        format!(
            "# geosteer-hosts-probe\n127.0.0.1 localhost\n::1 localhost\n{addr} db.geosteer.test\n"
        )
    };
    let hosts = dir.write("etc/hosts", &hosts_text("127.0.31.1"));
    let nsswitch = dir.write("etc/nsswitch.conf", "hosts: files\n");
    let wrapper = match private_hosts(&hosts, &nsswitch) {
        Ok(w) => w,
        Err(why) => {
            eprintln!("SKIPPED host_name_origins_are_resolved_again_and_answers_follow: {why}");
            return;
        }
    };
    dir.write(
        "example.com.toml",
        "[pools.db]\norigins = [ { address = \"db.geosteer.test\" } ]\n\n\
         [load_balancers.db]\nsteering_policy = \"off\"\ndefault_pools = [\"db\"]\n",
    );
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let s = Server::start_wrapped(&wrapper, dir.path(), &["--resolve-interval", "1s"]);
    let answer = || rdata_strings(&udp(s.addr, &query("db.example.com.", RecordType::A)).answers);
    assert_eq!(answer(), vec!["A 127.0.31.1"]);
    // Written in place: the bind mount follows the file, not its name.
    std::fs::write(&hosts, hosts_text("127.0.31.2")).unwrap();
    s.wait_for_stderr("origin host db.geosteer.test now resolves to 127.0.31.2: reloading");
    let deadline = std::time::Instant::now() + WAIT;
    while answer() != vec!["A 127.0.31.2"] {
        assert!(
            std::time::Instant::now() < deadline,
            "the answer did not follow /etc/hosts: {:?}\n{}",
            answer(),
            s.stderr().join("\n")
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The name stops resolving: the reload fails and the last addresses stay.
    std::fs::write(&hosts, "# geosteer-hosts-probe\n127.0.0.1 localhost\n").unwrap();
    s.wait_for_stderr("origin host db.geosteer.test does not resolve");
    let failed_reloads = |s: &Server| {
        s.stderr()
            .iter()
            .filter(|l| l.contains("does not resolve"))
            .count()
    };
    let seen = failed_reloads(&s);
    // One more round after the failure was logged: still the old address.
    let deadline = std::time::Instant::now() + WAIT;
    while failed_reloads(&s) == seen && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(answer(), vec!["A 127.0.31.2"], "{}", s.stderr().join("\n"));
}
