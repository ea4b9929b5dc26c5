//! `policies/conflicts.yaml`: what healbot does when a new operation meets one already running
//! (wait, pause for a person, abort). The detector in `lock::conflict` is pure; every decision
//! it makes comes from here, so a reviewer can read the rules without reading code.

use super::yaml::{check_at_least, FieldError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConflictsPolicy {
    pub actions: ConflictActions,
    /// Catalog node kinds that count as shared resources (`database`, `cache`, `queue`).
    pub resource_kinds: Vec<String>,
    pub high_blast_radius: HighBlastRadius,
}

/// One action per conflict type; every type must be named, so none is forgotten.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConflictActions {
    pub same_service: ConflictAction,
    pub upstream_dependency: ConflictAction,
    pub downstream_dependency: ConflictAction,
    pub shared_resource: ConflictAction,
    pub same_incident: ConflictAction,
    pub deployment_in_progress: ConflictAction,
    pub freeze_window: ConflictAction,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HighBlastRadius {
    pub pause_above_services: u64,
}

/// Ordered from least to most strict; the strictest action of all conflicts wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictAction {
    Proceed,
    Wait,
    PauseForReview,
    Abort,
}

impl ConflictsPolicy {
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.resource_kinds.is_empty() {
            return Err(FieldError::new(
                "resource_kinds",
                "must name at least one kind (e.g. database)",
            ));
        }
        for (i, kind) in self.resource_kinds.iter().enumerate() {
            if kind.trim().is_empty() {
                return Err(FieldError::new(
                    format!("resource_kinds[{i}]"),
                    "must not be empty",
                ));
            }
        }
        check_at_least(
            "high_blast_radius.pause_above_services",
            self.high_blast_radius.pause_above_services,
            1,
        )?;
        // A duplicate operation must never run alongside the first one.
        if self.actions.same_incident < ConflictAction::Wait {
            return Err(FieldError::new(
                "actions.same_incident",
                "must be wait, pause_for_review or abort: two operations on one incident race",
            ));
        }
        if self.actions.same_service < ConflictAction::Wait {
            return Err(FieldError::new(
                "actions.same_service",
                "must be wait, pause_for_review or abort: two changes to one service race",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::parse_strict;

    const POLICY: &str = include_str!("../../policies/conflicts.yaml");

    #[test]
    fn shipped_policy_is_valid() {
        let p: ConflictsPolicy = parse_strict(POLICY).unwrap();
        p.validate().unwrap();
        assert_eq!(p.actions.same_incident, ConflictAction::Abort);
        assert!(p.resource_kinds.iter().any(|k| k == "database"));
    }

    #[test]
    fn bad_action_and_loosened_rules_name_the_field() {
        let e = parse_strict::<ConflictsPolicy>(
            &POLICY.replace("same_service: wait", "same_service: go"),
        )
        .unwrap_err();
        assert_eq!(e.field, "actions.same_service");
        let p: ConflictsPolicy =
            parse_strict(&POLICY.replace("same_incident: abort", "same_incident: proceed"))
                .unwrap();
        assert_eq!(p.validate().unwrap_err().field, "actions.same_incident");
        let p: ConflictsPolicy =
            parse_strict(&POLICY.replace("pause_above_services: 10", "pause_above_services: 0"))
                .unwrap();
        assert_eq!(
            p.validate().unwrap_err().field,
            "high_blast_radius.pause_above_services"
        );
    }
}
