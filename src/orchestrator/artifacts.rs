//! Every record an operation keeps in its log, by name and type, in one place: the stage
//! outputs a resumed operation reads instead of recomputing them, and the side effects that
//! must happen once. Readers and writers name a key from here, never a string, so they agree
//! on what a record holds; a record that no longer decodes fails the operation with the key's
//! name (`operation::record`). The orchestrator's own stage outputs (the fix selection, the
//! validation report, the rollout plan) are defined here, next to their keys, so a stage reads
//! another's output without importing the stage; the other stored types are re-exported.

use crate::fix::config::AppliedConfigFix;
use crate::fix::revert_cause::RevertMode;
use crate::fix::validate::CheckOutcome;
use crate::forge::RepoRef;
use crate::operation::{Artifact, Effect};
use crate::plan::FixKind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use super::ReproOutcome;
pub use crate::canary::CanaryReport;
pub use crate::detect::PatternMatch;
pub use crate::fix::Patch;
pub use crate::forge::{CommitSha, PrNumber};
pub use crate::gates::GateReport;
pub use crate::localize::Localization;
pub use crate::lock::conflict::ConflictReport;
pub use crate::lock::LockGuard;
pub use crate::plan::FixPlan;
pub use crate::rca::rank::RcaReport;
pub use crate::verify::Verification;

// Stage outputs, in the order analysis records them.

pub const RCA: Artifact<RcaReport> = Artifact::new("rca");
/// The stack trace analysis worked from: the incident's, or one from the root cause's logs.
pub(crate) const TRACE: Artifact<Option<String>> = Artifact::new("trace");
/// The pattern analysis found for an incident without a trace (a slow service).
pub(crate) const PATTERN: Artifact<PatternMatch> = Artifact::new("pattern");
/// The base revision every validation and the fix branch start from.
pub(crate) const BASE: Artifact<String> = Artifact::new("base");
pub(crate) const LOCALIZATION: Artifact<Localization> = Artifact::new("localization");
/// Every candidate fix, what became of it, and the one chosen.
pub(crate) const FIX: Artifact<FixSelection> = Artifact::new("fix");
/// The chosen fix's primary patch.
pub const PATCH: Artifact<Patch> = Artifact::new("patch");
pub(crate) const VALIDATION: Artifact<ValidationReport> = Artifact::new("validation");
pub(crate) const REPRODUCTION: Artifact<ReproOutcome> = Artifact::new("reproduction");
pub const PLAN: Artifact<FixPlan> = Artifact::new("plan");
pub(crate) const GATES: Artifact<GateReport> = Artifact::new("gates");
pub(crate) const CONFLICTS: Artifact<ConflictReport> = Artifact::new("conflicts");
pub(crate) const ROLLOUT: Artifact<RolloutPlan> = Artifact::new("rollout");
pub(crate) const VERIFICATION: Artifact<Verification> = Artifact::new("verification");
/// The image tag a person chose to roll back to (`healbot ops rollback --to`).
pub(crate) const ROLLBACK_TARGET: Artifact<String> = Artifact::new("rollback/to");

/// The canary's verdict at `weight` percent. `None` (a `null` record) when a person resumed
/// the step: it is judged again on fresh samples.
pub(crate) fn canary_verdict(weight: u8) -> Artifact<Option<CanaryReport>> {
    Artifact::named(format!("canary/{weight}"))
}

// Side effects, keyed `<operation>/<name>` in the log.

