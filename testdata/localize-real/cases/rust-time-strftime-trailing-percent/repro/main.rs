// Formats timestamps with strftime-style patterns taken from user settings, as a logging
// library's configurable formatter would; a bad pattern must be an error.
use time::format_description::parse_strftime_borrowed;
use time::{Date, Month, PrimitiveDateTime, Time};

fn main() {
    let dt = PrimitiveDateTime::new(
        Date::from_calendar_date(2024, Month::March, 1).unwrap(),
        Time::from_hms(12, 30, 5).unwrap(),
    );
    for pattern in ["%Y-%m-%d %H:%M:%S", "%-d/%-m/%y", "%Y-%m-%", "%_"] {
        match parse_strftime_borrowed(pattern) {
            Ok(items) => println!("{pattern:?} -> {:?}", dt.format(&items).map_err(|e| e.to_string())),
            Err(e) => println!("{pattern:?} -> invalid: {e}"),
        }
    }
}
