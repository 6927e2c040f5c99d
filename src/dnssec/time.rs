//! UTC timestamps as DNSSEC text uses them: `YYYYMMDDHHMMSS` (RRSIG presentation, RFC 4034
//! §3.2; the timing fields of BIND key files) and the ctime-like form dnssec-keygen writes in
//! its comments. Hand-written (the civil-date arithmetic is a dozen lines) rather than pulling
//! a date crate's formatting features into the build.

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Parses `YYYYMMDDHHMMSS` (UTC) into seconds since the epoch. A plain number of at most 10
/// digits is taken as seconds since the epoch already (RFC 4034 §3.2 allows it for RRSIGs).
pub fn parse(s: &str) -> Option<u64> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() <= 10 {
        return s.parse().ok();
    }
    if s.len() != 14 {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    let (y, mo, d, h, mi, se) = (
        n(0..4)?,
        n(4..6)?,
        n(6..8)?,
        n(8..10)?,
        n(10..12)?,
        n(12..14)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = days_from_civil(y as i64, mo, d);
    let t = days * 86_400 + (h * 3600 + mi * 60 + se) as i64;
    u64::try_from(t).ok()
}

fn parts(t: u64) -> (i64, u32, u32, u64, u64, u64, i64) {
    let days = (t / 86_400) as i64;
    let secs = t % 86_400;
    let (y, m, d) = civil_from_days(days);
    (y, m, d, secs / 3600, secs / 60 % 60, secs % 60, days)
}

/// `YYYYMMDDHHMMSS`.
pub fn format(t: u64) -> String {
    let (y, m, d, h, mi, s, _) = parts(t);
    format!("{y:04}{m:02}{d:02}{h:02}{mi:02}{s:02}")
}

/// `Tue Dec  1 20:09:41 2026`, as dnssec-keygen writes after each timing comment.
pub fn format_ctime(t: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d, h, mi, s, days) = parts(t);
    format!(
        "{} {} {d:2} {h:02}:{mi:02}:{s:02} {y}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[m as usize - 1]
    )
}

/// Seconds since the epoch, now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        // From `date -u -d @1796155781` and dnssec-keygen's own files.
        assert_eq!(format(1_796_155_781), "20261201200941");
        assert_eq!(format_ctime(1_796_155_781), "Tue Dec  1 20:09:41 2026");
        assert_eq!(parse("20261201200941"), Some(1_796_155_781));
        assert_eq!(format(0), "19700101000000");
        assert_eq!(format_ctime(0), "Thu Jan  1 00:00:00 1970");
        // A leap day, and the RFC 4034 §3.3 example expiration.
        assert_eq!(parse("20240229120000"), Some(1_709_208_000));
        assert_eq!(format(1_709_208_000), "20240229120000");
        assert_eq!(parse("20030322173103"), Some(1_048_354_263));
        assert_eq!(parse("1048354263"), Some(1_048_354_263));
        for bad in ["2026120120094", "20261301000000", "2026120120094x", ""] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        for t in [
            0u64,
            951_782_400,
            1_796_155_781,
            4_102_444_800,
            4_294_967_295,
        ] {
            assert_eq!(parse(&format(t)), Some(t));
        }
    }
}
