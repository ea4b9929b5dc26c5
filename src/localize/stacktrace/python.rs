//! Python tracebacks: `Traceback (most recent call last):`, then `File "…", line N, in fn` with
//! the code line and, since 3.11, a `^^^`/`~~~` marker line. Chained exceptions (`The above
//! exception was the direct cause…`, `During handling…`) print several tracebacks; every one
//! is parsed, and [`parse`] says which names the fault.

use super::{ChainedException, Frame, FrameOrigin, ParsedTrace, TraceError, TraceLanguage};
use regex::Regex;
use std::sync::OnceLock;

const HEADER: &str = "Traceback (most recent call last):";

fn frame_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"^(\s*)File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?$"#)
            .expect("static regex compiles")
    })
}

fn exception_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^(?P<exc>[A-Za-z_][\w.]*)(?::\s?(?P<msg>.*))?$")
            .expect("static regex compiles")
    })
}

/// Whether the text holds a Python traceback.
pub(crate) fn looks_like(text: &str) -> bool {
    text.contains(HEADER) || text.lines().any(|l| frame_re().is_match(strip_prefix(l)))
}

/// Log shippers put a prefix (timestamp, level) before each line; the traceback's own text
/// starts at `File`, `Traceback`, or at the exception name.
fn strip_prefix(line: &str) -> &str {
    let line = line.trim_end_matches('\r');
    match line.find("File \"") {
        Some(i) if line[..i].trim().is_empty() => line,
        Some(i) => &line[i..],
        None => line,
    }
}

fn is_marker_line(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && t.chars().all(|c| c == '^' || c == '~')
}

fn leading_ws(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// What Python prints between two tracebacks of a chain.
const DIRECT_CAUSE: &str = "The above exception was the direct cause of the following exception";
const DURING_HANDLING: &str = "During handling of the above exception, another exception occurred";

/// One traceback of a chain, with the separator printed before it.
struct Link {
    exception: String,
    message: String,
    /// Innermost first.
    frames: Vec<Frame>,
    /// Printed after `The above exception was the direct cause …` (a deliberate `raise … from`).
    after_direct_cause: bool,
}

/// Parses every traceback of a chain. The exception that names the fault is the last one,
/// unless it deliberately wraps its cause (`raise … from e`): then the cause is, and so on down
/// a run of such wraps. A raise while handling another exception is a fault of the handler,
/// so the last exception stays.
pub fn parse(text: &str) -> Result<ParsedTrace, TraceError> {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains(HEADER))
        .map(|(i, _)| i + 1)
        .collect();
    if starts.is_empty() {
        starts.push(
            lines
                .iter()
                .position(|l| frame_re().is_match(strip_prefix(l)))
                .unwrap_or(0),
        );
    }
    let mut links: Vec<Link> = Vec::new();
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(lines.len(), |next| next - 1);
        let before = if k == 0 {
            &[][..]
        } else {
            &lines[starts[k - 1]..start]
        };
        let after_direct_cause = before
            .iter()
            .rev()
            .take(4)
            .any(|l| l.contains(DIRECT_CAUSE))
            && !before
                .iter()
                .rev()
                .take(4)
                .any(|l| l.contains(DURING_HANDLING));
        if let Some((frames, exception, message)) = parse_one(&lines[start..end]) {
            links.push(Link {
                exception,
                message,
                frames,
                after_direct_cause,
            });
        }
    }
    let Some(mut primary) = links.len().checked_sub(1) else {
        return Err(TraceError::NoFrames {
            language: TraceLanguage::Python,
        });
    };
    while primary > 0 && links[primary].after_direct_cause {
        primary -= 1;
    }
    let mut order: Vec<usize> = (0..links.len()).filter(|&i| i != primary).collect();
    order.sort_by_key(|&i| (i.abs_diff(primary), std::cmp::Reverse(i)));
    let mut taken: Vec<Option<Link>> = links.into_iter().map(Some).collect();
    let main = taken[primary].take().ok_or(TraceError::NoFrames {
        language: TraceLanguage::Python,
    })?;
    let chained = order
        .into_iter()
        .filter_map(|i| taken[i].take())
        .map(|l| ChainedException {
            exception: l.exception,
            message: l.message,
            frames: l.frames,
        })
        .collect();
    Ok(ParsedTrace {
        language: TraceLanguage::Python,
        exception: main.exception,
        message: main.message,
        frames: main.frames,
        panic_location: None,
        chained,
    })
}

