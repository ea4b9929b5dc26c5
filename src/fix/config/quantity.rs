//! Kubernetes quantities and durations as config files write them (`512Mi`, `1Gi`, `500m`,
//! `30s`, `30000`). A raised value is written back in the file's own unit where it comes out
//! whole, so a reviewer reads `512Mi → 768Mi`, not a byte count.

/// Binary and decimal memory suffixes, smallest first, with their factor in bytes.
const BINARY: &[(&str, u128)] = &[
    ("Ki", 1 << 10),
    ("Mi", 1 << 20),
    ("Gi", 1 << 30),
    ("Ti", 1 << 40),
    ("Pi", 1 << 50),
    ("Ei", 1 << 60),
];
const DECIMAL: &[(&str, u128)] = &[
    ("k", 1_000),
    ("M", 1_000_000),
    ("G", 1_000_000_000),
    ("T", 1_000_000_000_000),
    ("P", 1_000_000_000_000_000),
    ("E", 1_000_000_000_000_000_000),
];

/// A memory quantity in bytes, with the suffix family and unit it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    pub bytes: u128,
    unit: Unit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Bytes,
    Binary(usize),
    Decimal(usize),
}

/// Parses `512Mi`, `1.5Gi`, `500M`, `1e9`, `1048576`.
pub(crate) fn parse_memory(text: &str) -> Option<Memory> {
    let t = text.trim();
    let (number, unit) = if let Some(i) = BINARY.iter().position(|(s, _)| t.ends_with(s)) {
        (&t[..t.len() - 2], Unit::Binary(i))
    } else if let Some(i) = DECIMAL.iter().position(|(s, _)| t.ends_with(s)) {
        (&t[..t.len() - 1], Unit::Decimal(i))
    } else {
        (t, Unit::Bytes)
    };
    let value: f64 = number.parse().ok()?;
    if !value.is_finite() || value < 0.0 || number.is_empty() {
        return None;
    }
    let bytes = (value * unit_bytes(unit) as f64).round();
    (bytes < u128::MAX as f64).then_some(Memory {
        bytes: bytes as u128,
        unit,
    })
}

fn unit_bytes(unit: Unit) -> u128 {
    match unit {
        Unit::Bytes => 1,
        Unit::Binary(i) => BINARY[i].1,
        Unit::Decimal(i) => DECIMAL[i].1,
    }
}

impl Memory {
    /// `bytes` rounded up to a whole step of this quantity's family (Mi or M at most), so a
    /// raised limit stays readable.
    pub(crate) fn round_up(&self, bytes: u128) -> u128 {
        let step = match self.unit {
            Unit::Bytes => 1,
            Unit::Binary(i) => BINARY[i.min(1)].1,
            Unit::Decimal(i) => DECIMAL[i.min(1)].1,
        };
        bytes.div_ceil(step) * step
    }

    /// `bytes` in this quantity's family: the largest unit up to its own that divides it.
    /// `None` when no unit of the family divides it.
    pub fn format(&self, bytes: u128) -> Option<String> {
        let units: &[(&str, u128)] = match self.unit {
            Unit::Bytes => return Some(bytes.to_string()),
            Unit::Binary(i) => &BINARY[..=i],
            Unit::Decimal(i) => &DECIMAL[..=i],
        };
        units
            .iter()
            .rev()
            .find(|(_, f)| bytes % f == 0)
            .map(|(s, f)| format!("{}{s}", bytes / f))
    }
}

/// CPU in millicores: `500m` → 500, `1.5` → 1500, `2` → 2000.
pub(crate) fn parse_cpu(text: &str) -> Option<u64> {
    let t = text.trim();
    let (number, scale) = match t.strip_suffix('m') {
        Some(n) => (n, 1.0),
        None => (t, 1000.0),
    };
    let value: f64 = number.parse().ok()?;
    (value.is_finite() && value > 0.0 && value * scale < u64::MAX as f64)
        .then(|| (value * scale).round() as u64)
}

