//! Verification at 100%: once the fix takes all the traffic, is the service healthy? A pure
//! decision over typed checks — the service's error rate under the SLO, its p99 latency under
//! the detection rule's limit, traffic served, each dependency's error rate and, when the
//! repository names a `health_url`, an HTTP probe — so that it can be tried on any readings.
//! The probe sits behind a trait (`probe`). What a rollback writes back, when verification or
//! the canary fails, is `rollback`; the orchestrator carries both out.

pub mod probe;
pub mod rollback;

pub use probe::{HealthProbe, HttpHealthProbe, ProbeOutcome};

use crate::signals::ServiceHealth;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a check looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// The service's error rate against the SLO.
    ErrorRate,
    /// The service's p99 latency against the detection rule's limit.
    LatencyP99,
    /// That the service has readings and served requests.
    Traffic,
    /// The service's `health_url` answered 2xx.
    HttpHealth,
    /// A service it depends on stays under the SLO.
    Dependency(String),
}

impl CheckKind {
    /// The kind a check's name (as [`fmt::Display`] writes it) stands for.
    pub(crate) fn from_name(name: &str) -> Option<CheckKind> {
        Some(match name {
            "error rate under SLO" => CheckKind::ErrorRate,
            "latency p99" => CheckKind::LatencyP99,
            "health check" => CheckKind::Traffic,
            "HTTP health check" => CheckKind::HttpHealth,
            other => CheckKind::Dependency(other.strip_prefix("dependency ")?.to_string()),
        })
    }
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckKind::ErrorRate => f.write_str("error rate under SLO"),
            CheckKind::LatencyP99 => f.write_str("latency p99"),
            CheckKind::Traffic => f.write_str("health check"),
            CheckKind::HttpHealth => f.write_str("HTTP health check"),
            CheckKind::Dependency(service) => write!(f, "dependency {service}"),
        }
    }
}

/// One check and what it saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "CheckRecord", try_from = "CheckRecord")]
pub struct Check {
    pub kind: CheckKind,
    pub passed: bool,
    /// What was measured, for the PR comment (`0.10% (SLO 1.00%)`).
    pub observed: String,
}

/// A check as the audit log keeps it: `{name, passed, observed}`, or the
/// `[name, passed, observed]` of logs written before checks were typed.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum CheckRecord {
    Fields {
        name: String,
        passed: bool,
        observed: String,
    },
    Tuple(String, bool, String),
}

impl From<Check> for CheckRecord {
    fn from(c: Check) -> CheckRecord {
        CheckRecord::Fields {
            name: c.kind.to_string(),
            passed: c.passed,
            observed: c.observed,
        }
    }
}

impl TryFrom<CheckRecord> for Check {
    type Error = String;

    fn try_from(r: CheckRecord) -> Result<Check, String> {
        let (name, passed, observed) = match r {
            CheckRecord::Fields {
                name,
                passed,
                observed,
            } => (name, passed, observed),
            CheckRecord::Tuple(name, passed, observed) => (name, passed, observed),
        };
        let kind = CheckKind::from_name(&name).ok_or_else(|| format!("unknown check {name:?}"))?;
        Ok(Check {
            kind,
            passed,
            observed,
        })
    }
}

/// What verification at 100% decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub passed: bool,
    pub checks: Vec<Check>,
}

/// The limits the service must hold at 100%.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// The SLO's error rate (the error budget gate's), for the service and its dependencies.
    pub slo_error_rate: f64,
    /// The lowest p99 latency a detection rule fires above, in milliseconds.
    pub latency_p99_ms: f64,
}

/// What production shows for the service at 100%.
#[derive(Debug, Clone, Copy)]
pub struct Readings<'a> {
    pub service: &'a str,
    /// Every service's readings, the dependencies' included.
    pub health: &'a [ServiceHealth],
    /// What `service` calls directly.
    pub dependencies: &'a [&'a str],
    /// The `health_url` probe, when the repository names one.
    pub probe: Option<&'a ProbeOutcome>,
}

