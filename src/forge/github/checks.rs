//! Branch rules and commit checks from GitHub's API. A branch's requirements come from two
//! places that both apply: classic branch protection (`GET …/branches/{b}/protection`, 404 when
//! the branch is unprotected, 403 when the App may not read it, which healbot reads as
//! "protected, rules unknown") and rulesets (`GET …/rules/branches/{b}`, readable by anyone who
//! can read the repository). A commit's checks are its latest check runs, its check suites (a
//! suite with no runs yet means CI has not started) and the combined commit status.

use super::client::Method;
use super::{enc_path, repo_path, to_forge, GithubForge};
use crate::forge::{
    BranchRules, CheckResult, CheckState, CommitChecks, CommitSha, ForgeError, RepoRef,
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
struct RuleReply {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    parameters: Value,
}

#[derive(Debug, Deserialize)]
struct CheckRunsReply {
    check_runs: Vec<CheckRunReply>,
}

#[derive(Debug, Deserialize)]
struct CheckRunReply {
    name: String,
    status: String,
    #[serde(default)]
    conclusion: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CheckSuitesReply {
    check_suites: Vec<CheckSuiteReply>,
}

#[derive(Debug, Deserialize)]
struct CheckSuiteReply {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    latest_check_runs_count: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct CombinedStatusReply {
    statuses: Vec<StatusReply>,
}

#[derive(Debug, Deserialize)]
struct StatusReply {
    context: String,
    state: String,
    #[serde(default)]
    target_url: Option<String>,
}

/// Classic protection's JSON as rules.
fn protection_rules(p: &Value) -> BranchRules {
    let mut checks: Vec<String> = Vec::new();
    let required = &p["required_status_checks"];
    for c in required["contexts"].as_array().into_iter().flatten() {
        if let Some(c) = c.as_str() {
            checks.push(c.to_string());
        }
    }
    for c in required["checks"].as_array().into_iter().flatten() {
        if let Some(c) = c["context"].as_str() {
            if !checks.iter().any(|k| k == c) {
                checks.push(c.to_string());
            }
        }
    }
    let reviews = &p["required_pull_request_reviews"];
    let locked = p["lock_branch"]["enabled"].as_bool() == Some(true);
    // Push restrictions leave out whoever is not listed; healbot goes through a PR then.
    let restricted = p["restrictions"].is_object();
    BranchRules {
        requires_pr: reviews.is_object() || locked || restricted,
        required_checks: checks,
        required_approvals: reviews["required_approving_review_count"]
            .as_u64()
            .unwrap_or(0) as u32,
        unknown: false,
    }
}

/// Ruleset rules that apply to a branch, as rules.
fn ruleset_rules(rules: &[RuleReply]) -> BranchRules {
    let mut out = BranchRules::default();
    for rule in rules {
        match rule.kind.as_str() {
            "pull_request" => {
                out.requires_pr = true;
                let n = rule.parameters["required_approving_review_count"]
                    .as_u64()
                    .unwrap_or(0) as u32;
                out.required_approvals = out.required_approvals.max(n);
            }
            // Only bypass actors may update the branch at all.
            "update" => out.requires_pr = true,
            "required_status_checks" => {
                let list = rule.parameters["required_status_checks"].as_array();
                for c in list.into_iter().flatten() {
                    if let Some(name) = c["context"].as_str() {
                        if !out.required_checks.iter().any(|k| k == name) {
                            out.required_checks.push(name.to_string());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn run_state(status: &str, conclusion: Option<&str>) -> CheckState {
    if status != "completed" {
        return CheckState::Pending;
    }
    match conclusion {
        Some("success" | "neutral" | "skipped") => CheckState::Passed,
        _ => CheckState::Failed,
    }
}

fn status_state(state: &str) -> CheckState {
    match state {
        "success" => CheckState::Passed,
        "pending" => CheckState::Pending,
        _ => CheckState::Failed,
    }
}

impl GithubForge {
    pub(super) async fn rules_of(
        &self,
        repo: &RepoRef,
        branch: &str,
    ) -> Result<BranchRules, ForgeError> {
        let base = repo_path(repo)?;
        let branch_path = enc_path(branch);
        let mut rules = BranchRules::default();
        let protection = format!("{base}/branches/{branch_path}/protection");
        match self
            .client
            .repo_call::<Value>(repo, Method::Get, &protection, None)
            .await
        {
            Ok(p) => rules.merge(protection_rules(&p)),
            Err(e) if e.status() == Some(404) => {}
            Err(e) if e.status() == Some(403) => {
                tracing::info!(repo = %repo.0, branch, "branch protection not readable; assuming protected");
                rules.unknown = true;
            }
            Err(e) => return Err(to_forge(e)),
        }
        let ruleset = format!("{base}/rules/branches/{branch_path}?per_page=100");
        match self
            .client
            .repo_call::<Vec<RuleReply>>(repo, Method::Get, &ruleset, None)
            .await
        {
            Ok(list) => rules.merge(ruleset_rules(&list)),
            Err(e) if e.status() == Some(404) => {}
            Err(e) if e.status() == Some(403) => rules.unknown = true,
            Err(e) => return Err(to_forge(e)),
        }
        Ok(rules)
    }

    pub(super) async fn checks_of(
        &self,
        repo: &RepoRef,
        sha: &CommitSha,
    ) -> Result<CommitChecks, ForgeError> {
        let base = format!("{}/commits/{}", repo_path(repo)?, enc_path(&sha.0));
        let runs: CheckRunsReply = self
            .client
            .repo_call(
                repo,
                Method::Get,
                &format!("{base}/check-runs?filter=latest&per_page=100"),
                None,
            )
            .await
            .map_err(to_forge)?;
        let suites: CheckSuitesReply = self
            .client
            .repo_call(
                repo,
                Method::Get,
                &format!("{base}/check-suites?per_page=100"),
                None,
            )
            .await
            .map_err(to_forge)?;
        let status: CombinedStatusReply = self
            .client
            .repo_call(
                repo,
                Method::Get,
                &format!("{base}/status?per_page=100"),
                None,
            )
            .await
            .map_err(to_forge)?;
        let mut results: Vec<CheckResult> = runs
            .check_runs
            .into_iter()
            .map(|r| CheckResult {
                state: run_state(&r.status, r.conclusion.as_deref()),
                name: r.name,
                url: r.html_url,
            })
            .collect();
        // No statuses is `state: pending` with an empty list on GitHub: only the list counts.
        results.extend(status.statuses.into_iter().map(|s| CheckResult {
            state: status_state(&s.state),
            name: s.context,
            url: s.target_url,
        }));
        let suites_pending = suites
            .check_suites
            .iter()
            .filter(|s| s.status.as_deref() != Some("completed"))
            .filter(|s| s.latest_check_runs_count.unwrap_or(0) == 0)
            .count();
        Ok(CommitChecks {
            results,
            suites_pending,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn protection_with_reviews_and_checks_needs_a_pr() {
        let p = json!({
            "required_status_checks": {"strict": true, "contexts": ["ci/test"],
                "checks": [{"context": "ci/test", "app_id": 15368}, {"context": "lint", "app_id": null}]},
            "required_pull_request_reviews": {"required_approving_review_count": 1},
            "restrictions": null
        });
        let r = protection_rules(&p);
        assert!(r.requires_pr);
        assert_eq!(r.required_checks, ["ci/test", "lint"]);
        assert_eq!(r.required_approvals, 1);
        let checks_only =
            protection_rules(&json!({"required_status_checks": {"contexts": ["ci"]}}));
        assert!(!checks_only.requires_pr);
        assert!(!checks_only.allows_direct_commit());
        assert!(protection_rules(&json!({})).allows_direct_commit());
    }

    #[test]
    fn rulesets_name_required_checks_and_prs() {
        let rules: Vec<RuleReply> = serde_json::from_value(json!([
            {"type": "deletion"},
            {"type": "required_status_checks", "parameters": {"strict_required_status_checks_policy": false,
                "required_status_checks": [{"context": "deploy-lint"}]}},
            {"type": "pull_request", "parameters": {"required_approving_review_count": 2}}
        ]))
        .unwrap();
        let r = ruleset_rules(&rules);
        assert!(r.requires_pr);
        assert_eq!(r.required_checks, ["deploy-lint"]);
        assert_eq!(r.required_approvals, 2);
    }

    #[test]
    fn check_states_follow_github_conclusions() {
        assert_eq!(run_state("in_progress", None), CheckState::Pending);
        assert_eq!(run_state("completed", Some("success")), CheckState::Passed);
        assert_eq!(run_state("completed", Some("skipped")), CheckState::Passed);
        assert_eq!(
            run_state("completed", Some("timed_out")),
            CheckState::Failed
        );
        assert_eq!(status_state("error"), CheckState::Failed);
        assert_eq!(status_state("pending"), CheckState::Pending);
    }
}
