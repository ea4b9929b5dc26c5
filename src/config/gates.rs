//! `policies/gates.yaml`: the thresholds of the six safety gates every fix passes before a
//! lock is taken (error budget, blast radius, recent failures, cooldown, capacity, incident
//! rate). A pause sends the decision to a person; a block stops the operation.

use super::yaml::{check_at_least, check_unit, FieldError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatesPolicy {
    pub error_budget: ErrorBudgetGate,
    pub blast_radius: BlastRadiusGate,
    pub recent_failures: RecentFailuresGate,
    pub cooldown: CooldownGate,
    pub capacity: CapacityGate,
    pub incident_rate: IncidentRateGate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBudgetGate {
    /// The SLO as an error rate: 0.01 means 99% of requests succeed.
    pub slo_error_rate: f64,
    /// The SLO window the budget is counted over.
    pub window_days: u32,
    /// Share of the budget consumed at which the gate pauses (optional).
    #[serde(default)]
    pub pause_at_consumed: Option<f64>,
    /// Share of the budget consumed at which the gate blocks; 1.0 = exhausted.
    pub block_at_consumed: f64,
}

impl ErrorBudgetGate {
    /// Share of the budget consumed when the window's mean error rate is `mean_error_rate`.
    pub fn consumed(&self, mean_error_rate: f64) -> f64 {
        mean_error_rate / self.slo_error_rate
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlastRadiusGate {
    /// Share of the other services affected at which the gate pauses.
    pub pause_above: f64,
    #[serde(default)]
    pub block_above: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecentFailuresGate {
    /// Consecutive failed healbot operations on the service above which the gate pauses.
    pub pause_above: u32,
    #[serde(default)]
    pub block_above: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CooldownGate {
    /// Minutes that must pass after the service's last deploy before healbot deploys again.
    pub min_minutes_since_deploy: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityGate {
    pub cpu: UtilisationLimits,
    pub memory: UtilisationLimits,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UtilisationLimits {
    #[serde(default)]
    pub pause_above: Option<f64>,
    pub block_above: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentRateGate {
    pub window_minutes: u32,
    /// Incidents in the window above which the gate pauses.
    pub pause_above: u32,
    /// Incidents in the window above which the gate blocks.
    pub block_above: u32,
}

impl GatesPolicy {
    pub fn validate(&self) -> Result<(), FieldError> {
        let e = &self.error_budget;
        if !(e.slo_error_rate > 0.0 && e.slo_error_rate < 1.0) {
            return Err(FieldError::new(
                "error_budget.slo_error_rate",
                format!("must be in (0, 1), got {}", e.slo_error_rate),
            ));
        }
        check_at_least("error_budget.window_days", u64::from(e.window_days), 1)?;
        check_positive("error_budget.block_at_consumed", e.block_at_consumed)?;
        if let Some(pause) = e.pause_at_consumed {
            check_positive("error_budget.pause_at_consumed", pause)?;
            pause_below_block("error_budget", pause, e.block_at_consumed)?;
        }

        let b = &self.blast_radius;
        check_unit("blast_radius.pause_above", b.pause_above)?;
        if let Some(block) = b.block_above {
            check_unit("blast_radius.block_above", block)?;
            pause_below_block("blast_radius", b.pause_above, block)?;
        }

        let r = &self.recent_failures;
        if let Some(block) = r.block_above {
            pause_below_block(
                "recent_failures",
                f64::from(r.pause_above),
                f64::from(block),
            )?;
        }

        for (name, limits) in [
            ("capacity.cpu", &self.capacity.cpu),
            ("capacity.memory", &self.capacity.memory),
        ] {
            check_unit(&format!("{name}.block_above"), limits.block_above)?;
            if let Some(pause) = limits.pause_above {
                check_unit(&format!("{name}.pause_above"), pause)?;
                pause_below_block(name, pause, limits.block_above)?;
            }
        }

        let i = &self.incident_rate;
        check_at_least(
            "incident_rate.window_minutes",
            u64::from(i.window_minutes),
            1,
        )?;
        pause_below_block(
            "incident_rate",
            f64::from(i.pause_above),
            f64::from(i.block_above),
        )?;
        Ok(())
    }
}

fn check_positive(field: &str, value: f64) -> Result<(), FieldError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("must be a number above 0, got {value}"),
        ))
    }
}

/// A pause threshold at or above its block threshold could never fire; that is a mistake.
fn pause_below_block(gate: &str, pause: f64, block: f64) -> Result<(), FieldError> {
    if pause < block {
        Ok(())
    } else {
        Err(FieldError::new(
            format!("{gate}.pause_{}", pause_suffix(gate)),
            format!("must be below the block threshold ({block}), got {pause}"),
        ))
    }
}

fn pause_suffix(gate: &str) -> &'static str {
    if gate == "error_budget" {
        "at_consumed"
    } else {
        "above"
    }
}