/// One traceback: its frames (innermost first), exception and message; `None` without frames.
fn parse_one(lines: &[&str]) -> Option<(Vec<Frame>, String, String)> {
    let mut frames: Vec<Frame> = Vec::new();
    let mut exception: Option<(String, String)> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = strip_prefix(lines[i]);
        if let Some(c) = frame_re().captures(line) {
            let indent = leading_ws(line);
            let mut frame = Frame {
                file: c["file"].to_string(),
                line: c["line"].parse().unwrap_or(0),
                column: None,
                function: c
                    .name("func")
                    .map_or("<unknown>", |m| m.as_str())
                    .trim()
                    .to_string(),
                code: None,
                origin: origin_of(&c["file"]),
                highlight: None,
            };
            let code_line = lines.get(i + 1).copied();
            if let Some(code_line) = code_line
                .filter(|l| leading_ws(l) > indent && !l.trim().is_empty() && !is_marker_line(l))
            {
                if !frame_re().is_match(code_line) {
                    frame.code = Some(code_line.trim().to_string());
                    i += 1;
                    if let Some(marker) = lines.get(i + 1).filter(|l| is_marker_line(l)) {
                        frame.highlight = highlight(code_line, marker);
                        i += 1;
                    }
                }
            }
            frames.push(frame);
        } else if line.trim_start().starts_with("[Previous line repeated") {
            // Recursion summary: the frames before it already stand for it.
        } else if exception.is_none() && !frames.is_empty() && leading_ws(line) == 0 {
            if let Some(c) = exception_re().captures(line.trim()) {
                let mut message = c.name("msg").map_or("", |m| m.as_str()).to_string();
                // Multi-line messages continue until a blank line.
                while let Some(next) = lines.get(i + 1).filter(|l| !l.trim().is_empty()) {
                    message.push('\n');
                    message.push_str(next);
                    i += 1;
                }
                exception = Some((c["exc"].to_string(), message));
            }
        }
        i += 1;
    }
    if frames.is_empty() {
        return None;
    }
    frames.reverse(); // printed outermost first; ParsedTrace wants innermost first
    let (exception, message) = exception.unwrap_or_else(|| ("Exception".into(), String::new()));
    Some((frames, exception, message))
}

/// The byte range of `code_line.trim()` under the marker's `^`/`~` characters.
fn highlight(code_line: &str, marker: &str) -> Option<(usize, usize)> {
    let code_start = leading_ws(code_line);
    let first = marker.find(['^', '~'])?;
    let last = marker.rfind(['^', '~'])? + 1;
    let code = code_line.trim();
    // Columns count characters; the code may hold non-ASCII text.
    let to_byte = |col: usize| -> Option<usize> {
        let chars = col.checked_sub(code_start)?;
        code.char_indices()
            .map(|(b, _)| b)
            .chain(std::iter::once(code.len()))
            .nth(chars)
    };
    let (start, end) = (to_byte(first)?, to_byte(last)?);
    (start < end).then_some((start, end))
}

