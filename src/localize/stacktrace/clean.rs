//! Traces as logs really carry them, turned back into the text the runtime printed, before any
//! parser looks at them: ANSI colour codes removed; a trace pasted as one JSON string (quoted,
//! `\n` and `\"` escaped) decoded; JSON log records (`{"msg": …, "stack": …}`, Docker's
//! `{"log": …}`, tracing's `{"fields": {"panic": …, "backtrace": …}}`) replaced by their
//! message and stack fields; and per-line prefixes (timestamps, levels, pod and container names,
//! the CRI `stderr F` marker, syslog headers) cut off. Each step is conservative: a line that
//! does not look like a prefix or a record is left as it was.

use regex::Regex;
use std::sync::OnceLock;

/// The text with every log wrapping removed (see the module comment).
pub fn clean(text: &str) -> String {
    let text = text.trim_start_matches('\u{feff}').replace("\r\n", "\n");
    let text = strip_ansi(&text);
    if let Some(whole) = decode_whole(&text) {
        return whole;
    }
    let text = decode_records(&text);
    let text = unescape_dominant(&text).unwrap_or(text);
    let text = strip_prefixes(&text);
    // A record may hold escaped colour codes (`\u001b[31m`), decoded only now.
    strip_ansi(&text)
}

/// `ESC [ … letter` (colours, cursor moves) and `ESC ] … BEL` (terminal titles, links).
fn strip_ansi(text: &str) -> String {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
            .expect("static regex compiles")
    });
    if text.contains('\x1b') {
        re.replace_all(text, "").into_owned()
    } else {
        text.to_string()
    }
}

/// The whole text as one JSON value: a string literal, or a record spread over several lines.
fn decode_whole(text: &str) -> Option<String> {
    let t = text.trim();
    if !(t.starts_with('"') || t.starts_with('{')) {
        return None;
    }
    let value = serde_json::from_str::<serde_json::Value>(t).ok()?;
    let out = match &value {
        serde_json::Value::String(s) => s.clone(),
        v => record_text(v)?,
    };
    Some(clean(&out))
}

/// Escaped newlines outnumber the real ones: a string copied out of a JSON document or a Rust
/// `{:?}` dump, with or without its quotes.
fn unescape_dominant(text: &str) -> Option<String> {
    let t = text.trim();
    let escaped = t.matches("\\n").count();
    let real = t.matches('\n').count();
    if escaped >= 2 && escaped > real {
        let inner = t
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(t);
        return Some(unescape(inner));
    }
    None
}

/// JSON string escapes, decoded leniently: an unknown escape is kept as it is.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => {}
            Some('"') => out.push('"'),
            Some('\'') => out.push('\''),
            Some('\\') => out.push('\\'),
            Some('/') => out.push('/'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Every line that is a JSON object (after an optional log prefix) becomes the text of its
/// message and stack fields; Docker's `{"log": "…\n"}` lines join back into the original lines.
fn decode_records(text: &str) -> String {
    if !text.contains('{') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let start = body.find('{');
        let decoded = start.and_then(|i| {
            let candidate = body[i..].trim_end();
            if !candidate.ends_with('}') {
                return None;
            }
            let value: serde_json::Value = serde_json::from_str(candidate).ok()?;
            record_text(&value)
        });
        match decoded {
            Some(text) => {
                out.push_str(&text);
                if !text.ends_with('\n') {
                    out.push('\n');
                }
            }
            None => out.push_str(line),
        }
    }
    out
}

/// Keys whose string value is the record's message, printed first.
const MESSAGE_KEYS: &[&str] = &[
    "log",
    "msg",
    "message",
    "MESSAGE",
    "text",
    "error",
    "err",
    "exception",
    "panic",
    "panic.payload",
    "reason",
];

/// Keys whose string value is a stack, printed after the message.
const STACK_KEYS: &[&str] = &[
    "stack",
    "stack_trace",
    "stacktrace",
    "stackTrace",
    "backtrace",
    "panic.backtrace",
    "traceback",
    "exc_info",
    "exc_text",
    "trace",
];

/// A record's message and stack fields, nested objects included (`error.stack`,
/// `fields.backtrace`); `None` when it has none. A message that the stack already holds
/// (Node's `err.stack` starts with `Error: <message>`) is not repeated.
fn record_text(value: &serde_json::Value) -> Option<String> {
    // Docker's json-file driver: one line of output with its newline, kept byte for byte.
    if let Some(serde_json::Value::String(line)) = value.get("log") {
        if value.get("stream").is_some() {
            return Some(line.clone());
        }
    }
    let mut messages = Vec::new();
    let mut stacks = Vec::new();
    collect(value, &mut messages, &mut stacks, 0);
    // tracing-panic's `panic.location` with `panic.payload`: the std hook's header again.
    if let Some(obj) = value.as_object() {
        let field = |k: &str| {
            obj.get(k)
                .or_else(|| obj.get("fields").and_then(|f| f.get(k)))
                .and_then(|v| v.as_str())
        };
        if let Some(location) = field("panic.location") {
            let payload = field("panic.payload").unwrap_or_default();
            messages.retain(|m| m != payload);
            messages.push(format!("panicked at {location}:\n{payload}"));
        }
    }
    let stack_text = stacks.join("\n");
    messages.retain(|m| !stack_text.contains(m.trim()));
    let mut parts: Vec<String> = messages;
    parts.extend(stacks);
    parts.retain(|p| !p.trim().is_empty());
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("\n"))
}

