//! Windows that open on a cron schedule and last a duration, as Argo CD's sync windows are
//! written (`schedule: "0 16 * * FRI"`, `duration: 8h`, `time_zone: Europe/Berlin`): for
//! freezes that a weekly table cannot say, such as the last Friday of the month.

use super::window::{TimeZoneName, Zone};
use super::yaml::FieldError;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// A standard five-field cron expression (minute hour day-of-month month day-of-week).
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CronSchedule {
    text: String,
    cron: croner::Cron,
}

impl TryFrom<String> for CronSchedule {
    type Error = String;
    fn try_from(text: String) -> Result<CronSchedule, String> {
        if text.split_whitespace().count() != 5 {
            return Err(format!(
                "expected a five-field cron schedule (minute hour day month weekday), got {text:?}"
            ));
        }
        let cron = croner::Cron::new(&text)
            .parse()
            .map_err(|e| format!("{text:?} is not a cron schedule: {e}"))?;
        Ok(CronSchedule { text, cron })
    }
}

impl From<CronSchedule> for String {
    fn from(c: CronSchedule) -> String {
        c.text
    }
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSchedule({:?})", self.text)
    }
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &CronSchedule) -> bool {
        self.text == other.text
    }
}

/// A length of time written as people do: `30m`, `8h`, `2d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WindowDuration(pub Duration);

impl TryFrom<String> for WindowDuration {
    type Error = String;
    fn try_from(text: String) -> Result<WindowDuration, String> {
        humantime::parse_duration(&text)
            .map(WindowDuration)
            .map_err(|e| format!("expected a duration such as 30m, 8h or 2d, got {text:?}: {e}"))
    }
}

impl From<WindowDuration> for String {
    fn from(d: WindowDuration) -> String {
        humantime::format_duration(d.0).to_string()
    }
}

/// `[occurrence, occurrence + duration)` for every occurrence of `schedule` on `time_zone`'s
/// clock (UTC when absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronWindow {
    pub schedule: CronSchedule,
    pub duration: WindowDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<TimeZoneName>,
}

impl CronWindow {
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        match Zone::of(self.time_zone, None) {
            Zone::Iana(tz) => self.opened_within(at.with_timezone(&tz)),
            Zone::Fixed(offset) => self.opened_within(at.with_timezone(&offset)),
        }
    }

    /// Whether an occurrence falls in `(at - duration, at]`.
    fn opened_within<Tz: TimeZone>(&self, at: DateTime<Tz>) -> bool {
        let Ok(span) = chrono::Duration::from_std(self.duration.0) else {
            return false;
        };
        let Some(from) = at.clone().checked_sub_signed(span) else {
            return false;
        };
        self.schedule
            .cron
            .find_next_occurrence(&from, false)
            .is_ok_and(|next| next <= at)
    }

    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        if self.duration.0.is_zero() {
            return Err(FieldError::new(
                format!("{field}.duration"),
                "must be longer than zero",
            ));
        }
        Ok(())
    }
}

impl fmt::Display for CronWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` for {} ({})",
            self.schedule.text,
            String::from(self.duration),
            Zone::of(self.time_zone, None)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::parse_strict;

    #[test]
    fn friday_afternoon_in_berlin_all_year() {
        let w: CronWindow =
            parse_strict("schedule: \"0 16 * * FRI\"\nduration: 8h\ntime_zone: Europe/Berlin\n")
                .unwrap();
        w.validate("w").unwrap();
        // 16:30 Berlin time, winter and summer.
        assert!(w.contains(Utc.with_ymd_and_hms(2026, 1, 9, 15, 30, 0).unwrap()));
        assert!(w.contains(Utc.with_ymd_and_hms(2026, 7, 10, 14, 30, 0).unwrap()));
        // 15:30 Berlin time in summer: before it opens.
        assert!(!w.contains(Utc.with_ymd_and_hms(2026, 7, 10, 13, 30, 0).unwrap()));
        // Friday 23:30 Berlin: still inside the 8 hours.
        assert!(w.contains(Utc.with_ymd_and_hms(2026, 1, 9, 22, 30, 0).unwrap()));
        // Saturday 01:00 Berlin: closed.
        assert!(!w.contains(Utc.with_ymd_and_hms(2026, 1, 10, 0, 0, 0).unwrap()));
        assert_eq!(w.to_string(), "`0 16 * * FRI` for 8h (Europe/Berlin)");
    }

    #[test]
    fn bad_schedules_and_durations_are_named() {
        for bad in [
            "schedule: \"every friday\"\nduration: 1h\n",
            "schedule: \"0 16 * *\"\nduration: 1h\n",
            "schedule: \"0 25 * * *\"\nduration: 1h\n",
            "schedule: \"0 16 * * *\"\nduration: soon\n",
            "schedule: \"0 16 * * *\"\nduration: 1h\ntime_zone: Moon/Base\n",
        ] {
            assert!(parse_strict::<CronWindow>(bad).is_err(), "{bad}");
        }
    }
}
