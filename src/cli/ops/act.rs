//! A person's acts on an operation by id. The orchestrator is a demo's (local forge) when the
//! state directory holds one, else the GitHub App's built from `--config`. An act that cannot
//! apply in the operation's state is refused before anything is written, with exit code 1.

use super::{load_config, state_dir, StateArgs};
use crate::forge::{HealCommand, BOT_AUTHOR};
use crate::model::OperationId;
use crate::operation::{OpState, Operation};
use crate::orchestrator::runbook::Acted;
use crate::orchestrator::{Orchestrator, OrchestratorError};
use anyhow::{bail, Context};
use clap::Args;
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Args)]
pub struct ActArgs {
    /// The operation id (`op-…`, as `healbot ops list` shows it).
    pub id: String,
    /// Who you are [default: $USER, else `operator`].
    #[arg(long = "as", value_name = "NAME")]
    pub actor: Option<String>,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub act: ActArgs,
    /// The image tag to put back in the Rollout manifest instead of the stable one healbot
    /// recorded (only once the fix was deployed).
    #[arg(long, value_name = "REVISION")]
    pub to: Option<String>,
}

#[derive(Args)]
pub struct ForceCompleteArgs {
    #[command(flatten)]
    pub act: ActArgs,
    /// Why the operation is done without healbot (recorded in the audit entry and on the PR).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

fn acting_person(actor: Option<&str>) -> anyhow::Result<String> {
    let name = match actor {
        Some(name) if name.trim().is_empty() => bail!("--as needs a name"),
        Some(name) => name.trim().to_string(),
        None => std::env::var("USER")
            .ok()
            .map(|user| user.trim().to_string())
            .filter(|user| !user.is_empty())
            .unwrap_or_else(|| "operator".to_string()),
    };
    if name.eq_ignore_ascii_case(BOT_AUTHOR) || name.ends_with("[bot]") {
        bail!("`{name}` is a bot; act as a person with --as NAME");
    }
    Ok(name)
}

/// Who acts: a demo's orchestrator (local forge), or the GitHub App built from `--config`.
enum Actor {
    Demo(Arc<Orchestrator>),
    App {
        app: Box<crate::server::app::AppHandler>,
        /// Kept until the command ends.
        _scratch: Option<Scratch>,
    },
}

/// A state directory of this command's own, removed when it ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Actor {
    fn orchestrator(&self) -> &Arc<Orchestrator> {
        match self {
            Actor::Demo(o) => o,
            Actor::App { app, .. } => app.orchestrator(),
        }
    }

    /// Runs `act` on operation `id` and carries the operation on when the act allows: in a
    /// demo, here; with the App, as `AppHandler::runbook_act` decides (the shared queue, where
    /// a running server takes it, or here).
    async fn act<F, Fut>(&self, id: &OperationId, act: F) -> anyhow::Result<Vec<String>>
    where
        F: FnOnce(Arc<Orchestrator>) -> Fut,
        Fut: Future<Output = Result<Acted, OrchestratorError>>,
    {
        match self {
            Actor::Demo(o) => {
                let acted = act(o.clone()).await?;
                let mut lines = acted.lines;
                if acted.drive {
                    let progress = o.drive(id).await?;
                    lines.push(format!("{id}: {progress:?}"));
                }
                Ok(lines)
            }
            Actor::App { app, .. } => app.runbook_act(id, act).await,
        }
    }
}

