//! `healbot ops`: the runbook's view of operations, over the state directory `healbot serve` (or
//! a demo) writes. `list` reads the audit log without taking it, so it works next to a running
//! server; `approve`, `pause`, `resume` and `rollback` act as a named person through the
//! orchestrator's override path, for when GitHub is down or the operation has no PR yet. They
//! append to the log, so they refuse to run while a server holds it.

use super::format::Format;
use crate::audit::AuditEntry;
use crate::config::bot::{BotConfig, WEBHOOK_SECRET_ENV};
use crate::forge::{HealCommand, BOT_AUTHOR};
use crate::model::OperationId;
use crate::operation::state::fold_all;
use crate::operation::Operation;
use crate::orchestrator::artifacts::{self, in_scan};
use crate::orchestrator::Orchestrator;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Subcommand)]
pub enum OpsCommand {
    /// List operations, oldest first: id, state, service, PR, age.
    List(ListArgs),
    /// Approve an operation's fix PR at its current head: healbot merges it and canaries it.
    Approve(ActArgs),
    /// Pause an operation until someone resumes it.
    Pause(ActArgs),
    /// Resume a paused operation where it stopped.
    Resume(ActArgs),
    /// Roll back an operation's change.
    Rollback(ActArgs),
}

/// Where the state is: shared by every `healbot ops` subcommand.
#[derive(Args)]
pub struct StateArgs {
    /// The state directory (its `audit.jsonl`) [default: the config's `state_dir`, else
    /// `.healbot`].
    #[arg(long = "state-dir", alias = "state", env = "HEALBOT_STATE", value_name = "DIR",
          value_parser = super::state_dir::parse)]
    pub state: Option<PathBuf>,
    /// The bot's configuration (`healbot.yaml`), to reach GitHub for a `serve` state directory.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Args)]
pub struct ListArgs {
    /// Only operations that have not finished.
    #[arg(long)]
    pub open: bool,
    /// `text` (aligned columns) or `json`.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub state: StateArgs,
}

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

pub async fn run(cmd: OpsCommand) -> anyhow::Result<ExitCode> {
    let (args, command) = match cmd {
        OpsCommand::List(args) => return list(args),
        OpsCommand::Approve(args) => (args, HealCommand::Approve),
        OpsCommand::Pause(args) => (args, HealCommand::Pause),
        OpsCommand::Resume(args) => (args, HealCommand::Resume),
        OpsCommand::Rollback(args) => (args, HealCommand::Rollback),
    };
    act(args, command).await
}

fn load_config(path: &Path) -> anyhow::Result<BotConfig> {
    let env_secret = crate::config::secrets::env_secret(WEBHOOK_SECRET_ENV);
    Ok(BotConfig::load(path, env_secret.as_deref())?)
}

fn state_dir(args: &StateArgs) -> anyhow::Result<PathBuf> {
    Ok(match (&args.state, &args.config) {
        (Some(dir), _) => dir.clone(),
        (None, Some(config)) => load_config(config)?.state_dir,
        (None, None) => PathBuf::from(".healbot"),
    })
}

/// Reads the log without the appender's lock, as `audit verify` does.
fn read_log(state: &Path) -> anyhow::Result<Vec<AuditEntry>> {
    let path = state.join("audit.jsonl");
    let file = std::fs::File::open(&path).with_context(|| {
        format!(
            "{} has no audit log; pass the state directory with --state-dir or --config",
            state.display()
        )
    })?;
    let mut entries = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&line) {
            Ok(entry) => entries.push(entry),
            // A torn last line (a crash mid-append) is not part of the log yet.
            Err(_) if line.ends_with('}') => bail!(
                "{} line {}: not an audit entry; run `healbot audit verify`",
                path.display(),
                i + 1
            ),
            Err(_) => break,
        }
    }
    Ok(entries)
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let state = state_dir(&args.state)?;
    let entries = read_log(&state)?;
    let folded = fold_all(&entries).context("folding the audit log")?;
    let mut ops: Vec<Operation> = folded
        .into_values()
        .filter(|op| !args.open || !op.state.is_terminal())
        .collect();
    ops.sort_by_key(|op| op.history.first().map(|h| h.0));
    let now = chrono::Utc::now();
    let rows: Vec<ListedOperation> = ops.iter().map(|op| listed(op, &entries, now)).collect();
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if ops.is_empty() {
        println!("no operations in {}", state.display());
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render_list(&rows));
    Ok(ExitCode::SUCCESS)
}

