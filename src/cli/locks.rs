//! `healbot locks`: the runbook for locks a person has to look at — list who holds what, free
//! one resource, or clear locks left behind by a dead replica. Works on the shared Redis
//! backend; an unreachable Redis is one line on stderr and a non-zero exit.

use crate::lock::{LockManager, LockResource, RedisLockConfig, RedisLockManager};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct LocksArgs {
    /// Redis holding the locks, e.g. redis://127.0.0.1:6379/0
    #[arg(long, env = "HEALBOT_REDIS_URL", global = true)]
    pub redis: Option<String>,
    /// Key prefix of the lock keys.
    #[arg(long, default_value = RedisLockConfig::DEFAULT_PREFIX, global = true)]
    pub prefix: String,
    #[command(subcommand)]
    pub command: LocksCommand,
}

#[derive(Subcommand)]
pub enum LocksCommand {
    /// List held locks: resource, owner, fencing token, age, TTL left.
    List {
        /// `text` (aligned columns) or `json`.
        #[arg(long, default_value = "text")]
        format: String,
    },
    /// Free one resource (`service:payment-service`) whatever its holder.
    Release { resource: String },
    /// Free every lock held for at least SECS seconds.
    ForceRelease {
        #[arg(long, value_name = "SECS")]
        older_than: u64,
    },
}

pub async fn run(args: LocksArgs) -> anyhow::Result<ExitCode> {
    let url = args
        .redis
        .context("no lock backend: pass --redis URL or set HEALBOT_REDIS_URL")?;
    let resource = match &args.command {
        LocksCommand::Release { resource } => Some(LockResource::parse(resource)?),
        _ => None,
    };
    let locks =
        RedisLockManager::connect(RedisLockConfig::new(&url).with_prefix(&args.prefix)).await?;
    match args.command {
        LocksCommand::List { format } => {
            let list = locks.list().await?;
            match format.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&list)?),
                "text" => {
                    println!(
                        "{:<40} {:<24} {:>8} {:>10} {:>10}",
                        "RESOURCE", "OWNER", "FENCING", "AGE_S", "TTL_LEFT_S"
                    );
                    for l in &list {
                        println!(
                            "{:<40} {:<24} {:>8} {:>10.1} {:>10.1}",
                            l.resource.key(),
                            l.owner,
                            l.fencing,
                            l.age_ms as f64 / 1000.0,
                            l.ttl_left_ms as f64 / 1000.0
                        );
                    }
                }
                other => anyhow::bail!("--format {other:?}: expected text or json"),
            }
        }
        LocksCommand::Release { .. } => {
            let Some(resource) = resource else {
                anyhow::bail!("no resource given");
            };
            if locks.force_release(&resource).await? {
                println!("released {resource}");
            } else {
                println!("{resource} was not held");
            }
        }
        LocksCommand::ForceRelease { older_than } => {
            let released = locks
                .force_release_older_than(Duration::from_secs(older_than))
                .await?;
            for r in &released {
                println!("released {r}");
            }
            println!(
                "{} lock(s) older than {older_than} s released",
                released.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
