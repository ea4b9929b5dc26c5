//! Runs a template's own before → after cases. The same code serves `healbot templates test`
//! and `cargo test`, so a template whose `after` is wrong fails the build, not a production PR.

use super::engine::{apply, ApplyError};
use super::template::FixTemplate;

/// The outcome of one test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseOutcome {
    pub template: String,
    pub case: String,
    pub passed: bool,
    /// Why it failed: the apply error, or a diff from the expected to the actual file.
    pub detail: Option<String>,
}

/// Runs every test case of `template`.
pub fn run_template_tests(template: &FixTemplate) -> Vec<CaseOutcome> {
    let file = template.language.sample_file();
    template
        .tests
        .iter()
        .map(|case| {
            let result = apply(
                template,
                file,
                &case.before,
                case.line,
                case.expression.as_deref(),
            );
            let detail = match (&case.after, result) {
                (Some(after), Ok(patch)) if patch.patched == *after => None,
                (Some(after), Ok(patch)) => Some(
                    similar::TextDiff::from_lines(after.as_str(), patch.patched.as_str())
                        .unified_diff()
                        .header("expected", "actual")
                        .to_string(),
                ),
                (Some(_), Err(e)) => Some(e.to_string()),
                (None, Err(ApplyError::NoMatch { .. } | ApplyError::NoErrorValue { .. })) => None,
                (None, Err(e)) => Some(format!("expected no match, got an error: {e}")),
                (None, Ok(patch)) => Some(format!(
                    "expected no match, but it applied:\n{}",
                    patch.diff
                )),
            };
            CaseOutcome {
                template: template.id.clone(),
                case: case.name.clone(),
                passed: detail.is_none(),
                detail,
            }
        })
        .collect()
}
