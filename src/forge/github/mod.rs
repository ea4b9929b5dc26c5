//! The GitHub App forge: the [`Forge`] the bot uses in production. It authenticates as a GitHub
//! App (JWT, then installation tokens), keeps within GitHub's rate limits, and makes every write
//! idempotent the same way the local forge does (commit trailer, PR by head, merge commit of a
//! merged PR). Check runs, reactions and permission lookups are GitHub-only, so they are
//! inherent methods rather than part of the trait.

mod auth;
mod checks;
mod client;
mod clone;
mod extras;
mod git;
mod jwt_crypto;
pub mod manifest;
mod pulls;
mod ratelimit;
pub mod stats;
mod wire;
mod workspace;

pub use auth::{AppCredentials, AppKey, AuthError, InstallationToken};
pub use client::{GithubClient, GithubConfig, GithubError};
pub use clone::{CloneSettings, DEFAULT_CLONE_DEPTH};
pub use extras::{CheckAction, CheckConclusion, CheckRunSpec, SAFETY_GATES_CHECK};
pub use jwt_crypto::install_jwt_crypto;
pub use ratelimit::RetryPolicy;

use super::{
    CommitSha, FileChange, Forge, ForgeError, NewPullRequest, PrNumber, PullRequest, RepoRef,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_newtype!(
    /// The GitHub App's id (the JWT's `iss`).
    AppId
);
id_newtype!(
    /// One installation of the app on an account.
    InstallationId
);
id_newtype!(
    /// A check run.
    CheckRunId
);
id_newtype!(
    /// An issue or PR comment.
    CommentId
);

/// The GitHub App implementation of [`Forge`]. Repositories are `owner/name`.
pub struct GithubForge {
    client: GithubClient,
    /// `<app slug>[bot]`, read once from `GET /app`.
    own_login: tokio::sync::OnceCell<String>,
    clones: clone::CloneCache,
    /// The clones' directory when the configuration names none; removed with the forge.
    _scratch: Option<tempfile::TempDir>,
}

impl GithubForge {
    pub fn new(config: GithubConfig) -> Result<GithubForge, ForgeError> {
        let (settings, scratch) = match &config.clones {
            Some(settings) => (settings.clone(), None),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("healbot-clones-")
                    .tempdir()
                    .map_err(|e| ForgeError::State {
                        path: std::env::temp_dir().display().to_string(),
                        reason: format!("a directory for clones: {e}"),
                    })?;
                let settings = CloneSettings {
                    dir: dir.path().to_path_buf(),
                    depth: DEFAULT_CLONE_DEPTH,
                };
                (settings, Some(dir))
            }
        };
        Ok(GithubForge {
            client: GithubClient::new(config).map_err(to_forge)?,
            own_login: tokio::sync::OnceCell::new(),
            clones: clone::CloneCache::new(settings),
            _scratch: scratch,
        })
    }

    /// The web root the API belongs to: github.com serves its API from api.github.com, GitHub
    /// Enterprise from `<host>/api/v3`.
    fn web_root(&self) -> String {
        let api = self.client().config().base_url.trim_end_matches('/');
        if let Some(rest) = api.strip_prefix("https://api.") {
            format!("https://{rest}")
        } else {
            api.trim_end_matches("/api/v3").to_string()
        }
    }

    /// The HTTP client, for installation and token management.
    pub fn client(&self) -> &GithubClient {
        &self.client
    }
}

/// Turns a client error into the trait's error: 404 is "not found", 409 a conflict.
fn to_forge(e: GithubError) -> ForgeError {
    match e.status() {
        Some(404) => ForgeError::NotFound {
            what: e.to_string(),
        },
        Some(409) => ForgeError::Conflict(e.to_string()),
        _ => ForgeError::Api(e.to_string()),
    }
}

/// Percent-encodes a path (keeping its `/`) for a URL path.
fn enc_path(s: &str) -> String {
    encode(s, true)
}

/// Percent-encodes a query value.
fn enc_query(s: &str) -> String {
    encode(s, false)
}

fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let plain = b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/');
        if plain {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `owner/name`, checked, so that a bad name fails before it becomes a URL.
fn repo_path(repo: &RepoRef) -> Result<String, ForgeError> {
    let mut parts = repo.0.split('/');
    let ok = matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(o), Some(n), None) if !o.is_empty() && !n.is_empty()
    );
    if !ok {
        return Err(ForgeError::Api(format!(
            "repository {:?} is not of the form owner/name",
            repo.0
        )));
    }
    Ok(format!("/repos/{}", enc_path(&repo.0)))
}

