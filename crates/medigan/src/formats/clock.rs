//! The UTC date and time as DICOM writes them (`YYYYMMDD`, `HHMMSS`), without a date crate:
//! DICOM headers and the holder record of a run's folder lock use it.

use std::time::{SystemTime, UNIX_EPOCH};

/// UTC date `YYYYMMDD` and time `HHMMSS` of `now`.
pub(crate) fn utc_date_time(now: SystemTime) -> (String, String) {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}{month:02}{day:02}"),
        format!("{:02}{:02}{:02}", rest / 3600, rest % 3600 / 60, rest % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_are_civil_utc() {
        let at = |secs| utc_date_time(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), ("19700101".into(), "000000".into()));
        // 2024-02-29 13:14:15 UTC
        assert_eq!(at(1_709_212_455), ("20240229".into(), "131415".into()));
    }
}
