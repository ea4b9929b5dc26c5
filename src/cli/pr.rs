//! `healbot pr`: placeholder while the subcommand is written (replace this file whole).

use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum PrCommand { #[command(hide = true)] Pending }

pub async fn run(_: PrCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("healbot pr is not built yet")
}
