//! Stack traces from every runtime healbot reads, parsed into one shape so that ranking and path
//! mapping never care which language crashed. Each runtime's text format lives in its own
//! sibling file (`python.rs`, `rust.rs`, `go.rs`, `java.rs`, `node.rs`); this module first
//! removes what logs wrap traces in (`clean.rs`: colour codes, JSON records and escapes, line
//! prefixes), then detects the format and hands the text to the right parser.

pub mod clean;
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

/// Where a runtime says the error was raised, apart from the frames: Rust's `panicked at
/// file:line:col` is exact (`#[track_caller]`) even when the backtrace is missing or its frames
/// were inlined away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub file: String,
    pub line: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
}

/// Another exception of a chain (Python's `__cause__`/`__context__`, Java's `Caused by`,
/// Node's `[cause]`), with its own frames, innermost first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainedException {
    pub exception: String,
    pub message: String,
    pub frames: Vec<Frame>,
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
    /// reversed by their parser. For a chain these are the frames of the exception that names
    /// the fault: the root cause of a deliberate wrap (`raise … from`, `Caused by`, `cause:`),
    /// the last exception when one was raised while handling another.
    pub frames: Vec<Frame>,
    /// The panic's own location line, when the runtime prints one (Rust).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panic_location: Option<Location>,
    /// The chain's other exceptions, nearest to `frames` first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chained: Vec<ChainedException>,
}

impl ParsedTrace {
    /// The first frame in the service's own code, counting from the innermost.
    pub(crate) fn innermost_in_app(&self) -> Option<&Frame> {
        self.frames.iter().find(|f| f.origin == FrameOrigin::InApp)
    }
}

/// What the parsers look for, for the error that says none was found.
pub(crate) const LOOKED_FOR: &str = "a Rust panic (`panicked at file:line:col`), a Python traceback (`File \"…\", line N`), a Go panic (`goroutine N [running]:`), a Java/Kotlin stack (`at pkg.Class.method(File.java:N)`) or a Node.js stack (`at fn (file.js:L:C)`)";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TraceError {
    #[error("the trace is empty")]
    Empty,
    #[error("no stack trace found in {lines} lines of text: looked for {LOOKED_FOR}")]
    UnknownFormat { lines: usize },
    #[error("the {language} trace names no file and line (for Rust, run with RUST_BACKTRACE=1)")]
    NoFrames { language: TraceLanguage },
}

