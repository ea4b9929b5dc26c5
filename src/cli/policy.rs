//! `healbot policy`: checks a policy directory (and a repository's `.github/healbot.yml`)
//! before it is deployed, so a bad threshold is caught in review rather than in an incident.
//! Success is one summary line on stdout; a bad file is one line naming the file and field.

use crate::config::{PolicySet, RepoConfig};
use anyhow::Context;
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy directory: every file present, strict fields, values in range.
    Check {
        /// The directory holding risk.yaml, gates.yaml, … (default: policies)
        dir: Option<PathBuf>,
    },
    /// Validate a repository's .github/healbot.yml and check it only tightens the policies.
    CheckRepo {
        /// The repository's .github/healbot.yml.
        file: PathBuf,
        /// The policy directory it tightens (default: the policies built into healbot).
        #[arg(long)]
        policies: Option<PathBuf>,
    },
}

pub async fn run(cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Check { dir } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from("policies"));
            let set = PolicySet::load(&dir)?;
            println!("{}: ok: {}", dir.display(), set.summary());
        }
        PolicyCommand::CheckRepo { file, policies } => {
            let base = match policies {
                Some(dir) => PolicySet::load(&dir)?,
                None => PolicySet::embedded(),
            };
            let config = RepoConfig::load(&file)?;
            if let Some(policy) = &config.policy {
                policy
                    .apply_to(&base)
                    .with_context(|| file.display().to_string())?;
            }
            let names: Vec<&str> = config.services.iter().map(|s| s.name.as_str()).collect();
            println!(
                "{}: ok: services {}; validation `{}` ({} s); approvers need {}",
                file.display(),
                names.join(", "),
                config.validation.command,
                config.validation.timeout_seconds,
                format!("{:?}", config.approvers.permission).to_lowercase(),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
