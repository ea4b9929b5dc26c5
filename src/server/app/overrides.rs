//! Reviews, `/heal` comments and check-run buttons from GitHub: acknowledged with 👀, checked
//! against the repository's approver rules, then applied by the orchestrator. A person without
//! the permission gets an answer saying why, and the refusal is an audit entry.

use super::command_budget::{Verdict, COMMANDS_PER_WINDOW, WINDOW};
use super::{other, AppHandler};
use crate::config::repo::Approver;
use crate::forge::github::CommentId;
use crate::forge::{
    CommandError, Forge, HealCommand, Override, OverrideKind, PrNumber, RepoRef, ReviewState,
    MAX_COMMANDS_PER_COMMENT,
};
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
        let mut found = delivery.event.overrides();
        if let GithubEvent::IssueComment(e) = &delivery.event {
            let repo = RepoRef(e.repository.full_name.clone());
            let pr = PrNumber(e.issue.number);
            let lines = found.overrides.len() + found.rejected.len();
            if lines == 0 && found.beyond_limit == 0 {
                return Ok(());
            }
            if self.orchestrator.operation_for(&repo, pr).await.is_none() {
                return Ok(());
            }
            let login = &e.sender.login;
            // Someone who cannot even read the repository gets no reaction and no reply.
            match self.github.permission(&repo, login).await {
                Ok(p) if p >= Permission::Read => {}
                Ok(_) => {
                    tracing::info!(repo = %repo.0, pr = pr.0, %login, "commands from someone without read access ignored");
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(repo = %repo.0, %login, error = %e, "cannot check read access; commands ignored");
                    return Ok(());
                }
            }
            let budget = self
                .commands
                .take(&repo.0, pr.0, login, lines, std::time::Instant::now());
            if let Verdict::Refused { notify } = budget {
                tracing::warn!(repo = %repo.0, pr = pr.0, %login, "command budget spent; comment ignored");
                if notify {
                    let name = format!(
                        "reply-github:{}:pr{}:comment:{}:budget",
                        repo.0, pr.0, e.comment.id
                    );
                    let text = format!(
                        "@{login}: you sent more than {COMMANDS_PER_WINDOW} `/heal` commands on \
                         this PR within {} minutes; healbot ignores the rest until the window \
                         has passed.",
                        WINDOW.as_secs() / 60
                    );
                    self.orchestrator
                        .answer(&repo, pr, &name, &text)
                        .await
                        .map_err(other)?;
                }
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
            if !found.rejected.is_empty() || found.beyond_limit > 0 {
                let name = format!(
                    "reply-github:{}:pr{}:comment:{}:not-run",
                    repo.0, pr.0, e.comment.id
                );
                let text = not_run_reply(login, &found.rejected, found.beyond_limit);
                self.orchestrator
                    .answer(&repo, pr, &name, &text)
                    .await
                    .map_err(other)?;
            }
        }
        for ov in std::mem::take(&mut found.overrides) {
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
            if self.allowed(ov, &rules.allow).await? {
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

    /// Whether `ov`'s actor is one of `allow`: by user id, a login entry by the id pinned for
    /// it. `Err` when the actor holds an allowed login but who that login is cannot be told.
    async fn allowed(&self, ov: &Override, allow: &[Approver]) -> Result<bool, String> {
        for entry in allow {
            let id = match entry {
                Approver::Id(id) => Some(*id),
                Approver::Login(login) => match self.configs.approver_id(&ov.repo, login).await {
                    Ok(id) => id,
                    Err(e) if login.eq_ignore_ascii_case(&ov.actor) => {
                        return Err(format!("{e}; try again"))
                    }
                    Err(_) => None,
                },
            };
            if id.is_some() && id == ov.actor_id {
                return Ok(true);
            }
            if let (Approver::Login(login), Some(id)) = (entry, id) {
                if login.eq_ignore_ascii_case(&ov.actor) {
                    return Err(format!(
                        "`{login}` in `approvers.allow` is user id {id}, pinned when healbot \
                         first read the config, and you are not that user (was the login \
                         renamed and taken?); name user ids in `approvers.allow`"
                    ));
                }
            }
        }
        Ok(false)
    }
}

/// One reply for every `/heal` line of a comment that was not run: each reason, then the
/// commands healbot knows.
fn not_run_reply(login: &str, rejected: &[CommandError], beyond_limit: usize) -> String {
    let mut text = format!("@{login}: ");
    match rejected {
        [] => {}
        [one] => text.push_str(&one.to_string()),
        many => {
            text.push_str("these `/heal` lines were not run:\n");
            for r in many {
                text.push_str(&format!("\n- {r}"));
            }
        }
    }
    if beyond_limit > 0 {
        if !rejected.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&format!(
            "Only the first {MAX_COMMANDS_PER_COMMENT} `/heal` lines of a comment are read; \
             {beyond_limit} more were ignored."
        ));
    }
    if !rejected.is_empty() {
        text.push_str("\n\n");
        text.push_str(&HealCommand::help_text());
    }
    text
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
