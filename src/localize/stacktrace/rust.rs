//! Rust panics and errors as real logs hold them. The panic line in every form std and the
//! usual hooks print: `thread 'main' panicked at src/x.rs:62:10:` with the message on the next
//! lines (1.73+) or on the same line, the older `panicked at 'msg', src/x.rs:62:10`, log-panics'
//! `panicked at 'msg': src/x.rs:62`, a hook's `panicked at …` without the thread, and the
//! `Location { file, line, column }` of a `{:?}`-printed hook info. Then the backtrace:
//! `RUST_BACKTRACE=1` or `=full` frames (numbered, with or without addresses, symbol hashes,
//! `at path:line:col` on the next line, inlined symbols without a number), std's `{:?}` form
//! (`Backtrace [{ fn: "…", file: "…", line: N }, …]`) and anyhow's `Error: …` with
//! `Stack backtrace:`. Frames of a panic hook (before std's panic machinery) are dropped. Rust
//! prints the innermost frame first, as [`ParsedTrace`] wants.

use super::{Frame, FrameOrigin, Location, ParsedTrace, TraceError, TraceLanguage};
use regex::Regex;
use std::sync::OnceLock;

struct Res {
    panic_old: Regex,
    panic_log: Regex,
    panic_new: Regex,
    debug_location: Regex,
    anyhow: Regex,
    frame: Regex,
    inlined: Regex,
    at: Regex,
    debug_frame: Regex,
    hash: Regex,
}

fn res() -> &'static Res {
    static RES: OnceLock<Res> = OnceLock::new();
    RES.get_or_init(|| {
        let re = |p: &str| Regex::new(p).expect("static regex compiles");
        Res {
            panic_old: re(
                r"panicked at '(?P<msg>.*)', (?P<loc>\S+?):(?P<line>\d+)(?::(?P<col>\d+))?\s*$",
            ),
            panic_log: re(
                r"panicked at '(?P<msg>.*)': (?P<loc>\S+?):(?P<line>\d+)(?::(?P<col>\d+))?\s*$",
            ),
            panic_new: re(
                r"panicked at (?P<loc>[^\s'][^\s]*?):(?P<line>\d+):(?P<col>\d+)(?::?\s*$|:\s+(?P<msg>.*)$)",
            ),
            debug_location: re(
                r#"Location \{ file: "(?P<loc>[^"]+)", line: (?P<line>\d+), col(?:umn)?: (?P<col>\d+) \}"#,
            ),
            anyhow: re(r"^Error: (?P<msg>.*)$"),
            frame: re(r"^\s*\d+:\s+(?:0x[0-9a-fA-F]+ - )?(?P<func>\S.*?)\s*$"),
            inlined: re(r"^\s{6,}(?:0x[0-9a-fA-F]+ - )?(?P<func>[^\s\d].*?)\s*$"),
            at: re(r"^\s+at (?P<file>.+?):(?P<line>\d+)(?::(?P<col>\d+))?\s*$"),
            debug_frame: re(
                r#"\{ fn: "(?P<func>(?:[^"\\]|\\.)*)"(?:, file: "(?P<file>[^"]*)", line: (?P<line>\d+))? \}"#,
            ),
            // Symbol hashes (`::h0123…`) and crate disambiguators (`std[e282…]`).
            hash: re(r"::h[0-9a-f]{16}$|\[[0-9a-f]{16}\]"),
        }
    })
}

/// Whether the text holds a Rust panic or an error with a Rust backtrace.
pub(crate) fn looks_like(text: &str) -> bool {
    let r = res();
    text.lines().any(|l| {
        l.contains("panicked at ")
            && (r.panic_new.is_match(l) || r.panic_old.is_match(l) || r.panic_log.is_match(l))
    }) || r.debug_location.is_match(text) && r.debug_frame.is_match(text)
        || text.contains("Stack backtrace:") && text.lines().any(|l| r.anyhow.is_match(l))
}

/// The panic's header: where it happened and its message.
struct Header {
    location: Option<Location>,
    message: String,
    exception: &'static str,
}