#[async_trait]
impl Forge for GithubForge {
    async fn own_login(&self) -> Result<String, ForgeError> {
        self.own_login
            .get_or_try_init(|| async {
                let slug = self.client.app_slug().await.map_err(to_forge)?;
                Ok(format!("{slug}[bot]"))
            })
            .await
            .cloned()
    }

    async fn default_branch(&self, repo: &RepoRef) -> Result<String, ForgeError> {
        self.default_branch_of(repo).await
    }

    async fn branch_head(&self, repo: &RepoRef, branch: &str) -> Result<CommitSha, ForgeError> {
        self.head_of(repo, branch).await
    }

    async fn create_branch(
        &self,
        repo: &RepoRef,
        branch: &str,
        at: &CommitSha,
    ) -> Result<(), ForgeError> {
        self.create_branch_at(repo, branch, at).await
    }

    async fn read_file(
        &self,
        repo: &RepoRef,
        git_ref: &str,
        path: &str,
    ) -> Result<Option<String>, ForgeError> {
        self.read_file_at(repo, git_ref, path).await
    }

    async fn commit(
        &self,
        repo: &RepoRef,
        branch: &str,
        message: &str,
        changes: &[FileChange],
        key: &str,
    ) -> Result<CommitSha, ForgeError> {
        self.commit_on(repo, branch, message, changes, key).await
    }

    async fn open_pr(&self, repo: &RepoRef, pr: &NewPullRequest) -> Result<PrNumber, ForgeError> {
        self.open_pull(repo, pr).await
    }

    async fn pull_request(&self, repo: &RepoRef, pr: PrNumber) -> Result<PullRequest, ForgeError> {
        self.load_pull(repo, pr).await
    }

    async fn comment(&self, repo: &RepoRef, pr: PrNumber, body: &str) -> Result<u64, ForgeError> {
        self.post_comment(repo, pr, body).await.map(|c| c.0)
    }

    async fn merge(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
        head: &CommitSha,
    ) -> Result<CommitSha, ForgeError> {
        self.merge_pull(repo, pr, head).await
    }

    async fn close(&self, repo: &RepoRef, pr: PrNumber) -> Result<(), ForgeError> {
        self.close_pull(repo, pr).await
    }

    async fn installed_on(&self, repo: &RepoRef) -> Result<bool, ForgeError> {
        repo_path(repo)?;
        let installation = self
            .client
            .current_installation(repo)
            .await
            .map_err(to_forge)?;
        if let Some(id) = installation {
            self.client.set_installation(repo, id);
        }
        Ok(installation.is_some())
    }

    async fn branch_rules(
        &self,
        repo: &RepoRef,
        branch: &str,
    ) -> Result<super::BranchRules, ForgeError> {
        self.rules_of(repo, branch).await
    }

    async fn commit_checks(
        &self,
        repo: &RepoRef,
        sha: &CommitSha,
    ) -> Result<super::CommitChecks, ForgeError> {
        self.checks_of(repo, sha).await
    }

    fn permalink(&self, repo: &RepoRef, sha: &CommitSha, path: &str, line: u32) -> Option<String> {
        Some(format!(
            "{}/{}/blob/{}/{}#L{line}",
            self.web_root(),
            repo.0,
            sha.0,
            enc_path(path.trim_start_matches('/'))
        ))
    }

    async fn publish_gates(
        &self,
        repo: &RepoRef,
        head: &CommitSha,
        check: &super::GateCheck,
    ) -> Result<Option<u64>, ForgeError> {
        let conclusion = if check.passed {
            CheckConclusion::Success
        } else {
            CheckConclusion::ActionRequired
        };
        let spec = CheckRunSpec::safety_gates(
            head.clone(),
            &check.title,
            &check.summary,
            Some(conclusion),
        );
        Ok(Some(self.create_check_run(repo, &spec).await?.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_slashes_only_in_paths() {
        assert_eq!(enc_path("healbot/inc 1"), "healbot/inc%201");
        assert_eq!(enc_query("heads/x"), "heads%2Fx");
    }

    #[test]
    fn repo_names_are_owner_slash_name() {
        assert!(repo_path(&RepoRef("acme/shop".into())).is_ok());
        assert!(repo_path(&RepoRef("shop".into())).is_err());
        assert!(repo_path(&RepoRef("a/b/c".into())).is_err());
    }
}
