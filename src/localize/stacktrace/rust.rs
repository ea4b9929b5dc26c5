//! Rust panics: the `thread '…' panicked at` line (the 1.73+ form with the message on the next
//! lines, and the older `panicked at 'msg', file:line:col` form), followed by the
//! `RUST_BACKTRACE=1` or `=full` backtrace (numbered frames, with or without addresses, symbol
//! hashes, `at path:line:col` lines). Rust prints the innermost frame first, as
//! [`ParsedTrace`] wants.

use super::{Frame, FrameOrigin, ParsedTrace, TraceError, TraceLanguage};
use regex::Regex;
use std::sync::OnceLock;

struct Res {
    panic_new: Regex,
    panic_old: Regex,
    frame: Regex,
    at: Regex,
    hash: Regex,
}

fn res() -> &'static Res {
    static RES: OnceLock<Res> = OnceLock::new();
    RES.get_or_init(|| Res {
        panic_new: Regex::new(
            r"thread '[^']*'(?: \(\d+\))? panicked at (?P<loc>\S+?):(?P<line>\d+):(?P<col>\d+):$",
        )
        .expect("static regex compiles"),
        panic_old: Regex::new(
            r"thread '[^']*'(?: \(\d+\))? panicked at '(?P<msg>.*)', (?P<loc>\S+?):(?P<line>\d+):(?P<col>\d+)$",
        )
        .expect("static regex compiles"),
        frame: Regex::new(r"^\s*\d+:\s+(?:0x[0-9a-f]+ - )?(?P<func>.+?)\s*$")
            .expect("static regex compiles"),
        at: Regex::new(r"^\s+at (?P<file>.+?):(?P<line>\d+)(?::(?P<col>\d+))?\s*$")
            .expect("static regex compiles"),
        // Symbol hashes (`::h0123…`) and crate disambiguators (`std[e282…]`).
        hash: Regex::new(r"::h[0-9a-f]{16}$|\[[0-9a-f]{16}\]").expect("static regex compiles"),
    })
}

/// Whether the text holds a Rust panic.
pub fn looks_like(text: &str) -> bool {
    let r = res();
    text.lines()
        .any(|l| r.panic_new.is_match(l) || r.panic_old.is_match(l))
}

/// Parses the first panic in `text` and its backtrace.
pub fn parse(text: &str) -> Result<ParsedTrace, TraceError> {
    let r = res();
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut message = String::new();
    let mut location: Option<(String, u32, u32)> = None;
    let mut i = 0;
    while i < lines.len() {
        if let Some(c) = r.panic_old.captures(lines[i]) {
            message = c["msg"].to_string();
            location = Some(loc(&c));
            i += 1;
            break;
        }
        if let Some(c) = r.panic_new.captures(lines[i]) {
            location = Some(loc(&c));
            i += 1;
            let mut msg = Vec::new();
            while i < lines.len() && !is_trailer(lines[i]) {
                msg.push(lines[i]);
                i += 1;
            }
            message = msg.join("\n");
            break;
        }
        i += 1;
    }

    let mut frames = Vec::new();
    while i < lines.len() {
        if let Some(c) = r.frame.captures(lines[i]) {
            let function = r.hash.replace_all(&c["func"], "").into_owned();
            // A frame without an `at` line has no location to map; it is skipped.
            if let Some(at) = lines.get(i + 1).and_then(|l| r.at.captures(l)) {
                frames.push(Frame {
                    file: at["file"].to_string(),
                    line: at["line"].parse().unwrap_or(0),
                    column: at.name("col").and_then(|m| m.as_str().parse().ok()),
                    origin: origin_of(&at["file"], &function),
                    function,
                    code: None,
                    highlight: None,
                });
                i += 1;
            }
        }
        i += 1;
    }
    if frames.is_empty() {
        // No backtrace: the panic location is the only frame there is.
        let Some((file, line, col)) = location else {
            return Err(TraceError::NoFrames {
                language: TraceLanguage::Rust,
            });
        };
        frames.push(Frame {
            origin: origin_of(&file, ""),
            file,
            line,
            column: Some(col),
            function: "<unknown>".into(),
            code: None,
            highlight: None,
        });
    }
    Ok(ParsedTrace {
        language: TraceLanguage::Rust,
        exception: "panic".into(),
        message,
        frames,
    })
}

fn loc(c: &regex::Captures<'_>) -> (String, u32, u32) {
    (
        c["loc"].to_string(),
        c["line"].parse().unwrap_or(0),
        c["col"].parse().unwrap_or(0),
    )
}

fn is_trailer(line: &str) -> bool {
    line.starts_with("note: ") || line.starts_with("stack backtrace:")
}

