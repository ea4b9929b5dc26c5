//! Config fixes: raise one setting in a YAML file (Helm values, a Kubernetes manifest, an
//! application config) when the incident is a resource or timing problem rather than a code
//! bug. The edit replaces only the scalar's bytes (`YamlDoc`), stays within the bounds of
//! `policies/config-bounds.yaml`, and refuses to repeat itself: the same fix for the same
//! service and pattern applied often enough already means a leak, which a person must look at.

pub mod bounds;
pub mod quantity;
pub mod raise;
pub mod targets;

pub use bounds::{BoundsError, ConfigBounds};
pub use targets::{find_targets, is_config_pattern, kinds_for, ConfigKind, ConfigTarget};

use super::engine::Patch;
use super::template::Risk;
use crate::gitops::yaml_edit::{YamlDoc, YamlEditError};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigFixError {
    #[error("{file}: no setting a config fix for `{pattern}` could raise")]
    NoTarget { file: String, pattern: String },
    #[error("{file}: `{path}` is {current}, already at or above the bound `{bound}` ({limit})")]
    Bound {
        file: String,
        path: String,
        bound: String,
        limit: String,
        current: String,
    },
    #[error(
        "`{kind}` was already raised {times} times for `{service}` on `{pattern}`: a recurring \
         incident is escalated, not fixed by raising the limit again"
    )]
    Recurring {
        service: String,
        pattern: String,
        kind: ConfigKind,
        times: usize,
    },
    #[error("{file}: `{path}` has the value {value:?}, which is not {expected}")]
    BadValue {
        file: String,
        path: String,
        value: String,
        expected: &'static str,
    },
    #[error(transparent)]
    Yaml(#[from] YamlEditError),
}

/// A config fix applied earlier, as the history of an operation records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedConfigFix {
    pub service: String,
    pub pattern: String,
    pub kind: ConfigKind,
    pub file: String,
    pub path: String,
}

/// What the fix is for: the service, its error pattern and the config fixes applied before.
#[derive(Debug, Clone, Copy)]
pub struct ConfigContext<'a> {
    pub service: &'a str,
    pub pattern: &'a str,
    pub history: &'a [AppliedConfigFix],
    pub bounds: &'a ConfigBounds,
}

/// One raised setting: where, old → new, and the file before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigPatch {
    /// Relative to the repository, forward slashes.
    pub file: String,
    pub document: usize,
    pub path: String,
    pub kind: ConfigKind,
    pub old_value: String,
    pub new_value: String,
    pub original: String,
    pub patched: String,
    /// Unified diff with `a/<file>` and `b/<file>` headers.
    pub diff: String,
    pub summary: String,
    /// 1-based line of the edited scalar.
    pub line: u32,
    pub lines_added: usize,
    pub lines_removed: usize,
}

impl ConfigPatch {
    /// The record to keep so a later occurrence sees this fix in its history.
    pub fn applied(&self, service: &str, pattern: &str) -> AppliedConfigFix {
        AppliedConfigFix {
            service: service.to_string(),
            pattern: pattern.to_string(),
            kind: self.kind,
            file: self.file.clone(),
            path: self.path.clone(),
        }
    }

    /// As the pipeline's [`Patch`]; the template id is the kind's (`config.memory-limit`).
    pub fn into_patch(self) -> Patch {
        let (confidence, risk) = match self.kind {
            ConfigKind::Timeout | ConfigKind::Retries | ConfigKind::CircuitBreaker => {
                (0.6, Risk::Medium)
            }
            ConfigKind::PoolSize => (0.6, Risk::Medium),
            ConfigKind::MemoryLimit | ConfigKind::CpuLimit | ConfigKind::Replicas => {
                (0.7, Risk::Low)
            }
        };
        Patch {
            file: self.file,
            original: self.original,
            patched: self.patched,
            diff: self.diff,
            template_id: self.kind.id().to_string(),
            confidence,
            risk,
            summary: self.summary,
            lines_added: self.lines_added,
            lines_removed: self.lines_removed,
            line: self.line,
        }
    }
}

/// Raises `target` in `text` (the contents of `file`). Refused when the same kind of fix was
/// already applied `bounds.recurring_after` times for the service and pattern, or when the
/// value is already at its bound.
pub(crate) fn fix_config(
    file: &str,
    text: &str,
    target: &ConfigTarget,
    cx: &ConfigContext<'_>,
) -> Result<ConfigPatch, ConfigFixError> {
    let times = cx
        .history
        .iter()
        .filter(|h| h.service == cx.service && h.pattern == cx.pattern && h.kind == target.kind)
        .count();
    if times >= cx.bounds.recurring_after as usize {
        return Err(ConfigFixError::Recurring {
            service: cx.service.to_string(),
            pattern: cx.pattern.to_string(),
            kind: target.kind,
            times,
        });
    }
    let mut doc = YamlDoc::parse(text, file)?;
    doc.select_document(target.document)?;
    let old = doc.get(&target.path)?;
    let new = raise::raise(file, target, &old, cx.bounds)?;
    let patched = doc.set(&target.path, &new)?;
    Ok(make_patch(file, text, patched, target, old, new))
}

/// The first setting in `text` that a fix for `cx.pattern` can raise, in the pattern's kind
/// order. A recurring fix stops the search (it must escalate, not move on to another knob);
/// when every setting is at its bound, the first bound error is returned.
pub fn propose_config(
    file: &str,
    text: &str,
    cx: &ConfigContext<'_>,
) -> Result<ConfigPatch, ConfigFixError> {
    let mut first_err = None;
    for target in find_targets(file, text, kinds_for(cx.pattern))? {
        match fix_config(file, text, &target, cx) {
            Ok(patch) => return Ok(patch),
            Err(e @ ConfigFixError::Recurring { .. }) => return Err(e),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| ConfigFixError::NoTarget {
        file: file.to_string(),
        pattern: cx.pattern.to_string(),
    }))
}

fn make_patch(
    file: &str,
    original: &str,
    patched: String,
    target: &ConfigTarget,
    old: String,
    new: String,
) -> ConfigPatch {
    let crate::fix::diff::FileDiff {
        unified,
        added,
        removed,
    } = crate::fix::diff::file_diff(file, original, &patched);
    let line = original
        .lines()
        .zip(patched.lines())
        .position(|(a, b)| a != b)
        .map_or(0, |i| i as u32 + 1);
    ConfigPatch {
        file: file.to_string(),
        document: target.document,
        path: target.path.clone(),
        kind: target.kind,
        summary: format!(
            "Raise {} `{}` in {file} from {old} to {new}",
            target.kind, target.path
        ),
        old_value: old,
        new_value: new,
        original: original.to_string(),
        patched,
        diff: unified,
        line,
        lines_added: added,
        lines_removed: removed,
    }
}

#[cfg(test)]
mod tests;
