use std::fmt;
use std::str::{self, FromStr};

#[derive(PartialEq, Eq, PartialOrd, Ord, Copy, Clone, Debug)]
pub struct Datetime {
    pub date: Option<Date>,
    pub time: Option<Time>,
}

#[derive(PartialEq, Eq, PartialOrd, Ord, Copy, Clone, Debug)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

#[derive(PartialEq, Eq, PartialOrd, Ord, Copy, Clone, Debug)]
pub struct Time {
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub nanosecond: u32,
}

#[derive(Debug, Clone)]
pub struct DatetimeParseError {
    _private: (),
}

impl FromStr for Datetime {
    type Err = DatetimeParseError;

    fn from_str(date: &str) -> Result<Datetime, DatetimeParseError> {
        let mut result = Datetime { date: None, time: None };
        let mut chars = date.chars();

        if date.len() >= 10 && chars.nth(4) == Some('-') {
            let bytes = date.as_bytes();
            let year = digits(&bytes[0..4])? as u16;
            let month = digits(&bytes[5..7])? as u8;
            let day = digits(&bytes[8..10])? as u8;
            result.date = Some(Date { year, month, day });
            chars = date[10..].chars();
        }

        let rest = chars.as_str();
        let partial_time = if result.date.is_some() {
            rest.starts_with('T') || rest.starts_with('t') || rest.starts_with(' ')
        } else {
            true
        };
        if partial_time {
            let time = if result.date.is_some() { &rest[1..] } else { rest };
            let bytes = time.as_bytes();
            let h1 = bytes[0];
            let h2 = bytes[1];
            let m1 = bytes[3];
            let m2 = bytes[4];
            let s1 = bytes[6];
            let s2 = bytes[7];
            let hour = digit(h1)? * 10 + digit(h2)?;
            let minute = digit(m1)? * 10 + digit(m2)?;
            let second = digit(s1)? * 10 + digit(s2)?;
            result.time = Some(Time { hour, minute, second, nanosecond: 0 });
        }

        if result.date.is_none() && result.time.is_none() {
            return Err(DatetimeParseError { _private: () });
        }
        Ok(result)
    }
}

fn digit(b: u8) -> Result<u8, DatetimeParseError> {
    if b.is_ascii_digit() {
        Ok(b - b'0')
    } else {
        Err(DatetimeParseError { _private: () })
    }
}

fn digits(bytes: &[u8]) -> Result<u32, DatetimeParseError> {
    bytes.iter().try_fold(0u32, |acc, b| Ok(acc * 10 + u32::from(digit(*b)?)))
}

impl fmt::Display for Datetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ref date) = self.date {
            write!(f, "{:04}-{:02}-{:02}", date.year, date.month, date.day)?;
        }
        Ok(())
    }
}
