//! Ids that several stages pass along: an incident's and the operation healbot runs for it.
//! Ids come from outside (an alert's labels and fingerprint) and become paths, branch names and
//! Redis keys, so every such use goes through [`safe_id`]: one place decides what is safe.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// Longest id kept as it is; longer ones are cut and hashed.
const MAX_SAFE_LEN: usize = 120;

/// `raw` as a name that is safe as one path component, in a branch name and in a Redis key:
/// only `[A-Za-z0-9._-]`, never `.` or `..`, never starting with `.` or `-`, at most
/// [`MAX_SAFE_LEN`] characters. A safe id is returned as it is; any other keeps its safe
/// characters and gets `-h` and 16 hex digits of its SHA-256 appended, so two distinct ids
/// stay distinct.
pub fn safe_id(raw: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let already = !raw.is_empty()
        && raw.len() <= MAX_SAFE_LEN
        && raw.chars().all(allowed)
        && !raw.starts_with(['.', '-'])
        && !raw.contains("..");
    if already {
        return raw.to_string();
    }
    let kept: String = raw
        .chars()
        .map(|c| if allowed(c) { c } else { '_' })
        .collect::<String>()
        .split("..")
        .collect::<Vec<_>>()
        .join("_");
    let kept = kept.trim_start_matches(['.', '-', '_']);
    let kept: String = kept.chars().take(MAX_SAFE_LEN - 20).collect();
    let digest = hex::encode(&Sha256::digest(raw.as_bytes())[..8]);
    if kept.is_empty() {
        format!("h{digest}")
    } else {
        format!("{kept}-h{digest}")
    }
}

/// `root` joined with each of `parts` made safe: the result is always below `root`, one
/// component per part, whatever the parts hold.
pub fn path_under(root: &Path, parts: &[&str]) -> PathBuf {
    let mut path = root.to_path_buf();
    for part in parts {
        path.push(safe_id(part));
    }
    path
}

/// Identifies one incident across the audit log, branches (`healbot/<id>`) and PRs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IncidentId(pub String);

impl IncidentId {
    /// An id built from outside input (alert labels, a fingerprint), made safe.
    pub fn new(raw: &str) -> IncidentId {
        IncidentId(safe_id(raw))
    }
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Identifies one healing operation; it is also the audit entries' `operation_id`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OperationId(pub String);

impl OperationId {
    /// The operation for `incident`: `op-<incident id>`, made safe.
    pub(crate) fn for_incident(incident: &IncidentId) -> OperationId {
        OperationId(format!("op-{}", safe_id(&incident.0)))
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_ids_are_kept_and_others_reduced_and_hashed() {
        assert_eq!(
            safe_id("alert-payment-service-5f1e2d3c4b5a-1764295200"),
            "alert-payment-service-5f1e2d3c4b5a-1764295200"
        );
        for hostile in [
            "/../../../x/",
            "..",
            ".",
            "",
            "a/b",
            "a\nb",
            "-rf",
            "x..y",
            "ü",
        ] {
            let s = safe_id(hostile);
            assert!(
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                    && !s.contains("..")
                    && !s.starts_with(['.', '-']),
                "{hostile:?} -> {s:?}"
            );
        }
        // Distinct ids stay distinct even when their safe characters agree.
        assert_ne!(safe_id("a/b"), safe_id("a:b"));
        assert_ne!(safe_id("a/b"), safe_id("a_b"));
        assert!(safe_id(&"x".repeat(500)).len() <= MAX_SAFE_LEN);
    }

    #[test]
    fn paths_stay_under_their_root() {
        let root = Path::new("/srv/healbot/scratch");
        for hostile in ["/../../../x/", "..", "../..", "/etc/passwd", "a/../../b"] {
            let p = path_under(root, &[hostile, "patched"]);
            assert!(p.starts_with(root), "{}", p.display());
            assert_eq!(p.components().count(), root.components().count() + 2);
            assert!(!p
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir)));
        }
    }
}
