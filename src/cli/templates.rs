//! `healbot templates`: lists the fix templates and runs their before → after cases, so a team
//! can check its own templates (`--dir`) before healbot uses them on production code.

use super::format::Format;
use crate::fix::{embedded_templates, load_templates, run_template_tests, FixTemplate};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum TemplatesCommand {
    /// List the templates: id, patterns, confidence, risk, description.
    List {
        /// A directory of templates instead of the built-in ones.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// `text` (aligned columns) or `json`.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Run the templates' test cases; exit 1 when one fails.
    Test {
        /// A directory of templates instead of the built-in ones.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Only this template (its id, as `templates list` prints it).
        id: Option<String>,
    },
}

pub async fn run(cmd: TemplatesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TemplatesCommand::List { dir, format } => {
            let all = templates(dir.as_deref())?;
            if format == Format::Json {
                let rows: Vec<serde_json::Value> = all
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "id": t.id,
                            "patterns": t.patterns.iter().map(|p| p.id()).collect::<Vec<_>>(),
                            "confidence": t.confidence,
                            "risk": t.risk.to_string(),
                            "description": t.description,
                            "source": t.source.to_string(),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(ExitCode::SUCCESS);
            }
            for t in all {
                let patterns: Vec<&str> = t.patterns.iter().map(|p| p.id()).collect();
                println!(
                    "{:<32} {:<40} confidence {:.2}  risk {:<6}  {}",
                    t.id,
                    patterns.join(","),
                    t.confidence,
                    t.risk,
                    t.description
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        TemplatesCommand::Test { dir, id } => {
            let mut all = templates(dir.as_deref())?;
            if let Some(id) = &id {
                all.retain(|t| &t.id == id);
                if all.is_empty() {
                    anyhow::bail!("no template has id `{id}`");
                }
            }
            let (mut passed, mut failed) = (0, 0);
            for t in &all {
                for outcome in run_template_tests(t) {
                    match outcome.detail {
                        None => {
                            passed += 1;
                            println!("ok    {} / {}", outcome.template, outcome.case);
                        }
                        Some(detail) => {
                            failed += 1;
                            println!(
                                "FAIL  {} / {} ({})",
                                outcome.template, outcome.case, t.source
                            );
                            for line in detail.lines() {
                                println!("      {line}");
                            }
                        }
                    }
                }
            }
            println!("{passed} passed, {failed} failed");
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn templates(dir: Option<&Path>) -> anyhow::Result<Vec<FixTemplate>> {
    Ok(match dir {
        Some(dir) => load_templates(dir)?,
        None => embedded_templates()?,
    })
}
