//! The process families every Prometheus client library exports (`process_*`, read from
//! `/proc/self` as client_golang does) and `geosteer_build_info`.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{family, sample};

/// When this process started, as it first noticed (see [`mark_start`]).
static STARTED: OnceLock<f64> = OnceLock::new();

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Records the process's start time; call first thing in `main`. Used for
/// `process_start_time_seconds` where `/proc/stat` cannot be read (systemd's
/// `ProcSubset=pid` hides it).
pub fn mark_start() {
    STARTED.get_or_init(unix_now);
}

/// `sysconf(_SC_CLK_TCK)`: the unit of the CPU times in `/proc/self/stat`.
fn clock_ticks() -> f64 {
    // SAFETY: sysconf reads a constant of the system; no memory is passed.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

fn page_size() -> f64 {
    // SAFETY: as above.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as f64 } else { 4096.0 }
}

/// The fields of `/proc/self/stat` after the command name, numbered as in proc(5) from 3.
struct Stat {
    utime: f64,
    stime: f64,
    starttime: f64,
    vsize: f64,
    rss: f64,
}

fn parse_stat(text: &str) -> Option<Stat> {
    // The command name (field 2) is in parentheses and may contain spaces or ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    // f[0] is field 3 (state): field n is f[n - 3].
    let num = |n: usize| f.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    Some(Stat {
        utime: num(14)?,
        stime: num(15)?,
        starttime: num(22)?,
        vsize: num(23)?,
        rss: num(24)?,
    })
}

/// `Max open files` (the soft limit) from `/proc/self/limits`.
fn max_fds(limits: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    if soft == "unlimited" {
        return Some(f64::INFINITY);
    }
    soft.parse().ok()
}

/// `btime` (boot time, Unix seconds) from `/proc/stat`.
fn boot_time(stat: &str) -> Option<f64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Renders `geosteer_build_info` and the `process_*` families. A value that cannot be read
/// is left out (its family's HELP and TYPE stay).
pub fn render(out: &mut String) {
    family(
        out,
        "geosteer_build_info",
        "gauge",
        "Always 1; the labels say which build is running.",
    );
    sample(
        out,
        "geosteer_build_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("os", std::env::consts::OS),
            ("arch", std::env::consts::ARCH),
        ],
        1.0,
    );

    let stat = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|t| parse_stat(&t));
    let ticks = clock_ticks();
    family(
        out,
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
    );
    if let Some(s) = &stat {
        sample(
            out,
            "process_cpu_seconds_total",
            &[],
            (s.utime + s.stime) / ticks,
        );
    }
    family(
        out,
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
    );
    if let Some(s) = &stat {
        sample(
            out,
            "process_resident_memory_bytes",
            &[],
            s.rss * page_size(),
        );
    }
    family(
        out,
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
    );
    if let Some(s) = &stat {
        sample(out, "process_virtual_memory_bytes", &[], s.vsize);
    }
    family(
        out,
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
    );
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        // The directory handle itself is one of them while it is read.
        let n = dir.count().saturating_sub(1);
        sample(out, "process_open_fds", &[], n as f64);
    }
    family(
        out,
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
    );
    if let Some(m) = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| max_fds(&t))
    {
        sample(out, "process_max_fds", &[], m);
    }
    family(
        out,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
    );
    let from_proc = stat.as_ref().and_then(|s| {
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|t| boot_time(&t))?;
        Some(boot + s.starttime / ticks)
    });
    if let Some(t) = from_proc.or_else(|| STARTED.get().copied()) {
        sample(out, "process_start_time_seconds", &[], t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_parsed() {
        let stat = "4242 (geo steer) x) S 1 4242 4242 0 -1 4194560 2000 0 0 0 \
                    150 50 0 0 20 0 9 0 123456 987654321 2500 18446744073709551615";
        let s = parse_stat(stat).unwrap();
        assert_eq!((s.utime, s.stime), (150.0, 50.0));
        assert_eq!(s.starttime, 123456.0);
        assert_eq!(s.vsize, 987654321.0);
        assert_eq!(s.rss, 2500.0);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            65536                524288               files\n";
        assert_eq!(max_fds(limits), Some(65536.0));
        assert_eq!(boot_time("cpu 1 2 3\nbtime 1700000000\n"), Some(1.7e9));
    }

    #[test]
    fn this_process_is_measured() {
        let mut out = String::new();
        render(&mut out);
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_max_fds ",
            "process_start_time_seconds ",
        ] {
            let line = out
                .lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("no {name}in\n{out}"));
            let v: f64 = line[name.len()..].parse().unwrap();
            assert!(v > 0.0, "{line}");
        }
        assert!(out.contains("geosteer_build_info{version=\""));
    }
}
