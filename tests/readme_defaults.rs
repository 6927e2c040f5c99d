//! Every default that the README's configuration reference documents is the default the code
//! applies: the reference block of "Steering" and the monitor block of "Health monitors" are
//! read from README.md and held against the named constants of `geosteer::config`.

use geosteer::config::{self, OnAllDown, OriginSteering};

/// The first ```toml block after the heading `heading`.
fn toml_block(readme: &str, heading: &str) -> String {
    let from = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README has no heading {heading:?}"));
    let rest = &readme[from..];
    let start = rest.find("```toml\n").expect("a toml block") + 8;
    let len = rest[start..].find("```").expect("the block ends");
    rest[start..start + len].to_string()
}

/// The value written for `key` (first occurrence, inline tables included), and the comment of
/// its line.
fn entry(block: &str, key: &str) -> (String, String) {
    for line in block.lines() {
        let (code, comment) = line.split_once('#').unwrap_or((line, ""));
        let mut from = 0;
        while let Some(i) = code[from..].find(key) {
            let at = from + i;
            from = at + key.len();
            let before = code[..at].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let Some(value) = code[from..].trim_start().strip_prefix('=') else {
                continue;
            };
            let value = value.split([',', '}']).next().unwrap_or("").trim();
            return (value.to_string(), comment.trim().to_string());
        }
    }
    panic!("no {key} = … in:\n{block}");
}

fn quoted(s: &str) -> String {
    format!("{s:?}")
}

/// "10" for ten seconds: how the README writes durations (Cloudflare's integer seconds).
fn seconds(d: std::time::Duration) -> String {
    d.as_secs().to_string()
}

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

#[test]
fn the_steering_reference_documents_the_defaults() {
    let block = toml_block(&readme(), "### Reference");
    let value = |key| entry(&block, key).0;
    assert_eq!(
        value("minimum_origins"),
        config::DEFAULT_MINIMUM_ORIGINS.to_string()
    );
    assert_eq!(
        value("weight").parse::<f64>().ok(),
        Some(config::DEFAULT_WEIGHT),
        "origin weight"
    );
    assert_eq!(value("enabled"), config::DEFAULT_ENABLED.to_string());
    assert_eq!(
        value("policy"),
        quoted(&format!("{:?}", OriginSteering::default()).to_lowercase()),
        "origin_steering = {{ policy = … }}"
    );
    assert_eq!(value("prefer_ecs"), quoted(config::DEFAULT_PREFER_ECS));
    assert_eq!(value("mode"), quoted(config::DEFAULT_LOCATION_MODE));
    assert_eq!(
        value("default_weight").parse::<f64>().ok(),
        Some(config::DEFAULT_POOL_WEIGHT)
    );
    assert_eq!(
        value("on_all_down"),
        quoted(&format!("{:?}", OnAllDown::default()).to_lowercase())
    );
    assert_eq!(value("ttl"), config::DEFAULT_TTL.to_string());
    let (max, comment) = entry(&block, "max_answers");
    assert_eq!(max, config::MAX_ANSWERS.to_string());
    assert_eq!(comment, format!("1..={}", config::MAX_ANSWERS));
    let (_, comment) = entry(&block, "pool_weights");
    assert!(
        comment.ends_with(&format!("default {}", config::DEFAULT_WEIGHT)),
        "pool_weights comment: {comment}"
    );
}

#[test]
fn the_monitor_reference_documents_the_defaults() {
    let block = toml_block(&readme(), "### Monitors");
    let value = |key| entry(&block, key).0;
    let (_, port) = entry(&block, "port");
    assert!(
        port.contains(&format!(
            "http defaults to {}, https to {}",
            config::DEFAULT_HTTP_PORT,
            config::DEFAULT_HTTPS_PORT
        )),
        "port comment: {port}"
    );
    assert_eq!(value("interval"), seconds(config::DEFAULT_INTERVAL));
    assert_eq!(value("timeout"), seconds(config::DEFAULT_TIMEOUT));
    assert_eq!(
        entry(&block, "header").0,
        "{ Host = [\"www.example.com\"]",
        "header as a map of arrays"
    );
    assert_eq!(value("retries"), config::DEFAULT_RETRIES.to_string());
    assert_eq!(
        value("consecutive_down"),
        config::DEFAULT_CONSECUTIVE_DOWN.to_string()
    );
    assert_eq!(
        value("consecutive_up"),
        config::DEFAULT_CONSECUTIVE_UP.to_string()
    );
    assert_eq!(value("method"), quoted(config::DEFAULT_METHOD));
    let (_, path) = entry(&block, "path");
    assert_eq!(path, format!("default {}", quoted(config::DEFAULT_PATH)));
    let (_, codes) = entry(&block, "expected_codes");
    assert!(
        codes.starts_with(&format!(
            "{} (the default)",
            quoted(config::DEFAULT_EXPECTED_CODES)
        )),
        "expected_codes comment: {codes}"
    );
    assert_eq!(
        value("follow_redirects"),
        config::DEFAULT_FOLLOW_REDIRECTS.to_string()
    );
    assert_eq!(
        value("allow_insecure"),
        config::DEFAULT_ALLOW_INSECURE.to_string()
    );
}

#[test]
fn entries_are_found_by_whole_key() {
    let block = "a = 1  # one\nx_a = 2\nt = { a_b = 3, b = 4 }\n";
    assert_eq!(entry(block, "a"), ("1".to_string(), "one".to_string()));
    assert_eq!(entry(block, "b").0, "4");
}

#[test]
fn the_command_line_defaults_document_rate_limiting() {
    use geosteer::dns::rrl;
    let readme = readme();
    let line = format!(
        "`--rrl-slip {} --rrl-window {} --rrl-ipv4-prefix {} --rrl-ipv6-prefix {}\n--rrl-table-size {}`",
        rrl::DEFAULT_SLIP,
        rrl::DEFAULT_WINDOW,
        rrl::DEFAULT_IPV4_PREFIX,
        rrl::DEFAULT_IPV6_PREFIX,
        rrl::DEFAULT_TABLE_SIZE
    );
    assert!(readme.contains(&line), "README lacks {line}");
}
