//! `healbot locks`: the runbook for locks a person has to look at — list who holds what, free
//! one resource, or clear locks left behind by a dead replica. Works on the shared Redis
//! backend; an unreachable Redis is one line on stderr and a non-zero exit.

use super::format::Format;
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
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Free one resource (`service:payment-service`) whatever its holder.
    Release {
        /// The lock's resource, `kind:name` as `locks list` prints it.
        resource: String,
    },
    /// Free every lock held for at least the given time.
    ForceRelease {
        /// How long a lock must have been held: `30m`, `2h`, `90s` (a bare number is seconds).
        #[arg(long, value_name = "DURATION", value_parser = super::duration::parse)]
        older_than: Duration,
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
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&list)?),
                Format::Text => {
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
            let released = locks.force_release_older_than(older_than).await?;
            for r in &released {
                println!("released {r}");
            }
            println!(
                "{} lock(s) older than {} released",
                released.len(),
                super::duration::show(older_than)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
