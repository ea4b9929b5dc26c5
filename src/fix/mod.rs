//! The fix stage: from a [`Localization`] and the incident's error pattern to one validated
//! [`Patch`]. Candidates are tried in rank order and, at each, the templates that fix the
//! pattern, most confident first; the first template that matches and whose patched file still
//! parses wins. Knows nothing of the stages after it (plan, gates, PR).
//!
//! [`candidates`] widens this to every kind of fix, in SapFix's order: a revert of the commit
//! the incident followed, then templates; config changes come before templates for the
//! operational patterns a setting fixes. [`config_candidates`] offers config fixes alone, for
//! an incident with no code location.

pub mod config;
pub mod diff;
pub mod engine;
pub mod error_path;
pub mod placeholder;
pub mod revert_cause;
pub mod sandbox;
pub mod search;
pub mod selftest;
pub mod template;
pub mod validate;

pub use engine::{apply, ApplyError, Patch};
pub use sandbox::{CheckRefused, Sandbox, SandboxStatus};
pub use selftest::{run_template_tests, CaseOutcome};
pub use template::{
    embedded_templates, load_templates, parse_template, FixTemplate, Risk, TemplateError,
};
pub use validate::{
    check_source, check_syntax, run_check, CheckOutcome, CheckRequest, ValidationError,
};

use crate::localize::Localization;
use config::{AppliedConfigFix, ConfigBounds, ConfigContext, ConfigFixError, ConfigPatch};
use revert_cause::{Revert, RevertMode};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum FixError {
    #[error("no fix template has id `{0}`")]
    UnknownTemplate(String),
    #[error("no fix template fixes the error pattern `{0}`")]
    NoTemplateFor(String),
    #[error("the localization has no candidate location")]
    NoCandidates,
    #[error("no template applies: {}", attempts.join("; "))]
    NoMatch { attempts: Vec<String> },
}

/// Proposes a patch for the localized fault. `pattern` is an error pattern id
/// (`null_dereference`); `prefer` forces one template by id, whatever its patterns.
pub fn propose(
    repo: &Path,
    localization: &Localization,
    pattern: &str,
    templates: &[FixTemplate],
    prefer: Option<&str>,
) -> Result<Patch, FixError> {
    let mut eligible: Vec<&FixTemplate> = match prefer {
        Some(id) => vec![templates
            .iter()
            .find(|t| t.id == id)
            .ok_or_else(|| FixError::UnknownTemplate(id.to_string()))?],
        None => templates.iter().filter(|t| t.fixes(pattern)).collect(),
    };
    if eligible.is_empty() {
        return Err(FixError::NoTemplateFor(pattern.to_string()));
    }
    if localization.candidates.is_empty() {
        return Err(FixError::NoCandidates);
    }
    // Most confident first; the id breaks ties so the order never depends on load order.
    eligible.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then_with(|| a.id.cmp(&b.id))
    });

    let mut attempts = Vec::new();
    for candidate in &localization.candidates {
        let path = repo.join(&candidate.file);
        let language = template::TemplateLanguage::of_path(&path);
        let source = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) => {
                attempts.push(format!("{}: cannot read: {e}", candidate.file));
                continue;
            }
        };
        for t in eligible.iter().filter(|t| Some(t.language) == language) {
            match apply(
                t,
                &candidate.file,
                &source,
                candidate.line,
                candidate.expression.as_deref(),
            ) {
                Ok(patch) => return Ok(patch),
                Err(e) => attempts.push(format!("{}:{}: {e}", candidate.file, candidate.line)),
            }
        }
    }
    if attempts.is_empty() {
        attempts.push("no candidate is in a language the templates cover".into());
    }
    Err(FixError::NoMatch { attempts })
}

/// A fix of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Fix {
    Revert(Revert),
    Template(Patch),
    Config(ConfigPatch),
}

impl Fix {
    /// The patches to commit, one per file.
    pub fn patches(&self) -> Vec<Patch> {
        match self {
            Fix::Revert(r) => r.patches(),
            Fix::Template(p) => vec![p.clone()],
            Fix::Config(c) => vec![c.clone().into_patch()],
        }
    }
}

