//! Error lines from logs, wherever they come from (files here; Loki and Elasticsearch hand
//! their lines to the same functions). Log shippers cut a stack trace into one record per
//! line, and localization needs the whole trace, so Python tracebacks, Java `at …`/`Caused by:`
//! chains and Rust panics with backtraces are joined back onto the line that logged them.

use super::{ErrorLogLine, LogSource, SignalError};
use async_trait::async_trait;
use regex::Regex;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::OnceLock;

/// One log event, possibly many lines long.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub lines: Vec<String>,
}

impl LogRecord {
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    fn last(&self) -> &str {
        self.lines.last().map_or("", String::as_str)
    }

    fn has(&self, needle: &str) -> bool {
        self.lines.iter().any(|l| l.contains(needle))
    }
}

fn re(cell: &'static OnceLock<Option<Regex>>, pattern: &str) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(pattern).ok()).as_ref()
}

/// `java.lang.IllegalStateException: …`, `com.acme.PaymentError`, `kotlin.KotlinNullPointerException`.
fn java_exception(line: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    re(
        &RE,
        r"^([a-z_][\w$]*\.)+[A-Z][\w$]*(Exception|Error|Throwable)\b(:|$)",
    )
    .is_some_and(|r| r.is_match(line))
}

/// The last line of a Python traceback: `KeyError: 'sku'`, `requests.exceptions.Timeout`.
fn python_exception(line: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    re(&RE, r"^[A-Za-z_][\w.]*(: .*)?$").is_some_and(|r| r.is_match(line))
}

const PY_CHAINS: [&str; 2] = [
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
];

/// Whether `line` continues `record` instead of starting a new event.
fn continues(record: &LogRecord, line: &str) -> bool {
    let prev = record.last();
    let trimmed = line.trim_start();
    if line.starts_with([' ', '\t']) && !trimmed.is_empty() {
        return true;
    }
    if trimmed.starts_with("Caused by:")
        || trimmed.starts_with("Suppressed:")
        || trimmed.starts_with("stack backtrace:")
        || trimmed.starts_with("note: run with `RUST_BACKTRACE")
        || trimmed.starts_with("note: Some details are omitted")
        || PY_CHAINS.contains(&trimmed)
    {
        return true;
    }
    if trimmed.starts_with("Traceback (most recent call last):") {
        // A chained traceback, or the traceback of the line that logged it.
        return PY_CHAINS.contains(&prev.trim()) || logged_it(record);
    }
    // Rust ≥ 1.73 prints the panic message on the line after `panicked at file:line:col:`.
    if prev.contains("panicked at ") && prev.ends_with(':') {
        return true;
    }
    let in_python = record.has("Traceback (most recent call last):");
    if in_python && prev.starts_with([' ', '\t']) && python_exception(line) {
        return true;
    }
    // A Java exception line right after the message that logged it.
    java_exception(line) && logged_it(record)
}

/// A single error or warning line: what a logger prints before the trace it logs.
fn logged_it(record: &LogRecord) -> bool {
    record.lines.len() == 1 && matches!(level(record.last()), Some("error" | "fatal" | "warn"))
}

/// Joins physical lines into events. Blank lines inside a Python chain are dropped; elsewhere
/// they end nothing and are skipped.
pub(crate) fn join_records<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<LogRecord> {
    let mut records: Vec<LogRecord> = Vec::new();
    for line in lines {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            continue;
        }
        match records.last_mut() {
            Some(r) if continues(r, line) => r.lines.push(line.to_string()),
            _ => records.push(LogRecord {
                lines: vec![line.to_string()],
            }),
        }
    }
    records
}

