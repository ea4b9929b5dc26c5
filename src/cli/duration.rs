//! Durations on the command line as people write them: `30s`, `5m`, `2h`, `1h30m`; a bare
//! number is seconds, as the flags took before.

use std::time::Duration;

/// clap value parser for a duration flag.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| format!("`{text}`: {e}"));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration (for example 30s, 5m, 2h, 1h30m): {e}"))
}

/// `90s` → `1m 30s`, for messages that echo a duration back.
pub fn show(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_bare_seconds() {
        assert_eq!(parse("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("45"), Ok(Duration::from_secs(45)));
        assert_eq!(show(Duration::from_secs(90)), "1m 30s");
    }

    #[test]
    fn nonsense_is_named() {
        let e = parse("soon").unwrap_err();
        assert!(e.contains("`soon`"), "{e}");
        assert!(parse("").is_err());
        assert!(parse("-5m").is_err());
    }
}