/// Millicores written like `like`: whole cores stay whole cores, anything else is `NNNm`.
pub(crate) fn format_cpu(millis: u64, like: &str) -> String {
    if !like.trim().ends_with('m') && millis % 1000 == 0 {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

/// How a duration was written, so the new value is written the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DurationStyle {
    /// A bare number in this many milliseconds per unit (1000 for seconds).
    Bare { unit_ms: u64, decimal: bool },
    /// A number with a unit suffix (`30s`, `1m30s`, `500ms`).
    Suffixed,
}

const SUFFIXES: &[(&str, u64)] = &[("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)];

/// A duration in milliseconds. `bare_unit_ms` says what a bare number means (from the key's
/// name: `timeoutMs` is milliseconds, `timeout` seconds).
pub(crate) fn parse_duration(text: &str, bare_unit_ms: u64) -> Option<(u64, DurationStyle)> {
    let t = text.trim();
    if let Ok(v) = t.parse::<f64>() {
        if !v.is_finite() || v < 0.0 {
            return None;
        }
        let style = DurationStyle::Bare {
            unit_ms: bare_unit_ms,
            decimal: t.contains('.'),
        };
        return Some(((v * bare_unit_ms as f64).round() as u64, style));
    }
    // Go-style concatenation: `1m30s`, `1.5s`, `250ms`.
    let mut rest = t;
    let mut total = 0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&i| i > 0)?;
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (suffix, ms) = SUFFIXES
            .iter()
            .filter(|(s, _)| rest.starts_with(s))
            .max_by_key(|(s, _)| s.len())?;
        total += value * *ms as f64;
        rest = &rest[suffix.len()..];
    }
    (total.is_finite() && !t.is_empty()).then(|| (total.round() as u64, DurationStyle::Suffixed))
}

/// Milliseconds written in `style`, rounded up to whole units where the style is whole.
pub(crate) fn format_duration(ms: u64, style: DurationStyle) -> String {
    match style {
        DurationStyle::Bare {
            unit_ms,
            decimal: false,
        } => ms.div_ceil(unit_ms).to_string(),
        DurationStyle::Bare {
            unit_ms,
            decimal: true,
        } => {
            let s = format!("{:.3}", ms as f64 / unit_ms as f64);
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        }
        // Seconds read the same in Go, Spring and Envoy configs; `1m` would hide the change.
        DurationStyle::Suffixed if ms % 1000 == 0 => format!("{}s", ms / 1000),
        DurationStyle::Suffixed => format!("{ms}ms"),
    }
}

/// Whole duration steps, so a raised timeout never ends in stray milliseconds.
pub(crate) fn duration_step(style: DurationStyle, old_ms: u64) -> u64 {
    match style {
        DurationStyle::Bare {
            unit_ms,
            decimal: false,
        } => unit_ms,
        DurationStyle::Bare { decimal: true, .. } => 1,
        DurationStyle::Suffixed if old_ms % 1000 == 0 => 1000,
        DurationStyle::Suffixed => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_round_trips_in_its_own_unit() {
        let m = parse_memory("512Mi").unwrap();
        assert_eq!(m.bytes, 512 << 20);
        assert_eq!(m.format(m.round_up(m.bytes * 3 / 2)).unwrap(), "768Mi");
        let g = parse_memory("1Gi").unwrap();
        // 1.5Gi is not whole gibibytes: it is written in Mi.
        assert_eq!(g.format(g.round_up(g.bytes * 3 / 2)).unwrap(), "1536Mi");
        assert_eq!(g.format(2 << 30).unwrap(), "2Gi");
        let d = parse_memory("500M").unwrap();
        assert_eq!(d.format(d.round_up(750_000_001)).unwrap(), "751M");
        assert_eq!(parse_memory("1.5Gi").unwrap().bytes, 3 << 29);
        assert_eq!(parse_memory("1048576").unwrap().format(10).unwrap(), "10");
        assert_eq!(parse_memory("1e9").unwrap().bytes, 1_000_000_000);
        assert!(parse_memory("lots").is_none());
        assert!(parse_memory("-1Gi").is_none());
        assert!(parse_memory("Mi").is_none());
    }

    #[test]
    fn cpu_in_millicores() {
        assert_eq!(parse_cpu("500m"), Some(500));
        assert_eq!(parse_cpu("1.5"), Some(1500));
        assert_eq!(parse_cpu("2"), Some(2000));
        assert_eq!(parse_cpu("0"), None);
        assert_eq!(parse_cpu("fast"), None);
        assert_eq!(format_cpu(750, "500m"), "750m");
        assert_eq!(format_cpu(2000, "1"), "2");
        assert_eq!(format_cpu(1500, "1"), "1500m");
    }

    #[test]
    fn durations_keep_their_style() {
        let (ms, style) = parse_duration("30s", 1000).unwrap();
        assert_eq!(ms, 30_000);
        assert_eq!(format_duration(45_000, style), "45s");
        assert_eq!(format_duration(90_000, style), "90s");
        assert_eq!(format_duration(120_000, style), "120s");
        assert_eq!(format_duration(1_500, style), "1500ms");
        assert_eq!(parse_duration("1m30s", 1000).unwrap().0, 90_000);
        assert_eq!(parse_duration("250ms", 1000).unwrap().0, 250);
        let (ms, style) = parse_duration("30000", 1).unwrap();
        assert_eq!(format_duration(ms * 3 / 2, style), "45000");
        let (ms, style) = parse_duration("2.5", 1000).unwrap();
        assert_eq!(format_duration(ms * 3 / 2, style), "3.75");
        assert!(parse_duration("soon", 1000).is_none());
        assert!(parse_duration("10x", 1000).is_none());
        assert!(parse_duration("", 1000).is_none());
    }
}