fn collect(
    value: &serde_json::Value,
    messages: &mut Vec<String>,
    stacks: &mut Vec<String>,
    depth: u8,
) {
    let Some(obj) = value.as_object() else { return };
    if depth > 4 {
        return;
    }
    for key in MESSAGE_KEYS {
        match obj.get(*key) {
            Some(serde_json::Value::String(s)) => messages.push(s.clone()),
            Some(v @ serde_json::Value::Object(_)) => collect(v, messages, stacks, depth + 1),
            _ => {}
        }
    }
    for key in STACK_KEYS {
        match obj.get(*key) {
            Some(serde_json::Value::String(s)) => stacks.push(s.clone()),
            Some(serde_json::Value::Array(lines)) => {
                let lines: Vec<&str> = lines.iter().filter_map(|l| l.as_str()).collect();
                if !lines.is_empty() {
                    stacks.push(lines.join("\n"));
                }
            }
            Some(v @ serde_json::Value::Object(_)) => collect(v, messages, stacks, depth + 1),
            _ => {}
        }
    }
    // tracing's JSON puts the event's fields under `fields`; Bunyan/pino nest `err`.
    for key in ["fields", "error_details", "exception_details"] {
        if let Some(v @ serde_json::Value::Object(_)) = obj.get(key) {
            collect(v, messages, stacks, depth + 1);
        }
    }
}

/// One log prefix: timestamps, levels, `[pod/…]`, `service_1  |`, `stderr F`, syslog headers,
/// glog headers, and a bracketed thread or logger name after one of those.
fn prefix_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let ts = r"\[?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?\]?";
        let time = r"\[?\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\]?";
        let syslog = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} \d{2}:\d{2}:\d{2} [\w.\-]+ [\w.\-/@]+(?:\[\d+\])?:";
        let glog = r"[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+ +\d+ [\w.\-]+:\d+\]";
        let level = r"\[?(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|CRIT|PANIC|SEVERE)\]?:?";
        let logfmt_level = r"level=\w+";
        let pod = r"\[pod/[^\]\s]+\]";
        let compose = r"[\w.\-]+ +\|";
        let cri = r"(?:stdout|stderr) [FP]";
        let token = format!("(?:{ts}|{syslog}|{glog}|{pod}|{cri}|{level}|{logfmt_level}|{time})");
        // Tokens apart by any spaces; one space after the last belongs to the prefix, the rest
        // is the line's own indentation.
        Regex::new(&format!(
            r"^{token}(?: +{token})*(?: +\[[^\]\n]{{1,60}}\])?(?: |$)|^{compose} ?"
        ))
        .expect("static regex compiles")
    })
}

/// Cuts the log prefix off every line that has one, keeping the indentation that follows it
/// (a Python frame's two spaces, Java's tab). A prefix needs a timestamp, a level, a pod, a
/// CRI marker or a compose `|`; a bare word is never taken for one.
fn strip_prefixes(text: &str) -> String {
    let re = prefix_re();
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        match re.find(line) {
            Some(m) if m.end() > 0 && is_prefix(m.as_str()) => {
                let rest = &line[m.end()..];
                out.push_str(rest);
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// Whether a match starts with one of the markers that make it a log prefix.
fn is_prefix(m: &str) -> bool {
    static MARK: OnceLock<Regex> = OnceLock::new();
    let mark = MARK.get_or_init(|| {
        Regex::new(
            r"^\[?\d{4}-\d{2}-\d{2}|^\[?\d{2}:\d{2}:\d{2}|^(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) |^[IWEF]\d{4} |^\[pod/|^(?:stdout|stderr) [FP]|^\[?(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|CRIT|PANIC|SEVERE)\b|^level=|^[\w.\-]+ +\|",
        )
        .expect("static regex compiles")
    });
    mark.is_match(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_codes_are_removed() {
        let t = "\x1b[2m2026-12-03T17:20:38.228159Z\x1b[0m \x1b[31mERROR\x1b[0m boom\n";
        assert_eq!(clean(t), "boom\n");
    }

    #[test]
    fn a_json_string_is_decoded() {
        let t = r#""thread 'main' panicked at src/lib.rs:4:15:\nboom\nstack backtrace:\n""#;
        assert_eq!(
            clean(t),
            "thread 'main' panicked at src/lib.rs:4:15:\nboom\nstack backtrace:\n"
        );
        // Without the quotes, and with escaped quotes inside.
        let t = r#"Traceback (most recent call last):\n  File \"/app/a.py\", line 3, in f\n    x()\nValueError: bad"#;
        assert!(clean(t).contains("  File \"/app/a.py\", line 3, in f\n"));
    }

    #[test]
    fn prefixes_are_cut_and_indentation_kept() {
        let t = "2024-05-01T10:00:00Z ERROR   File \"/srv/app/jobs.py\", line 12, in run\n[pod/api-7d9f/api] 2024-05-01T10:00:00.123456789Z \tat a.B.c(B.java:3)\n2024-05-01T10:00:00.1Z stderr F    0: app::main\nweb_1  | thread 'main' panicked at src/main.rs:2:5:\nDec 03 17:20:38 host app[1234]: boom\n";
        assert_eq!(
            clean(t),
            "  File \"/srv/app/jobs.py\", line 12, in run\n\tat a.B.c(B.java:3)\n   0: app::main\nthread 'main' panicked at src/main.rs:2:5:\nboom\n"
        );
        // Trace lines themselves are never taken for prefixes.
        for line in [
            "thread 'main' panicked at src/main.rs:2:5:\n",
            "ValueError: bad\n",
            "   3: app::handler\n",
            "main.main()\n",
            "panic: runtime error: index out of range [0] with length 0\n",
        ] {
            assert_eq!(clean(line), line);
        }
    }
}
