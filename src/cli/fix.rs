//! `healbot fix`: the first validated patch for a trace in any repository, printed as a unified
//! diff (or the JSON contract). It is the whole repair step without the operation around it
//! (no PR, no canary), so a person or a script can see what healbot would propose. Exit 0 with
//! a validated patch, 1 without one, 2 on bad input.

use crate::config::bot::BotConfig;
use crate::config::secrets::{self, Redactor};
use crate::config::validation::ValidationSettings;
use crate::fix::search::{search, SearchInput, SearchReport};
use crate::fix::{embedded_templates, load_templates, FixTemplate, Sandbox};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Bigger than any trace a person pastes or a log holds for one crash.
const MAX_TRACE_BYTES: u64 = 16 << 20;

#[derive(Args)]
pub struct FixArgs {
    /// The repository the trace's code comes from (never modified: patches are tried in a copy).
    #[arg(long)]
    pub repo: PathBuf,
    /// A file holding the stack trace (any runtime healbot reads; log wrapping is tolerated).
    #[arg(long)]
    pub trace: PathBuf,
    /// Run with `sh -c` in the patched copy; a patch counts when it exits 0. Default: the
    /// validation command of the repository's `.github/healbot.yml`; without either, a patch
    /// that re-parses counts.
    #[arg(long)]
    pub check: Option<String>,
    /// How many localized candidates to try fixes at.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub top: u64,
    /// `text` for people, `json` for the contract (`validated`, `fix`, `diff`, `check`,
    /// `candidates`).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// How long one run of the check may take: `10m`, `90s` (a bare number is seconds).
    #[arg(long, default_value = "10m", value_parser = super::duration::parse)]
    pub timeout: Duration,
    /// How many patches to validate at most.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    pub attempts: u64,
    /// A directory of the team's own templates, added to the built-in ones (same id replaces).
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// A healbot.yaml whose `validation:` section sets the check's sandbox, limits and caches
    /// [default: bubblewrap with the default limits; no sandbox → the check does not run].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub async fn run(args: FixArgs) -> anyhow::Result<ExitCode> {
    match read_trace(&args.trace) {
        Ok(trace) => run_on(&args, trace).await,
        Err(why) => bad_input(&why),
    }
}

/// [`run`] with the trace text at hand (`healbot heal --repo` takes it from a bundle).
pub(crate) async fn run_on(args: &FixArgs, trace: String) -> anyhow::Result<ExitCode> {
    let settings = match &args.config {
        Some(path) => BotConfig::load_validation(path)?,
        None => ValidationSettings::default(),
    };
    let sandbox = Sandbox::new(settings, Redactor::new(secrets::taken_values()));
    match prepare(args) {
        Ok((check, templates)) => {
            // Validation can take minutes: what runs now goes to stderr as it happens.
            let display = crate::demo::progress::Sink::for_stderr();
            let say = |text: &str| display.stage(text);
            let input = SearchInput {
                repo: &args.repo,
                trace: &trace,
                check: check.as_deref(),
                top: usize::try_from(args.top).unwrap_or(usize::MAX),
                max_attempts: usize::try_from(args.attempts).unwrap_or(usize::MAX),
                timeout: args.timeout,
                templates: &templates,
                sandbox: &sandbox,
                progress: Some(&say),
            };
            let found = search(&input).await;
            display.finish();
            match found {
                Ok(report) => {
                    match args.format {
                        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
                        Format::Text => print!("{}", text(&report, check.is_some())),
                    }
                    Ok(if report.validated {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    })
                }
                Err(crate::fix::search::SearchError::Localize(e)) => {
                    bad_input(&format!("cannot localize {}: {e}", args.trace.display()))
                }
                Err(e) => Err(e.into()),
            }
        }
        Err(why) => bad_input(&why),
    }
}

/// Bad input: one line on stderr, exit 2.
fn bad_input(why: &str) -> anyhow::Result<ExitCode> {
    eprintln!("error: {why}");
    Ok(ExitCode::from(2))
}

/// The check command and the templates, or what is wrong with the input.
fn prepare(args: &FixArgs) -> Result<(Option<String>, Vec<FixTemplate>), String> {
    if !args.repo.is_dir() {
        return Err(format!(
            "the repository {} is not a directory",
            args.repo.display()
        ));
    }
    let check = match &args.check {
        Some(c) if c.trim().is_empty() => return Err("--check is empty".into()),
        Some(c) => Some(c.clone()),
        None => repo_check(&args.repo),
    };
    let mut templates = embedded_templates().map_err(|e| e.to_string())?;
    if let Some(dir) = &args.templates {
        for t in load_templates(dir).map_err(|e| e.to_string())? {
            templates.retain(|b| b.id != t.id);
            templates.push(t);
        }
    }
    Ok((check, templates))
}

/// The trace file's text (not UTF-8 bytes replaced), within [`MAX_TRACE_BYTES`].
pub(crate) fn read_trace(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read the trace {}: {e}", path.display()))?;
    if meta.len() > MAX_TRACE_BYTES {
        return Err(format!(
            "the trace {} is {} bytes, more than the {MAX_TRACE_BYTES} a trace may be",
            path.display(),
            meta.len()
        ));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read the trace {}: {e}", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The validation command of the repository's own `.github/healbot.yml`.
fn repo_check(repo: &Path) -> Option<String> {
    let config = crate::config::repo::RepoConfig::load(&repo.join(".github/healbot.yml")).ok()?;
    Some(config.validation.command).filter(|c| !c.trim().is_empty())
}

fn text(report: &SearchReport, has_check: bool) -> String {
    let mut out = String::new();
    match &report.fix {
        Some(fix) => {
            let what = match &fix.template {
                Some(t) => format!("{} {t}", fix.kind),
                None => fix.kind.to_string(),
            };
            let how = match &report.check {
                Some(c) => format!("`{}` passed in {:.1} s", c.command, c.seconds),
                None if has_check => "the check passed".into(),
                None => "re-parsed only: pass --check to run tests".into(),
            };
            out.push_str(&format!(
                "validated fix: {what} at {}:{} ({how})\n\n{}",
                fix.file, fix.line, report.diff
            ));
            if !report.diff.ends_with('\n') {
                out.push('\n');
            }
        }
        None => out.push_str("no validated fix\n"),
    }
    if let Some(loc) = &report.localization {
        out.push_str("\nlocalized:\n");
        for (i, c) in loc.candidates.iter().enumerate() {
            out.push_str(&format!(
                "  {}. {}:{}  {}  score {:.2}\n     {}\n",
                i + 1,
                c.file,
                c.line,
                c.function,
                c.score,
                c.reason
            ));
        }
    }
    if !report.candidates.is_empty() {
        out.push_str("\ncandidates:\n");
        for (i, c) in report.candidates.iter().enumerate() {
            out.push_str(&format!(
                "  {}. {} {} {}:{}: {}\n",
                i + 1,
                c.kind,
                c.template.as_deref().unwrap_or("-"),
                c.file,
                c.line,
                c.outcome
            ));
        }
    }
    for note in &report.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}