/// Passes when every check passes; a service without readings fails.
pub fn decide(readings: &Readings, limits: &Limits) -> Verification {
    let slo = limits.slo_error_rate;
    let p99_limit = limits.latency_p99_ms;
    let mut checks = Vec::new();
    let check = |kind, passed, observed| Check {
        kind,
        passed,
        observed,
    };
    match readings
        .health
        .iter()
        .find(|h| h.service == readings.service)
    {
        Some(h) => {
            checks.push(check(
                CheckKind::ErrorRate,
                h.error_rate <= slo,
                format!("{:.2}% (SLO {:.2}%)", h.error_rate * 100.0, slo * 100.0),
            ));
            checks.push(check(
                CheckKind::LatencyP99,
                h.latency_p99_ms <= p99_limit,
                format!("{:.2} ms (limit {p99_limit} ms)", h.latency_p99_ms),
            ));
            checks.push(check(
                CheckKind::Traffic,
                h.requests > 0,
                format!("{} requests served", h.requests),
            ));
        }
        None => checks.push(check(
            CheckKind::Traffic,
            false,
            format!("no readings for {}", readings.service),
        )),
    }
    if let Some(probe) = readings.probe {
        checks.push(check(
            CheckKind::HttpHealth,
            probe.healthy,
            probe.observed.clone(),
        ));
    }
    for dep in readings.dependencies {
        if let Some(h) = readings.health.iter().find(|h| h.service == *dep) {
            checks.push(check(
                CheckKind::Dependency(dep.to_string()),
                h.error_rate <= slo,
                format!("{:.2}% errors", h.error_rate * 100.0),
            ));
        }
    }
    Verification {
        passed: checks.iter().all(|c| c.passed),
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(service: &str, error_rate: f64, p99: f64, requests: u64) -> ServiceHealth {
        ServiceHealth {
            service: service.into(),
            requests,
            error_rate,
            latency_p95_ms: p99 / 2.0,
            latency_p99_ms: p99,
            cpu_utilization: 0.3,
            memory_utilization: 0.4,
        }
    }

    const LIMITS: Limits = Limits {
        slo_error_rate: 0.01,
        latency_p99_ms: 1500.0,
    };

    #[test]
    fn a_healthy_service_with_healthy_dependencies_passes() {
        let health = [
            health("payment", 0.001, 80.0, 600),
            health("postgres", 0.0, 5.0, 900),
        ];
        let probe = ProbeOutcome {
            healthy: true,
            observed: "GET http://payment/healthz → 200".into(),
        };
        let v = decide(
            &Readings {
                service: "payment",
                health: &health,
                dependencies: &["postgres", "not-measured"],
                probe: Some(&probe),
            },
            &LIMITS,
        );
        assert!(v.passed, "{v:?}");
        let kinds: Vec<String> = v.checks.iter().map(|c| c.kind.to_string()).collect();
        assert_eq!(
            kinds,
            [
                "error rate under SLO",
                "latency p99",
                "health check",
                "HTTP health check",
                "dependency postgres"
            ]
        );
        assert_eq!(v.checks[0].observed, "0.10% (SLO 1.00%)");
    }

    #[test]
    fn any_failed_check_fails_and_no_readings_is_a_failure() {
        let slow = [health("payment", 0.001, 4400.0, 600)];
        let readings = Readings {
            service: "payment",
            health: &slow,
            dependencies: &[],
            probe: None,
        };
        let v = decide(&readings, &LIMITS);
        assert!(!v.passed);
        let failed: Vec<&Check> = v.checks.iter().filter(|c| !c.passed).collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].kind, CheckKind::LatencyP99);

        let down = ProbeOutcome {
            healthy: false,
            observed: "GET http://payment/healthz → 503".into(),
        };
        let probed = Readings {
            probe: Some(&down),
            health: &[],
            ..readings
        };
        let v = decide(&probed, &LIMITS);
        assert!(!v.passed);
        assert_eq!(v.checks[0].observed, "no readings for payment");
        assert_eq!(v.checks[1].kind, CheckKind::HttpHealth);
    }

    #[test]
    fn checks_read_back_from_the_log_in_both_shapes() {
        let v = Verification {
            passed: false,
            checks: vec![Check {
                kind: CheckKind::Dependency("postgres".into()),
                passed: false,
                observed: "3.00% errors".into(),
            }],
        };
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["checks"][0]["name"], "dependency postgres");
        assert_eq!(serde_json::from_value::<Verification>(json).unwrap(), v);
        // The shape logs written before typed checks hold.
        let old = serde_json::json!({
            "passed": false,
            "checks": [["dependency postgres", false, "3.00% errors"]]
        });
        assert_eq!(serde_json::from_value::<Verification>(old).unwrap(), v);
        let unknown = serde_json::json!({"passed": true, "checks": [["vibes", true, "good"]]});
        assert!(serde_json::from_value::<Verification>(unknown).is_err());
    }
}
