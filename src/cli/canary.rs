//! `healbot canary`: placeholder while the subcommand is written (replace this file whole).

use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum CanaryCommand { #[command(hide = true)] Pending }

pub async fn run(_: CanaryCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("healbot canary is not built yet")
}
