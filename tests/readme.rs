//! README "Try it", run as written: its `try-it` blocks, in order, in one bash with job control
//! (so that `kill %1` means what it says), the stand-ins and `serve` in the background, and
//! each command of its `console` blocks with the output shown checked (every line shown must
//! appear, whitespace aside; the order of lines may differ, as the order of addresses does).
//!
//! The example uses fixed ports (5353, 9153, 9925), so the whole run happens in a network
//! namespace of its own (`unshare --net`, loopback only), where no other program can hold them.
//! That needs root (CI runs as root); elsewhere the test says it was skipped.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_geosteer");

/// The `try-it` code blocks of the "Try it" section: (info string, body).
fn blocks(readme: &str) -> Vec<(String, String)> {
    let start = readme.find("\n## Try it\n").expect("a Try it section");
    let section = &readme[start + 1..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    let section = &section[..end];
    let mut out = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        if info.split_whitespace().any(|w| w == "try-it") {
            out.push((info.to_string(), body.join("\n")));
        }
    }
    out
}

/// One command of a console block and the output it shows.
struct Step {
    command: String,
    expected: Vec<String>,
}

fn steps(console: &str) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    for line in console.lines() {
        if let Some(cmd) = line.strip_prefix("$ ") {
            out.push(Step {
                command: cmd.to_string(),
                expected: Vec::new(),
            });
        } else if !line.trim().is_empty() {
            out.last_mut()
                .expect("output before the first command")
                .expected
                .push(line.to_string());
        }
    }
    out
}

fn normal(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["--net", "true"])
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("ip").arg("-V").output().is_ok()
}

#[test]
fn try_it_works_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = blocks(&readme);
    let kinds: Vec<&str> = blocks
        .iter()
        .map(|(i, _)| i.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(
        kinds,
        ["sh", "sh", "console", "console"],
        "the Try it blocks"
    );
    if !can_unshare() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root with unshare and ip: the README flow must run there"
        );
        eprintln!("SKIPPED: cannot make a network namespace here (needs root, unshare, ip)");
        return;
    }
    let bin = |s: &str| s.replace("./target/release/geosteer", BIN);
    let standins = bin(&blocks[0].1);
    let serve = bin(&blocks[1].1);
    assert!(serve.trim().contains(" serve "), "{serve}");
    let mut script = String::from(
        "set -m\n\
         ip link set lo up\n\
         trap 'kill $(jobs -p) 2>/dev/null' EXIT\n",
    );
    script.push_str(&standins);
    script.push('\n');
    // A person switches terminals before starting the server; the script waits (bounded)
    // until the stand-ins accept connections instead, so that the first probe round finds
    // them up as it would then.
    let addresses: Vec<&str> = standins
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| w.starts_with("127.") && w.parse::<std::net::Ipv4Addr>().is_ok())
        .collect();
    assert!(!addresses.is_empty(), "no stand-in addresses in {standins}");
    script.push_str(&format!(
        "for a in {}; do\n\
           for i in $(seq 1 100); do (exec 3<>/dev/tcp/$a/9925) 2>/dev/null && break; sleep 0.1; done\n\
         done\n",
        addresses.join(" ")
    ));
    script.push_str(&format!(
        "{} >\"$SERVE_LOG_DIR/serve.log\" 2>&1 &\n",
        serve.trim()
    ));
    // Wait (bounded) until it answers, as a person would before typing the next command.
    script.push_str(
        "for i in $(seq 1 300); do\n\
           dig +short +time=1 +tries=1 @127.0.0.1 -p 5353 example.com SOA 2>/dev/null | grep -q . && break\n\
           sleep 0.2\n\
         done\n",
    );
    let mut all_steps = Vec::new();
    for (_, console) in &blocks[2..] {
        all_steps.extend(steps(&bin(console)));
    }
    for (n, step) in all_steps.iter().enumerate() {
        script.push_str(&format!(
            "echo '::step {n}'\n{}\necho '::end {n}'\n",
            step.command
        ));
    }
    script.push_str("echo '::done'\n");

    let work = tempfile::tempdir().unwrap();
    let out = Command::new("unshare")
        .args(["--net", "bash", "-c"])
        .arg(format!("cd {:?} && {{\n{script}\n}}", root))
        .env("SERVE_LOG_DIR", work.path())
        .current_dir(root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = std::fs::read_to_string(work.path().join("serve.log")).unwrap_or_default();
    assert!(
        stdout.contains("::done"),
        "the flow did not finish:\n{stdout}\n{}\nserve log:\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (n, step) in all_steps.iter().enumerate() {
        let from = stdout.find(&format!("::step {n}\n")).unwrap();
        let to = stdout.find(&format!("::end {n}\n")).unwrap();
        let got: Vec<String> = stdout[from..to].lines().skip(1).map(normal).collect();
        for want in &step.expected {
            assert!(
                got.contains(&normal(want)),
                "`{}`: no line {want:?} in its output:\n{}\nserve log:\n{log}",
                step.command,
                got.join("\n")
            );
        }
    }
    // What the text says about the log happened too.
    for said in ["DOWN: refused", "now answers from pool eu-central"] {
        assert!(log.contains(said), "the log has no {said:?}:\n{log}");
    }
}

#[test]
fn every_structured_log_field_is_documented() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("\n### Logs\n").expect("a Logs section");
    let section = &readme[start..start + readme[start + 1..].find("\n### ").unwrap()];
    for field in geosteer::logfmt::FIELDS {
        assert!(
            section.contains(field),
            "log field {field} is not in README's Logs section"
        );
    }
}
