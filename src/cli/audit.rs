//! `healbot audit`: placeholder while the subcommand is written (replace this file whole).

use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum AuditCommand { #[command(hide = true)] Pending }

pub async fn run(_: AuditCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("healbot audit is not built yet")
}
