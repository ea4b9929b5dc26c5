//! `healbot audit`: the runbook's view of the audit chain. `verify` is the tamper check that
//! operators and CI script against (exit 0 holds, 1 broken at a named seq, 2 unreadable);
//! `log` prints the chain as a timeline a person can read during an incident review.

use crate::audit::{verify_file, AuditEntry, ChainChecker, VerifyReport};
use clap::Subcommand;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const EXIT_BROKEN: u8 = 1;
const EXIT_UNREADABLE: u8 = 2;

/// Longest detail shown on a timeline line.
const DETAIL_CHARS: usize = 72;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain: exit 0 when it holds, 1 when broken (naming the first broken
    /// entry's seq), 2 when the file cannot be read.
    Verify {
        /// The audit log (JSONL); leave out with --redis.
        #[arg(required_unless_present = "redis")]
        file: Option<PathBuf>,
        /// Verify the chain replicas share on Redis instead of a file.
        #[arg(long, value_name = "URL", conflicts_with = "file")]
        redis: Option<String>,
        /// The chain's name on Redis.
        #[arg(long, default_value = "main", requires = "redis")]
        chain: String,
    },
    /// Print the log as a timeline: seq, time, operation, actor, action, short detail.
    Log {
        /// The audit log (JSONL).
        file: PathBuf,
        /// Only this operation's entries.
        #[arg(long)]
        operation: Option<String>,
    },
}

pub async fn run(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Verify {
            file: None,
            redis: Some(url),
            chain,
        } => {
            use crate::audit::AuditStore;
            let entries = match crate::audit::redis::RedisAuditStore::open(&url, &chain, None) {
                Ok(store) => store.entries().await,
                Err(e) => Err(e),
            };
            match entries {
                Ok(entries) => Ok(print_verdict(&crate::audit::verify_entries(&entries))),
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(EXIT_UNREADABLE))
                }
            }
        }
        AuditCommand::Verify { file, .. } => {
            let Some(path) = file else {
                eprintln!("error: name an audit log file, or --redis URL");
                return Ok(ExitCode::from(EXIT_UNREADABLE));
            };
            let outcome = tokio::task::spawn_blocking(move || verify_file(&path)).await?;
            match outcome {
                Ok(report) => Ok(print_verdict(&report)),
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(EXIT_UNREADABLE))
                }
            }
        }
        AuditCommand::Log { file, operation } => {
            let outcome =
                tokio::task::spawn_blocking(move || print_log(&file, operation.as_deref())).await?;
            match outcome {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    Ok(ExitCode::from(EXIT_UNREADABLE))
                }
            }
        }
    }
}

fn print_verdict(report: &VerifyReport) -> ExitCode {
    match (&report.broken, &report.head) {
        (None, Some((seq, hash))) => {
            println!(
                "chain holds: {} entries, head seq {seq} hash {hash}",
                report.entries
            );
            ExitCode::SUCCESS
        }
        (None, None) => {
            println!("chain holds: 0 entries (empty log)");
            ExitCode::SUCCESS
        }
        (Some(broken), head) => {
            println!("{broken}");
            match head {
                Some((seq, _)) => println!(
                    "the {} entries before it verify (up to seq {seq})",
                    report.entries
                ),
                None => println!("no entry before it verifies"),
            }
            ExitCode::from(EXIT_BROKEN)
        }
    }
}

fn print_log(path: &Path, operation: Option<&str>) -> anyhow::Result<()> {
    let name = path.display();
    let file = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("audit log {name}: {e}"))?;
    let mut reader = std::io::BufReader::new(file);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut checker = ChainChecker::new();
    let mut broken = None;
    let mut line = Vec::new();
    writeln!(
        out,
        "{:>6}  {:<27}  {:<24}  {:<14}  {:<22}  detail",
        "seq", "ts", "operation", "actor", "action"
    )?;
    loop {
        line.clear();
        if reader
            .read_until(b'\n', &mut line)
            .map_err(|e| anyhow::anyhow!("audit log {name}: {e}"))?
            == 0
        {
            break;
        }
        let complete = line.last() == Some(&b'\n');
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        match serde_json::from_slice::<AuditEntry>(text) {
            Ok(entry) => {
                if broken.is_none() {
                    if let Err(b) = checker.check_entry(&entry) {
                        writeln!(out, "  !! {b}")?;
                        broken = Some(b);
                    }
                }
                if operation.is_none_or(|op| op == entry.operation_id) {
                    write_entry(&mut out, &entry)?;
                }
            }
            Err(e) => {
                let line_no = checker.lines() + 1;
                if broken.is_none() {
                    let b = checker.unparseable(text.len(), e.to_string(), complete);
                    writeln!(out, "  !! {b}")?;
                    broken = Some(b);
                } else {
                    writeln!(out, "  !! line {line_no}: not an audit entry: {e}")?;
                }
            }
        }
    }
    match broken {
        None => {
            let report = checker.report(None);
            writeln!(out, "chain holds: {} entries", report.entries)?;
        }
        Some(b) => writeln!(out, "{b}")?,
    }
    out.flush()?;
    Ok(())
}

fn write_entry(out: &mut impl Write, e: &AuditEntry) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>6}  {:<27}  {:<24}  {:<14}  {:<22}  {}",
        e.seq,
        e.ts,
        e.operation_id,
        e.actor,
        e.action,
        short_detail(&e.detail)
    )
}

/// One readable line for the shapes the journal writes (transition, effect, stage output),
/// compact JSON for anything else; cut to [`DETAIL_CHARS`].
fn short_detail(detail: &serde_json::Value) -> String {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let full = match (detail.get("from"), detail.get("to"), detail.get("key")) {
        (Some(from), Some(to), _) => {
            let mut s = format!("{} → {}", text(from), text(to));
            if let Some(reason) = detail.get("reason") {
                s.push_str(": ");
                s.push_str(&text(reason));
            }
            s
        }
        (_, _, Some(key)) => format!(
            "{} = {}",
            text(key),
            detail.get("result").map(text).unwrap_or_default()
        ),
        _ => match (detail.get("name"), detail.get("value")) {
            (Some(name), Some(_)) => format!("output {}", text(name)),
            _ => detail.to_string(),
        },
    };
    cut(&full, DETAIL_CHARS)
}

fn cut(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_detail_reads_the_journal_shapes() {
        assert_eq!(
            short_detail(&json!({"from": "Detected", "to": "Analyzing", "reason": "rule fired"})),
            "Detected → Analyzing: rule fired"
        );
        assert_eq!(
            short_detail(&json!({"key": "op-1/pr", "result": 7})),
            "op-1/pr = 7"
        );
        assert_eq!(
            short_detail(&json!({"name": "rca", "value": {"root": "x"}})),
            "output rca"
        );
        assert_eq!(short_detail(&json!({"a": 1})), "{\"a\":1}");
    }

    #[test]
    fn long_details_are_cut_on_a_char_boundary() {
        let long = "é".repeat(200);
        let shown = short_detail(&json!({ "from": long, "to": "x" }));
        assert_eq!(shown.chars().count(), DETAIL_CHARS + 1);
        assert!(shown.ends_with('…'));
    }
}
