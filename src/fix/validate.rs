//! Validation of a patch before a person sees it: the patched file must still parse (no
//! tree-sitter ERROR or MISSING node), and the repository's own check command must pass in an
//! isolated worktree, within a time limit and without the proxies that would give it network.

use super::template::TemplateLanguage;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// How much of the check's output the PR body gets.
const TAIL_LINES: usize = 40;
const TAIL_BYTES: usize = 8 * 1024;

/// Environment variables that would route the check to the network.
const PROXY_VARS: &[&str] = &[
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "ftp_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "FTP_PROXY",
    "NO_PROXY",
];

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
    /// `None` when the command was killed (timeout, signal) or could not start.
    pub exit_code: Option<i32>,
    /// The last lines of stdout and stderr, for the PR body.
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
}

/// Runs `command` with `sh -c` in `worktree`, killing it (and its process group) after
/// `timeout`. Proxy variables are removed from its environment.
pub async fn run_check(worktree: &Path, command: &str, timeout: Duration) -> CheckOutcome {
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(worktree)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return CheckOutcome {
                passed: false,
                exit_code: None,
                output_tail: format!("cannot start `sh -c {command}`: {e}"),
                duration: started.elapsed(),
                duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                timed_out: false,
                command: command.to_string(),
            }
        }
    };
    let stdout = tokio::spawn(read_all(child.stdout.take()));
    let stderr = tokio::spawn(read_all(child.stderr.take()));
    let (status, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => (status.ok(), false),
        Err(_) => {
            kill_group(child.id());
            let _ = child.kill().await;
            (None, true)
        }
    };
    // Grandchildren may hold the pipes open; give the readers a moment, not forever.
    let grace = Duration::from_secs(2);
    let out = tokio::time::timeout(grace, stdout)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let err = tokio::time::timeout(grace, stderr)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let mut output = String::from_utf8_lossy(&out).into_owned();
    output.push_str(&String::from_utf8_lossy(&err));
    if timed_out {
        output.push_str(&format!(
            "\n[healbot: killed after {}s]",
            timeout.as_secs_f64()
        ));
    }
    let exit_code = status.and_then(|s| s.code());
    let duration = started.elapsed();
    CheckOutcome {
        passed: !timed_out && exit_code == Some(0),
        exit_code,
        output_tail: tail(&output),
        duration,
        duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        timed_out,
        command: command.to_string(),
    }
}

async fn read_all<R: tokio::io::AsyncRead + Unpin>(pipe: Option<R>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_end(&mut buf).await;
    }
    buf
}

/// Kills the process group the check runs in, so `sh -c` cannot leave children behind.
fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = pid {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    #[cfg(not(unix))]
    let _ = pid;
}

fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.trim_end().lines().collect();
    let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    if tail.len() <= TAIL_BYTES {
        return tail;
    }
    let mut start = tail.len() - TAIL_BYTES;
    while !tail.is_char_boundary(start) {
        start += 1;
    }
    tail[start..].to_string()
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

    #[tokio::test]
    async fn check_passes_fails_and_times_out() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("marker"), "here").unwrap();
        let ok = run_check(
            dir.path(),
            "cat marker; echo \"proxy=${http_proxy:-none}\"",
            Duration::from_secs(10),
        )
        .await;
        assert!(ok.passed, "{ok:?}");
        assert_eq!(ok.command, "cat marker; echo \"proxy=${http_proxy:-none}\"");
        assert!(ok.output_tail.contains("here") && ok.output_tail.contains("proxy=none"));
        let bad = run_check(dir.path(), "echo oops >&2; exit 3", Duration::from_secs(10)).await;
        assert_eq!((bad.passed, bad.exit_code), (false, Some(3)));
        assert!(bad.output_tail.contains("oops"));
        let slow = run_check(
            dir.path(),
            "sleep 30 & sleep 30",
            Duration::from_millis(300),
        )
        .await;
        assert!(slow.timed_out && !slow.passed, "{slow:?}");
        assert!(slow.duration < Duration::from_secs(10));
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let t = tail(&text);
        assert!(t.starts_with("line 60") && t.ends_with("line 99"), "{t}");
    }
}