/// Parses the first panic in `text` and its backtrace.
pub fn parse(text: &str) -> Result<ParsedTrace, TraceError> {
    let lines = split_fields(text);
    let (header, body_start) = header(&lines);
    let mut frames = frames(&lines[body_start..]);
    if frames.is_empty() {
        frames = debug_frames(text);
    }
    drop_hook_frames(&mut frames);
    if frames.is_empty() {
        // No backtrace: the panic location is the only frame there is.
        let Some(loc) = &header.location else {
            return Err(TraceError::NoFrames {
                language: TraceLanguage::Rust,
            });
        };
        frames.push(Frame {
            origin: origin_of(&loc.file, ""),
            file: loc.file.clone(),
            line: loc.line,
            column: loc.column,
            function: "<unknown>".into(),
            code: None,
            highlight: None,
        });
    }
    Ok(ParsedTrace {
        language: TraceLanguage::Rust,
        exception: header.exception.into(),
        message: header.message,
        frames,
        panic_location: header.location,
        chained: Vec::new(),
    })
}

/// tracing's text format puts fields on the panic's lines (`… boom backtrace=   0: …`):
/// the backtrace field starts a line of its own.
fn split_fields(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        match line.find(" backtrace=") {
            Some(i) if !line.contains("RUST_BACKTRACE=") => {
                out.push(line[..i].to_string());
                out.push(line[i + " backtrace=".len()..].to_string());
            }
            _ => out.push(line.to_string()),
        }
    }
    out
}

/// The first panic line (or anyhow's `Error:` line) and the index of the line after its
/// message.
fn header(lines: &[String]) -> (Header, usize) {
    let r = res();
    let location = |c: &regex::Captures<'_>| Location {
        file: c["loc"].to_string(),
        line: c["line"].parse().unwrap_or(0),
        column: c.name("col").and_then(|m| m.as_str().parse().ok()),
    };
    for (i, line) in lines.iter().enumerate() {
        if !line.contains("panicked at ") {
            continue;
        }
        if let Some(c) = r
            .panic_old
            .captures(line)
            .or_else(|| r.panic_log.captures(line))
        {
            let header = Header {
                location: Some(location(&c)),
                message: c["msg"].to_string(),
                exception: "panic",
            };
            return (header, i + 1);
        }
        if let Some(c) = r.panic_new.captures(line) {
            let mut message: Vec<&str> = c.name("msg").map(|m| m.as_str()).into_iter().collect();
            let mut j = i + 1;
            while j < lines.len() && !ends_message(&lines[j]) {
                message.push(&lines[j]);
                j += 1;
            }
            let header = Header {
                location: Some(location(&c)),
                message: message.join("\n").trim().to_string(),
                exception: "panic",
            };
            return (header, j);
        }
    }
    let whole = lines.join("\n");
    if let Some(c) = r.debug_location.captures(&whole) {
        let header = Header {
            location: Some(location(&c)),
            message: String::new(),
            exception: "panic",
        };
        return (header, 0);
    }
    for (i, line) in lines.iter().enumerate() {
        if let Some(c) = r.anyhow.captures(line) {
            // `Caused by:` and its indented causes belong to the message.
            let mut message = vec![c["msg"].to_string()];
            let mut j = i + 1;
            while j < lines.len() && !lines[j].starts_with("Stack backtrace:") {
                let t = lines[j].trim();
                if !t.is_empty() && t != "Caused by:" {
                    message.push(
                        t.trim_start_matches(|c: char| c.is_ascii_digit() || c == ':')
                            .trim()
                            .to_string(),
                    );
                }
                j += 1;
            }
            let header = Header {
                location: None,
                message: message.join("\n"),
                exception: "error",
            };
            return (header, j);
        }
    }
    let header = Header {
        location: None,
        message: String::new(),
        exception: "panic",
    };
    (header, 0)
}

/// Where a panic message ends: std's notes, the backtrace, a blank line, another panic.
fn ends_message(line: &str) -> bool {
    let t = line.trim_start();
    line.trim().is_empty()
        || t.starts_with("note: ")
        || t.starts_with("stack backtrace:")
        || t.starts_with("Stack backtrace:")
        || line.contains("panicked at ")
        || res().frame.is_match(line) && line.starts_with("  ")
}

