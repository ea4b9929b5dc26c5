//! The fake GitHub's branch protection and CI, kept as state: classic protection and rulesets
//! per branch (which the fake enforces: a protected branch refuses a direct ref update, and a
//! PR merges only when its required checks passed and it has the approvals asked for), CI
//! that reports check runs on the commits it is asked about (passing after a delay, failing,
//! or never finishing), re-runs, and commit statuses. The answers follow GitHub's
//! `checks/list-for-ref`, `checks/list-suites-for-ref`, `repos/get-combined-status-for-ref`,
//! `repos/get-branch-protection` and `repos/get-branch-rules`, and are checked against their
//! schemas like every other answer of the fake.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How a CI job behaves on every commit it is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ci {
    /// Runs for this long, then succeeds.
    PassAfter(Duration),
    /// Fails as soon as it reports.
    Fail,
    /// Starts and never finishes.
    Never,
}

/// A branch's protection as the fake keeps it.
#[derive(Debug, Clone)]
pub enum Protection {
    /// `GET …/protection` answers this protection.
    Rules {
        required_checks: Vec<String>,
        required_approvals: u32,
    },
    /// `GET …/protection` answers 403 (the App lacks the administration permission); the
    /// branch is treated as unprotected by the fake itself.
    Unreadable,
}

#[derive(Debug, Clone)]
struct Run {
    repo: String,
    sha: String,
    name: String,
    id: u64,
    started: Instant,
    ci: Ci,
}

#[derive(Default)]
pub struct CiState {
    /// (repo, branch) → classic protection.
    protection: HashMap<(String, String), Protection>,
    /// (repo, branch) → ruleset rules as GitHub returns them.
    rulesets: HashMap<(String, String), Vec<Value>>,
    /// repo → CI jobs by name.
    jobs: HashMap<String, Vec<(String, Ci)>>,
    runs: Vec<Run>,
    /// (repo, sha, context, state)
    statuses: Vec<(String, String, String, String)>,
}

impl CiState {
    pub fn protect(&mut self, repo: &str, branch: &str, protection: Protection) {
        self.protection
            .insert((repo.into(), branch.into()), protection);
    }

    pub fn add_ruleset_rule(&mut self, repo: &str, branch: &str, rule: Value) {
        self.rulesets
            .entry((repo.into(), branch.into()))
            .or_default()
            .push(rule);
    }

    /// CI job `name` in `repo` behaves as `ci` on commits asked about from now on.
    pub fn set_job(&mut self, repo: &str, name: &str, ci: Ci) {
        let jobs = self.jobs.entry(repo.into()).or_default();
        jobs.retain(|(n, _)| n != name);
        jobs.push((name.into(), ci));
    }

    /// A person re-runs job `name` on `sha`: a new run that behaves as `ci`.
    pub fn rerun(&mut self, repo: &str, sha: &str, name: &str, ci: Ci, id: u64) {
        self.runs.push(Run {
            repo: repo.into(),
            sha: sha.into(),
            name: name.into(),
            id,
            started: Instant::now(),
            ci,
        });
    }

    pub fn set_status(&mut self, repo: &str, sha: &str, context: &str, state: &str) {
        self.statuses
            .retain(|(r, s, c, _)| !(r == repo && s == sha && c == context));
        self.statuses
            .push((repo.into(), sha.into(), context.into(), state.into()));
    }

    /// Starts the repository's jobs on `sha` the first time anyone asks about it.
    pub fn observe(&mut self, repo: &str, sha: &str, mut next_id: impl FnMut() -> u64) {
        for (name, ci) in self.jobs.get(repo).cloned().unwrap_or_default() {
            let started = self
                .runs
                .iter()
                .any(|r| r.repo == repo && r.sha == sha && r.name == name);
            if !started {
                self.runs.push(Run {
                    repo: repo.into(),
                    sha: sha.into(),
                    name,
                    id: next_id(),
                    started: Instant::now(),
                    ci,
                });
            }
        }
    }

