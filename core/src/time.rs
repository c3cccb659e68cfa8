//! UTC time helpers on epoch nanoseconds: day boundaries and ISO-8601 formatting, without a clock.

/// Nanoseconds per second.
pub const NS_PER_SEC: i64 = 1_000_000_000;
/// Nanoseconds per (UTC, leap-second-free) day.
pub const NS_PER_DAY: i64 = 86_400 * NS_PER_SEC;

/// Start (ns) of the UTC day containing `ts_ns`.
pub fn utc_day_start(ts_ns: i64) -> i64 {
    ts_ns.div_euclid(NS_PER_DAY) * NS_PER_DAY
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2020-01-30T15:28:09.820000000Z`.
pub fn format_iso(ts_ns: i64) -> String {
    let days = ts_ns.div_euclid(NS_PER_DAY);
    let rem = ts_ns.rem_euclid(NS_PER_DAY);
    let (y, mo, d) = civil_from_days(days);
    let secs = rem / NS_PER_SEC;
    let nanos = rem % NS_PER_SEC;
    format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fffffffff][Z|+00:00]` (also with a space separator) to epoch ns.
pub fn parse_iso(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = std::str::from_utf8(b.get(r)?).ok()?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    if b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)? as u32, num(8..10)? as u32);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let mut digits = 0;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if digits < 9 {
                frac = frac * 10 + (c - b'0') as i64;
                digits += 1;
            }
            i += 1;
        }
        for _ in digits..9 {
            frac *= 10;
        }
    }
    let rest = &s.trim()[i..];
    if !(rest.is_empty() || rest == "Z" || rest == "+00:00" || rest == "+0000") {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    Some(days * NS_PER_DAY + (h * 3600 + mi * 60 + se) * NS_PER_SEC + frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trip() {
        let ts = 1_580_398_089_820_000_000;
        assert_eq!(format_iso(ts), "2020-01-30T15:28:09.820000000Z");
        assert_eq!(parse_iso("2020-01-30T15:28:09.820000000Z"), Some(ts));
        assert_eq!(parse_iso("2020-01-30 15:28:09.82+00:00"), Some(ts));
        assert_eq!(parse_iso("2020-13-30T15:28:09Z"), None);
        assert_eq!(utc_day_start(ts), 1_580_342_400_000_000_000);
    }
}
