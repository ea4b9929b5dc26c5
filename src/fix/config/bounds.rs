//! The limits config fixes respect, from `policies/config-bounds.yaml`. A bound protects
//! production from a fix that "works" by exhausting a shared resource, so loading is strict:
//! unknown fields are refused and every error names the file and the field.

use super::quantity::{parse_cpu, parse_memory};
use serde::Deserialize;
use std::path::Path;

/// The bounds compiled into the binary (the repository's `policies/config-bounds.yaml`).
const EMBEDDED: &str = include_str!("../../../policies/config-bounds.yaml");

#[derive(Debug, thiserror::Error)]
pub enum BoundsError {
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: field `{field}`: {message}")]
    Invalid {
        file: String,
        field: String,
        message: String,
    },
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    recurring_after: u32,
    timeout: RawTimeout,
    retries: RawStep,
    pool_size: RawFactor,
    memory_limit: RawQuantity,
    cpu_limit: RawQuantity,
    replicas: RawFactor,
    circuit_breaker: RawBreaker,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeout {
    factor: f64,
    max_seconds: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    step: u64,
    max: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFactor {
    factor: f64,
    max: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuantity {
    factor: f64,
    max: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreaker {
    factor: f64,
    max_failures: u64,
    max_percent: u64,
}

/// Validated bounds; maxima are in base units (milliseconds, bytes, millicores).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigBounds {
    /// How many earlier applications of the same fix are tolerated before escalating.
    pub recurring_after: u32,
    pub timeout_factor: f64,
    pub max_timeout_ms: u64,
    pub retries_step: u64,
    pub max_retries: u64,
    pub pool_factor: f64,
    pub max_pool_size: u64,
    pub memory_factor: f64,
    pub max_memory_bytes: u128,
    /// The max as written in the policy, for messages and as a fallback format.
    pub max_memory_text: String,
    pub cpu_factor: f64,
    pub max_cpu_millis: u64,
    pub replicas_factor: f64,
    pub max_replicas: u64,
    pub breaker_factor: f64,
    pub max_breaker_failures: u64,
    pub max_breaker_percent: u64,
}

impl ConfigBounds {
    /// The bounds shipped with healbot.
    pub fn embedded() -> Result<Self, BoundsError> {
        Self::parse("policies/config-bounds.yaml", EMBEDDED)
    }

    /// A policy directory's `config-bounds.yaml`.
    pub fn load(dir: &Path) -> Result<Self, BoundsError> {
        let path = dir.join("config-bounds.yaml");
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| BoundsError::Io {
            file: file.clone(),
            source,
        })?;
        Self::parse(&file, &text)
    }

    /// Parses and validates bounds; `file` names them in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, BoundsError> {
        let raw: Raw = serde_norway::from_str(text).map_err(|e| BoundsError::Parse {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        let invalid = |field: &str, message: String| BoundsError::Invalid {
            file: file.to_string(),
            field: field.to_string(),
            message,
        };
        for (field, factor) in [
            ("timeout.factor", raw.timeout.factor),
            ("pool_size.factor", raw.pool_size.factor),
            ("memory_limit.factor", raw.memory_limit.factor),
            ("cpu_limit.factor", raw.cpu_limit.factor),
            ("replicas.factor", raw.replicas.factor),
            ("circuit_breaker.factor", raw.circuit_breaker.factor),
        ] {
            // Above 1 so a fix raises; at most 4 so one fix never quadruples a resource.
            if !(factor > 1.0 && factor <= 4.0) {
                return Err(invalid(field, format!("{factor} is not in (1, 4]")));
            }
        }
        let positive = [
            ("retries.step", raw.retries.step),
            ("retries.max", raw.retries.max),
            ("pool_size.max", raw.pool_size.max),
            ("replicas.max", raw.replicas.max),
            (
                "circuit_breaker.max_failures",
                raw.circuit_breaker.max_failures,
            ),
            (
                "circuit_breaker.max_percent",
                raw.circuit_breaker.max_percent,
            ),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(invalid(field, "must be at least 1".into()));
            }
        }
        if raw.circuit_breaker.max_percent > 100 {
            return Err(invalid(
                "circuit_breaker.max_percent",
                format!("{} is over 100", raw.circuit_breaker.max_percent),
            ));
        }
        if !(raw.timeout.max_seconds > 0.0 && raw.timeout.max_seconds <= 86_400.0) {
            return Err(invalid(
                "timeout.max_seconds",
                format!("{} is not in (0, 86400]", raw.timeout.max_seconds),
            ));
        }
        let memory = parse_memory(&raw.memory_limit.max)
            .filter(|m| m.bytes > 0)
            .ok_or_else(|| {
                invalid(
                    "memory_limit.max",
                    format!("`{}` is not a memory quantity", raw.memory_limit.max),
                )
            })?;
        let cpu = parse_cpu(&raw.cpu_limit.max).ok_or_else(|| {
            invalid(
                "cpu_limit.max",
                format!("`{}` is not a CPU quantity", raw.cpu_limit.max),
            )
        })?;
        Ok(ConfigBounds {
            recurring_after: raw.recurring_after,
            timeout_factor: raw.timeout.factor,
            max_timeout_ms: (raw.timeout.max_seconds * 1000.0).round() as u64,
            retries_step: raw.retries.step,
            max_retries: raw.retries.max,
            pool_factor: raw.pool_size.factor,
            max_pool_size: raw.pool_size.max,
            memory_factor: raw.memory_limit.factor,
            max_memory_bytes: memory.bytes,
            max_memory_text: raw.memory_limit.max.trim().to_string(),
            cpu_factor: raw.cpu_limit.factor,
            max_cpu_millis: cpu,
            replicas_factor: raw.replicas.factor,
            max_replicas: raw.replicas.max,
            breaker_factor: raw.circuit_breaker.factor,
            max_breaker_failures: raw.circuit_breaker.max_failures,
            max_breaker_percent: raw.circuit_breaker.max_percent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_bounds_load() {
        let b = ConfigBounds::embedded().unwrap();
        assert_eq!(b.max_timeout_ms, 60_000);
        assert_eq!(b.max_memory_bytes, 8 << 30);
        assert_eq!(b.max_cpu_millis, 4000);
        assert_eq!(b.recurring_after, 2);
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        assert_eq!(ConfigBounds::load(&dir).unwrap(), b);
    }

    #[test]
    fn bad_bounds_name_the_field() {
        let broken = |from: &str, to: &str| {
            let text = EMBEDDED.replace(from, to);
            assert_ne!(text, EMBEDDED, "{from} not in the policy");
            ConfigBounds::parse("b.yaml", &text)
                .unwrap_err()
                .to_string()
        };
        let e = broken("max: 8Gi", "max: lots");
        assert!(e.contains("`memory_limit.max`"), "{e}");
        let e = broken("factor: 1.5\n  max_seconds", "factor: 0.5\n  max_seconds");
        assert!(e.contains("`timeout.factor`"), "{e}");
        let e = broken("max_percent: 80", "max_percent: 180");
        assert!(e.contains("`circuit_breaker.max_percent`"), "{e}");
        let e = broken("recurring_after", "recuring_after");
        assert!(e.starts_with("b.yaml: "), "{e}");
        assert!(e.contains("recuring_after"), "{e}");
    }
}
