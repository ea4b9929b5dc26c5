//! `healbot policy`: checks a policy directory (and a repository's `.github/healbot.yml`)
//! before it is deployed, so a bad threshold is caught in review rather than in an incident.
//! Success is one summary line on stdout; a bad file is one line naming the file and field.

use super::format::Format;
use crate::config::{PolicySet, RepoConfig};
use anyhow::Context;
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy directory: every file present, strict fields, values in range.
    Check {
        /// The directory holding risk.yaml, gates.yaml, … (default: policies)
        dir: Option<PathBuf>,
        /// `text` (one line) or `json` (`{"path", "ok", "summary"|"error"}`; exit 1 when not ok).
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Validate a repository's .github/healbot.yml and check it only tightens the policies.
    CheckRepo {
        /// The repository's .github/healbot.yml.
        file: PathBuf,
        /// The policy directory it tightens (default: the policies built into healbot).
        #[arg(long)]
        policies: Option<PathBuf>,
        /// `text` (one line) or `json` (`{"path", "ok", "summary"|"error"}`; exit 1 when not ok).
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

pub async fn run(cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    let (path, format, checked) = match cmd {
        PolicyCommand::Check { dir, format } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from("policies"));
            let checked = PolicySet::load(&dir)
                .map(|set| set.summary())
                .map_err(anyhow::Error::from);
            (dir, format, checked)
        }
        PolicyCommand::CheckRepo {
            file,
            policies,
            format,
        } => {
            let checked = check_repo(&file, policies.as_deref());
            (file, format, checked)
        }
    };
    match (format, checked) {
        (Format::Text, Ok(summary)) => println!("{}: ok: {summary}", path.display()),
        (Format::Text, Err(e)) => return Err(e),
        (Format::Json, checked) => {
            let mut report = serde_json::json!({"path": path, "ok": checked.is_ok()});
            match &checked {
                Ok(summary) => report["summary"] = summary.clone().into(),
                Err(e) => report["error"] = format!("{e:#}").into(),
            }
            println!("{}", serde_json::to_string_pretty(&report)?);
            if checked.is_err() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check_repo(file: &Path, policies: Option<&Path>) -> anyhow::Result<String> {
    let base = match policies {
        Some(dir) => PolicySet::load(dir)?,
        None => PolicySet::embedded(),
    };
    let config = RepoConfig::load(file)?;
    if let Some(policy) = &config.policy {
        policy
            .apply_to(&base)
            .with_context(|| file.display().to_string())?;
    }
    let names: Vec<&str> = config.services.iter().map(|s| s.name.as_str()).collect();
    Ok(format!(
        "services {}; validation `{}` ({} s); approvers need {}",
        names.join(", "),
        config.validation.command,
        config.validation.timeout_seconds,
        format!("{:?}", config.approvers.permission).to_lowercase(),
    ))
}
