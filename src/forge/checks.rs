//! What a branch's protection asks of a change, and what a commit's checks say. The GitHub
//! forge reads both from the API (branch protection and rulesets; check runs, check suites and
//! the combined commit status); the local forge has neither and answers "open branch, no
//! checks". The verdict over them is pure, so the orchestrator's gates and their tests agree.

use serde::{Deserialize, Serialize};

/// The name of healbot's own check run that carries the gate table: never a check healbot
/// waits for.
pub const SAFETY_GATES_CHECK: &str = "healbot/safety-gates";

/// What a branch requires before a change lands on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchRules {
    /// Changes must arrive through a pull request (or pushes are restricted to others).
    pub requires_pr: bool,
    /// Check or status names that must pass on the head before a merge.
    pub required_checks: Vec<String>,
    /// Approving reviews a PR needs; healbot cannot approve its own step PRs.
    pub required_approvals: u32,
    /// The rules could not be read (HTTP 403): healbot assumes the branch is protected.
    pub unknown: bool,
}

impl BranchRules {
    /// Whether healbot may commit straight onto the branch.
    pub(crate) fn allows_direct_commit(&self) -> bool {
        !self.requires_pr && self.required_checks.is_empty() && !self.unknown
    }

    /// Adds another source's rules (protection and rulesets both apply).
    pub fn merge(&mut self, other: BranchRules) {
        self.requires_pr |= other.requires_pr;
        self.unknown |= other.unknown;
        self.required_approvals = self.required_approvals.max(other.required_approvals);
        for name in other.required_checks {
            if !self.required_checks.contains(&name) {
                self.required_checks.push(name);
            }
        }
    }
}

/// How one check run, check suite or commit status stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    Pending,
    Passed,
    Failed,
}

/// One check run or commit status on a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check run's name or the status's context.
    pub name: String,
    pub state: CheckState,
    /// Where a person reads why (the check's or status's page), when the forge gives one.
    #[serde(default)]
    pub url: Option<String>,
}

/// Every check reported on one commit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitChecks {
    /// The latest check run of each name and every commit status context.
    pub results: Vec<CheckResult>,
    /// Check suites still queued or running that have no runs yet (CI has not started them).
    pub suites_pending: usize,
}

/// What the checks on a head say about merging it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum ChecksVerdict {
    Passed,
    /// Named checks that have not finished, or required ones not reported yet.
    Pending {
        waiting: Vec<String>,
    },
    /// Named checks that failed.
    Failed {
        failed: Vec<CheckResult>,
    },
}

/// The verdict over `checks` for a branch that requires `required`. Every required name must
/// be reported and pass; any other check that is reported must not fail or still be running
/// (a team that runs CI expects it green); checks named in `ignore` (healbot's own) do not
/// count.
pub fn verdict(required: &[String], checks: &CommitChecks, ignore: &[&str]) -> ChecksVerdict {
    let counted: Vec<&CheckResult> = checks
        .results
        .iter()
        .filter(|c| !ignore.contains(&c.name.as_str()))
        .collect();
    let failed: Vec<CheckResult> = counted
        .iter()
        .filter(|c| c.state == CheckState::Failed)
        .map(|c| (*c).clone())
        .collect();
    if !failed.is_empty() {
        return ChecksVerdict::Failed { failed };
    }
    let mut waiting: Vec<String> = counted
        .iter()
        .filter(|c| c.state == CheckState::Pending)
        .map(|c| c.name.clone())
        .collect();
    for name in required {
        if !counted.iter().any(|c| &c.name == name) && !waiting.contains(name) {
            waiting.push(format!("{name} (not reported yet)"));
        }
    }
    if checks.suites_pending > 0 && waiting.is_empty() {
        waiting.push(format!(
            "{} check suite(s) not started",
            checks.suites_pending
        ));
    }
    if waiting.is_empty() {
        ChecksVerdict::Passed
    } else {
        ChecksVerdict::Pending { waiting }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, state: CheckState) -> CheckResult {
        CheckResult {
            name: name.into(),
            state,
            url: None,
        }
    }

    fn checks(results: Vec<CheckResult>) -> CommitChecks {
        CommitChecks {
            results,
            suites_pending: 0,
        }
    }

    #[test]
    fn a_required_check_must_be_reported_and_pass() {
        let required = vec!["ci/test".to_string()];
        let none = checks(vec![]);
        assert!(matches!(
            verdict(&required, &none, &[]),
            ChecksVerdict::Pending { waiting } if waiting == ["ci/test (not reported yet)"]
        ));
        let running = checks(vec![check("ci/test", CheckState::Pending)]);
        assert!(matches!(
            verdict(&required, &running, &[]),
            ChecksVerdict::Pending { .. }
        ));
        let passed = checks(vec![check("ci/test", CheckState::Passed)]);
        assert_eq!(verdict(&required, &passed, &[]), ChecksVerdict::Passed);
    }

    #[test]
    fn any_failing_check_fails_and_ignored_ones_do_not_count() {
        let c = checks(vec![
            check("ci/test", CheckState::Passed),
            check("lint", CheckState::Failed),
            check("healbot/safety-gates", CheckState::Failed),
        ]);
        match verdict(&[], &c, &["healbot/safety-gates"]) {
            ChecksVerdict::Failed { failed } => {
                assert_eq!(failed.len(), 1);
                assert_eq!(failed[0].name, "lint");
            }
            other => panic!("{other:?}"),
        }
        let only_own = checks(vec![check("healbot/safety-gates", CheckState::Pending)]);
        assert_eq!(
            verdict(&[], &only_own, &["healbot/safety-gates"]),
            ChecksVerdict::Passed
        );
    }

    #[test]
    fn a_suite_not_started_yet_is_pending() {
        let c = CommitChecks {
            results: vec![],
            suites_pending: 1,
        };
        assert!(matches!(
            verdict(&[], &c, &[]),
            ChecksVerdict::Pending { .. }
        ));
    }

    #[test]
    fn rules_from_two_sources_add_up() {
        let mut rules = BranchRules::default();
        assert!(rules.allows_direct_commit());
        rules.merge(BranchRules {
            required_checks: vec!["ci".into()],
            ..BranchRules::default()
        });
        rules.merge(BranchRules {
            requires_pr: true,
            required_checks: vec!["ci".into(), "e2e".into()],
            required_approvals: 1,
            unknown: false,
        });
        assert!(!rules.allows_direct_commit());
        assert_eq!(rules.required_checks, ["ci", "e2e"]);
        assert_eq!(rules.required_approvals, 1);
        let unknown = BranchRules {
            unknown: true,
            ..BranchRules::default()
        };
        assert!(!unknown.allows_direct_commit());
    }
}