/// Tells std (`/rustc/<hash>/library/…`) and crates.io dependencies apart from the service.
pub fn origin_of(path: &str, function: &str) -> FrameOrigin {
    let p = path.replace('\\', "/");
    if p.starts_with("/rustc/") || p.contains("/rustlib/src/rust/library/") {
        FrameOrigin::Std
    } else if p.contains(".cargo/registry/")
        || p.contains(".cargo/git/")
        || p.contains("/cargo/registry/")
    {
        FrameOrigin::Dependency
    } else if ["std::", "core::", "alloc::", "__", "_start"]
        .iter()
        .any(|s| function.starts_with(s))
        || p.contains("/csu/")
        || p.contains("sysdeps/")
    {
        // The runtime and the C library that start the program.
        FrameOrigin::Std
    } else {
        FrameOrigin::InApp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: &str = r#"thread 'tokio-runtime-worker' panicked at src/handlers/users.rs:42:38:
called `Option::unwrap()` on a `None` value
stack backtrace:
   0: rust_begin_unwind
             at /rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/std/src/panicking.rs:578:5
   1: core::panicking::panic
             at /rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/core/src/panicking.rs:117:5
   2: core::option::Option<T>::unwrap
   3: userd::handlers::users::get_user::{{closure}}
             at ./src/handlers/users.rs:42:38
   4: serde_json::de::from_str
             at /home/me/.cargo/registry/src/index.crates.io-6f17d22bba15001f/serde_json-1.0.96/src/de.rs:2676:5
   5: userd::main
             at ./src/main.rs:9:5
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.
"#;

    const FULL: &str = r#"thread 'main' panicked at 'index out of bounds: the len is 3 but the index is 7', /home/runner/work/svc/svc/src/lib.rs:5:5
stack backtrace:
   0:     0x55d1c2a3e1a9 - std::backtrace_rs::backtrace::libunwind::trace::h1a2b3c4d5e6f7a8b
                               at /rustc/abc/library/std/src/../../backtrace/src/backtrace/libunwind.rs:93:5
   7:     0x55d1c2a3e2b0 - svc::pick::h0123456789abcdef
                               at /home/runner/work/svc/svc/src/lib.rs:5:5
"#;

    #[test]
    fn new_format_with_short_backtrace() {
        let t = parse(SHORT).unwrap();
        assert_eq!(t.message, "called `Option::unwrap()` on a `None` value");
        let app: Vec<_> = t
            .frames
            .iter()
            .filter(|f| f.origin == FrameOrigin::InApp)
            .collect();
        assert_eq!(
            app[0].function,
            "userd::handlers::users::get_user::{{closure}}"
        );
        assert_eq!((app[0].line, app[0].column), (42, Some(38)));
        assert_eq!(app[1].file, "./src/main.rs");
        assert_eq!(t.frames[0].origin, FrameOrigin::Std);
        assert_eq!(t.frames[3].origin, FrameOrigin::Dependency);
    }

    #[test]
    fn old_format_with_full_backtrace_strips_hashes() {
        let t = parse(FULL).unwrap();
        assert!(t.message.starts_with("index out of bounds"));
        assert_eq!(t.frames.len(), 2);
        assert_eq!(t.frames[1].function, "svc::pick");
        assert_eq!(t.frames[1].origin, FrameOrigin::InApp);
    }

    #[test]
    fn real_backtraces_from_rustc_1_95() {
        for text in [
            include_str!("../../../testdata/traces/rust-unwrap-none.txt"),
            include_str!("../../../testdata/traces/rust-unwrap-none-full.txt"),
        ] {
            let t = parse(text).unwrap();
            assert_eq!(t.message, "called `Option::unwrap()` on a `None` value");
            let app: Vec<_> = t
                .frames
                .iter()
                .filter(|f| f.origin == FrameOrigin::InApp)
                .collect();
            assert_eq!(app.len(), 2, "{app:?}");
            assert_eq!(app[0].function, "userd::handlers::receipt_domain");
            assert!(app[0].file.ends_with("src/handlers.rs"));
            assert_eq!((app[0].line, app[0].column), (10, Some(37)));
            assert_eq!(app[1].function, "userd::main");
            assert!(
                !t.frames.iter().any(|f| f.function.contains('[')),
                "{:?}",
                t.frames
            );
        }
    }

    #[test]
    fn panic_without_backtrace_uses_the_panic_location() {
        let t = parse(
            "thread 'main' panicked at src/main.rs:2:5:\nboom\nnote: run with `RUST_BACKTRACE=1`\n",
        )
        .unwrap();
        assert_eq!(t.message, "boom");
        assert_eq!(
            (t.frames[0].file.as_str(), t.frames[0].line),
            ("src/main.rs", 2)
        );
    }
}
