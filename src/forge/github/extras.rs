//! GitHub-only calls the webhook side needs next to the [`Forge`](crate::forge::Forge) trait:
//! the `healbot/safety-gates` check run with its Approve/Rollback buttons (a second override
//! channel), the 👀 reaction that acknowledges a `/heal` command, the commenter's permission,
//! and the user id behind a login.

use super::client::Method;
use super::wire::{IdReply, PermissionReply};
use super::{enc_path, repo_path, to_forge, CheckRunId, CommentId, GithubForge};
use crate::forge::{CommitSha, ForgeError, RepoRef};
use crate::model::Permission;
use serde::Serialize;
use serde_json::{json, Value};

pub use crate::forge::checks::SAFETY_GATES_CHECK;

/// A button on a check run; GitHub sends a `check_run` `requested_action` event with its
/// identifier when someone presses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckAction {
    /// At most 20 characters.
    pub label: String,
    /// At most 40 characters.
    pub description: String,
    /// At most 20 characters.
    pub identifier: String,
}

impl CheckAction {
    pub fn approve() -> CheckAction {
        CheckAction {
            label: "Approve".into(),
            description: "Approve the fix and let healbot proceed".into(),
            identifier: "approve".into(),
        }
    }

    pub fn rollback() -> CheckAction {
        CheckAction {
            label: "Rollback".into(),
            description: "Roll the change back".into(),
            identifier: "rollback".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckConclusion {
    Success,
    Failure,
    Neutral,
    ActionRequired,
    Cancelled,
}

/// A check run to create: completed when it has a conclusion, in progress otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRunSpec {
    pub name: String,
    pub head_sha: CommitSha,
    pub title: String,
    /// Markdown, at most 65535 characters.
    pub summary: String,
    pub conclusion: Option<CheckConclusion>,
    pub actions: Vec<CheckAction>,
}

impl CheckRunSpec {
    /// The safety-gates check with the Approve and Rollback buttons.
    pub fn safety_gates(
        head_sha: CommitSha,
        title: &str,
        summary: &str,
        conclusion: Option<CheckConclusion>,
    ) -> CheckRunSpec {
        CheckRunSpec {
            name: SAFETY_GATES_CHECK.into(),
            head_sha,
            title: title.into(),
            summary: summary.into(),
            conclusion,
            actions: vec![CheckAction::approve(), CheckAction::rollback()],
        }
    }

    fn body(&self) -> Value {
        let mut body = json!({
            "name": self.name,
            "head_sha": self.head_sha.0,
            "output": { "title": self.title, "summary": self.summary },
            "actions": self.actions,
        });
        if let Some(conclusion) = self.conclusion {
            body["status"] = json!("completed");
            body["conclusion"] = json!(conclusion);
        } else {
            body["status"] = json!("in_progress");
        }
        body
    }
}

impl GithubForge {
    pub async fn create_check_run(
        &self,
        repo: &RepoRef,
        spec: &CheckRunSpec,
    ) -> Result<CheckRunId, ForgeError> {
        let path = format!("{}/check-runs", repo_path(repo)?);
        let reply: IdReply = self
            .client
            .repo_call(repo, Method::Post, &path, Some(&spec.body()))
            .await
            .map_err(to_forge)?;
        Ok(CheckRunId(reply.id))
    }

    /// Replaces a check run's output, status and buttons (the gate table changed).
    pub async fn update_check_run(
        &self,
        repo: &RepoRef,
        id: CheckRunId,
        spec: &CheckRunSpec,
    ) -> Result<(), ForgeError> {
        let path = format!("{}/check-runs/{}", repo_path(repo)?, id.0);
        let mut body = spec.body();
        if let Some(fields) = body.as_object_mut() {
            // The head of a check run is fixed when it is created.
            fields.remove("head_sha");
        }
        let _: Value = self
            .client
            .repo_call(repo, Method::Patch, &path, Some(&body))
            .await
            .map_err(to_forge)?;
        Ok(())
    }

    /// Puts 👀 on a comment: "seen, working on it". Reacting twice is harmless on GitHub.
    pub async fn acknowledge(&self, repo: &RepoRef, comment: CommentId) -> Result<(), ForgeError> {
        let path = format!(
            "{}/issues/comments/{}/reactions",
            repo_path(repo)?,
            comment.0
        );
        let _: Value = self
            .client
            .repo_call(
                repo,
                Method::Post,
                &path,
                Some(&json!({ "content": "eyes" })),
            )
            .await
            .map_err(to_forge)?;
        Ok(())
    }

    /// `user`'s permission on `repo`; someone who is not a collaborator has none.
    pub async fn permission(&self, repo: &RepoRef, user: &str) -> Result<Permission, ForgeError> {
        let path = format!(
            "{}/collaborators/{}/permission",
            repo_path(repo)?,
            enc_path(user).replace('/', "%2F")
        );
        let reply: PermissionReply =
            match self.client.repo_call(repo, Method::Get, &path, None).await {
                Ok(reply) => reply,
                Err(e) if e.status() == Some(404) => return Ok(Permission::None),
                Err(e) => return Err(to_forge(e)),
            };
        // `role_name` knows triage and maintain; `permission` is the older, coarser field.
        let level = reply
            .role_name
            .as_deref()
            .and_then(Permission::parse)
            .or_else(|| Permission::parse(&reply.permission));
        level.ok_or_else(|| {
            ForgeError::Api(format!(
                "GitHub reported an unknown permission {:?} for {user} on {}",
                reply.permission, repo.0
            ))
        })
    }

    /// The user id that holds `login` now (`GET /users/{login}`); `None` when nobody does.
    /// Asked through `repo`'s installation token: any token may read public profiles.
    pub async fn user_id(&self, repo: &RepoRef, login: &str) -> Result<Option<u64>, ForgeError> {
        let path = format!("/users/{}", enc_path(login).replace('/', "%2F"));
        match self
            .client
            .repo_call::<IdReply>(repo, Method::Get, &path, None)
            .await
        {
            Ok(reply) => Ok(Some(reply.id)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(to_forge(e)),
        }
    }
}
