//! Calendar dates: today's date in UTC as the `YYYY-MM-DD` text used in
//! records, reports and file names.
//!
//! Owns: converting the clock's Unix seconds to a proleptic Gregorian date.
//! Must not do: I/O beyond reading the clock; it sits on the ground floor
//! so that `export`, `report` and `http` need not import the CLI for it.

/// Seconds in a civil day.
const DAY_SECS: i64 = 86_400;

/// Today's date in UTC as `YYYY-MM-DD`.
pub fn today_utc() -> String {
    date_of_unix_secs(crate::ledger::now_s())
}

/// The UTC date of a Unix time in seconds, as `YYYY-MM-DD`
/// (civil-from-days, proleptic Gregorian; H. Hinnant's algorithm).
pub fn date_of_unix_secs(secs: i64) -> String {
    let days = secs.div_euclid(DAY_SECS);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::date_of_unix_secs;

    #[test]
    fn dates_of_known_instants() {
        for (secs, date) in [
            (0, "1970-01-01"),
            (-1, "1969-12-31"),
            (951_782_400, "2000-02-29"),
            (951_868_799, "2000-02-29"),
            (951_868_800, "2000-03-01"),
            (1_798_675_200, "2026-12-31"),
            (4_107_542_400, "2100-03-01"),
        ] {
            assert_eq!(date_of_unix_secs(secs), date, "{secs}");
        }
    }
}