    /// The latest run of each job on `sha`: (name, id, status, conclusion).
    fn latest(
        &self,
        repo: &str,
        sha: &str,
    ) -> Vec<(String, u64, &'static str, Option<&'static str>)> {
        let mut latest: HashMap<&str, &Run> = HashMap::new();
        for r in self.runs.iter().filter(|r| r.repo == repo && r.sha == sha) {
            if latest.get(r.name.as_str()).is_none_or(|l| l.id < r.id) {
                latest.insert(&r.name, r);
            }
        }
        let mut out: Vec<_> = latest
            .into_values()
            .map(|r| {
                let (status, conclusion) = match r.ci {
                    Ci::Fail => ("completed", Some("failure")),
                    Ci::PassAfter(d) if r.started.elapsed() >= d => ("completed", Some("success")),
                    _ => ("in_progress", None),
                };
                (r.name.clone(), r.id, status, conclusion)
            })
            .collect();
        out.sort_by_key(|r| r.1);
        out
    }

    /// `checks/list-for-ref` (CI's runs; the App's own are added by the caller).
    pub fn check_runs(&self, repo: &str, sha: &str, api: &str) -> Vec<Value> {
        self.latest(repo, sha)
            .into_iter()
            .map(|(name, id, status, conclusion)| {
                json!({
                    "id": id,
                    "name": name,
                    "head_sha": sha,
                    "status": status,
                    "conclusion": conclusion,
                    "url": format!("{api}/check-runs/{id}"),
                    "html_url": format!("https://github.com/{repo}/runs/{id}"),
                    "details_url": format!("https://ci.example.com/{repo}/{id}"),
                    "started_at": "2026-01-01T00:00:00Z",
                    "completed_at": if conclusion.is_some() { json!("2026-01-01T00:01:00Z") } else { Value::Null },
                    "pull_requests": [],
                    "app": {"id": 15368, "slug": "ci", "name": "CI"},
                })
            })
            .collect()
    }

    /// `checks/list-suites-for-ref`: one suite for CI's runs on `sha`.
    pub fn suites(&self, repo: &str, sha: &str) -> Vec<Value> {
        let runs = self.latest(repo, sha);
        if runs.is_empty() {
            return Vec::new();
        }
        let done = runs.iter().all(|r| r.2 == "completed");
        let failed = runs.iter().any(|r| r.3 == Some("failure"));
        vec![json!({
            "id": 5000 + runs[0].1,
            "head_sha": sha,
            "status": if done { "completed" } else { "in_progress" },
            "conclusion": if !done { Value::Null } else if failed { json!("failure") } else { json!("success") },
            "latest_check_runs_count": runs.len(),
            "app": {"id": 15368, "slug": "ci", "name": "CI"},
        })]
    }

    /// `repos/get-combined-status-for-ref`'s `state` and `statuses`.
    pub fn combined(&self, repo: &str, sha: &str) -> (String, Vec<Value>) {
        let mine: Vec<_> = self
            .statuses
            .iter()
            .filter(|(r, s, _, _)| r == repo && s == sha)
            .collect();
        let state = if mine.iter().any(|x| x.3 == "failure" || x.3 == "error") {
            "failure"
        } else if mine.is_empty() || mine.iter().any(|x| x.3 == "pending") {
            // GitHub says `pending` for a commit without statuses.
            "pending"
        } else {
            "success"
        };
        let list = mine
            .iter()
            .enumerate()
            .map(|(i, (_, _, context, state))| {
                json!({"id": 7000 + i, "context": context, "state": state,
                       "target_url": format!("https://ci.example.com/status/{i}"),
                       "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"})
            })
            .collect();
        (state.to_string(), list)
    }