fn level(line: &str) -> Option<&'static str> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let r = re(
        &RE,
        r#"(?i)(?:^|[\s\[|"=:])(ERROR|FATAL|CRITICAL|SEVERE|PANIC|ERR|WARN(?:ING)?|INFO|DEBUG|TRACE)(?:$|[\s\]|":,])"#,
    )?;
    let word = r.captures(line)?.get(1)?.as_str().to_ascii_uppercase();
    Some(match word.as_str() {
        "ERROR" | "ERR" | "SEVERE" => "error",
        "FATAL" | "CRITICAL" | "PANIC" => "fatal",
        "WARN" | "WARNING" => "warn",
        "INFO" => "info",
        _ => "debug",
    })
}

fn is_trace(record: &LogRecord) -> bool {
    record.has("Traceback (most recent call last):")
        || record.has("panicked at ")
        || record
            .lines
            .iter()
            .any(|l| l.trim_start().starts_with("at "))
        || record.lines.iter().any(|l| java_exception(l))
}

/// Whether the event is an error: logged at error level or above, or a stack trace.
pub(crate) fn is_error(record: &LogRecord) -> bool {
    matches!(
        record.lines.first().and_then(|l| level(l)),
        Some("error" | "fatal")
    ) || is_trace(record)
}

/// The message without its timestamp and level, so that repeats group together.
pub(crate) fn message_of(record: &LogRecord) -> String {
    static PREFIX: OnceLock<Option<Regex>> = OnceLock::new();
    let first = record.lines.first().map_or("", String::as_str);
    if first.starts_with("Traceback (most recent call last):") {
        // A bare traceback: the exception line says what happened.
        if let Some(last) = record
            .lines
            .iter()
            .rev()
            .find(|l| !l.starts_with([' ', '\t']))
        {
            return last.trim().to_string();
        }
    }
    let stripped = re(
        &PREFIX,
        r"(?i)^\s*\[?\d{4}-\d{2}-\d{2}[T ][\d:.,]+(?:Z|[+-]\d{2}:?\d{2})?\]?\s*(?:\[?(?:ERROR|FATAL|CRITICAL|SEVERE|PANIC|ERR|WARN(?:ING)?|INFO|DEBUG|TRACE)\]?\s*[:\-|]?\s*)?",
    )
    .map_or(first, |r| r.find(first).map_or(first, |m| &first[m.end()..]));
    stripped.trim().to_string()
}

/// Error lines of the records, most frequent first, identical messages counted once.
pub fn summarize(service: &str, records: &[LogRecord]) -> Vec<ErrorLogLine> {
    summarize_errors(service, records.iter().filter(|r| is_error(r)))
}

/// As [`summarize`], for records already known to be errors (a store's level field said so).
pub(crate) fn summarize_errors<'a>(
    service: &str,
    records: impl IntoIterator<Item = &'a LogRecord>,
) -> Vec<ErrorLogLine> {
    let mut by_message: BTreeMap<String, ErrorLogLine> = BTreeMap::new();
    let mut order: HashMap<String, usize> = HashMap::new();
    for record in records {
        let message = message_of(record);
        let n = order.len();
        order.entry(message.clone()).or_insert(n);
        let line = by_message.entry(message.clone()).or_insert(ErrorLogLine {
            service: service.to_string(),
            message,
            stacktrace: None,
            count: 0,
        });
        line.count += 1;
        if line.stacktrace.is_none() && record.lines.len() > 1 && is_trace(record) {
            line.stacktrace = Some(record.text());
        }
    }
    let mut out: Vec<ErrorLogLine> = by_message.into_values().collect();
    out.sort_by_key(|l| (std::cmp::Reverse(l.count), order.get(&l.message).copied()));
    out
}

/// Log files per service: `error_logs` reads the service's files each time it is asked.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogFileSource {
    pub files: BTreeMap<String, Vec<PathBuf>>,
    /// Only the last this many bytes of each file are read: the recent window.
    pub tail_bytes: u64,
}

impl LogFileSource {
    pub fn new() -> LogFileSource {
        LogFileSource {
            files: BTreeMap::new(),
            tail_bytes: 4 * 1024 * 1024,
        }
    }

