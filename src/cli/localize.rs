//! `healbot localize`: maps a stack trace to ranked code locations in a repository, so a person
//! (or a script) can see where healbot would look before any fix is proposed.

use crate::localize::{localize, Candidate};
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct LocalizeArgs {
    /// The repository the trace's code comes from.
    #[arg(long)]
    pub repo: PathBuf,
    /// A file holding the stack trace (Python traceback or Rust panic).
    #[arg(long)]
    pub trace: PathBuf,
    /// How many candidate locations to print.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub top: u64,
    /// `text` for people or `json` for scripts.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub async fn run(args: LocalizeArgs) -> anyhow::Result<ExitCode> {
    let trace = std::fs::read_to_string(&args.trace)
        .with_context(|| format!("cannot read the trace {}", args.trace.display()))?;
    if !args.repo.is_dir() {
        anyhow::bail!("the repository {} is not a directory", args.repo.display());
    }
    let top = usize::try_from(args.top).unwrap_or(usize::MAX);
    let candidates = localize(&args.repo, &trace, top)
        .with_context(|| format!("cannot localize {}", args.trace.display()))?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&candidates)?),
        Format::Text => print!("{}", text(&candidates)),
    }
    Ok(ExitCode::SUCCESS)
}

fn text(candidates: &[Candidate]) -> String {
    if candidates.is_empty() {
        return "no frame of the trace maps to a file in the repository\n".into();
    }
    let mut out = String::new();
    for (i, c) in candidates.iter().enumerate() {
        out.push_str(&format!(
            "{}. {}:{}  {}  score {:.2}\n   {}\n",
            i + 1,
            c.file,
            c.line,
            c.function,
            c.score,
            c.reason
        ));
    }
    out
}