/// The service lock the operation holds.
pub(crate) const LOCK: Effect<LockGuard> = Effect::new("lock");
/// The fix branch's name.
pub(crate) const BRANCH: Effect<String> = Effect::new("branch");
/// healbot's fix commit on the branch.
pub(crate) const COMMIT: Effect<CommitSha> = Effect::new("commit");
pub const PR: Effect<PrNumber> = Effect::new("pr");
/// The safety-gate check run next to the fix commit (`None` where the forge has no checks).
pub(crate) const GATES_CHECK: Effect<Option<u64>> = Effect::new("check/safety-gates");
/// The latest approval of the fix: the merge waits for its head's required checks.
pub const APPROVAL: Effect<Approval> = Effect::new("approval");
/// The fix's merge commit, by healbot or by a person.
pub const MERGE: Effect<CommitSha> = Effect::new("merge");
/// A head someone else pushed that healbot checked again and found passing.
pub(crate) const REVALIDATED: Effect<CommitSha> = Effect::new("revalidated");
/// Everyone but healbot who pushed to the fix branch.
pub(crate) const PUSHERS: Effect<Vec<String>> = Effect::new("pushers");
/// The image commit handed to Argo Rollouts.
pub(crate) const ARGO_IMAGE: Effect<CommitSha> = Effect::new("argo/image");
/// The first revision Argo reported for this deploy.
pub(crate) const ARGO_REVISION: Effect<u64> = Effect::new("argo-revision");
/// The manifest commit back to the stable image.
pub(crate) const ROLLBACK_MANIFEST: Effect<CommitSha> = Effect::new("rollback/manifest");
pub(crate) const ROLLBACK_BRANCH: Effect<String> = Effect::new("rollback/branch");
pub(crate) const ROLLBACK_COMMIT: Effect<CommitSha> = Effect::new("rollback/commit");
pub(crate) const ROLLBACK_PR: Effect<PrNumber> = Effect::new("rollback/pr");

/// The manifest commit that moves the canary to `weight` percent.
pub(crate) fn canary_commit(weight: u8) -> Effect<CommitSha> {
    Effect::named(format!("canary/{weight}"))
}

/// How the manifest commit `step` (a canary step, the hand-over, the rollback) lands:
/// straight on the branch or through a step PR.
pub(crate) fn step_route(step: &str) -> Effect<Landing> {
    Effect::named(format!("step/{step}/route"))
}

/// The `healbot/step-…` branch of a step that goes through a PR.
pub(crate) fn step_branch(step: &str) -> Effect<String> {
    Effect::named(format!("step/{step}/branch"))
}

/// The manifest commit on a step's branch.
pub(crate) fn step_commit(step: &str) -> Effect<CommitSha> {
    Effect::named(format!("step/{step}/commit"))
}

/// The step PR, and when it was opened.
pub(crate) fn step_pr(step: &str) -> Effect<StepPr> {
    Effect::named(format!("step/{step}/pr"))
}

/// A PR comment healbot posted, by the name that keeps it to one post; its id.
pub fn comment(name: &str) -> Effect<u64> {
    Effect::named(format!("comment/{name}"))
}

/// An override (review, `/heal` command, button) that was handled or refused.
pub(crate) fn override_seen(source_id: &str) -> Effect<serde_json::Value> {
    Effect::named(format!("override/{source_id}"))
}

/// An escalation step sent for the wait that began at entry `since_seq`.
pub(crate) fn escalation_sent(since_seq: u64, after_minutes: u32) -> Effect<serde_json::Value> {
    Effect::named(format!("escalation/{since_seq}/{after_minutes}"))
}

/// Prefix of the [`approved_by`] keys, for counting an operation's approvers.
pub(crate) const APPROVED_BY: &str = "approved-by";

/// One person's approval of one head (MANUAL_REVIEW counts them), apart from [`APPROVAL`],
/// the approval the merge waits on; logins compare case-insensitively.
pub(crate) fn approved_by(who: &str, head: &CommitSha) -> Effect<serde_json::Value> {
    Effect::named(format!(
        "{APPROVED_BY}/{}/{}",
        who.to_ascii_lowercase(),
        head.0
    ))
}

/// When healbot saw the canary image `reference` in its registry.
pub(crate) fn image_ready(reference: &str) -> Effect<serde_json::Value> {
    Effect::named(format!("image-ready/{reference}"))
}

/// When the Argo notification `identity` first arrived (the step clock restarts there).
pub fn argo_progress(identity: &str) -> Effect<serde_json::Value> {
    Effect::named(format!("{ARGO_PROGRESS}/{identity}"))
}

/// The prefix of [`argo_progress`] keys, to find the latest.
pub(crate) const ARGO_PROGRESS: &str = "argo-progress";

/// That the lock granted with `fencing` was found lost (recorded once).
pub(crate) fn lock_lost(fencing: u64) -> Effect<serde_json::Value> {
    Effect::named(format!("lock-lost/{fencing}"))
}