/// The orchestrator on the state directory: a demo's (local forge) when it holds a demo,
/// else the GitHub App's built from `--config`.
async fn orchestrator(args: &StateArgs) -> anyhow::Result<Actor> {
    let state = state_dir(args)?;
    let busy = || {
        format!(
            "cannot open {}/audit.jsonl for appending; if `healbot serve` runs on it, act \
             through GitHub (/heal on the PR), stop the server first, or share the chain on \
             Redis (audit_on_redis) so that the CLI and servers can act side by side",
            state.display()
        )
    };
    if state.join("session.json").is_file() {
        let demo = crate::demo::Demo::open(&state).await.with_context(busy)?;
        return Ok(Actor::Demo(demo.orchestrator));
    }
    let Some(config) = &args.config else {
        bail!(
            "{} is not a demo work directory; pass --config healbot.yaml so that healbot can \
             reach the forge",
            state.display()
        );
    };
    let mut config = load_config(config)?;
    config.state_dir = state.clone();
    let mut scratch = None;
    if config.audit_on_redis {
        // The chain is on Redis; the state directory's mirror belongs to the replica there.
        let dir = std::env::temp_dir().join(format!("healbot-ops-{}", std::process::id()));
        config.state_dir = dir.clone();
        scratch = Some(Scratch(dir));
    }
    let app = crate::server::app::build::from_config(&config)
        .await
        .with_context(busy)?
        .context("healbot.yaml has no GitHub App credentials (github: and its key) or no prometheus source")?;
    Ok(Actor::App {
        app: Box::new(app),
        _scratch: scratch,
    })
}

/// Why `command` cannot apply to `op` as it stands, if it cannot: the same conditions the
/// override path checks, said before anything is written.
fn refusal(command: &HealCommand, op: &Operation) -> Option<String> {
    let state = op.state;
    let has_pr = op.effects.contains_key(&format!("{}/pr", op.id));
    let paused_from = op
        .paused_from
        .filter(|_| state == OpState::PausedForHumanReview);
    let why = match command {
        HealCommand::Approve
            if state != OpState::AwaitingReview && paused_from != Some(OpState::AwaitingReview) =>
        {
            "only an operation whose PR awaits review can be approved"
        }
        HealCommand::Pause if state.is_terminal() || state == OpState::PausedForHumanReview => {
            "it is not running"
        }
        HealCommand::Resume if state != OpState::PausedForHumanReview => "it is not paused",
        HealCommand::Promote if !matches!(paused_from, Some(OpState::Deploying(_))) => {
            "promote applies to a canary step paused for a person"
        }
        HealCommand::Rollback if state.is_terminal() => "it has finished",
        HealCommand::Rollback if has_pr && !state.can_go(OpState::RollingBack, op.paused_from) => {
            "nothing was deployed yet (reject the PR, or `/heal reject`, to stop it)"
        }
        _ => return None,
    };
    Some(format!("it is {state}: {why}"))
}

/// The person, the orchestrator, and the operation (which must exist).
async fn prepare(args: &ActArgs) -> anyhow::Result<(String, Actor, Operation)> {
    let actor = acting_person(args.actor.as_deref())?;
    let acting = orchestrator(&args.state).await?;
    let orchestrator = acting.orchestrator();
    if actor.eq_ignore_ascii_case(&orchestrator.settings.actor) {
        bail!("`{actor}` is healbot itself; act as a person with --as NAME");
    }
    let id = OperationId(args.id.clone());
    let Ok(op) = orchestrator.journal.operation(&id).await else {
        bail!("no operation {id}; `healbot ops list` shows them");
    };
    Ok((actor, acting, op))
}

async fn finish(acting: &Actor, id: &OperationId, lines: Vec<String>) -> anyhow::Result<ExitCode> {
    for line in lines {
        println!("{line}");
    }
    let state = acting.orchestrator().journal.state(id).await?;
    println!("{id}: {state}");
    Ok(ExitCode::SUCCESS)
}

fn verb(command: &HealCommand) -> String {
    format!("{command:?}").to_lowercase()
}

/// `approve`, `pause`, `resume`, `promote`, and `rollback` without `--to`.
pub(super) async fn command(args: ActArgs, command: HealCommand) -> anyhow::Result<ExitCode> {
    let (actor, acting, op) = prepare(&args).await?;
    if let Some(why) = refusal(&command, &op) {
        bail!("cannot {} {}: {why}", verb(&command), op.id);
    }
    let id = op.id.clone();
    let lines = acting
        .act(&id, |o| {
            let (id, actor) = (id.clone(), actor.clone());
            async move { o.apply_operation_override(&id, &actor, command).await }
        })
        .await?;
    finish(&acting, &id, lines).await
}

