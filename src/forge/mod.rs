//! Where code lives and people review it. The orchestrator only talks to the [`Forge`] trait:
//! the embedded local forge (a git repository plus PRs as files) and the GitHub App implement
//! it. Every write takes an idempotency key so that a replay after a crash finds the earlier
//! write instead of doing it again.

pub mod checks;
pub mod command;
pub mod github;
pub mod local;
pub mod markdown;
pub mod trailer;

pub use checks::{BranchRules, CheckResult, CheckState, ChecksVerdict, CommitChecks};
pub use command::{
    parse_commands, parse_comment, CommandError, CommentCommands, HealCommand, COMMAND_PREFIX,
    MAX_COMMANDS_PER_COMMENT,
};
pub use local::{LocalForge, LocalRepo, BOT_AUTHOR};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PrNumber(pub u64);

impl fmt::Display for PrNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A full hex commit id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommitSha(pub String);

impl CommitSha {
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(7)]
    }
}

impl fmt::Display for CommitSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A repository on a forge: `owner/name` on GitHub, a name on the local forge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RepoRef(pub String);

/// One file's new content in a commit; `None` deletes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileChange {
    pub path: String,
    pub content: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewPullRequest {
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrState {
    Open,
    Closed,
    Merged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
    Dismissed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub id: u64,
    pub author: String,
    pub state: ReviewState,
    pub body: String,
    /// The head the review was given on: an approval holds only for that commit.
    pub commit_sha: CommitSha,
    pub submitted_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: u64,
    pub author: String,
    pub body: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullRequest {
    pub number: PrNumber,
    pub title: String,
    pub body: String,
    pub head: String,
    pub head_sha: CommitSha,
    pub base: String,
    pub state: PrState,
    pub labels: Vec<String>,
    pub merge_sha: Option<CommitSha>,
    pub comments: Vec<Comment>,
    pub reviews: Vec<Review>,
    pub created_at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("git: {0}")]
    Git(String),
    #[error("forge state {path}: {reason}")]
    State { path: String, reason: String },
    #[error("forge API: {0}")]
    Api(String),
}

/// Checked-out copies of repositories, for analysis and validation.
#[async_trait]
pub trait Workspaces: Send + Sync {
    /// Writes the tree of `rev` of `repo` into `dest` and returns the full sha it resolved to.
    async fn export(
        &self,
        repo: &RepoRef,
        rev: &str,
        dest: &std::path::Path,
    ) -> Result<CommitSha, ForgeError>;

    /// Makes `dest` a git checkout of `rev` of `repo` with its history, for blame and
    /// revert, and returns whether it could: a provider that only exports trees (the GitHub
    /// contents API) returns `false`, and no revert is proposed. Read-only on the forge.
    async fn history(
        &self,
        repo: &RepoRef,
        rev: &str,
        dest: &std::path::Path,
    ) -> Result<bool, ForgeError> {
        let _ = (repo, rev, dest);
        Ok(false)
    }
}

#[async_trait]
pub trait Forge: Send + Sync {
    async fn default_branch(&self, repo: &RepoRef) -> Result<String, ForgeError>;
    async fn branch_head(&self, repo: &RepoRef, branch: &str) -> Result<CommitSha, ForgeError>;
    /// Creates `branch` at `at`; an existing branch of that name is left as it is.
    async fn create_branch(
        &self,
        repo: &RepoRef,
        branch: &str,
        at: &CommitSha,
    ) -> Result<(), ForgeError>;
    async fn read_file(
        &self,
        repo: &RepoRef,
        git_ref: &str,
        path: &str,
    ) -> Result<Option<String>, ForgeError>;
    /// Commits `changes` on top of `branch`. If a commit carrying `key` (as a
    /// `Healbot-Idempotency-Key:` trailer) is already on the branch, returns it instead.
    async fn commit(
        &self,
        repo: &RepoRef,
        branch: &str,
        message: &str,
        changes: &[FileChange],
        key: &str,
    ) -> Result<CommitSha, ForgeError>;
    /// Opens a PR, or returns the open PR that already has this head branch.
    async fn open_pr(&self, repo: &RepoRef, pr: &NewPullRequest) -> Result<PrNumber, ForgeError>;
    async fn pull_request(&self, repo: &RepoRef, pr: PrNumber) -> Result<PullRequest, ForgeError>;
    async fn comment(&self, repo: &RepoRef, pr: PrNumber, body: &str) -> Result<u64, ForgeError>;
    /// Merges with a merge commit, only while the PR head is `head` (the commit healbot
    /// validated): a head moved since is a [`ForgeError::Conflict`]. An already merged PR
    /// returns its merge commit.
    async fn merge(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
        head: &CommitSha,
    ) -> Result<CommitSha, ForgeError>;
    async fn close(&self, repo: &RepoRef, pr: PrNumber) -> Result<(), ForgeError>;
    /// The login healbot's own comments appear under. Hidden markers and footers count only
    /// in comments by this account: anyone can write `<!-- healbot:… -->` in a comment.
    async fn own_login(&self) -> Result<String, ForgeError>;
    /// Whether healbot may write to `repo` at all (on GitHub: the App is installed on it). A
    /// forge without installations answers `true`.
    async fn installed_on(&self, repo: &RepoRef) -> Result<bool, ForgeError> {
        let _ = repo;
        Ok(true)
    }
    /// What `branch` of `repo` requires before a change lands (protection and rulesets). A
    /// forge without protection answers an open branch.
    async fn branch_rules(&self, repo: &RepoRef, branch: &str) -> Result<BranchRules, ForgeError> {
        let _ = (repo, branch);
        Ok(BranchRules::default())
    }
    /// The checks reported on `sha` (check runs, suites, commit statuses). A forge without
    /// CI answers none.
    async fn commit_checks(
        &self,
        repo: &RepoRef,
        sha: &CommitSha,
    ) -> Result<CommitChecks, ForgeError> {
        let _ = (repo, sha);
        Ok(CommitChecks::default())
    }
    /// A link to `line` of `path` at `sha` in the forge's web view, where it has one.
    fn permalink(&self, repo: &RepoRef, sha: &CommitSha, path: &str, line: u32) -> Option<String> {
        let _ = (repo, sha, path, line);
        None
    }
    /// Shows the safety-gate table next to `head` where the forge has checks (GitHub: the
    /// `healbot/safety-gates` check run with Approve and Rollback buttons) and returns its id.
    /// The local forge has no checks and returns `None`; the PR body carries the table anyway.
    async fn publish_gates(
        &self,
        repo: &RepoRef,
        head: &CommitSha,
        check: &GateCheck,
    ) -> Result<Option<u64>, ForgeError> {
        let _ = (repo, head, check);
        Ok(None)
    }
}

/// The safety gates as a check on the fix's head commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateCheck {
    pub title: String,
    /// Markdown: the gate table.
    pub summary: String,
    /// Every gate passed; otherwise a person has to act.
    pub passed: bool,
}

/// The trailer that marks a commit with its idempotency key.
pub(crate) const IDEMPOTENCY_TRAILER: &str = "Healbot-Idempotency-Key";

/// What a person did on a PR that healbot must react to. The GitHub webhook handler and the
/// local forge's CLI both produce these, so both channels take the same path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Override {
    pub repo: RepoRef,
    pub pr: PrNumber,
    pub actor: String,
    /// The person's numeric user id, when the channel knows it (GitHub's signed `sender.id`):
    /// logins can be renamed and re-registered, ids cannot.
    #[serde(default)]
    pub actor_id: Option<u64>,
    pub kind: OverrideKind,
    /// The PR head when the person acted: an approval holds for that commit only.
    pub head_sha: CommitSha,
    /// The comment or review id, so that a redelivered event is recognised.
    pub source_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OverrideKind {
    Review { state: ReviewState },
    Command { command: HealCommand },
}
