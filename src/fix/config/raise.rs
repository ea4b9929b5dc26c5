//! The new value of a raised setting: old × factor (or + step), at least one unit more, capped
//! at the policy's bound, and written in the old value's own units.

use super::quantity::{
    duration_step, format_cpu, format_duration, parse_cpu, parse_duration, parse_memory,
};
use super::{ConfigBounds, ConfigFixError, ConfigKind, ConfigTarget};

/// The raised value of `target` (currently `old`), or why it cannot be raised.
pub fn raise(
    file: &str,
    target: &ConfigTarget,
    old: &str,
    b: &ConfigBounds,
) -> Result<String, ConfigFixError> {
    let bad = |expected: &'static str| ConfigFixError::BadValue {
        file: file.to_string(),
        path: target.path.clone(),
        value: old.to_string(),
        expected,
    };
    let percent = is_percent(&target.path);
    let bound = |limit: String| ConfigFixError::Bound {
        file: file.to_string(),
        path: target.path.clone(),
        bound: target.kind.bound_name(percent).to_string(),
        limit,
        current: old.to_string(),
    };
    match target.kind {
        ConfigKind::Timeout => {
            let (ms, style) = parse_duration(old, bare_unit_ms(&target.path, old))
                .ok_or_else(|| bad("a duration"))?;
            let step = duration_step(style, ms);
            let limit = b.max_timeout_ms;
            let wanted = (ms as f64 * b.timeout_factor).ceil() as u64;
            let new = wanted.div_ceil(step) * step;
            let new = new.max(ms + step).min(limit);
            if new <= ms {
                return Err(bound(format!("{}s", limit as f64 / 1000.0)));
            }
            Ok(format_duration(new, style))
        }
        ConfigKind::MemoryLimit => {
            let m = parse_memory(old).ok_or_else(|| bad("a memory quantity"))?;
            let wanted = m.round_up((m.bytes as f64 * b.memory_factor).ceil() as u128);
            let new = wanted.max(m.round_up(m.bytes + 1));
            if m.bytes >= b.max_memory_bytes {
                return Err(bound(b.max_memory_text.clone()));
            }
            if new >= b.max_memory_bytes {
                // The bound itself, in the file's unit when it is whole there.
                return Ok(m
                    .format(b.max_memory_bytes)
                    .unwrap_or_else(|| b.max_memory_text.clone()));
            }
            m.format(new).ok_or_else(|| bad("a memory quantity"))
        }
        ConfigKind::CpuLimit => {
            let millis = parse_cpu(old).ok_or_else(|| bad("a CPU quantity"))?;
            let new = ((millis as f64 * b.cpu_factor).ceil() as u64)
                .max(millis + 1)
                .min(b.max_cpu_millis);
            if new <= millis {
                return Err(bound(format_cpu(b.max_cpu_millis, "1")));
            }
            Ok(format_cpu(new, old))
        }
        ConfigKind::Retries => {
            let n = count(old).ok_or_else(|| bad("a whole number"))?;
            let new = (n + b.retries_step).min(b.max_retries);
            if new <= n {
                return Err(bound(b.max_retries.to_string()));
            }
            Ok(new.to_string())
        }
        ConfigKind::PoolSize => scale(old, b.pool_factor, b.max_pool_size, &bad, &bound),
        ConfigKind::Replicas => scale(old, b.replicas_factor, b.max_replicas, &bad, &bound),
        ConfigKind::CircuitBreaker => {
            let max = if percent {
                b.max_breaker_percent
            } else {
                b.max_breaker_failures
            };
            scale(old, b.breaker_factor, max, &bad, &bound)
        }
    }
}

