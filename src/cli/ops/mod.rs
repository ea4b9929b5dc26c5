//! `healbot ops`: the runbook's view of operations, over the state directory `healbot serve` (or
//! a demo) writes. `list` reads the audit log without taking it, so it works next to a running
//! server. The acts (`approve`, `pause`, `resume`, `rollback`, `promote`, `force-complete`) are
//! a named person's, through the orchestrator's override path, for when GitHub is down or the
//! operation has no PR yet. They append to the chain serve reads: on a shared chain (Redis)
//! beside running servers, which pick the operation up from the work queue; on a file log only
//! while no server holds it.

mod act;
mod list;

use crate::audit::AuditEntry;
use crate::config::bot::{BotConfig, WEBHOOK_SECRET_ENV};
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum OpsCommand {
    /// List operations, oldest first: id, state, service, PR, age (`--reasons`: why each
    /// waiting operation waits).
    List(list::ListArgs),
    /// Approve an operation's fix PR at its current head: healbot merges it and canaries it.
    Approve(act::ActArgs),
    /// Pause an operation until someone resumes it.
    Pause(act::ActArgs),
    /// Resume a paused operation where it stopped.
    Resume(act::ActArgs),
    /// Roll back an operation's change: to the stable image, or with `--to` to a revision you
    /// name.
    Rollback(act::RollbackArgs),
    /// Promote a canary step that waits for a person: the step counts as passed and the canary
    /// goes on to the next weight.
    Promote(act::ActArgs),
    /// Declare an operation completed by hand (audited with your reason); nothing is rolled
    /// back or forward, the lock is released.
    ForceComplete(act::ForceCompleteArgs),
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

pub async fn run(cmd: OpsCommand) -> anyhow::Result<ExitCode> {
    use crate::forge::HealCommand;
    match cmd {
        OpsCommand::List(args) => list::run(args).await,
        OpsCommand::Approve(args) => act::command(args, HealCommand::Approve).await,
        OpsCommand::Pause(args) => act::command(args, HealCommand::Pause).await,
        OpsCommand::Resume(args) => act::command(args, HealCommand::Resume).await,
        OpsCommand::Promote(args) => act::command(args, HealCommand::Promote).await,
        OpsCommand::Rollback(args) => act::rollback(args).await,
        OpsCommand::ForceComplete(args) => act::force_complete(args).await,
    }
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

/// The chain's entries: from Redis when `--config` puts the chain there, else the state
/// directory's `audit.jsonl`.
async fn entries(args: &StateArgs) -> anyhow::Result<(String, Vec<AuditEntry>)> {
    if let (None, Some(config)) = (&args.state, &args.config) {
        let config = load_config(config)?;
        if let (true, Some(url)) = (config.audit_on_redis, &config.redis_url) {
            use crate::audit::AuditStore;
            let store = crate::audit::redis::RedisAuditStore::open(url, "main", None)?;
            return Ok(("the chain on Redis".into(), store.entries().await?));
        }
    }
    let state = state_dir(args)?;
    let entries = tokio::task::spawn_blocking({
        let state = state.clone();
        move || read_log(&state)
    })
    .await??;
    Ok((state.display().to_string(), entries))
}
