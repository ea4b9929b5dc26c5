//! Localization: from a stack trace to the code that should change. The fix is often not at the
//! line that raised: a caller may have passed the bad value, or the last in-app frame before a
//! library may be the one to guard. So every in-app frame becomes a ranked [`Candidate`] that
//! says why it ranks where it does; the fix stage tries them in order.
//!
//! Input: a repository directory and the trace text. Output: [`Localization`]. Nothing here
//! knows about templates or patches.

pub mod blame;
pub mod fault;
pub mod paths;
mod rank;
pub mod source;
pub mod stacktrace;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub use fault::Fault;
pub use stacktrace::{parse_trace, Frame, FrameOrigin, ParsedTrace, TraceError, TraceLanguage};

/// One place that may need the fix. The first five fields are the `healbot localize --format
/// json` contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Relative to the repository, forward slashes.
    pub file: String,
    /// 1-based.
    pub line: u32,
    /// The enclosing function (`Class.method` for methods, `<module>` at top level).
    pub function: String,
    /// In [0, 1]; higher is more likely the place to fix.
    pub score: f64,
    /// Why this place ranks where it does, for the PR body and the person reading it.
    pub reason: String,
    /// The expression at this place that held the bad value (`user.email`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// The localization stage's full result, kept for the fix stage and the PR body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Localization {
    pub trace: ParsedTrace,
    /// Best first; at most the `top` asked for.
    pub candidates: Vec<Candidate>,
    /// The expression that held the bad value at the top candidate, e.g. `user.email`.
    pub faulting_expression: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LocalizeError {
    #[error("cannot parse the stack trace: {0}")]
    Trace(#[from] TraceError),
    #[error("cannot read the repository {}: {source}", path.display())]
    Repo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The `top` best candidate locations for the trace in `repo`.
pub fn localize(
    repo: &Path,
    trace_text: &str,
    top: usize,
) -> Result<Vec<Candidate>, LocalizeError> {
    localize_detailed(repo, trace_text, top).map(|l| l.candidates)
}

/// Like [`localize`], with the parsed trace and the faulting expression kept.
pub fn localize_detailed(
    repo: &Path,
    trace_text: &str,
    top: usize,
) -> Result<Localization, LocalizeError> {
    let trace = parse_trace(trace_text)?;
    let index = paths::RepoIndex::scan(repo).map_err(|source| LocalizeError::Repo {
        path: repo.to_path_buf(),
        source,
    })?;
    let blamer = blame::Blamer::open(repo);
    let mut candidates = rank::rank(repo, &index, &trace, &blamer);
    candidates.truncate(top);
    let faulting_expression = candidates.first().and_then(|c| c.expression.clone());
    Ok(Localization {
        trace,
        candidates,
        faulting_expression,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/services/payment-service")
    }

    fn traces() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/traces")
    }

    #[test]
    fn payment_null_ranks_the_caller_that_passed_none_first() {
        let trace = std::fs::read_to_string(traces().join("payment-null.txt")).unwrap();
        let loc = localize_detailed(&service(), &trace, 5).unwrap();
        let top = &loc.candidates[0];
        assert_eq!(
            (top.file.as_str(), top.line, top.function.as_str()),
            ("payment_processor.py", 26, "process_payment")
        );
        assert!(
            top.reason.contains("passed the bad value"),
            "{}",
            top.reason
        );
        assert!(top.reason.contains("user.email"), "{}", top.reason);
        assert_eq!(loc.faulting_expression.as_deref(), Some("user.email"));
        let second = &loc.candidates[1];
        assert_eq!((second.file.as_str(), second.line), ("receipts.py", 9));
        assert_eq!(second.expression.as_deref(), Some("address"));
        assert!(top.score > second.score && top.score <= 1.0);
        assert_eq!(loc.candidates.len(), 2, "<string> maps to no file");
    }

    #[test]
    fn json_has_the_contract_fields() {
        let trace = std::fs::read_to_string(traces().join("payment-null.txt")).unwrap();
        let c = localize(&service(), &trace, 1).unwrap();
        let v = serde_json::to_value(&c).unwrap();
        for key in ["file", "line", "function", "score", "reason"] {
            assert!(v[0].get(key).is_some(), "missing {key}: {v}");
        }
        // The orchestrator stores the whole localization as a stage output.
        let full = localize_detailed(&service(), &trace, 5).unwrap();
        let back: Localization =
            serde_json::from_str(&serde_json::to_string(&full).unwrap()).unwrap();
        assert_eq!(back, full);
    }

    #[test]
    fn library_boundary_key_and_division_traces() {
        let repo = traces().join("inventory-service");
        let read = |f: &str| std::fs::read_to_string(traces().join(f)).unwrap();
        let conn = localize(&repo, &read("inventory-connection-refused.txt"), 5).unwrap();
        assert_eq!(
            (conn[0].file.as_str(), conn[0].line),
            ("inventory/client.py", 9)
        );
        assert!(conn[0].reason.contains("requests"), "{}", conn[0].reason);
        let key = localize(&repo, &read("inventory-key-error.txt"), 5).unwrap();
        assert_eq!(
            (key[0].file.as_str(), key[0].line),
            ("inventory/handlers.py", 8)
        );
        assert_eq!(key[0].expression.as_deref(), Some("request[\"sku\"]"));
        let zero = localize(&repo, &read("inventory-zero-division.txt"), 5).unwrap();
        assert_eq!(
            (zero[0].file.as_str(), zero[0].function.as_str()),
            ("inventory/stats.py", "average_price")
        );
        assert_eq!(zero[0].expression.as_deref(), Some("total / len(prices)"));
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        assert!(matches!(
            localize(&service(), "hello", 5),
            Err(LocalizeError::Trace(_))
        ));
        let trace = std::fs::read_to_string(traces().join("payment-null.txt")).unwrap();
        let missing = service().join("no-such-dir");
        assert!(matches!(
            localize(&missing, &trace, 5),
            Err(LocalizeError::Repo { .. })
        ));
    }
}
