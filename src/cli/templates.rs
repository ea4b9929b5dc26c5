//! `healbot templates`: placeholder while the subcommand is written (replace this file whole).

use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum TemplatesCommand { #[command(hide = true)] Pending }

pub async fn run(_: TemplatesCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("healbot templates is not built yet")
}
