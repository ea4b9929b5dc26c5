//! `healbot fix` on any repository: from a trace to the first patch that holds. Localize,
//! then the candidates in SapFix's order (the revert of a recent commit that changed a
//! localized line, the templates that fit the fault at each location, the config fixes of the
//! repository's `.github/healbot.yml`), each tried in one isolated copy of the repository:
//! written, re-parsed, then the check command run through [`run_check`] (the one entry point,
//! so its sandbox applies), then undone. The first that passes is the answer. A patch never
//! touches a test, the reproducer the check command names, or a file outside the repository.

use super::config::ConfigBounds;
use super::revert_cause::{Revert, RevertMode};
use super::sandbox::Sandbox;
use super::template::{FixTemplate, TemplateLanguage};
use super::validate::{check_syntax, run_check, CheckRequest, ValidationError};
use super::{apply, CandidateInput, Fix, Patch};
use crate::localize::{self, Fault, Localization, LocalizeError};
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long before the newest commit a commit still counts as the suspect of a revert.
const REVERT_WINDOW_SECS: i64 = 7 * 24 * 3600;

/// What `healbot fix` is given.
pub struct SearchInput<'a> {
    pub repo: &'a Path,
    pub trace: &'a str,
    /// Run in the patched copy; without one, a patch that re-parses counts.
    pub check: Option<&'a str>,
    /// How many localized candidates to try fixes at.
    pub top: usize,
    /// How many patches to validate at most.
    pub max_attempts: usize,
    /// Per run of the check command.
    pub timeout: Duration,
    pub templates: &'a [FixTemplate],
    /// Where the check runs: the repository's code is never trusted.
    pub sandbox: &'a Sandbox,
    /// Told what runs now (the baseline check, each patch validated), for a progress display.
    pub progress: Option<&'a (dyn Fn(&str) + Send + Sync)>,
}