/// Numbered frames, and inlined symbols printed without a number, each with its `at` line.
/// A symbol without an `at` line has no location to map and is skipped.
fn frames(lines: &[String]) -> Vec<Frame> {
    let r = res();
    let mut frames = Vec::new();
    let mut seen_numbered = false;
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        let func = if let Some(c) = r.frame.captures(line) {
            seen_numbered = true;
            Some(c["func"].to_string())
        } else if seen_numbered && !r.at.is_match(line) {
            r.inlined.captures(line).map(|c| c["func"].to_string())
        } else {
            None
        };
        if let Some(func) = func {
            if let Some(at) = lines.get(i + 1).and_then(|l| r.at.captures(l)) {
                let function = r.hash.replace_all(&func, "").into_owned();
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
            } else {
                // Kept only to tell where std's panic machinery ends.
                let function = r.hash.replace_all(&func, "").into_owned();
                if is_panic_machinery(&function) {
                    frames.push(Frame {
                        file: String::new(),
                        line: 0,
                        column: None,
                        origin: FrameOrigin::Std,
                        function,
                        code: None,
                        highlight: None,
                    });
                }
            }
        }
        i += 1;
    }
    frames
}

/// std's `{:?}` of a `Backtrace`: `Backtrace [{ fn: "…", file: "…", line: N }, …]`.
fn debug_frames(text: &str) -> Vec<Frame> {
    let r = res();
    r.debug_frame
        .captures_iter(text)
        .filter_map(|c| {
            let function = r
                .hash
                .replace_all(&c["func"].replace("\\\"", "\""), "")
                .into_owned();
            let Some(file) = c.name("file") else {
                return is_panic_machinery(&function).then(|| Frame {
                    file: String::new(),
                    line: 0,
                    column: None,
                    origin: FrameOrigin::Std,
                    function,
                    code: None,
                    highlight: None,
                });
            };
            Some(Frame {
                file: file.as_str().to_string(),
                line: c["line"].parse().unwrap_or(0),
                column: None,
                origin: origin_of(file.as_str(), &function),
                function,
                code: None,
                highlight: None,
            })
        })
        .collect()
}

/// std's frames from the panic macro to the hook that prints it (not `catch_unwind` and the
/// runtime's start, which are std too but lie outside the panicking code).
fn is_panic_machinery(function: &str) -> bool {
    const MACHINERY: &[&str] = &[
        "rust_begin_unwind",
        "__rustc::rust_begin_unwind",
        "rust_panic",
        "core::panicking::",
        "core::option::unwrap_failed",
        "core::option::expect_failed",
        "core::result::unwrap_failed",
        "std::panicking::begin_panic",
        "std::panicking::rust_panic_with_hook",
        "std::panicking::panic_with_hook",
        "std::panicking::panic_handler",
        "std::panicking::default_hook",
        "std::sys::backtrace::__rust_end_short_backtrace",
        "std::sys_common::backtrace::__rust_end_short_backtrace",
        "std::panic::panic_any",
        "std::rt::begin_panic",
    ];
    MACHINERY.iter().any(|m| function.starts_with(m))
}

/// A hook that captures its own backtrace (`Backtrace::force_capture()` in a panic hook) prints
/// the hook's frames before std's panic machinery: they report the panic, they did not cause
/// it, so they go. Machinery frames kept without a location go too.
fn drop_hook_frames(frames: &mut Vec<Frame>) {
    if let Some(first) = frames.iter().position(|f| is_panic_machinery(&f.function)) {
        if frames[..first].iter().any(|f| f.origin != FrameOrigin::Std) {
            frames.drain(..first);
        }
    }
    frames.retain(|f| !f.file.is_empty());
}

/// Tells std (`/rustc/<hash>/library/…`, a toolchain's `rust/library`) and crates.io or git
/// dependencies (any cargo home's `registry/src/<index>/`, `git/checkouts/`, vendored crates)
/// apart from the service.
pub(crate) fn origin_of(path: &str, function: &str) -> FrameOrigin {
    let p = path.replace('\\', "/");
    if p.starts_with("/rustc/")
        || p.contains("/rustlib/src/rust/library/")
        || p.contains("/.rustup/toolchains/")
    {
        FrameOrigin::Std
    } else if p.contains(".cargo/registry/")
        || p.contains(".cargo/git/")
        || p.contains("/cargo/registry/")
        || p.contains("/cargo/git/checkouts/")
        || p.contains("/registry/src/index.crates.io-")
        || p.contains("/registry/src/github.com-")
        || p.starts_with("vendor/")
        || p.contains("/vendor/")
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
mod tests;
