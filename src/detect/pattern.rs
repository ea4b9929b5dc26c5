//! Maps an error signature (message and stack trace) to a known error pattern with a confidence.
//! The pattern picks the fix templates worth trying; an unknown signature gets a low confidence
//! so that a person decides. A slow service with no trace gets `high_latency` from its signals.

use super::Signal;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The error patterns healbot recognises. Ids are stable: templates name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorPattern {
    NullDereference,
    UnwrapOnNone,
    UnwrapOnErr,
    IndexOutOfRange,
    CharBoundary,
    Overflow,
    DivisionByZero,
    KeyError,
    /// Rust: a `RefCell` borrowed while already borrowed.
    #[serde(rename = "refcell_borrow")]
    RefCellBorrow,
    /// A failed assertion (`assert!`, Python's and Java's `AssertionError`).
    AssertionFailed,
    Timeout,
    ConnectionPoolExhausted,
    TransientConnection,
    OomKilled,
    HighLatency,
    BadDeploy,
    Unknown,
}

impl ErrorPattern {
    pub fn id(self) -> &'static str {
        match self {
            ErrorPattern::NullDereference => "null_dereference",
            ErrorPattern::UnwrapOnNone => "unwrap_on_none",
            ErrorPattern::UnwrapOnErr => "unwrap_on_err",
            ErrorPattern::IndexOutOfRange => "index_out_of_range",
            ErrorPattern::CharBoundary => "char_boundary",
            ErrorPattern::Overflow => "overflow",
            ErrorPattern::DivisionByZero => "division_by_zero",
            ErrorPattern::KeyError => "key_error",
            ErrorPattern::RefCellBorrow => "refcell_borrow",
            ErrorPattern::AssertionFailed => "assertion_failed",
            ErrorPattern::Timeout => "timeout",
            ErrorPattern::ConnectionPoolExhausted => "connection_pool_exhausted",
            ErrorPattern::TransientConnection => "transient_connection",
            ErrorPattern::OomKilled => "oom_killed",
            ErrorPattern::HighLatency => "high_latency",
            ErrorPattern::BadDeploy => "bad_deploy",
            ErrorPattern::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatternMatch {
    pub pattern: ErrorPattern,
    /// In [0, 1].
    pub confidence: f64,
    /// The text that matched, for the PR body.
    pub evidence: String,
}

struct Rule {
    pattern: ErrorPattern,
    confidence: f64,
    re: Regex,
}

fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let table: &[(ErrorPattern, f64, &str)] = &[
            (
                ErrorPattern::NullDereference,
                0.92,
                r"AttributeError: 'NoneType' object has no attribute|TypeError: Cannot read propert(y|ies) of (null|undefined)|NullPointerException|nil pointer dereference",
            ),
            (
                ErrorPattern::UnwrapOnNone,
                0.9,
                r"called `Option::unwrap\(\)` on a `None` value",
            ),
            (
                ErrorPattern::UnwrapOnErr,
                0.88,
                r"called `Result::unwrap\(\)` on an `Err` value",
            ),
            (
                ErrorPattern::IndexOutOfRange,
                0.88,
                r"index out of bounds|IndexError: .*index out of range|ArrayIndexOutOfBoundsException|index out of range \[",
            ),
            (
                ErrorPattern::CharBoundary,
                0.88,
                r"is not a char boundary|byte index \d+ is out of bounds of",
            ),
            (
                ErrorPattern::Overflow,
                0.85,
                r"attempt to (add|subtract|multiply|negate|shift left|shift right) with overflow|OverflowError",
            ),
            (
                ErrorPattern::DivisionByZero,
                0.9,
                r"attempt to (divide|calculate the remainder) (by|with a divisor of) zero|ZeroDivisionError|ArithmeticException: / by zero|integer divide by zero",
            ),
            (ErrorPattern::KeyError, 0.85, r"KeyError: "),
            (
                ErrorPattern::RefCellBorrow,
                0.85,
                r"already (mutably )?borrowed|BorrowMutError|BorrowError",
            ),
            (
                ErrorPattern::AssertionFailed,
                0.8,
                r"assertion failed: |assertion `left (==|!=) right` failed|AssertionError",
            ),
            (
                ErrorPattern::ConnectionPoolExhausted,
                0.85,
                r"(?i)(connection pool (exhausted|is full|timed out)|QueuePool limit of size|too many connections|remaining connection slots are reserved)",
            ),
            (
                ErrorPattern::Timeout,
                0.8,
                r"(?i)(TimeoutError|timed out|deadline exceeded|ReadTimeout|SocketTimeoutException)",
            ),
            (
                ErrorPattern::TransientConnection,
                0.75,
                r"(?i)(ConnectionError|ConnectionResetError|connection refused|connection reset|ECONNRESET|ECONNREFUSED|503 Service Unavailable)",
            ),
            (ErrorPattern::OomKilled, 0.9, r"OOMKilled|Out of memory: Killed process|MemoryError"),
        ];
        table
            .iter()
            .map(|(pattern, confidence, re)| Rule {
                pattern: *pattern,
                confidence: *confidence,
                re: Regex::new(re).expect("built-in pattern regex compiles"),
            })
            .collect()
    })
}