/// A count raised by `factor`, at least by one, capped at `max`.
fn scale(
    old: &str,
    factor: f64,
    max: u64,
    bad: &dyn Fn(&'static str) -> ConfigFixError,
    bound: &dyn Fn(String) -> ConfigFixError,
) -> Result<String, ConfigFixError> {
    let n = count(old).ok_or_else(|| bad("a whole number"))?;
    let new = ((n as f64 * factor).ceil() as u64).max(n + 1).min(max);
    if new <= n {
        return Err(bound(max.to_string()));
    }
    Ok(new.to_string())
}

fn count(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// The last key of a path, without a trailing index.
fn last_key(path: &str) -> String {
    let last = path.rsplit('.').next().unwrap_or(path);
    last.split('[').next().unwrap_or(last).to_ascii_lowercase()
}

fn is_percent(path: &str) -> bool {
    let key = last_key(path);
    key.contains("percent") || key.contains("rate")
}

/// What a bare number means for this key: a `…Ms`/`…millis` key is milliseconds, a
/// `…Seconds` key seconds; otherwise a value of 1000 or more is milliseconds (HikariCP's
/// `connectionTimeout: 30000`), since a request timeout of 1000 seconds is not a thing.
fn bare_unit_ms(path: &str, value: &str) -> u64 {
    let key = last_key(path);
    if key.ends_with("ms") || key.contains("millis") {
        1
    } else if key.ends_with("seconds") || key.ends_with("secs") || key.ends_with("_s") {
        1000
    } else if value.trim().parse::<f64>().is_ok_and(|v| v >= 1000.0) {
        1
    } else {
        1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(kind: ConfigKind, path: &str) -> ConfigTarget {
        ConfigTarget {
            kind,
            document: 0,
            path: path.into(),
            value: String::new(),
        }
    }

    fn up(kind: ConfigKind, path: &str, old: &str) -> Result<String, ConfigFixError> {
        raise(
            "f.yaml",
            &target(kind, path),
            old,
            &ConfigBounds::embedded().unwrap(),
        )
    }

    #[test]
    fn values_rise_by_the_factor_in_their_own_units() {
        use ConfigKind::*;
        assert_eq!(up(MemoryLimit, "limits.memory", "512Mi").unwrap(), "768Mi");
        assert_eq!(up(MemoryLimit, "limits.memory", "1Gi").unwrap(), "1536Mi");
        assert_eq!(up(MemoryLimit, "limits.memory", "6Gi").unwrap(), "8Gi");
        assert_eq!(up(CpuLimit, "limits.cpu", "500m").unwrap(), "750m");
        assert_eq!(up(CpuLimit, "limits.cpu", "2").unwrap(), "3");
        assert_eq!(up(CpuLimit, "limits.cpu", "1").unwrap(), "1500m");
        assert_eq!(up(Timeout, "http.timeout", "30s").unwrap(), "45s");
        assert_eq!(up(Timeout, "http.timeout", "5").unwrap(), "8");
        assert_eq!(
            up(Timeout, "hikari.connectionTimeout", "30000").unwrap(),
            "45000"
        );
        assert_eq!(up(Timeout, "http.timeoutMs", "500").unwrap(), "750");
        assert_eq!(up(Timeout, "http.timeout", "50s").unwrap(), "60s");
        assert_eq!(up(Retries, "max_retries", "2").unwrap(), "3");
        assert_eq!(up(PoolSize, "pool_size", "10").unwrap(), "15");
        assert_eq!(up(PoolSize, "pool_size", "1").unwrap(), "2");
        assert_eq!(up(Replicas, "replicas", "3").unwrap(), "5");
        assert_eq!(
            up(CircuitBreaker, "cb.failureRateThreshold", "50").unwrap(),
            "75"
        );
        assert_eq!(
            up(CircuitBreaker, "cb.failureRateThreshold", "60").unwrap(),
            "80"
        );
        assert_eq!(
            up(CircuitBreaker, "cb.consecutiveErrors", "5").unwrap(),
            "8"
        );
    }

    #[test]
    fn a_value_at_its_bound_is_refused_with_the_bound_named() {
        use ConfigKind::*;
        let e = up(MemoryLimit, "limits.memory", "8Gi")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`memory_limit.max` (8Gi)"), "{e}");
        let e = up(Timeout, "timeout", "60s").unwrap_err().to_string();
        assert!(e.contains("`timeout.max_seconds` (60s)"), "{e}");
        let e = up(Replicas, "replicas", "20").unwrap_err().to_string();
        assert!(e.contains("`replicas.max`"), "{e}");
        let e = up(CpuLimit, "limits.cpu", "4000m").unwrap_err().to_string();
        assert!(e.contains("`cpu_limit.max` (4)"), "{e}");
        let e = up(CircuitBreaker, "cb.failureRateThreshold", "80")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`circuit_breaker.max_percent`"), "{e}");
        let e = up(PoolSize, "pool_size", "many").unwrap_err().to_string();
        assert!(e.contains("\"many\", which is not a whole number"), "{e}");
    }
}