impl Fix {
    /// One line for people: what the fix is (`revert of 1a2b3c4d5e (…)`, `template
    /// python.none-guard at app.py:12`, `config pool-size in values.yaml`).
    pub fn describe(&self) -> String {
        match self {
            Fix::Revert(r) => format!(
                "revert of {} ({}){}",
                &r.sha[..r.sha.len().min(10)],
                r.summary,
                match r.mode {
                    RevertMode::Full => "",
                    RevertMode::Hunk => ", faulty hunk only",
                }
            ),
            Fix::Template(p) => format!("template {} at {}:{}", p.template_id, p.file, p.line),
            Fix::Config(c) => format!(
                "config {} `{}` in {}: {} → {}",
                c.kind, c.path, c.file, c.old_value, c.new_value
            ),
        }
    }

    /// Files the fix deletes (only a revert of a commit that added them does).
    pub fn deleted(&self) -> Vec<String> {
        match self {
            Fix::Revert(r) => r
                .files
                .iter()
                .filter(|f| f.deleted)
                .map(|f| f.file.clone())
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A fix worth trying and why it is where it is in the order.
#[derive(Debug, Clone, PartialEq)]
pub struct FixCandidate {
    pub fix: Fix,
    pub reason: String,
}

/// What [`candidates`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct CandidateInput<'a> {
    pub repo: &'a Path,
    pub localization: &'a Localization,
    /// The error pattern id (`null_dereference`, `oom_killed`, …).
    pub pattern: &'a str,
    pub templates: &'a [FixTemplate],
    /// When the incident started (unix seconds); no revert is tried without it.
    pub incident_start: Option<i64>,
    /// How long before the incident a commit still counts as its suspect.
    pub revert_window_secs: i64,
    pub service: &'a str,
    /// Config files to consider, relative to `repo` (Helm values, manifests, app config).
    pub config_files: &'a [String],
    /// Config fixes applied before, for the recurrence check.
    pub history: &'a [AppliedConfigFix],
    pub bounds: &'a ConfigBounds,
}

/// The ordered candidates, and what was considered but not offered.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Candidates {
    pub candidates: Vec<FixCandidate>,
    /// Why a kind of fix was not offered (no suspect commit, a revert conflict, …).
    pub skipped: Vec<String>,
    /// Set when a config fix would repeat itself too often: the incident goes to a person.
    pub escalation: Option<String>,
}

/// Every fix worth trying, best first: the revert of the commit that changed a localized line
/// shortly before the incident (hunk, then whole commit), then the template patch and the
/// config fixes. For an operational pattern (timeout, exhausted pool, OOM, …) the config
/// change comes before the code change: the setting is what ran out, and raising it within
/// policy bounds is the smaller, more reversible step.
pub fn candidates(input: &CandidateInput<'_>) -> Candidates {
    let mut out = Candidates::default();
    add_reverts(input, &mut out);
    let config_first = config::is_config_pattern(input.pattern);
    if config_first {
        add_config(&input.config(), &mut out);
    }
    match propose(
        input.repo,
        input.localization,
        input.pattern,
        input.templates,
        None,
    ) {
        Ok(patch) => out.candidates.push(FixCandidate {
            reason: format!(
                "template {} matches {}:{} for `{}`",
                patch.template_id, patch.file, patch.line, input.pattern
            ),
            fix: Fix::Template(patch),
        }),
        Err(e) => out.skipped.push(format!("template: {e}")),
    }
    out
}

impl<'a> CandidateInput<'a> {
    /// The part of the input config fixes look at.
    pub fn config(&self) -> ConfigInput<'a> {
        ConfigInput {
            repo: self.repo,
            pattern: self.pattern,
            service: self.service,
            config_files: self.config_files,
            history: self.history,
            bounds: self.bounds,
        }
    }
}

/// What config fixes look at: the service's config files, no code location.
#[derive(Debug, Clone, Copy)]
pub struct ConfigInput<'a> {
    pub repo: &'a Path,
    /// The error pattern id; its kinds ([`config::kinds_for`]) are the settings to raise.
    pub pattern: &'a str,
    pub service: &'a str,
    /// Relative to `repo`.
    pub config_files: &'a [String],
    pub history: &'a [AppliedConfigFix],
    pub bounds: &'a ConfigBounds,
}