/// Detects the trace's format and parses it. What logs wrap around a trace (colour codes,
/// JSON records or escapes, line prefixes, other log lines) is tolerated.
pub fn parse_trace(text: &str) -> Result<ParsedTrace, TraceError> {
    if text.trim().is_empty() {
        return Err(TraceError::Empty);
    }
    let text = clean::clean(text);
    match detect(&text) {
        Some(TraceLanguage::Python) => python::parse(&text),
        Some(TraceLanguage::Rust) => rust::parse(&text),
        Some(TraceLanguage::Go) => go::parse(&text),
        Some(TraceLanguage::Java) => java::parse(&text),
        Some(TraceLanguage::Node) => node::parse(&text),
        None => Err(TraceError::UnknownFormat {
            lines: text.lines().count(),
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
    fn text_without_a_trace_says_what_was_looked_for_on_one_line() {
        let err = parse_trace("\n  hello world\nall fine\n").unwrap_err();
        let text = err.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(
            text.starts_with("no stack trace found in 3 lines"),
            "{text}"
        );
        for marker in ["panicked at", "File \"", "goroutine", "Java", "Node.js"] {
            assert!(text.contains(marker), "{marker}: {text}");
        }
        assert_eq!(parse_trace("  \n"), Err(TraceError::Empty));
    }
}

/// Real traces (`testdata/traces/formats/`, produced by running the programs under `src/`
/// there) and the same bytes wrapped the way log pipelines store them.
#[cfg(test)]
mod formats {
    use super::*;

    fn read(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/traces/formats")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn a_wrapped_trace_parses_as_the_original() {
        for (original, wrapped) in [
            ("rust-slice-debug.txt", "rust-slice-docker.jsonl"),
            ("rust-divide-debug.txt", "rust-divide-cri.txt"),
            ("rust-thread-debug.txt", "rust-thread-kubectl.txt"),
            ("rust-expect-debug.txt", "rust-expect-json-string.txt"),
            ("rust-dep-debug.txt", "rust-dep-same-line.txt"),
            (
                "python-chained-cause.txt",
                "python-chained-cause-journald.txt",
            ),
            ("go-index-all.txt", "go-index-compose.txt"),
            ("java-caused-by.txt", "java-caused-by-kubectl.txt"),
            ("node-async.txt", "node-async-docker.jsonl"),
        ] {
            let want = parse_trace(&read(original)).unwrap_or_else(|e| panic!("{original}: {e}"));
            let got = parse_trace(&read(wrapped)).unwrap_or_else(|e| panic!("{wrapped}: {e}"));
            assert_eq!(got, want, "{wrapped}");
            assert!(!want.frames.is_empty(), "{original}");
        }
    }

    #[test]
    fn python_chains_pick_the_root_of_a_wrap_and_the_last_of_a_handler_fault() {
        // `raise ValueError(…) from e`: the KeyError names the fault.
        let t = parse_trace(&read("python-chained-cause.txt")).unwrap();
        assert_eq!(
            (t.exception.as_str(), t.message.as_str()),
            ("KeyError", "'sku'")
        );
        assert_eq!(
            (t.frames[0].function.as_str(), t.frames[0].line),
            ("parse_order", 9)
        );
        assert_eq!(t.chained[0].exception, "ValueError");
        assert_eq!(t.chained[0].frames[0].line, 16);
        // A ZeroDivisionError raised in the `except KeyError:` handler is the fault.
        let t = parse_trace(&read("python-chained-context.txt")).unwrap();
        assert_eq!(t.exception, "ZeroDivisionError");
        assert_eq!(
            (t.frames[0].function.as_str(), t.frames[0].line),
            ("price", 23)
        );
        assert_eq!(t.chained[0].exception, "KeyError");
    }

    #[test]
    fn python_logged_with_a_prefix_and_as_json_records() {
        for name in ["python-logging-prefix.txt", "python-json-log.txt"] {
            let t = parse_trace(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(t.exception, "ZeroDivisionError", "{name}");
            assert_eq!(
                (t.frames[0].function.as_str(), t.frames[0].line),
                ("average", 27)
            );
            let marked = t.frames[0].highlighted();
            assert_eq!(marked, Some("sum(totals) / len(totals)"), "{name}");
        }
    }

    #[test]
    fn go_takes_the_goroutine_that_panicked() {
        let t = parse_trace(&read("go-index-all.txt")).unwrap();
        assert_eq!(
            t.message,
            "runtime error: index out of range [0] with length 0"
        );
        let names: Vec<&str> = t.frames.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(
            names,
            [
                "example.com/shop/orders.First",
                "main.main.func1",
                "main.main"
            ]
        );
        // A dump where the running goroutine is not printed first.
        let dump = "panic: boom\n\ngoroutine 1 [chan receive]:\nmain.main()\n\t/src/main.go:43 +0x185\n\ngoroutine 7 [running]:\nmain.work()\n\t/src/work.go:9 +0x1d\n";
        let t = parse_trace(dump).unwrap();
        assert_eq!(t.frames[0].function, "main.work");
        let t = parse_trace(&read("go-nilmap.txt")).unwrap();
        assert_eq!(t.message, "assignment to entry in nil map");
        assert_eq!(
            (t.frames[0].file.as_str(), t.frames[0].line),
            ("/tmp/tg/go/orders/orders.go", 13)
        );
    }

    #[test]
    fn java_restores_frames_elided_as_more() {
        let t = parse_trace(&read("java-caused-by.txt")).unwrap();
        assert_eq!(t.exception, "java.lang.NullPointerException");
        let frames: Vec<(&str, u32)> = t.frames.iter().map(|f| (f.file.as_str(), f.line)).collect();
        assert_eq!(
            frames,
            [
                ("com/acme/orders/OrderService.java", 21),
                ("com/acme/orders/OrderService.java", 33),
                ("com/acme/orders/OrderService.java", 26),
                ("com/acme/orders/Main.java", 12),
            ]
        );
        assert_eq!(t.chained[0].exception, "java.lang.IllegalStateException");
        let t = parse_trace(&read("java-index.txt")).unwrap();
        assert_eq!(t.frames[0].origin, FrameOrigin::Std);
        assert_eq!(t.innermost_in_app().map(|f| f.line), Some(38));
    }

    #[test]
    fn node_async_frames_and_a_cause() {
        let t = parse_trace(&read("node-async.txt")).unwrap();
        assert_eq!(t.frames.len(), 1);
        assert_eq!(
            (t.frames[0].function.as_str(), t.frames[0].line),
            ("domainOf", 10)
        );
        let t = parse_trace(&read("node-cause.txt")).unwrap();
        assert_eq!(t.exception, "SyntaxError");
        let app: Vec<(&str, u32)> = t
            .frames
            .iter()
            .filter(|f| f.origin == FrameOrigin::InApp)
            .map(|f| (f.function.as_str(), f.line))
            .collect();
        assert_eq!(app, [("loadConfig", 19), ("Object.<anonymous>", 3)]);
        assert_eq!(t.chained[0].message, "bad config");
        assert_eq!(t.chained[0].frames[0].line, 21);
    }
}
