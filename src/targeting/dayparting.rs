//! Day parting: the days of week and hours of day an offer runs, in its own timezone.

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;

use super::TargetingError;
use super::spec::DayParting;

const ALL_DAYS: u8 = 0b111_1111;
const ALL_HOURS: u32 = (1 << 24) - 1;

/// Allowed days (bit 0 = Monday) and local hours (bit h = h:00..h:59).
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    days: u8,
    hours: u32,
    tz: Tz,
}

impl Schedule {
    /// `None` when the spec allows every hour of every day, so checks skip it.
    pub fn compile(spec: &DayParting, tz: Tz) -> Result<Option<Self>, TargetingError> {
        let mut days = 0u8;
        for day in &spec.days {
            days |= 1 << parse_day(day)?;
        }
        let mut hours = 0u32;
        for &[start, end] in &spec.hours {
            if start >= end || end > 24 {
                return Err(TargetingError::InvalidHours { start, end });
            }
            hours |= (start..end).fold(0, |mask, h| mask | 1 << h);
        }
        let days = if days == 0 { ALL_DAYS } else { days };
        let hours = if hours == 0 { ALL_HOURS } else { hours };
        if days == ALL_DAYS && hours == ALL_HOURS {
            return Ok(None);
        }
        Ok(Some(Self { days, hours, tz }))
    }

    pub fn allows(&self, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&self.tz);
        let day = local.weekday().num_days_from_monday();
        self.days & (1 << day) != 0 && self.hours & (1 << local.hour()) != 0
    }
}

fn parse_day(day: &str) -> Result<u32, TargetingError> {
    const NAMES: [(&str, &str); 7] = [
        ("mon", "monday"),
        ("tue", "tuesday"),
        ("wed", "wednesday"),
        ("thu", "thursday"),
        ("fri", "friday"),
        ("sat", "saturday"),
        ("sun", "sunday"),
    ];
    let trimmed = day.trim();
    (0u32..)
        .zip(NAMES)
        .find(|(_, (short, long))| {
            trimmed.eq_ignore_ascii_case(short) || trimmed.eq_ignore_ascii_case(long)
        })
        .map(|(index, _)| index)
        .ok_or_else(|| TargetingError::InvalidDay {
            value: day.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn schedule(
        days: &[&str],
        hours: &[[u8; 2]],
        tz: Tz,
    ) -> Result<Option<Schedule>, TargetingError> {
        let spec = DayParting {
            days: days.iter().map(|d| d.to_string()).collect(),
            hours: hours.to_vec(),
        };
        Schedule::compile(&spec, tz)
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn new_york_monday_evening_is_tuesday_in_utc() {
        // Mon 2024-01-15 22:30 EST = Tue 03:30 UTC.
        let s = schedule(&["mon"], &[[22, 24]], chrono_tz::America::New_York)
            .unwrap()
            .unwrap();
        assert!(s.allows(utc(2024, 1, 16, 3, 30)));
        // Tue 00:30 EST = Tue 05:30 UTC: past local midnight, so Tuesday.
        assert!(!s.allows(utc(2024, 1, 16, 5, 30)));
        // Mon 21:59 EST = Tue 02:59 UTC: hour 21 not allowed.
        assert!(!s.allows(utc(2024, 1, 16, 2, 59)));
    }

    #[test]
    fn hour_range_end_is_exclusive_and_follows_daylight_saving() {
        let s = schedule(&[], &[[9, 17]], chrono_tz::America::New_York)
            .unwrap()
            .unwrap();
        // Winter: EST = UTC-5.
        assert!(s.allows(utc(2024, 1, 15, 14, 0))); // 09:00
        assert!(s.allows(utc(2024, 1, 15, 21, 59))); // 16:59
        assert!(!s.allows(utc(2024, 1, 15, 22, 0))); // 17:00
        assert!(!s.allows(utc(2024, 1, 15, 13, 59))); // 08:59
        // Summer: EDT = UTC-4, so 13:00 UTC is already 09:00.
        assert!(s.allows(utc(2024, 7, 15, 13, 0)));
    }

    #[test]
    fn days_only_and_full_day_names() {
        let s = schedule(&["Saturday", "SUN"], &[], chrono_tz::UTC)
            .unwrap()
            .unwrap();
        assert!(s.allows(utc(2024, 1, 13, 0, 0))); // Saturday
        assert!(s.allows(utc(2024, 1, 14, 23, 59))); // Sunday
        assert!(!s.allows(utc(2024, 1, 15, 0, 0))); // Monday
    }

    #[test]
    fn everything_allowed_compiles_to_nothing() {
        assert!(schedule(&[], &[], chrono_tz::UTC).unwrap().is_none());
        assert!(schedule(&[], &[[0, 24]], chrono_tz::UTC).unwrap().is_none());
    }

    #[test]
    fn refuses_bad_hours_and_days() {
        for bad in [[17, 9], [9, 9], [0, 25]] {
            let err = schedule(&[], &[bad], chrono_tz::UTC).unwrap_err();
            assert_eq!(
                err,
                TargetingError::InvalidHours {
                    start: bad[0],
                    end: bad[1]
                }
            );
        }
        let err = schedule(&["mo"], &[], chrono_tz::UTC).unwrap_err();
        assert_eq!(
            err.to_string(),
            "day_parting.days: `mo` is not a day (mon, tue, wed, thu, fri, sat, sun)"
        );
    }
}