/// The best-matching pattern for an error text. The last lines of a trace carry the exception,
/// so a match on a later line wins over one found earlier in the text.
pub fn classify(text: &str) -> PatternMatch {
    let mut best: Option<(usize, PatternMatch)> = None;
    for rule in rules() {
        if let Some(m) = rule.re.find_iter(text).last() {
            let line_start = text[..m.start()].rfind('\n').map_or(0, |i| i + 1);
            let line_end = text[m.end()..]
                .find('\n')
                .map_or(text.len(), |i| m.end() + i);
            let candidate = PatternMatch {
                pattern: rule.pattern,
                confidence: rule.confidence,
                evidence: text[line_start..line_end].trim().to_string(),
            };
            // A later line wins; on one line (`TimeoutError: QueuePool limit … reached`) the
            // more specific, more confident rule does.
            let better = match &best {
                None => true,
                Some((line, b)) => {
                    line_start > *line
                        || (line_start == *line && candidate.confidence > b.confidence)
                }
            };
            if better {
                best = Some((line_start, candidate));
            }
        }
    }
    best.map(|(_, m)| m).unwrap_or(PatternMatch {
        pattern: ErrorPattern::Unknown,
        confidence: 0.3,
        evidence: text.lines().last().unwrap_or_default().trim().to_string(),
    })
}

/// How sure a latency incident's own signals make the `high_latency` pattern: they name the
/// symptom, not its cause, so less than a matched exception.
pub(crate) const LATENCY_CONFIDENCE: f64 = 0.75;

/// The `high_latency` pattern from an incident's own signals, for an incident with no stack
/// trace to classify: a latency metric over its rule, or an alert whose name or summary says
/// latency. None when a signal is an error rate: a failing service is not just slow.
pub(crate) fn latency_from_signals(signals: &[Signal]) -> Option<PatternMatch> {
    static ALERT: OnceLock<Regex> = OnceLock::new();
    let alert = ALERT.get_or_init(|| {
        Regex::new(r"(?i)latency|slow|p(50|9[059])\b|response.?time")
            .expect("latency alert regex compiles")
    });
    let errors = signals
        .iter()
        .any(|s| matches!(s, Signal::Metric { metric, .. } if metric == "error_rate"));
    if errors {
        return None;
    }
    let evidence = signals.iter().find_map(|s| match s {
        Signal::Metric {
            metric,
            value,
            threshold,
            rule,
            ..
        } if metric.starts_with("latency_") && value > threshold => {
            Some(format!("{metric} {value:.0} over {threshold:.0} ({rule})"))
        }
        Signal::Alert { name, summary, .. } if alert.is_match(name) || alert.is_match(summary) => {
            Some(if summary.is_empty() {
                format!("alert {name}")
            } else {
                format!("alert {name}: {summary}")
            })
        }
        _ => None,
    })?;
    Some(PatternMatch {
        pattern: ErrorPattern::HighLatency,
        confidence: LATENCY_CONFIDENCE,
        evidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_timeout_on_one_line_is_the_pool() {
        let t = "Traceback (most recent call last):\n  File \"x.py\", line 3, in f\n    db.connect()\nsqlalchemy.exc.TimeoutError: QueuePool limit of size 10 overflow 0 reached, connection timed out, timeout 30";
        assert_eq!(classify(t).pattern, ErrorPattern::ConnectionPoolExhausted);
        let t = "Traceback (most recent call last):\n  File \"x.py\", line 3, in f\n    get()\nrequests.exceptions.ReadTimeout: Read timed out. (read timeout=2)";
        assert_eq!(classify(t).pattern, ErrorPattern::Timeout);
    }

    #[test]
    fn python_none_attribute_is_null_dereference() {
        let t = "Traceback (most recent call last):\n  File \"x.py\", line 3, in f\n    user.email\nAttributeError: 'NoneType' object has no attribute 'email'";
        let m = classify(t);
        assert_eq!(m.pattern, ErrorPattern::NullDereference);
        assert!(m.evidence.starts_with("AttributeError"));
    }

    #[test]
    fn rust_unwrap_none() {
        let m = classify("thread 'main' panicked at src/main.rs:4:5:\ncalled `Option::unwrap()` on a `None` value");
        assert_eq!(m.pattern, ErrorPattern::UnwrapOnNone);
    }

    #[test]
    fn unknown_has_low_confidence() {
        let m = classify("something odd happened");
        assert_eq!(m.pattern, ErrorPattern::Unknown);
        assert!(m.confidence < 0.7);
    }

    #[test]
    fn last_exception_in_chain_wins() {
        let t = "KeyError: 'a'\n\nDuring handling of the above exception, another exception occurred:\n\nZeroDivisionError: division by zero";
        assert_eq!(classify(t).pattern, ErrorPattern::DivisionByZero);
    }

    #[test]
    fn a_latency_alert_or_metric_is_high_latency() {
        let alert = |name: &str, summary: &str| Signal::Alert {
            service: "payment-service".into(),
            name: name.into(),
            fingerprint: "f".into(),
            summary: summary.into(),
        };
        let metric = |metric: &str, value: f64| Signal::Metric {
            service: "payment-service".into(),
            metric: metric.into(),
            value,
            threshold: if metric == "error_rate" { 0.02 } else { 1500.0 },
            rule: "slow-p99".into(),
        };
        let m = latency_from_signals(&[alert("SlowP99", "p99 latency 2.4 s")]).unwrap();
        assert_eq!(m.pattern, ErrorPattern::HighLatency);
        assert_eq!(m.evidence, "alert SlowP99: p99 latency 2.4 s");
        let m = latency_from_signals(&[metric("latency_p99_ms", 4800.0)]).unwrap();
        assert_eq!(m.evidence, "latency_p99_ms 4800 over 1500 (slow-p99)");
        assert_eq!(latency_from_signals(&[alert("HighErrorRate", "5xx")]), None);
        assert_eq!(
            latency_from_signals(&[metric("latency_p99_ms", 900.0)]),
            None
        );
        // Slow and failing: an error incident, not a latency one.
        let both = [metric("latency_p99_ms", 4800.0), metric("error_rate", 0.2)];
        assert_eq!(latency_from_signals(&both), None);
    }
}