    pub fn add(&mut self, service: &str, path: impl Into<PathBuf>) {
        self.files
            .entry(service.to_string())
            .or_default()
            .push(path.into());
    }
}

fn read_tail(path: &std::path::Path, tail: u64) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > tail {
        file.seek(SeekFrom::Start(len - tail))?;
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    // A cut in the middle of a line leaves half a line: drop it.
    Ok(if len > tail {
        text.split_once('\n')
            .map_or(String::new(), |(_, rest)| rest.to_string())
    } else {
        text
    })
}

#[async_trait]
impl LogSource for LogFileSource {
    async fn error_logs(&self, service: &str) -> Result<Vec<ErrorLogLine>, SignalError> {
        let Some(paths) = self.files.get(service) else {
            return Ok(Vec::new());
        };
        let mut records = Vec::new();
        for path in paths {
            let text = read_tail(path, self.tail_bytes)
                .map_err(|e| SignalError::Logs(format!("{}: cannot read: {e}", path.display())))?;
            records.extend(join_records(text.lines()));
        }
        Ok(summarize(service, &records))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/testdata/signals/logs/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn python_traceback_joins_onto_its_log_line() {
        let records = join_records(fixture("python.log").lines());
        let texts: Vec<String> = records.iter().map(LogRecord::text).collect();
        assert_eq!(records.len(), 4, "{texts:#?}");
        assert!(texts[1].starts_with("2025-11-27 22:00:01,002 ERROR Unhandled exception"));
        assert!(texts[1].contains("During handling of the above exception"));
        assert!(
            texts[1].ends_with("RuntimeError: cart lookup failed"),
            "{}",
            texts[1]
        );
        let errors = summarize("carts", &records);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].message, "Unhandled exception on GET /cart/42");
        assert_eq!(errors[0].count, 2);
        assert!(errors[0]
            .stacktrace
            .as_deref()
            .unwrap()
            .contains("KeyError: 'sku'"));
    }

    #[test]
    fn java_caused_by_chain_is_one_record() {
        let records = join_records(fixture("java.log").lines());
        assert_eq!(records.len(), 3, "{records:#?}");
        let trace = records[1].text();
        assert!(trace.contains("Caused by: java.sql.SQLTransientConnectionException"));
        assert!(trace.ends_with("... 12 more"), "{trace}");
        let errors = summarize("orders", &records);
        assert_eq!(
            errors[0].message,
            "[http-nio-8080-exec-3] c.a.o.OrderController - order failed"
        );
    }

    #[test]
    fn rust_panic_with_backtrace_is_one_record() {
        let records = join_records(fixture("rust.log").lines());
        assert_eq!(records.len(), 3, "{records:#?}");
        let panic = records[1].text();
        assert!(panic.starts_with("thread 'tokio-runtime-worker' panicked at src/cart.rs:42:31:"));
        assert!(panic.contains("called `Option::unwrap()` on a `None` value"));
        assert!(panic.contains("at ./src/cart.rs:42:31"));
        let errors = summarize("cartd", &records);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].stacktrace.is_some());
    }

    #[test]
    fn bare_traceback_is_named_by_its_exception() {
        let text = "Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\n    1/0\nZeroDivisionError: division by zero\n";
        let records = join_records(text.lines());
        assert_eq!(records.len(), 1);
        assert_eq!(
            message_of(&records[0]),
            "ZeroDivisionError: division by zero"
        );
    }

    #[tokio::test]
    async fn files_are_read_per_service() {
        let mut source = LogFileSource::new();
        source.add(
            "carts",
            format!(
                "{}/testdata/signals/logs/python.log",
                env!("CARGO_MANIFEST_DIR")
            ),
        );
        assert_eq!(source.error_logs("carts").await.unwrap().len(), 1);
        assert!(source.error_logs("other").await.unwrap().is_empty());
        source.add("gone", "/nonexistent/x.log");
        let e = source.error_logs("gone").await.unwrap_err().to_string();
        assert!(e.contains("/nonexistent/x.log"), "{e}");
    }
}