/// Config fixes only, for an incident with no code location (a slow service without a stack
/// trace): no revert or template can be placed without one. Ordered by the pattern's kinds
/// (for `high_latency`: replicas, CPU limit, timeout) across files, then file order. Empty,
/// with the reasons in `skipped`, when no file has a setting to raise.
pub fn config_candidates(input: &ConfigInput<'_>) -> Candidates {
    let mut out = Candidates::default();
    let kinds = config::kinds_for(input.pattern);
    if kinds.is_empty() {
        out.skipped.push(format!(
            "config: no setting fixes the error pattern `{}`",
            input.pattern
        ));
        return out;
    }
    if input.config_files.is_empty() {
        out.skipped.push(format!(
            "config: `{}` declares no config files (`manifests` in .github/healbot.yml)",
            input.service
        ));
        return out;
    }
    add_config(input, &mut out);
    // Stable: within a kind, the order of the files as declared.
    out.candidates.sort_by_key(|c| match &c.fix {
        Fix::Config(p) => kinds.iter().position(|k| *k == p.kind),
        _ => None,
    });
    out
}

fn add_reverts(input: &CandidateInput<'_>, out: &mut Candidates) {
    let Some(start) = input.incident_start else {
        out.skipped
            .push("revert: the incident has no start time".into());
        return;
    };
    for c in &input.localization.candidates {
        let suspect = match revert_cause::find_suspect(
            input.repo,
            &c.file,
            c.line,
            start,
            input.revert_window_secs,
        ) {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(e) => {
                out.skipped.push(format!("revert: {e}"));
                continue;
            }
        };
        let why = format!(
            "the incident started {}s after {} ({}) changed {}:{}",
            start - suspect.time,
            &suspect.sha[..suspect.sha.len().min(10)],
            suspect.summary,
            c.file,
            c.line
        );
        let mut hunk_diff = None;
        for mode in [RevertMode::Hunk, RevertMode::Full] {
            match revert_cause::revert(input.repo, &suspect, mode) {
                // A full revert that equals the hunk revert is the plain `git revert`: it
                // takes the hunk's place, so the commit says what it is.
                Ok(r) if hunk_diff.as_ref() == Some(&r.diff) => {
                    if let Some(last) = out.candidates.last_mut() {
                        last.reason = format!("revert of the whole commit: {why}");
                        last.fix = Fix::Revert(r);
                    }
                }
                Ok(r) => {
                    hunk_diff.get_or_insert_with(|| r.diff.clone());
                    let what = match mode {
                        RevertMode::Hunk => "revert of the faulty hunk",
                        RevertMode::Full => "revert of the whole commit",
                    };
                    out.candidates.push(FixCandidate {
                        reason: format!("{what}: {why}"),
                        fix: Fix::Revert(r),
                    });
                }
                Err(e) => out.skipped.push(format!("revert: {e}")),
            }
        }
        return;
    }
    out.skipped
        .push("revert: no localized line was changed shortly before the incident".into());
}

fn add_config(input: &ConfigInput<'_>, out: &mut Candidates) {
    let cx = ConfigContext {
        service: input.service,
        pattern: input.pattern,
        history: input.history,
        bounds: input.bounds,
    };
    for file in input.config_files {
        let text = match std::fs::read_to_string(input.repo.join(file)) {
            Ok(t) => t,
            Err(e) => {
                out.skipped
                    .push(format!("config: {file}: cannot read: {e}"));
                continue;
            }
        };
        match config::propose_config(file, &text, &cx) {
            Ok(p) => out.candidates.push(FixCandidate {
                reason: format!(
                    "`{}` is a config pattern: {} `{}` from {} to {}",
                    input.pattern, p.kind, p.path, p.old_value, p.new_value
                ),
                fix: Fix::Config(p),
            }),
            Err(e @ ConfigFixError::Recurring { .. }) => {
                out.escalation = Some(e.to_string());
                return;
            }
            Err(e) => out.skipped.push(format!("config: {e}")),
        }
    }
}

#[cfg(test)]
mod tests;
