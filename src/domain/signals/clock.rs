//! Local hour and weekday from the server clock and the page's UTC offset.

use std::time::{SystemTime, UNIX_EPOCH};

/// The visitor's local hour and weekday; nothing finer is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// 0–23.
    pub hour: u8,
    /// 0 = Monday … 6 = Sunday.
    pub weekday: u8,
}

/// Offsets span UTC−12:00 to UTC+14:00.
pub const TZ_OFFSET_RANGE: std::ops::RangeInclusive<i32> = -720..=840;

impl LocalTime {
    /// Local time at `now` for a page `tz_offset_minutes` east of UTC (0 when unknown).
    pub fn at(now: SystemTime, tz_offset_minutes: i32) -> LocalTime {
        let secs = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        let local = secs + i64::from(tz_offset_minutes) * 60;
        let days = local.div_euclid(86_400);
        let hour = (local.rem_euclid(86_400) / 3600) as u8;
        // 1970-01-01 was a Thursday (index 3 with Monday = 0).
        let weekday = (days + 3).rem_euclid(7) as u8;
        LocalTime { hour, weekday }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn offsets_move_hour_and_day() {
        // 2026-11-22T23:30:00Z is a Sunday.
        let t = UNIX_EPOCH + Duration::from_secs(1_795_390_200);
        assert_eq!(LocalTime::at(t, 0), LocalTime { hour: 23, weekday: 6 });
        assert_eq!(LocalTime::at(t, 60), LocalTime { hour: 0, weekday: 0 });
        assert_eq!(LocalTime::at(t, -300), LocalTime { hour: 18, weekday: 6 });
    }
}
