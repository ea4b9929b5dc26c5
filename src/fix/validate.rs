//! Validation of a patch before a person sees it: the patched file must still parse (no
//! tree-sitter ERROR or MISSING node), and the repository's own check command must pass in the
//! sandbox ([`super::sandbox`]), within a time limit. [`run_check`] is the one entry point for
//! every check command (the orchestrator's and `healbot fix --check`).

use super::sandbox::{CheckRefused, Sandbox};
use super::template::TemplateLanguage;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("syntax error at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("the {0} grammar cannot be loaded")]
    Grammar(&'static str),
    #[error("{file}: no parser for this kind of file")]
    Unsupported { file: String },
    #[error("{file}: {source}")]
    InFile {
        file: String,
        #[source]
        source: Box<ValidationError>,
    },
}

/// Re-parses the file `file` (its language from the extension) with contents `source`; the
/// error names the file and the first broken line.
pub fn check_syntax(file: &str, source: &str) -> Result<(), ValidationError> {
    let language =
        TemplateLanguage::of_path(Path::new(file)).ok_or_else(|| ValidationError::Unsupported {
            file: file.to_string(),
        })?;
    check_source(language, source).map_err(|e| ValidationError::InFile {
        file: file.to_string(),
        source: Box::new(e),
    })
}

/// Parses `source` and reports the first syntax error: syn's for Rust, the first ERROR or
/// MISSING node of the tree-sitter grammar for the other languages. Rust is judged by syn
/// alone because tree-sitter-rust is the weaker judge there (measured on 4,270 crate files
/// from the local cargo registry: it flagged 500 valid files, 478 of them web-sys's
/// generated bindings and 22 others, and accepted 76 of 11,310 one-byte deletions syn
/// rejected; `scripts/measure/rust-parsers`).
pub fn check_source(language: TemplateLanguage, source: &str) -> Result<(), ValidationError> {
    if language == TemplateLanguage::Rust {
        return syn::parse_file(source).map(|_| ()).map_err(|e| {
            let at = e.span().start();
            ValidationError::Syntax {
                line: at.line,
                column: at.column + 1,
                message: e.to_string(),
            }
        });
    }
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&language.grammar())
        .map_err(|_| ValidationError::Grammar(language.name()))?;
    let tree = parser
        .parse(source, None)
        .ok_or(ValidationError::Grammar(language.name()))?;
    if !tree.root_node().has_error() {
        return Ok(());
    }
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        if node.is_error() || node.is_missing() {
            let p = node.start_position();
            let message = if node.is_missing() {
                format!("missing `{}`", node.kind())
            } else {
                let text = source.get(node.byte_range()).unwrap_or_default();
                let first = text.lines().next().unwrap_or_default();
                format!(
                    "unexpected `{}`",
                    first.chars().take(60).collect::<String>()
                )
            };
            return Err(ValidationError::Syntax {
                line: p.row + 1,
                column: p.column + 1,
                message,
            });
        }
        let mut cursor = node.walk();
        let children: Vec<_> = node
            .children(&mut cursor)
            .filter(|c| c.has_error())
            .collect();
        stack.extend(children.into_iter().rev());
    }
    Err(ValidationError::Syntax {
        line: 1,
        column: 1,
        message: "the file does not parse".into(),
    })
}

/// The result of running a repository's check command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckOutcome {
    pub passed: bool,
    /// `None` when the command was killed (timeout, signal) or did not run.
    pub exit_code: Option<i32>,
    /// The last lines of stdout and stderr, capped and scrubbed of secrets, for the PR body.
    pub output_tail: String,
    pub duration: Duration,
    /// `duration` in milliseconds, for reports.
    #[serde(default)]
    pub duration_ms: u64,
    #[serde(default)]
    pub timed_out: bool,
    /// The command that ran.
    #[serde(default)]
    pub command: String,
    /// Why the command did not run at all (no sandbox, a command healbot.yaml does not allow):
    /// no fix can be validated, so a person decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// A check command to run: where, what, for which repository, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct CheckRequest<'a> {
    /// The patched copy of the repository; the only folder the check may write.
    pub worktree: &'a Path,
    pub command: &'a str,
    pub timeout: Duration,
    /// `owner/name`, for `validation.allowed_commands`; `None` for a local checkout (the
    /// `"*"` entry applies).
    pub repo: Option<&'a str>,
}

impl<'a> CheckRequest<'a> {
    pub fn new(worktree: &'a Path, command: &'a str, timeout: Duration) -> CheckRequest<'a> {
        CheckRequest {
            worktree,
            command,
            timeout,
            repo: None,
        }
    }
}

