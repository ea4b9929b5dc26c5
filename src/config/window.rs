//! Weekly time windows ("08:00–20:00, Monday to Friday, Europe/Berlin"). Peak hours in the risk
//! policy and recurring change freezes are both written this way, so they share one parser and
//! one `contains`. A window's clock is an IANA time zone (daylight saving followed, as people
//! mean "Friday afternoon in Berlin") or a fixed UTC offset (the same hours all year).

use super::yaml::FieldError;
use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A time of day as minutes after midnight, written `HH:MM`; `24:00` closes a window at midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClockTime(pub u16);

impl TryFrom<String> for ClockTime {
    type Error = String;
    fn try_from(text: String) -> Result<ClockTime, String> {
        let bad = || format!("expected a time as HH:MM (00:00 to 24:00), got {text:?}");
        let (h, m) = text.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u16 = h.parse().map_err(|_| bad())?;
        let m: u16 = m.parse().map_err(|_| bad())?;
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(ClockTime(h * 60 + m))
    }
}

impl From<ClockTime> for String {
    fn from(t: ClockTime) -> String {
        t.to_string()
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// A fixed offset from UTC, written `+01:00`, `-05:30` or `Z`: the same hours all year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UtcOffset(pub FixedOffset);

impl TryFrom<String> for UtcOffset {
    type Error = String;
    fn try_from(text: String) -> Result<UtcOffset, String> {
        let bad = || format!("expected a UTC offset as +HH:MM, -HH:MM or Z, got {text:?}");
        if text == "Z" {
            return Ok(UtcOffset(FixedOffset::east_opt(0).ok_or_else(bad)?));
        }
        let (sign, rest) = match text.as_bytes().first() {
            Some(b'+') => (1, &text[1..]),
            Some(b'-') => (-1, &text[1..]),
            _ => return Err(bad()),
        };
        let clock = ClockTime::try_from(rest.to_string()).map_err(|_| bad())?;
        if clock.0 > 14 * 60 {
            return Err(bad());
        }
        FixedOffset::east_opt(sign * i32::from(clock.0) * 60)
            .map(UtcOffset)
            .ok_or_else(bad)
    }
}

impl From<UtcOffset> for String {
    fn from(o: UtcOffset) -> String {
        o.0.to_string()
    }
}

/// An IANA time zone by name (`Europe/Berlin`, `America/New_York`, `UTC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZoneName(pub chrono_tz::Tz);

impl TryFrom<String> for TimeZoneName {
    type Error = String;
    fn try_from(text: String) -> Result<TimeZoneName, String> {
        text.parse::<chrono_tz::Tz>()
            .map(TimeZoneName)
            .map_err(|_| {
                format!("expected an IANA time zone such as Europe/Berlin or UTC, got {text:?}")
            })
    }
}

impl From<TimeZoneName> for String {
    fn from(z: TimeZoneName) -> String {
        z.0.name().to_string()
    }
}

/// The clock a window is read on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Iana(chrono_tz::Tz),
    Fixed(FixedOffset),
}

impl Zone {
    /// `time_zone` or `utc_offset` as a file gives them (at most one; neither is UTC).
    pub fn of(time_zone: Option<TimeZoneName>, utc_offset: Option<UtcOffset>) -> Zone {
        match (time_zone, utc_offset) {
            (Some(z), _) => Zone::Iana(z.0),
            (None, Some(o)) => Zone::Fixed(o.0),
            (None, None) => Zone::Iana(chrono_tz::UTC),
        }
    }

    /// Weekday and minute of the day at `at` on this clock.
    fn local(self, at: DateTime<Utc>) -> (chrono::Weekday, u16) {
        fn parts<T: Datelike + Timelike>(t: T) -> (chrono::Weekday, u16) {
            (t.weekday(), (t.hour() * 60 + t.minute()) as u16)
        }
        match self {
            Zone::Iana(tz) => parts(at.with_timezone(&tz)),
            Zone::Fixed(offset) => parts(at.with_timezone(&offset)),
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Iana(tz) => f.write_str(tz.name()),
            Zone::Fixed(offset) => write!(f, "{offset}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    fn of(day: chrono::Weekday) -> Day {
        match day {
            chrono::Weekday::Mon => Day::Mon,
            chrono::Weekday::Tue => Day::Tue,
            chrono::Weekday::Wed => Day::Wed,
            chrono::Weekday::Thu => Day::Thu,
            chrono::Weekday::Fri => Day::Fri,
            chrono::Weekday::Sat => Day::Sat,
            chrono::Weekday::Sun => Day::Sun,
        }
    }
}

/// `[start, end)` on each listed day, in local time in `time_zone` (IANA) or at `utc_offset`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyWindow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<TimeZoneName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc_offset: Option<UtcOffset>,
    pub days: Vec<Day>,
    pub start: ClockTime,
    pub end: ClockTime,
}

impl WeeklyWindow {
    pub fn zone(&self) -> Zone {
        Zone::of(self.time_zone, self.utc_offset)
    }

    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        let (day, minute) = self.zone().local(at);
        self.days.contains(&Day::of(day)) && minute >= self.start.0 && minute < self.end.0
    }

