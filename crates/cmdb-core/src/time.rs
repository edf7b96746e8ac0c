//! Rendering of the engine's timestamps: RFC 3339 with milliseconds in a fixed UTC offset.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};

/// Renders `now` in `offset` as `2022-02-22T20:34:01.386+08:00` (`Z` is never used).
pub fn render_timestamp(now: DateTime<Utc>, offset: FixedOffset) -> String {
    now.with_timezone(&offset)
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn renders_millis_and_offset() {
        let t = Utc.with_ymd_and_hms(2022, 2, 22, 12, 34, 1).unwrap()
            + chrono::Duration::milliseconds(386);
        let east8 = FixedOffset::east_opt(8 * 3600).unwrap();
        assert_eq!(render_timestamp(t, east8), "2022-02-22T20:34:01.386+08:00");
        let utc = FixedOffset::east_opt(0).unwrap();
        assert_eq!(render_timestamp(t, utc), "2022-02-22T12:34:01.386+00:00");
    }
}
