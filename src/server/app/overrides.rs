//! Reviews, `/heal` comments and check-run buttons from GitHub: acknowledged with 👀, checked
//! against the repository's approver rules, then applied by the orchestrator. A person without
//! the permission gets an answer saying why, and the refusal is an audit entry.

use super::{other, AppHandler};
use crate::forge::github::CommentId;
use crate::forge::{Forge, HealCommand, Override, OverrideKind, PrNumber, RepoRef, ReviewState};
use crate::lock::LockError;
use crate::model::Permission;
use crate::orchestrator::OrchestratorError;
use crate::server::events::GithubEvent;
use crate::server::handler::{GithubDelivery, HandlerError};

/// How the act reads in an answer: "`/heal pause`", "an approving review".
fn act(kind: &OverrideKind) -> String {
    match kind {
        OverrideKind::Command { command } => format!("`/heal {}`", command.verb()),
        OverrideKind::Review { state } => match state {
            ReviewState::Approved => "an approving review".into(),
            ReviewState::ChangesRequested => "a review requesting changes".into(),
            ReviewState::Dismissed => "dismissing a review".into(),
            ReviewState::Commented => "a review comment".into(),
        },
    }
}

/// Acts that change nothing: anyone who can see the PR may ask.
fn read_only(kind: &OverrideKind) -> bool {
    matches!(
        kind,
        OverrideKind::Command {
            command: HealCommand::Status | HealCommand::Explain | HealCommand::Help
        } | OverrideKind::Review {
            state: ReviewState::Commented
        }
    )
}

impl AppHandler {
    pub(super) async fn overrides(&self, delivery: &GithubDelivery) -> Result<(), HandlerError> {
        let found = delivery.event.overrides(&delivery.id);
        if let GithubEvent::IssueComment(e) = &delivery.event {
            let repo = RepoRef(e.repository.full_name.clone());
            let pr = PrNumber(e.issue.number);
            let has_commands = !found.overrides.is_empty() || !found.rejected.is_empty();
            if !has_commands || self.orchestrator.operation_for(&repo, pr).await.is_none() {
                return Ok(());
            }
            // The 👀 is a courtesy: a failure to add it must not cost the command.
            if let Err(e) = self
                .github
                .acknowledge(&repo, CommentId(e.comment.id))
                .await
            {
                tracing::warn!(repo = %repo.0, comment = e.to_string(), "cannot acknowledge");
            }
            for (i, rejected) in found.rejected.iter().enumerate() {
                let name = format!(
                    "reply-github:{}:pr{}:comment:{}:unknown{}",
                    repo.0,
                    pr.0,
                    e.comment.id,
                    i + 1
                );
                let text = format!("@{}: {rejected}", e.sender.login);
                self.orchestrator
                    .answer(&repo, pr, &name, &text)
                    .await
                    .map_err(other)?;
            }
        }
        for ov in found.overrides {
            self.one(ov).await?;
        }
        Ok(())
    }

    async fn one(&self, mut ov: Override) -> Result<(), HandlerError> {
        let Some(op) = self.orchestrator.operation_for(&ov.repo, ov.pr).await else {
            tracing::info!(repo = %ov.repo.0, pr = ov.pr.0, "not a healbot PR; override ignored");
            return Ok(());
        };
        let guard = self.drivers.hold(&self.orchestrator, &op.id).await?;
        if ov.head_sha.0.is_empty() {
            // A comment does not say which commit it was written on: the head now.
            ov.head_sha = self
                .github
                .pull_request(&ov.repo, ov.pr)
                .await
                .map_err(other)?
                .head_sha;
        }
        if let Err(reason) = self.may_act(&ov).await {
            self.orchestrator
                .refuse_override(&ov, &reason)
                .await
                .map_err(other)?;
            return Ok(());
        }
        let source = ov.source_id.clone();
        let (repo, pr, actor) = (ov.repo.clone(), ov.pr, ov.actor.clone());
        let applied = match self.orchestrator.apply_override(ov).await {
            Ok(applied) => applied,
            Err(e) => {
                // The person hears that nothing happened; the details stay in healbot's log.
                let text = format!("@{actor}: not done: {}", user_facing(&e));
                let name = format!("reply-{source}-error");
                self.orchestrator
                    .answer(&repo, pr, &name, &text)
                    .await
                    .map_err(other)?;
                return Err(other(e));
            }
        };
        drop(guard);
        if applied.drive {
            self.kick(applied.operation);
        }
        Ok(())
    }

    /// `Err` is the reason, written for the person refused.
    async fn may_act(&self, ov: &Override) -> Result<(), String> {
        if read_only(&ov.kind) {
            return Ok(());
        }
        let what = act(&ov.kind);
        let config = match self.configs.get(&ov.repo).await {
            Ok(Some(config)) => config,
            Ok(None) => {
                return Err(format!(
                    "{} has no `.github/healbot.yml` on its default branch, so nobody may \
                     act on healbot's PRs here",
                    ov.repo.0
                ))
            }
            Err(e) => return Err(format!("the repository config cannot be used: {e}")),
        };
        let rules = &config.approvers;
        if !rules.allow.is_empty() {
            if rules
                .allow
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&ov.actor))
            {
                return Ok(());
            }
            return Err(format!(
                "only {} may use {what} here (`approvers.allow` in `.github/healbot.yml`)",
                rules
                    .allow
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let has = self
            .github
            .permission(&ov.repo, &ov.actor)
            .await
            .map_err(|e| format!("your permission could not be checked ({e}); try again"))?;
        let needs = rules.permission;
        if has >= needs {
            return Ok(());
        }
        Err(format!(
            "{what} needs {} permission on {} and you have {} \
             (`approvers.permission` in `.github/healbot.yml`)",
            name(needs),
            ov.repo.0,
            name(has)
        ))
    }
}

fn name(p: Permission) -> &'static str {
    match p {
        Permission::None => "no",
        Permission::Read => "read",
        Permission::Triage => "triage",
        Permission::Write => "write",
        Permission::Maintain => "maintain",
        Permission::Admin => "admin",
    }
}

/// What a person is told when their act could not be carried out.
fn user_facing(e: &OrchestratorError) -> String {
    match e {
        OrchestratorError::Lock(LockError::Backend(_)) => {
            "the lock service is unreachable; nothing was merged or deployed. Try again once it \
             is back."
                .to_string()
        }
        OrchestratorError::Forge(_) => {
            "GitHub did not accept a change healbot made; nothing further was done. The details \
             are in healbot's log."
                .to_string()
        }
        _ => "healbot hit an internal error; nothing further was done. The details are in \
              healbot's log."
            .to_string(),
    }
}
