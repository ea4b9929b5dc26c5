//! Stack traces from every runtime healbot reads, parsed into one shape so that ranking and path
//! mapping never care which language crashed. Each runtime's text format lives in its own
//! sibling file (`python.rs`, `rust.rs`, `go.rs`, `java.rs`, `node.rs`); this module
//! detects the format and hands the text to the right parser.

pub mod go;
pub mod java;
pub mod node;
pub mod python;
pub mod rust;

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where the code of a frame comes from. Only in-app frames can be fixed by a patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameOrigin {
    /// The service's own code.
    InApp,
    /// The language's standard library or runtime.
    Std,
    /// A third-party package (`site-packages`, `.cargo/registry`, …).
    Dependency,
}

/// The runtime that produced a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceLanguage {
    Python,
    Rust,
    Go,
    /// Java and Kotlin (the JVM's trace format).
    Java,
    Node,
}

impl TraceLanguage {
    pub fn name(self) -> &'static str {
        match self {
            TraceLanguage::Python => "python",
            TraceLanguage::Rust => "rust",
            TraceLanguage::Go => "go",
            TraceLanguage::Java => "java",
            TraceLanguage::Node => "node",
        }
    }
}

impl fmt::Display for TraceLanguage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One stack frame as the runtime printed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// The path exactly as printed (absolute, container or build path); see
    /// [`crate::localize::paths`] for the mapping to a repository file. A dependency frame
    /// that turns out to be the repository's own crate (`cargo install`ed from the registry)
    /// holds its repository path instead, after [`crate::localize::localize_detailed`].
    pub file: String,
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, when the runtime prints one (Rust does, Python does not).
    pub column: Option<u32>,
    /// The function name as printed (`process_payment`, `<module>`, `app::handler::{{closure}}`).
    pub function: String,
    /// The source line the runtime printed under the frame, trimmed.
    pub code: Option<String>,
    pub origin: FrameOrigin,
    /// Byte range within `code` that the runtime marked as failing (Python 3.11+ `^^^`/`~~~`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highlight: Option<(usize, usize)>,
}

impl Frame {
    /// The text the runtime highlighted within the code line, if any.
    pub fn highlighted(&self) -> Option<&str> {
        let (start, end) = self.highlight?;
        self.code.as_deref()?.get(start..end)
    }
}

/// A parsed trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedTrace {
    pub language: TraceLanguage,
    /// The exception or panic kind: `AttributeError`, `requests.exceptions.ConnectionError`,
    /// `panic`.
    pub exception: String,
    /// The message that came with it (may be empty).
    pub message: String,
    /// Frames ordered **innermost first**: `frames[0]` is where the error was raised, the last
    /// frame is the program's entry point. Runtimes that print outermost first (Python) are
    /// reversed by their parser. For chained exceptions these are the last exception's frames.
    pub frames: Vec<Frame>,
}

impl ParsedTrace {
    /// The first frame in the service's own code, counting from the innermost.
    pub fn innermost_in_app(&self) -> Option<&Frame> {
        self.frames.iter().find(|f| f.origin == FrameOrigin::InApp)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TraceError {
    #[error("the trace is empty")]
    Empty,
    #[error(
        "unrecognised trace format (expected a Python traceback, a Rust or Go panic, a Java/Kotlin or Node.js stack); first line: {first_line:?}"
    )]
    UnknownFormat { first_line: String },
    #[error("the {language} trace has no stack frame (for Rust, run with RUST_BACKTRACE=1)")]
    NoFrames { language: TraceLanguage },
}

/// Detects the trace's format and parses it. Text around the trace (log prefixes, other log
/// lines) is tolerated.
pub fn parse_trace(text: &str) -> Result<ParsedTrace, TraceError> {
    if text.trim().is_empty() {
        return Err(TraceError::Empty);
    }
    match detect(text) {
        Some(TraceLanguage::Python) => python::parse(text),
        Some(TraceLanguage::Rust) => rust::parse(text),
        Some(TraceLanguage::Go) => go::parse(text),
        Some(TraceLanguage::Java) => java::parse(text),
        Some(TraceLanguage::Node) => node::parse(text),
        None => Err(TraceError::UnknownFormat {
            first_line: text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or_default()
                .chars()
                .take(120)
                .collect(),
        }),
    }
}

/// The trace's runtime, from markers only that runtime prints.
pub fn detect(text: &str) -> Option<TraceLanguage> {
    if python::looks_like(text) {
        Some(TraceLanguage::Python)
    } else if rust::looks_like(text) {
        Some(TraceLanguage::Rust)
    } else if go::looks_like(text) {
        Some(TraceLanguage::Go)
    } else if java::looks_like(text) {
        Some(TraceLanguage::Java)
    } else if node::looks_like(text) {
        Some(TraceLanguage::Node)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_python_and_rust() {
        assert_eq!(
            detect("Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\n"),
            Some(TraceLanguage::Python)
        );
        assert_eq!(
            detect("thread 'main' panicked at src/main.rs:2:5:\nboom\n"),
            Some(TraceLanguage::Rust)
        );
        assert_eq!(
            detect("panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/src/main.go:5 +0x1d\n"),
            Some(TraceLanguage::Go)
        );
        assert_eq!(
            detect("java.lang.NullPointerException\n\tat a.B.c(B.java:3)\n"),
            Some(TraceLanguage::Java)
        );
        assert_eq!(
            detect("TypeError: x\n    at f (/app/a.js:1:2)\n"),
            Some(TraceLanguage::Node)
        );
        assert_eq!(detect("all good"), None);
    }

    #[test]
    fn unknown_format_names_the_first_line() {
        let err = parse_trace("\n  hello world\n").unwrap_err();
        assert!(err.to_string().contains("hello world"), "{err}");
        assert_eq!(parse_trace("  \n"), Err(TraceError::Empty));
    }
}
