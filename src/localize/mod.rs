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
    /// Said once: the trace error is the whole message.
    #[error(transparent)]
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
    let mut trace = parse_trace(trace_text)?;
    let index = paths::RepoIndex::scan(repo).map_err(|source| LocalizeError::Repo {
        path: repo.to_path_buf(),
        source,
    })?;
    claim_own_crate_frames(&mut trace, &paths::own_crates(repo), &index);
    claim_own_package_frames(&mut trace, &index);
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

/// A binary installed with `cargo install` (or a crate used as a dependency of the program
/// that crashed) prints the repository's own code under `~/.cargo/registry/…/<crate>-<ver>/`.
/// Frames of a crate that the repository builds (`own`: name and directory, from the
/// manifests) are in-app; their `file` becomes the repository path (`<dir>/<path in crate>`).
/// Without a manifest to ask (`own` empty) and with no in-app frame at all, the crate whose
/// in-crate path names a repository file exactly, innermost first, is taken as the
/// repository's.
fn claim_own_crate_frames(
    trace: &mut ParsedTrace,
    own: &[(String, String)],
    index: &paths::RepoIndex,
) {
    let same = |a: &str, b: &str| a.replace('-', "_") == b.replace('-', "_");
    let mut claimed: Vec<(String, String)> = own.to_vec();
    if own.is_empty() && trace.innermost_in_app().is_none() {
        let exists = |f: &str| {
            index
                .files()
                .binary_search_by(|x| x.as_str().cmp(f))
                .is_ok()
        };
        let found = trace
            .frames
            .iter()
            .filter(|f| f.origin == FrameOrigin::Dependency)
            .filter_map(|f| paths::dependency_crate(&f.file))
            .find(|(_, tail)| exists(tail));
        if let Some((krate, _)) = found {
            claimed.push((krate, String::new()));
        }
    }
    if claimed.is_empty() {
        return;
    }
    let claim = |file: &str| -> Option<String> {
        let (krate, tail) = paths::dependency_crate(file)?;
        let (_, dir) = claimed.iter().find(|(name, _)| same(name, &krate))?;
        Some(if dir.is_empty() {
            tail
        } else {
            format!("{dir}/{tail}")
        })
    };
    for frame in &mut trace.frames {
        if frame.origin != FrameOrigin::Dependency {
            continue;
        }
        if let Some(file) = claim(&frame.file) {
            frame.origin = FrameOrigin::InApp;
            frame.file = file;
        }
    }
    if let Some(loc) = trace.panic_location.as_mut() {
        if let Some(file) = claim(&loc.file) {
            loc.file = file;
        }
    }
}

/// Runtimes that tell the service's code from libraries by name (Java's `org.apache.` is a
/// library to most services) misjudge a repository that *is* that library: a frame marked as a
/// dependency whose path names a repository file by three path components or more (package
/// directories and the file) is in-app. With no in-app frame in the repository at all, two
/// components are enough (`site-packages/<pkg>/x.py` of a checkout of `<pkg>`).
fn claim_own_package_frames(trace: &mut ParsedTrace, index: &paths::RepoIndex) {
    let shared = |printed: &str, file: &str| {
        file.rsplit('/')
            .zip(paths::normalize(printed).rsplit('/'))
            .take_while(|(a, b)| a == b)
            .count()
    };
    let mapped = |f: &Frame| index.resolve(&f.file).is_some();
    let none_in_app = !trace
        .frames
        .iter()
        .any(|f| f.origin == FrameOrigin::InApp && mapped(f));
    let needed = if none_in_app { 2 } else { 3 };
    for frame in &mut trace.frames {
        // Cargo's registry says which crate a frame is; its manifest rule decided that already.
        if frame.origin != FrameOrigin::Dependency || paths::dependency_crate(&frame.file).is_some()
        {
            continue;
        }
        if let Some(file) = index.resolve(&frame.file) {
            if shared(&frame.file, &file) >= needed {
                frame.origin = FrameOrigin::InApp;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTALLED: &str = "thread 'main' panicked at /home/u/.cargo/registry/src/index.crates.io-6f17d22bba15001f/mdtool-0.4.36/src/book/summary.rs:3:13:
called `Option::unwrap()` on a `None` value
stack backtrace:
   0: core::option::Option<T>::unwrap
             at /rustc/82e1608dfa6e0b5569232559e3d385fea5a93112/library/core/src/option.rs:935:21
   1: mdtool::book::summary::first
             at /home/u/.cargo/registry/src/index.crates.io-6f17d22bba15001f/mdtool-0.4.36/src/book/summary.rs:3:13
   2: mdtool::main
             at /home/u/.cargo/registry/src/index.crates.io-6f17d22bba15001f/mdtool-0.4.36/src/main.rs:2:5
   3: tokio::runtime::park::block_on
             at /home/u/.cargo/registry/src/index.crates.io-6f17d22bba15001f/tokio-1.35.1/src/runtime/park.rs:282:63
";

    fn installed_repo(manifest: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let write = |f: &str, text: &str| {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write(
            "tool/src/book/summary.rs",
            "pub fn first(v: &[Option<u8>]) -> u8 {\n    let x = 1;\n    v[0].unwrap() + x\n}\n",
        );
        write(
            "tool/src/main.rs",
            "fn main() {\n    book::summary::first(&[]);\n}\n",
        );
        if let Some(m) = manifest {
            write("Cargo.toml", m);
            write("tool/Cargo.toml", "[package]\nname = \"mdtool\"\n");
        }
        dir
    }

    #[test]
    fn registry_frames_of_the_repositorys_own_crate_are_in_app() {
        // Named by a workspace member's manifest: mapped into the member's directory.
        let repo = installed_repo(Some("[workspace]\nmembers = [\"tool\"]\n"));
        let loc = localize_detailed(repo.path(), INSTALLED, 5).unwrap();
        let found: Vec<_> = loc
            .candidates
            .iter()
            .map(|c| (c.file.as_str(), c.line))
            .collect();
        assert_eq!(
            found[..2],
            [("tool/src/book/summary.rs", 3), ("tool/src/main.rs", 2)]
        );
        // The start of `first`, where a check of `v` belongs.
        assert_eq!(found[2..], [("tool/src/book/summary.rs", 2)]);
        assert!(loc.candidates[2]
            .reason
            .contains("a check belongs at its start"));
        assert!(
            loc.candidates[0].reason.contains("raised here"),
            "{}",
            loc.candidates[0].reason
        );
        // Another crate's name in the manifest: the frames stay the dependency's.
        let other = installed_repo(Some("[package]\nname = \"other\"\n"));
        assert!(localize(other.path(), INSTALLED, 5).unwrap().is_empty());
    }

    #[test]
    fn without_a_manifest_the_crate_whose_paths_exist_is_claimed() {
        let repo = installed_repo(None);
        let dir = repo.path().join("tool");
        let loc = localize_detailed(&dir, INSTALLED, 5).unwrap();
        let found: Vec<_> = loc
            .candidates
            .iter()
            .map(|c| (c.file.as_str(), c.line))
            .collect();
        assert_eq!(found[..2], [("src/book/summary.rs", 3), ("src/main.rs", 2)]);
        // tokio's frame is not the repository's.
        assert!(loc
            .trace
            .frames
            .iter()
            .any(|f| f.origin == FrameOrigin::Dependency && f.function.starts_with("tokio")));
    }

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