    /// `field` is the path of this window in its file, for the error.
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        if self.time_zone.is_some() && self.utc_offset.is_some() {
            return Err(FieldError::new(
                format!("{field}.utc_offset"),
                "give time_zone or utc_offset, not both",
            ));
        }
        if self.days.is_empty() {
            return Err(FieldError::new(
                format!("{field}.days"),
                "must list at least one day",
            ));
        }
        if self.start >= self.end {
            return Err(FieldError::new(
                format!("{field}.end"),
                format!(
                    "must be after start ({}), got {}; split a window that crosses midnight in two",
                    self.start, self.end
                ),
            ));
        }
        Ok(())
    }
}

impl fmt::Display for WeeklyWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days: Vec<String> = self
            .days
            .iter()
            .map(|d| format!("{d:?}").to_lowercase())
            .collect();
        write!(
            f,
            "{}–{} {} ({})",
            self.start,
            self.end,
            days.join(","),
            self.zone()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn window(offset: &str) -> WeeklyWindow {
        WeeklyWindow {
            time_zone: None,
            utc_offset: Some(UtcOffset::try_from(offset.to_string()).unwrap()),
            days: vec![Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri],
            start: ClockTime::try_from("08:00".to_string()).unwrap(),
            end: ClockTime::try_from("20:00".to_string()).unwrap(),
        }
    }

    #[test]
    fn clock_times_parse_strictly() {
        assert_eq!(
            ClockTime::try_from("24:00".to_string()),
            Ok(ClockTime(1440))
        );
        for bad in ["8:00", "24:01", "12:60", "noon", "12-00"] {
            assert!(ClockTime::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }

    #[test]
    fn offsets_parse_strictly() {
        assert!(UtcOffset::try_from("Z".to_string()).is_ok());
        assert!(UtcOffset::try_from("-05:30".to_string()).is_ok());
        for bad in ["01:00", "+15:00", "+1", "CET"] {
            assert!(UtcOffset::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }

    #[test]
    fn contains_respects_offset_and_days() {
        // Monday 2024-01-01 07:30 UTC is 08:30 at +01:00: inside; outside at UTC.
        let at = Utc.with_ymd_and_hms(2024, 1, 1, 7, 30, 0).unwrap();
        assert!(window("+01:00").contains(at));
        assert!(!window("Z").contains(at));
        // End is exclusive.
        let at = Utc.with_ymd_and_hms(2024, 1, 1, 20, 0, 0).unwrap();
        assert!(!window("Z").contains(at));
        // Saturday.
        let at = Utc.with_ymd_and_hms(2024, 1, 6, 12, 0, 0).unwrap();
        assert!(!window("Z").contains(at));
    }

    #[test]
    fn an_iana_zone_follows_daylight_saving() {
        let mut friday = window("Z");
        friday.utc_offset = None;
        friday.time_zone = Some(TimeZoneName::try_from("Europe/Berlin".to_string()).unwrap());
        friday.days = vec![Day::Fri];
        friday.start = ClockTime(16 * 60);
        friday.end = ClockTime(24 * 60);
        // 16:30 in Berlin: 15:30 UTC in winter (CET), 14:30 UTC in summer (CEST).
        let winter = Utc.with_ymd_and_hms(2026, 1, 9, 15, 30, 0).unwrap();
        let summer = Utc.with_ymd_and_hms(2026, 7, 10, 14, 30, 0).unwrap();
        assert!(friday.contains(winter));
        assert!(friday.contains(summer));
        // A fixed +01:00 is an hour off in summer.
        let mut fixed = friday.clone();
        fixed.time_zone = None;
        fixed.utc_offset = Some(UtcOffset::try_from("+01:00".to_string()).unwrap());
        assert!(fixed.contains(winter));
        assert!(!fixed.contains(summer));
        assert_eq!(friday.to_string(), "16:00–24:00 fri (Europe/Berlin)");
    }

    #[test]
    fn unknown_zones_and_both_clocks_are_refused() {
        assert!(TimeZoneName::try_from("Mars/Olympus".to_string()).is_err());
        let mut w = window("Z");
        w.time_zone = Some(TimeZoneName::try_from("UTC".to_string()).unwrap());
        assert_eq!(
            w.validate("peak_hours").unwrap_err().field,
            "peak_hours.utc_offset"
        );
    }

    #[test]
    fn validate_rejects_empty_days_and_inverted_hours() {
        let mut w = window("Z");
        w.days.clear();
        assert_eq!(
            w.validate("peak_hours").unwrap_err().field,
            "peak_hours.days"
        );
        let mut w = window("Z");
        w.end = ClockTime(8 * 60);
        assert_eq!(
            w.validate("peak_hours").unwrap_err().field,
            "peak_hours.end"
        );
    }
}