/// The result, in the JSON shape of the contract.
#[derive(Debug, Clone, Serialize)]
pub struct SearchReport {
    pub validated: bool,
    pub fix: Option<FixRef>,
    pub diff: String,
    pub check: Option<CheckReport>,
    pub candidates: Vec<CandidateReport>,
    /// What was considered and not offered, and warnings (not part of the contract).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(skip)]
    pub localization: Option<Localization>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FixRef {
    /// `revert`, `template` or `config`.
    pub kind: &'static str,
    pub template: Option<String>,
    pub file: String,
    pub line: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub command: String,
    pub exit_code: Option<i32>,
    pub seconds: f64,
    /// The check on the unpatched copy: when it passes too, it does not tell a fix.
    pub baseline_exit_code: Option<i32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CandidateReport {
    pub kind: &'static str,
    pub template: Option<String>,
    pub file: String,
    pub line: u32,
    /// `validated`, `check failed (exit 1)`, `does not parse: …`, `not tried`, …
    pub outcome: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Localize(#[from] LocalizeError),
    #[error("cannot make the validation copy of {}: {source}", repo.display())]
    Worktree {
        repo: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One fix to try.
struct Attempt {
    fix: Fix,
    report: CandidateReport,
}

/// Localizes the trace, tries the candidates in order and reports the first that validates.
pub async fn search(input: &SearchInput<'_>) -> Result<SearchReport, SearchError> {
    let localization = localize::localize_detailed(input.repo, input.trace, input.top)?;
    let mut report = SearchReport {
        validated: false,
        fix: None,
        diff: String::new(),
        check: None,
        candidates: Vec::new(),
        notes: Vec::new(),
        localization: None,
    };
    if localization.candidates.is_empty() {
        report
            .notes
            .push("no frame of the trace maps to a file in the repository".into());
        report.localization = Some(localization);
        return Ok(report);
    }
    let protected = Protected::new(input.repo, input.check);
    let mut attempts = attempts(input, &localization, &protected, &mut report.notes);
    attempts.truncate(input.max_attempts);
    if attempts.is_empty() {
        report.localization = Some(localization);
        return Ok(report);
    }
    let copy = tempfile::Builder::new()
        .prefix("healbot-fix-")
        .tempdir()
        .map_err(|source| SearchError::Worktree {
            repo: input.repo.to_path_buf(),
            source,
        })?;
    let tree = copy.path().join("repo");
    copy_tree(input.repo, &tree).map_err(|source| SearchError::Worktree {
        repo: input.repo.to_path_buf(),
        source,
    })?;
    let say = |text: &str| {
        if let Some(progress) = input.progress {
            progress(text);
        }
    };
    let baseline = match input.check {
        Some(cmd) => {
            say(&format!("running `{cmd}` on the unpatched copy"));
            let outcome =
                run_check(input.sandbox, CheckRequest::new(&tree, cmd, input.timeout)).await;
            if outcome.passed {
                report.notes.push(format!(
                    "the check `{cmd}` passes without any patch too: it shows a patch builds and passes, not that it fixes the fault"
                ));
            }
            Some(outcome.exit_code)
        }
        None => None,
    };
    let total = attempts.len();
    let mut tried = attempts.into_iter().enumerate();
    for (i, attempt) in tried.by_ref() {
        let mut attempt = attempt;
        let r = &attempt.report;
        say(&format!(
            "validating patch {}/{total}: {} at {}:{}",
            i + 1,
            r.template.as_deref().unwrap_or(r.kind),
            r.file,
            r.line
        ));
        let result = try_one(&tree, &attempt.fix, input).await;
        match result {
            Ok(check) => {
                attempt.report.outcome = "validated".into();
                report.validated = true;
                report.fix = Some(FixRef {
                    kind: attempt.report.kind,
                    template: attempt.report.template.clone(),
                    file: attempt.report.file.clone(),
                    line: attempt.report.line,
                });
                report.diff = diff_of(&attempt.fix);
                report.check = check.map(|(exit_code, seconds)| CheckReport {
                    command: input.check.unwrap_or_default().to_string(),
                    exit_code,
                    seconds,
                    baseline_exit_code: baseline.flatten(),
                });
                report.candidates.push(attempt.report);
                break;
            }
            Err(why) => {
                attempt.report.outcome = why;
                report.candidates.push(attempt.report);
            }
        }
    }
    for (_, mut rest) in tried {
        rest.report.outcome = "not tried".into();
        report.candidates.push(rest.report);
    }
    report.localization = Some(localization);
    Ok(report)
}

/// Writes the fix into the copy, re-parses what changed, runs the check, and undoes it all.
/// `Ok` with the check's exit code and seconds (none without a check) when it holds.
async fn try_one(
    tree: &Path,
    fix: &Fix,
    input: &SearchInput<'_>,
) -> Result<Option<(Option<i32>, f64)>, String> {
    let patches = fix.patches();
    let deleted = fix.deleted();
    let undo = |tree: &Path| {
        for p in &patches {
            let path = tree.join(&p.file);
            if p.original.is_empty() && !path.exists() {
                continue;
            }
            let _ = std::fs::write(&path, &p.original);
        }
    };
    for p in &patches {
        let path = tree.join(&p.file);
        let written = if deleted.contains(&p.file) {
            std::fs::remove_file(&path)
        } else {
            path.parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|_| std::fs::write(&path, &p.patched))
        };
        if let Err(e) = written {
            undo(tree);
            return Err(format!("cannot write {}: {e}", p.file));
        }
        if deleted.contains(&p.file) {
            continue;
        }
        match check_syntax(&p.file, &p.patched) {
            Ok(()) | Err(ValidationError::Unsupported { .. }) => {}
            Err(e) => {
                undo(tree);
                return Err(format!("does not parse: {e}"));
            }
        }
    }
    let result = match input.check {
        None => Ok(None),
        Some(cmd) => {
            let outcome =
                run_check(input.sandbox, CheckRequest::new(tree, cmd, input.timeout)).await;
            let seconds = outcome.duration.as_secs_f64();
            if outcome.passed {
                Ok(Some((outcome.exit_code, seconds)))
            } else if outcome.timed_out {
                Err(format!(
                    "check timed out after {:.0} s",
                    input.timeout.as_secs_f64()
                ))
            } else {
                let last = outcome
                    .output_tail
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or_default();
                Err(match outcome.exit_code {
                    Some(code) => format!("check failed (exit {code}): {}", short(last)),
                    None => format!("check did not finish: {}", short(last)),
                })
            }
        }
    };
    undo(tree);
    for p in &patches {
        if deleted.contains(&p.file) {
            let _ = std::fs::write(tree.join(&p.file), &p.original);
        }
    }
    result
}

fn short(line: &str) -> String {
    let t = line.trim();
    if t.chars().count() > 160 {
        format!("{}…", t.chars().take(159).collect::<String>())
    } else {
        t.to_string()
    }
}

/// Every fix to try, in order: reverts (the history names the cause), then for each localized
/// candidate the templates that fit its language and the fault, most confident first, then
/// config fixes (before the templates for operational patterns).
fn attempts(
    input: &SearchInput<'_>,
    loc: &Localization,
    protected: &Protected,
    notes: &mut Vec<String>,
) -> Vec<Attempt> {
    let patterns = patterns(input.trace, &Fault::of(&loc.trace));
    let primary = patterns
        .first()
        .cloned()
        .unwrap_or_else(|| "unknown".into());
    let repo_config =
        crate::config::repo::RepoConfig::load(&input.repo.join(".github/healbot.yml")).ok();
    let config_files: Vec<String> = repo_config
        .as_ref()
        .map(|c| {
            c.services
                .iter()
                .flat_map(|s| s.manifests.clone())
                .collect()
        })
        .unwrap_or_default();
    let bounds = ConfigBounds::embedded().ok();
    let mut out: Vec<Attempt> = Vec::new();
    let mut config_out: Vec<Attempt> = Vec::new();
    if let Some(bounds) = &bounds {
        let head_time = head_time(input.repo);
        let found = super::candidates(&CandidateInput {
            repo: input.repo,
            localization: loc,
            pattern: &primary,
            templates: &[],
            incident_start: head_time.map(|t| t + 1),
            revert_window_secs: REVERT_WINDOW_SECS,
            service: repo_config
                .as_ref()
                .and_then(|c| c.services.first())
                .map_or("", |s| s.name.as_str()),
            config_files: &config_files,
            history: &[],
            bounds,
        });
        for c in found.candidates {
            let report = match &c.fix {
                Fix::Revert(r) => revert_report(r),
                Fix::Config(p) => CandidateReport {
                    kind: "config",
                    template: Some(format!("config.{}", p.kind)),
                    file: p.file.clone(),
                    line: p.line,
                    outcome: String::new(),
                },
                Fix::Template(_) => continue,
            };
            if let Some(file) = c
                .fix
                .patches()
                .iter()
                .map(|p| p.file.clone())
                .find(|f| protected.blocks(f))
            {
                notes.push(format!(
                    "{}: not offered, it touches {file} (a test, the reproducer or a dependency)",
                    c.fix.describe()
                ));
                continue;
            }
            let attempt = Attempt { fix: c.fix, report };
            match attempt.report.kind {
                "config" => config_out.push(attempt),
                _ => out.push(attempt),
            }
        }
        notes.extend(
            found
                .skipped
                .into_iter()
                .filter(|s| !s.starts_with("template:")),
        );
        if let Some(e) = found.escalation {
            notes.push(e);
        }
    }
    let config_first = super::config::is_config_pattern(&primary);
    if config_first {
        out.append(&mut config_out);
    }
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut eligible: Vec<&FixTemplate> = input
        .templates
        .iter()
        .filter(|t| patterns.iter().any(|p| t.fixes(p)))
        .collect();
    eligible.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then_with(|| a.id.cmp(&b.id))
    });
    for candidate in &loc.candidates {
        if protected.blocks(&candidate.file) {
            notes.push(format!(
                "{}:{}: no patch there, it is a test, the reproducer or a dependency",
                candidate.file, candidate.line
            ));
            continue;
        }
        let language = TemplateLanguage::of_path(Path::new(&candidate.file));
        let Ok(source) = std::fs::read_to_string(input.repo.join(&candidate.file)) else {
            continue;
        };
        for t in eligible.iter().filter(|t| Some(t.language) == language) {
            let expression = candidate.expression.as_deref();
            // The expression names the value at the raise site; elsewhere on the line the
            // template's own match decides.
            let patch = apply(t, &candidate.file, &source, candidate.line, expression)
                .or_else(|_| apply(t, &candidate.file, &source, candidate.line, None));
            let Ok(patch) = patch else { continue };
            if !seen.insert((patch.file.clone(), patch.patched.clone())) {
                continue;
            }
            out.push(template_attempt(patch));
        }
    }
    if !config_first {
        out.append(&mut config_out);
    }
    if out.is_empty() {
        notes.push(format!(
            "no revert, template or config fix applies at the {} localized candidates (error patterns: {})",
            loc.candidates.len(),
            patterns.join(", ")
        ));
    }
    out
}

fn template_attempt(patch: Patch) -> Attempt {
    let report = CandidateReport {
        kind: "template",
        template: Some(patch.template_id.clone()),
        file: patch.file.clone(),
        line: patch.line,
        outcome: String::new(),
    };
    Attempt {
        fix: Fix::Template(patch),
        report,
    }
}

fn revert_report(r: &Revert) -> CandidateReport {
    let first = r.files.first();
    CandidateReport {
        kind: "revert",
        template: Some(
            match r.mode {
                RevertMode::Full => "revert.full",
                RevertMode::Hunk => "revert.hunk",
            }
            .into(),
        ),
        file: first.map(|f| f.file.clone()).unwrap_or_default(),
        line: 0,
        outcome: String::new(),
    }
}

/// The unified diff of a fix, every file's in turn.
fn diff_of(fix: &Fix) -> String {
    match fix {
        Fix::Revert(r) => r.diff.clone(),
        _ => fix.patches().iter().map(|p| p.diff.as_str()).collect(),
    }
}

/// The newest commit's time, for judging which commit is recent.
fn head_time(repo: &Path) -> Option<i64> {
    let git = git2::Repository::open(repo).ok()?;
    let head = git.head().ok()?.peel_to_commit().ok()?;
    Some(head.time().seconds())
}

/// The error patterns whose templates fit the trace: the classifier's, then the fault's.
fn patterns(trace: &str, fault: &Fault) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let classified = crate::detect::pattern::classify(trace);
    if classified.pattern != crate::detect::ErrorPattern::Unknown {
        out.push(classified.pattern.id().to_string());
    }
    let from_fault: &[&str] = match fault {
        Fault::NoneAttribute { .. } => &["null_dereference"],
        Fault::NoneValue => &["unwrap_on_none", "null_dereference"],
        Fault::ErrValue { .. } => &["unwrap_on_err"],
        Fault::MissingKey { .. } => &["key_error"],
        Fault::IndexOutOfRange { .. } | Fault::CheckedCall { .. } => &["index_out_of_range"],
        Fault::BadSlice => &["char_boundary", "index_out_of_range"],
        Fault::DivisionByZero => &["division_by_zero"],
        Fault::Overflow { .. } => &["overflow"],
        Fault::Borrow => &["refcell_borrow"],
        Fault::Assertion { .. } => &["assertion_failed"],
        Fault::Other => &[],
    };
    for p in from_fault {
        if !out.iter().any(|o| o == p) {
            out.push((*p).to_string());
        }
    }
    out
}

/// Files a patch must not touch: tests, the files the check command names (the reproducer),
/// vendored and installed dependencies.
struct Protected {
    named: Vec<String>,
}

impl Protected {
    fn new(repo: &Path, check: Option<&str>) -> Self {
        let named = check
            .map(|c| {
                c.split(|ch: char| ch.is_whitespace() || ch == ';' || ch == '&' || ch == '|')
                    .map(|t| {
                        t.trim_matches(['"', '\''])
                            .trim_start_matches("./")
                            .to_string()
                    })
                    .filter(|t| !t.is_empty() && !t.starts_with('-'))
                    .filter(|t| {
                        // A path in the repository, or a bare name like `--example repro`.
                        repo.join(t).is_file() || !t.contains('/') && !t.contains('.')
                    })
                    .collect()
            })
            .unwrap_or_default();
        Protected { named }
    }