    /// `repos/get-branch-protection`: `Ok(json)`, or the error status and message.
    pub fn protection_json(
        &self,
        repo: &str,
        branch: &str,
        api: &str,
    ) -> Result<Value, (u16, &'static str)> {
        match self.protection.get(&(repo.into(), branch.into())) {
            None => Err((404, "Branch not protected")),
            Some(Protection::Unreadable) => Err((403, "Resource not accessible by integration")),
            Some(Protection::Rules {
                required_checks,
                required_approvals,
            }) => {
                let url = format!("{api}/branches/{branch}/protection");
                let mut p = json!({
                    "url": url,
                    "required_status_checks": {
                        "url": format!("{url}/required_status_checks"),
                        "strict": false,
                        "contexts": required_checks,
                        "checks": required_checks.iter().map(|c| json!({"context": c, "app_id": null})).collect::<Vec<_>>(),
                        "contexts_url": format!("{url}/required_status_checks/contexts"),
                    },
                    "enforce_admins": {"url": format!("{url}/enforce_admins"), "enabled": true},
                });
                if *required_approvals > 0 {
                    p["required_pull_request_reviews"] = json!({
                        "url": format!("{url}/required_pull_request_reviews"),
                        "dismiss_stale_reviews": true,
                        "require_code_owner_reviews": false,
                        "required_approving_review_count": required_approvals,
                    });
                }
                Ok(p)
            }
        }
    }

    /// `repos/get-branch-rules`.
    pub fn rules_json(&self, repo: &str, branch: &str) -> Vec<Value> {
        self.rulesets
            .get(&(repo.into(), branch.into()))
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|mut r| {
                r["ruleset_source_type"] = json!("Repository");
                r["ruleset_source"] = json!(repo);
                r["ruleset_id"] = json!(42);
                r
            })
            .collect()
    }

    /// The checks and approvals `branch` requires, from both sources; `None`: unprotected.
    fn requirements(&self, repo: &str, branch: &str) -> Option<(Vec<String>, u32, bool)> {
        let key = (repo.to_string(), branch.to_string());
        let mut checks = Vec::new();
        let mut approvals = 0;
        let mut pr = false;
        let mut any = false;
        if let Some(Protection::Rules {
            required_checks,
            required_approvals,
        }) = self.protection.get(&key)
        {
            any = true;
            checks.extend(required_checks.iter().cloned());
            approvals = *required_approvals;
            pr |= *required_approvals > 0;
        }
        for rule in self.rulesets.get(&key).into_iter().flatten() {
            any = true;
            match rule["type"].as_str() {
                Some("pull_request") => {
                    pr = true;
                    let n = rule["parameters"]["required_approving_review_count"].as_u64();
                    approvals = approvals.max(n.unwrap_or(0) as u32);
                }
                Some("required_status_checks") => {
                    for c in rule["parameters"]["required_status_checks"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        checks.extend(c["context"].as_str().map(str::to_string));
                    }
                }
                _ => {}
            }
        }
        any.then_some((checks, approvals, pr))
    }

    /// Why a direct update of `branch` is refused, if it is (GitHub's 422 on a protected
    /// branch: required checks or a required PR).
    pub fn refuses_push(&self, repo: &str, branch: &str) -> Option<String> {
        let (checks, _, pr) = self.requirements(repo, branch)?;
        (pr || !checks.is_empty())
            .then(|| format!("Protected branch update failed for refs/heads/{branch}."))
    }

    /// Why a PR at `head` into `branch` cannot merge yet, if it cannot (GitHub's 405).
    /// `own` holds the App's own check runs on the head: (name, conclusion).
    pub fn refuses_merge(
        &self,
        repo: &str,
        branch: &str,
        head: &str,
        approvals: u32,
        own: &[(String, Option<String>)],
    ) -> Option<String> {
        let (checks, needed, _) = self.requirements(repo, branch)?;
        let latest = self.latest(repo, head);
        for name in checks {
            let ci = latest
                .iter()
                .find(|r| r.0 == name)
                .map(|r| r.3.map(str::to_string));
            let app = own.iter().find(|o| o.0 == name).map(|o| o.1.clone());
            let status = self
                .statuses
                .iter()
                .find(|s| s.0 == repo && s.1 == head && s.2 == name)
                .map(|s| (s.3 == "success").then(|| "success".to_string()));
            let outcome = ci.or(app).or(status);
            match outcome {
                Some(Some(c)) if c == "success" => {}
                Some(_) => {
                    return Some(format!(
                        "Required status check \"{name}\" is failing or pending."
                    ))
                }
                None => return Some(format!("Required status check \"{name}\" is expected.")),
            }
        }
        (approvals < needed).then(|| {
            format!(
                "At least {needed} approving review is required by reviewers with write access."
            )
        })
    }
}