pub(super) async fn rollback(args: RollbackArgs) -> anyhow::Result<ExitCode> {
    let Some(revision) = args.to.clone() else {
        return command(args.act, HealCommand::Rollback).await;
    };
    let (actor, acting, op) = prepare(&args.act).await?;
    let id = op.id.clone();
    let lines = acting
        .act(&id, |o| {
            let id = id.clone();
            async move { o.roll_back_to(&id, &actor, &revision).await }
        })
        .await?;
    finish(&acting, &id, lines).await
}

pub(super) async fn force_complete(args: ForceCompleteArgs) -> anyhow::Result<ExitCode> {
    if args.reason.trim().is_empty() {
        bail!("--reason needs a text: why the operation is done without healbot");
    }
    let (actor, acting, op) = prepare(&args.act).await?;
    if op.state.is_terminal() {
        bail!(
            "cannot force-complete {}: it is already {}",
            op.id,
            op.state
        );
    }
    let id = op.id.clone();
    let reason = args.reason;
    let lines = acting
        .act(&id, |o| {
            let id = id.clone();
            async move { o.force_complete(&id, &actor, &reason).await }
        })
        .await?;
    finish(&acting, &id, lines).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditEntry;
    use crate::operation::state::{action, fold_all};
    use serde_json::json;

    fn op_through(states: &[OpState], pr: bool) -> Operation {
        let entry = AuditEntry::for_test;
        let mut entries = vec![entry(1, action::OPENED, json!({}))];
        if pr {
            entries.push(entry(
                2,
                action::EFFECT,
                json!({"key": "op-1/pr", "result": 1}),
            ));
        }
        for to in states {
            let seq = entries.len() as u64 + 1;
            entries.push(entry(seq, action::TRANSITION, json!({ "to": to })));
        }
        fold_all(&entries).unwrap().into_values().next().unwrap()
    }

    const TO_REVIEW: [OpState; 6] = [
        OpState::Analyzing,
        OpState::Planned,
        OpState::AwaitingGates,
        OpState::Locked,
        OpState::PrOpen,
        OpState::AwaitingReview,
    ];

    #[test]
    fn promote_applies_only_to_a_paused_canary_step() {
        let waiting = op_through(&TO_REVIEW, true);
        let why = refusal(&HealCommand::Promote, &waiting).unwrap();
        assert!(why.contains("AwaitingReview"), "{why}");
        let mut path = TO_REVIEW.to_vec();
        path.extend([
            OpState::Merged,
            OpState::Deploying(10),
            OpState::PausedForHumanReview,
        ]);
        let paused = op_through(&path, true);
        assert_eq!(refusal(&HealCommand::Promote, &paused), None);
        path.extend([
            OpState::Deploying(10),
            OpState::Verifying,
            OpState::Completed,
        ]);
        let done = op_through(&path, true);
        let why = refusal(&HealCommand::Promote, &done).unwrap();
        assert!(why.contains("Completed"), "{why}");
        assert!(refusal(&HealCommand::Rollback, &done).is_some());
        assert!(refusal(&HealCommand::Pause, &done).is_some());
    }

    #[test]
    fn rollback_before_a_deploy_is_refused_only_with_a_pr() {
        let with_pr = op_through(&TO_REVIEW, true);
        assert!(refusal(&HealCommand::Rollback, &with_pr).is_some());
        let gated = op_through(
            &[
                OpState::Analyzing,
                OpState::Planned,
                OpState::AwaitingGates,
                OpState::PausedForHumanReview,
            ],
            false,
        );
        assert_eq!(refusal(&HealCommand::Rollback, &gated), None);
        assert_eq!(refusal(&HealCommand::Resume, &gated), None);
        assert!(refusal(&HealCommand::Approve, &gated).is_some());
    }

    #[test]
    fn bots_and_blank_names_cannot_act() {
        assert!(acting_person(Some("  ")).is_err());
        assert!(acting_person(Some("dependabot[bot]")).is_err());
        assert_eq!(acting_person(Some(" alice ")).unwrap(), "alice");
    }
}