/// A record read while scanning every operation (which one owns a PR, deploys a Rollout, …).
/// One that cannot be read is logged with its key and counts as absent there, so one damaged
/// operation does not stop webhooks for all the others; that operation's own steps still
/// fail on it.
pub(crate) fn in_scan<T>(read: Result<Option<T>, crate::operation::Unreadable>) -> Option<T> {
    read.unwrap_or_else(|e| {
        tracing::error!(operation = %e.operation, key = %e.key, error = %e, "unreadable record skipped");
        None
    })
}

// The orchestrator's own stage outputs. Their behaviour stays with the stage that makes them.

/// The `fix` stage output: every candidate in SapFix's order (revert, template, config), what
/// became of it, and the one chosen. The PR body shows all of it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FixSelection {
    pub chosen: Option<ChosenFix>,
    pub considered: Vec<Considered>,
    /// Kinds of fix not offered at all, and why (no suspect commit, no template, …).
    pub skipped: Vec<String>,
    /// A config fix that would repeat itself too often: a person looks instead.
    pub escalation: Option<String>,
    /// The check command could not run at all (no sandbox, a command healbot.yaml does not
    /// allow): no candidate can be validated, so a person decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// One candidate and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Considered {
    pub kind: FixKind,
    pub description: String,
    /// Why it is where it is in the order.
    pub reason: String,
    /// Chosen, failed validation (and why), or not tried.
    pub outcome: String,
}

/// The fix that validated first, ready to commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChosenFix {
    pub kind: FixKind,
    /// Template id, `revert.full`/`revert.hunk`, or the config kind (`config.pool-size`).
    pub id: String,
    /// One line: the commit subject and PR title.
    pub summary: String,
    pub reason: String,
    pub reverted: Option<RevertedCommit>,
    /// Every changed file; the first is the primary one.
    pub patches: Vec<Patch>,
    /// Files the fix deletes.
    pub deleted: Vec<String>,
    /// A config fix as the recurrence check counts it.
    pub applied: Option<AppliedConfigFix>,
    pub validation: ValidationReport,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevertedCommit {
    pub sha: String,
    pub summary: String,
    pub mode: RevertMode,
    /// The message `git revert` would write.
    pub message: String,
}

/// What validation found, for the PR body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationReport {
    pub passed: bool,
    pub syntax: String,
    pub check: Option<CheckOutcome>,
    pub summary: String,
}

/// Which manifest the canary moves and between which images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutPlan {
    pub manifest: String,
    pub stable_tag: String,
    pub canary_tag: String,
    pub service: String,
    /// Argo Rollouts runs the steps; healbot waits for its notifications.
    #[serde(default)]
    pub argo_managed: bool,
    /// The namespace the Rollout runs in: Argo's notifications must name it.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// The GitOps repository holding the manifest, when it is not the service's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_repo: Option<RepoRef>,
    /// The branch the manifest is committed to; `None`: that repository's default branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_branch: Option<String>,
    /// The whole canary image reference, from the service's `image:` template; the registry
    /// must have it before the first step. `None`: the manifest's repository at `canary_tag`.
    #[serde(default)]
    pub canary_image: Option<String>,
    /// The whole image reference the canary replaces (what a rollback writes back), recorded
    /// with `canary_image`.
    #[serde(default)]
    pub stable_image: Option<String>,
    /// The Rollout uses Argo's `blueGreen` strategy: a preview, then a promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenServices>,
}

/// The Services of a blue-green Rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlueGreenServices {
    pub active: String,
    pub preview: String,
}

pub(crate) fn default_namespace() -> String {
    "default".into()
}

/// The way a manifest commit reaches its branch, decided once per step from the branch's rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "route", rename_all = "snake_case")]
pub enum Landing {
    /// The App may push: one commit on the branch.
    Direct,
    /// Through a step PR that merges once `required_checks` pass.
    PullRequest {
        required_checks: Vec<String>,
        required_approvals: u32,
        /// The rules could not be read, so the branch is treated as protected.
        rules_unknown: bool,
    },
}

/// A step PR healbot opened, and when: its timeout counts from there, across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepPr {
    pub number: PrNumber,
    pub branch: String,
    pub opened_at: DateTime<Utc>,
}

/// Who approved the fix, for which head, and since when healbot waits for its checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub by: String,
    pub head: CommitSha,
    pub at: DateTime<Utc>,
}
