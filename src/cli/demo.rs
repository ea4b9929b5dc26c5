//! `healbot demo`: placeholder while the subcommand is written (replace this file whole).

use clap::Args;
use std::process::ExitCode;

#[derive(Args)]
pub struct DemoArgs {}

pub async fn run(_: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("healbot demo is not built yet")
}