/// Tells the standard library and installed packages apart from the service's code.
pub(crate) fn origin_of(path: &str) -> FrameOrigin {
    let p = path.replace('\\', "/");
    if p.contains("/site-packages/") || p.contains("/dist-packages/") {
        return FrameOrigin::Dependency;
    }
    if p.starts_with("<frozen ") {
        return FrameOrigin::Std;
    }
    static STDLIB: OnceLock<Regex> = OnceLock::new();
    let stdlib = STDLIB.get_or_init(|| {
        Regex::new(r"(?i)/lib(64)?/python\d+(\.\d+)?/|/python\d+/lib/|^[a-z]:/python\d+/lib/")
            .expect("static regex compiles")
    });
    if stdlib.is_match(&p) {
        FrameOrigin::Std
    } else {
        FrameOrigin::InApp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYMENT: &str = include_str!("../../../testdata/traces/payment-null.txt");
    const CHAINED: &str = include_str!("../../../testdata/traces/inventory-connection-refused.txt");

    #[test]
    fn payment_traceback_innermost_first() {
        let t = parse(PAYMENT).unwrap();
        assert_eq!(t.exception, "AttributeError");
        assert_eq!(t.message, "'NoneType' object has no attribute 'split'");
        let f = &t.frames[0];
        assert_eq!((f.file.as_str(), f.line), ("/app/receipts.py", 9));
        assert_eq!(f.function, "send_receipt");
        assert_eq!(
            f.code.as_deref(),
            Some(r#"local, domain = address.split("@", 1)"#)
        );
        assert_eq!(f.highlighted(), Some("address.split"));
        assert_eq!(t.frames[1].function, "process_payment");
        assert_eq!(t.frames[1].line, 26);
        assert_eq!(t.frames[2].file, "<string>");
        assert!(t.frames.iter().all(|f| f.origin == FrameOrigin::InApp));
    }

    #[test]
    fn chained_traceback_uses_the_last_exception() {
        let t = parse(CHAINED).unwrap();
        assert_eq!(t.exception, "requests.exceptions.ConnectionError");
        assert!(t.message.contains("Max retries exceeded"), "{}", t.message);
        assert_eq!(t.frames[0].function, "send");
        assert_eq!(t.frames[0].origin, FrameOrigin::Dependency);
        let app: Vec<_> = t
            .frames
            .iter()
            .filter(|f| f.origin == FrameOrigin::InApp)
            .collect();
        assert_eq!(app[0].function, "fetch_stock");
        assert_eq!(app[1].function, "handle_stock");
        assert_eq!(t.frames.len(), 8);
    }

    #[test]
    fn pre_311_traceback_without_markers_and_with_log_prefix() {
        let text = r#"2024-05-01T10:00:00Z ERROR Traceback (most recent call last):
2024-05-01T10:00:00Z ERROR   File "/srv/app/jobs.py", line 12, in run
    total = values[3]
IndexError: list index out of range
"#;
        let t = parse(text).unwrap();
        assert_eq!(t.exception, "IndexError");
        assert_eq!(t.frames[0].line, 12);
        assert_eq!(t.frames[0].code.as_deref(), Some("total = values[3]"));
        assert_eq!(t.frames[0].highlight, None);
    }

    #[test]
    fn stdlib_and_frozen_frames_are_std() {
        assert_eq!(
            origin_of("/usr/lib/python3.11/json/decoder.py"),
            FrameOrigin::Std
        );
        assert_eq!(
            origin_of("/root/.pyenv/versions/3.11.7/lib/python3.11/http/client.py"),
            FrameOrigin::Std
        );
        assert_eq!(origin_of("<frozen importlib._bootstrap>"), FrameOrigin::Std);
        assert_eq!(
            origin_of("/app/.venv/lib/python3.12/site-packages/flask/app.py"),
            FrameOrigin::Dependency
        );
        assert_eq!(
            origin_of("C:\\Python311\\Lib\\json\\decoder.py"),
            FrameOrigin::Std
        );
        assert_eq!(origin_of("/app/payment_processor.py"), FrameOrigin::InApp);
    }

    #[test]
    fn frame_without_code_line_and_missing_exception() {
        let text = "Traceback (most recent call last):\n  File \"<stdin>\", line 1, in <module>\n";
        let t = parse(text).unwrap();
        assert_eq!(t.frames[0].code, None);
        assert_eq!(t.exception, "Exception");
        assert!(parse("Traceback (most recent call last):\nValueError: x\n").is_err());
    }

    #[test]
    fn recursion_summary_and_multiline_message() {
        let text = "Traceback (most recent call last):\n  File \"/app/a.py\", line 3, in f\n    return f(n)\n  [Previous line repeated 996 more times]\nRecursionError: maximum recursion depth exceeded\n  while calling a Python object\n\nother log line\n";
        let t = parse(text).unwrap();
        assert_eq!(t.frames.len(), 1);
        assert_eq!(
            t.message,
            "maximum recursion depth exceeded\n  while calling a Python object"
        );
    }
}