/// One row of `ops list`, as text columns or a JSON object.
#[derive(serde::Serialize)]
struct ListedOperation {
    id: String,
    state: String,
    service: Option<String>,
    pr: Option<u64>,
    opened_at: Option<String>,
    age_seconds: Option<i64>,
}

fn listed(
    op: &Operation,
    entries: &[AuditEntry],
    now: chrono::DateTime<chrono::Utc>,
) -> ListedOperation {
    let opened_seq = op.history.first().map(|h| h.0);
    let opened = entries.iter().find(|e| Some(e.seq) == opened_seq);
    let age_seconds = opened
        .and_then(|e| chrono::DateTime::parse_from_rfc3339(&e.ts).ok())
        .map(|t| (now - t.to_utc()).num_seconds().max(0));
    ListedOperation {
        id: op.id.0.clone(),
        state: op.state.to_string(),
        service: op.opened["incident"]["service"].as_str().map(String::from),
        pr: in_scan(op.effect(&artifacts::PR)).map(|pr| pr.0),
        opened_at: opened.map(|e| e.ts.clone()),
        age_seconds,
    }
}

fn render_list(listed: &[ListedOperation]) -> String {
    let dash = || "-".to_string();
    let rows: Vec<[String; 5]> = listed
        .iter()
        .map(|op| {
            [
                op.id.clone(),
                op.state.clone(),
                op.service.clone().unwrap_or_else(dash),
                op.pr.map_or_else(dash, |pr| format!("#{pr}")),
                op.age_seconds.map_or_else(dash, age),
            ]
        })
        .collect();
    let header = ["ID", "STATE", "SERVICE", "PR", "AGE"].map(String::from);
    let mut widths = [0; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
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
}

/// The orchestrator on the state directory: a demo's (local forge) when it holds a demo,
/// else the GitHub App's built from `--config`.
async fn orchestrator(args: &StateArgs) -> anyhow::Result<Actor> {
    let state = state_dir(args)?;
    let busy = || {
        format!(
            "cannot open {}/audit.jsonl for appending; if `healbot serve` runs on it, act \
             through GitHub (/heal on the PR) or stop the server first",
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

async fn act(args: ActArgs, command: HealCommand) -> anyhow::Result<ExitCode> {
    let actor = acting_person(args.actor.as_deref())?;
    let acting = orchestrator(&args.state).await?;
    let orchestrator = acting.orchestrator();
    if actor.eq_ignore_ascii_case(&orchestrator.settings.actor) {
        bail!("`{actor}` is healbot itself; act as a person with --as NAME");
    }
    let id = OperationId(args.id.clone());
    if orchestrator.journal.operation(&id).await.is_err() {
        bail!("no operation {id}; `healbot ops list` shows them");
    }
    let lines = match &acting {
        Actor::Demo(o) => o.override_operation(&id, &actor, command).await?,
        Actor::App { app, .. } => app.act_on(&id, &actor, command).await?,
    };
    for line in lines {
        println!("{line}");
    }
    let state = orchestrator.journal.state(&id).await?;
    println!("{id}: {state}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_short() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(600), "10m");
        assert_eq!(age(3 * 3600), "3h");
        assert_eq!(age(3 * 86_400), "3d");
        assert_eq!(age(-4), "0s");
    }
}