    fn blocks(&self, file: &str) -> bool {
        let stem = Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let dependency = [
            "vendor/",
            "node_modules/",
            "third_party/",
            "site-packages/",
            ".venv/",
        ]
        .iter()
        .any(|d| file.starts_with(d) || file.contains(&format!("/{d}")));
        let reproducer = self.named.iter().any(|n| {
            n == file
                || n.ends_with(&format!("/{file}"))
                || (!n.contains('/') && !n.contains('.') && n == stem && is_example(file))
        });
        file.split('/').any(|c| c == "..")
            || crate::localize::paths::is_test_path(file)
            || dependency
            || reproducer
    }
}

/// `examples/x.rs`, `bin/x.py`: programs a check runs by name.
fn is_example(file: &str) -> bool {
    file.starts_with("examples/")
        || file.contains("/examples/")
        || file.contains("/bin/")
        || file.starts_with("bin/")
}

/// A copy of the repository to validate in: everything but `.git` and build output, with
/// installed dependency folders linked rather than copied.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    const LINK: &[&str] = &["node_modules", ".venv", "venv"];
    // Cargo's build output, next to its manifest.
    let cargo_target = from.join("Cargo.toml").is_file();
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        let src = entry.path();
        let dst = to.join(&name);
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            let target = std::fs::read_link(&src)?;
            #[cfg(unix)]
            std::os::unix::fs::symlink(&target, &dst)?;
            continue;
        }
        if kind.is_dir() {
            if name_str == ".git" || cargo_target && name_str == "target" {
                continue;
            }
            if LINK.contains(&name_str.as_ref()) {
                #[cfg(unix)]
                std::os::unix::fs::symlink(&src, &dst)?;
                continue;
            }
            copy_tree(&src, &dst)?;
        } else if kind.is_file() {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