/// Runs the check in `sandbox` (see [`super::sandbox`]): `sh -c` in the worktree, killed with
/// everything it started after the timeout or over a limit. A check that cannot run in the
/// sandbox, or that healbot.yaml does not allow, comes back `refused` without running.
pub async fn run_check(sandbox: &Sandbox, request: CheckRequest<'_>) -> CheckOutcome {
    let command = request.command.to_string();
    let refused = |why: CheckRefused| CheckOutcome {
        passed: false,
        exit_code: None,
        output_tail: String::new(),
        duration: Duration::ZERO,
        duration_ms: 0,
        timed_out: false,
        command: command.clone(),
        refused: Some(why.to_string()),
    };
    if let Err(why) = sandbox.check_allowed(request.repo, request.command) {
        return refused(why);
    }
    match sandbox
        .run(request.worktree, request.command, request.timeout)
        .await
    {
        Ok(run) => CheckOutcome {
            passed: !run.timed_out && run.limit.is_none() && run.exit_code == Some(0),
            exit_code: run.exit_code,
            output_tail: run.output_tail,
            duration: run.duration,
            duration_ms: u64::try_from(run.duration.as_millis()).unwrap_or(u64::MAX),
            timed_out: run.timed_out,
            command,
            refused: None,
        },
        Err(why) => refused(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_the_line() {
        assert_eq!(
            check_source(TemplateLanguage::Python, "def f():\n    return 1\n"),
            Ok(())
        );
        let err =
            check_source(TemplateLanguage::Python, "def f():\n    return (1\nx = 2\n").unwrap_err();
        let ValidationError::Syntax { line, .. } = err else {
            panic!("{err}")
        };
        assert!((2..=3).contains(&line), "{line}");
        let err = check_syntax("app/x.py", "x = 1\nif x\n    y = 2\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("app/x.py: syntax error at line 2"),
            "{err}"
        );
        assert_eq!(check_syntax("ok.py", "x = 1\n"), Ok(()));
        assert!(matches!(
            check_syntax("x.rb", "puts 1"),
            Err(ValidationError::Unsupported { .. })
        ));
    }

    /// The unsandboxed mode: the same runner, the environment still an allow-list.
    fn unsandboxed() -> Sandbox {
        let settings = crate::config::validation::ValidationSettings {
            sandbox: crate::config::validation::SandboxMode::None,
            ..Default::default()
        };
        Sandbox::new(settings, Default::default())
    }

    #[tokio::test]
    async fn check_passes_fails_and_times_out() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("marker"), "here").unwrap();
        let sandbox = unsandboxed();
        let command = "cat marker; echo \"proxy=${http_proxy:-none} home=$HOME\"";
        let ok = run_check(
            &sandbox,
            CheckRequest::new(dir.path(), command, Duration::from_secs(10)),
        )
        .await;
        assert!(ok.passed, "{ok:?}");
        assert_eq!(ok.command, command);
        assert!(ok.output_tail.contains("here") && ok.output_tail.contains("proxy=none"));
        assert!(ok.output_tail.contains("home=/"), "{}", ok.output_tail);
        let bad = run_check(
            &sandbox,
            CheckRequest::new(
                dir.path(),
                "echo out; echo oops >&2; exit 3",
                Duration::from_secs(10),
            ),
        )
        .await;
        assert_eq!((bad.passed, bad.exit_code), (false, Some(3)));
        assert_eq!(bad.output_tail, "out\noops");
        let slow = run_check(
            &sandbox,
            CheckRequest::new(
                dir.path(),
                "sleep 30 & sleep 30",
                Duration::from_millis(300),
            ),
        )
        .await;
        assert!(slow.timed_out && !slow.passed, "{slow:?}");
        assert!(slow.duration < Duration::from_secs(10));
        assert!(slow.output_tail.contains("[healbot: killed after 0.3s]"));
    }

    #[tokio::test]
    async fn a_command_healbot_yaml_does_not_allow_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = crate::config::validation::ValidationSettings {
            sandbox: crate::config::validation::SandboxMode::None,
            ..Default::default()
        };
        settings
            .allowed_commands
            .insert("acme/pay".into(), vec!["make test".into()]);
        let sandbox = Sandbox::new(settings, Default::default());
        let request = CheckRequest {
            repo: Some("acme/pay"),
            ..CheckRequest::new(dir.path(), "touch ran", Duration::from_secs(5))
        };
        let out = run_check(&sandbox, request).await;
        assert!(!out.passed && !dir.path().join("ran").exists());
        let why = out.refused.unwrap();
        assert!(
            why.contains("`touch ran` is not a check command healbot.yaml allows for acme/pay"),
            "{why}"
        );
        // Another repository is not pinned.
        let other = CheckRequest {
            repo: Some("acme/other"),
            ..request
        };
        assert!(run_check(&sandbox, other).await.passed);
    }
}
