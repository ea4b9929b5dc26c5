//! `healbot localize`: placeholder while the subcommand is written (replace this file whole).

use clap::Args;
use std::process::ExitCode;

#[derive(Args)]
pub struct LocalizeArgs {}

pub async fn run(_: LocalizeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("healbot localize is not built yet")
}
