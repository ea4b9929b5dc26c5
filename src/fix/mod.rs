//! The fix stage: from a [`Localization`] and the incident's error pattern to one validated
//! [`Patch`]. Candidates are tried in rank order and, at each, the templates that fix the
//! pattern, most confident first; the first template that matches and whose patched file still
//! parses wins. Knows nothing of the stages after it (plan, gates, PR).

pub mod engine;
pub mod placeholder;
pub mod selftest;
pub mod template;
pub mod validate;

pub use engine::{apply, ApplyError, Patch};
pub use selftest::{run_template_tests, CaseOutcome};
pub use template::{
    embedded_templates, load_templates, parse_template, FixTemplate, Risk, TemplateError,
};
pub use validate::{check_source, check_syntax, run_check, CheckOutcome, ValidationError};

use crate::localize::Localization;
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

#[cfg(test)]
mod tests;
