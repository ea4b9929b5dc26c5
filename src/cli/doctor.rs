//! `healbot doctor --config healbot.yaml [--format json]`: checks every dependency the file
//! configures and prints one row per check; exits non-zero when any check fails, so it can gate
//! a deployment. The checks live in `server::readiness`, shared with `/readyz`.

use super::format::Format;
use crate::config::bot::{BotConfig, WEBHOOK_SECRET_ENV};
use crate::server::readiness;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct DoctorArgs {
    /// The bot's configuration (`healbot.yaml`), as `healbot serve` reads it.
    #[arg(long)]
    pub config: PathBuf,
    /// `text` (an aligned table) or `json`.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Seconds each check may take before it counts as failed.
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
}

pub async fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let env_secret = std::env::var(WEBHOOK_SECRET_ENV).ok();
    let config = BotConfig::load(&args.config, env_secret.as_deref())?;
    let limit = Duration::from_secs(args.timeout.max(1));
    let report = readiness::doctor(&config, limit).await;
    match args.format {
        Format::Text => print!("{}", report.table()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(if report.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
