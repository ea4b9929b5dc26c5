//! `healbot policy`: placeholder while the subcommand is written (replace this file whole).

use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum PolicyCommand { #[command(hide = true)] Pending }

pub async fn run(_: PolicyCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("healbot policy is not built yet")
}
