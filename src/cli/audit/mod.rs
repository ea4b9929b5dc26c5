//! `healbot audit`: the runbook's view of the audit chain. `verify` is the tamper check that
//! operators and CI script against (exit 0 holds, 1 broken at a named seq, 2 unreadable);
//! `log` prints the chain as a timeline a person can read during an incident review;
//! `backup`, `truncate` and `rebuild` look after the log itself.

mod against_pr;
mod maintain;
mod verify;

use crate::audit::checkpoint::{checkpoints_path, ExpectedEntry};
use crate::audit::maintenance::Act;
use crate::audit::{verify_file, AuditEntry, ChainChecker};
use crate::cli::format::Format;
use clap::Subcommand;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use verify::{Anchors, Chain};

const EXIT_BROKEN: u8 = 1;
const EXIT_UNREADABLE: u8 = 2;

/// Longest detail shown on a timeline line.
const DETAIL_CHARS: usize = 72;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain: exit 0 when it holds, 1 when broken (naming the first broken
    /// entry's seq), 2 when the file cannot be read. With `--key` also the signed checkpoints,
    /// with `--expect-head` entries recorded elsewhere (PR footers, tickets).
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
        /// The checkpoint signing key (repeat while rotating keys): every checkpoint must
        /// verify, the log must reach the last one and hold the entries they signed.
        #[arg(long = "key", value_name = "FILE")]
        keys: Vec<PathBuf>,
        /// The checkpoints file; default: the log's path with `.checkpoints` appended.
        #[arg(long, value_name = "FILE", requires = "file")]
        checkpoints: Option<PathBuf>,
        /// An entry the log must contain, as `SEQ:HASH` (a PR footer's seq and hash, or a
        /// head recorded elsewhere); repeatable.
        #[arg(long = "expect-head", value_name = "SEQ:HASH")]
        expect_head: Vec<ExpectedEntry>,
        /// A pull request healbot commented on, `owner/name#N` (repeatable): every footer of
        /// healbot's own comments there must be an entry of the log. Needs `--config`.
        #[arg(long = "against-pr", value_name = "REPO#N", requires = "config")]
        against_pr: Vec<against_pr::PrRef>,
        /// healbot.yaml, for the GitHub App credentials `--against-pr` reads the PRs with.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Text for people, or one JSON object for scripts.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print the log as a timeline: seq, time, operation, actor, action, short detail.
    Log {
        /// The audit log (JSONL).
        file: PathBuf,
        /// Only this operation's entries.
        #[arg(long)]
        operation: Option<String>,
        /// A timeline for people, or the entries as JSON lines.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Copy the log's whole lines and its checkpoints to a new file, durably; works beside a
    /// running server.
    Backup {
        /// The audit log; leave out with --redis.
        #[arg(required_unless_present = "redis")]
        file: Option<PathBuf>,
        /// Back up the chain replicas share on Redis.
        #[arg(long, value_name = "URL", conflicts_with = "file")]
        redis: Option<String>,
        /// The chain's name on Redis.
        #[arg(long, default_value = "main", requires = "redis")]
        chain: String,
        /// Where the copy goes (never overwritten).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Cut every entry from seq AT on into a file next to the log, and record the cut as an
    /// entry. Stop the server first.
    Truncate {
        /// The audit log.
        file: PathBuf,
        /// The first seq cut off.
        #[arg(long, value_name = "SEQ")]
        at: u64,
        /// The signing key, required when the log is signed (the new head is signed).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// The checkpoint interval the server uses (`audit.checkpoint_every`).
        #[arg(long, default_value_t = 100)]
        checkpoint_every: u64,
        /// Who does it (default `$USER`), recorded in the entry.
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
        /// Why, recorded in the entry.
        #[arg(long)]
        reason: String,
    },
    /// DANGEROUS: re-chain every entry from seq FROM on (new seqs and hashes, contents kept),
    /// keeping the original file next to the log and recording a signed entry. Only with the
    /// signing key. For a log damaged in the middle, after the damaged lines are set right.
    Rebuild {
        /// The audit log.
        file: PathBuf,
        /// The first seq re-chained.
        #[arg(long, value_name = "SEQ")]
        from: u64,
        /// The signing key (required).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The checkpoint interval the server uses (`audit.checkpoint_every`).
        #[arg(long, default_value_t = 100)]
        checkpoint_every: u64,
        /// Who does it (default `$USER`), recorded in the entry.
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
        /// Why, recorded in the entry.
        #[arg(long)]
        reason: String,
    },
}

pub async fn run(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Verify {
            file,
            redis,
            chain,
            keys,
            checkpoints,
            mut expect_head,
            against_pr,
            config,
            format,
        } => {
            if let Some(config) = &config {
                for (pr, expected) in against_pr::expected_entries(config, &against_pr).await? {
                    tracing::info!(pr = %format!("{}{}", pr.repo.0, pr.number), seq = expected.seq, "footer");
                    expect_head.push(expected);
                }
            }
            let anchors = Anchors { keys, expect_head };
            match (file, redis) {
                (_, Some(url)) => verify_redis(&url, &chain, anchors, format).await,
                (Some(path), None) => {
                    let checkpoints = checkpoints.unwrap_or_else(|| checkpoints_path(&path));
                    Ok(
                        tokio::task::spawn_blocking(move || match verify_file(&path) {
                            Ok(report) => {
                                let chain = Chain::File { path, checkpoints };
                                verify::verdict(&report, &chain, &anchors, format)
                            }
                            Err(e) => {
                                eprintln!("error: {e}");
                                ExitCode::from(EXIT_UNREADABLE)
                            }
                        })
                        .await?,
                    )
                }
                (None, None) => {
                    eprintln!("error: name an audit log file, or --redis URL");
                    Ok(ExitCode::from(EXIT_UNREADABLE))
                }
            }
        }
        AuditCommand::Log {
            file,
            operation,
            format,
        } => {
            let outcome =
                tokio::task::spawn_blocking(move || print_log(&file, operation.as_deref(), format))
                    .await?;
            match outcome {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    Ok(ExitCode::from(EXIT_UNREADABLE))
                }
            }
        }
        AuditCommand::Backup {
            file,
            redis,
            chain,
            to,
        } => maintain::backup(file, redis.map(|url| (url, chain)), to).await,
        AuditCommand::Truncate {
            file,
            at,
            key,
            checkpoint_every,
            actor,
            reason,
        } => {
            let act = Act {
                actor: maintain::actor(actor),
                reason,
            };
            maintain::truncate(file, at, key, checkpoint_every, act).await
        }
        AuditCommand::Rebuild {
            file,
            from,
            key,
            checkpoint_every,
            actor,
            reason,
        } => {
            let act = Act {
                actor: maintain::actor(actor),
                reason,
            };
            maintain::rebuild(file, from, key, checkpoint_every, act).await
        }
    }
}

async fn verify_redis(
    url: &str,
    chain: &str,
    anchors: Anchors,
    format: Format,
) -> anyhow::Result<ExitCode> {
    use crate::audit::AuditStore;
    let loaded = async {
        let store = crate::audit::redis::RedisAuditStore::open(url, chain, None)?;
        let entries = store.entries().await?;
        let checkpoints = if anchors.keys.is_empty() {
            Vec::new()
        } else {
            crate::audit::redis::RedisCheckpoints::open(url, chain, None)?
                .all()
                .await?
        };
        Ok::<_, crate::audit::AuditError>((entries, checkpoints))
    }
    .await;
    match loaded {
        Ok((entries, checkpoints)) => {
            let report = crate::audit::verify_entries(&entries);
            let chain = Chain::Redis {
                entries,
                checkpoints,
            };
            Ok(verify::verdict(&report, &chain, &anchors, format))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(EXIT_UNREADABLE))
        }
    }
}

fn print_log(path: &Path, operation: Option<&str>, format: Format) -> anyhow::Result<()> {
    let name = path.display();
    let file = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("audit log {name}: {e}"))?;
    let mut reader = std::io::BufReader::new(file);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut checker = ChainChecker::new();
    let mut broken = None;
    let mut line = Vec::new();
    let json = format == Format::Json;
    // With JSON lines on stdout, what is said about the chain goes to stderr.
    let note = |out: &mut BufWriter<std::io::StdoutLock<'_>>, text: String| {
        if json {
            eprintln!("{text}");
            Ok(())
        } else {
            writeln!(out, "{text}")
        }
    };
    if !json {
        writeln!(
            out,
            "{:>6}  {:<27}  {:<24}  {:<14}  {:<22}  detail",
            "seq", "ts", "operation", "actor", "action"
        )?;
    }
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
                        note(&mut out, format!("  !! {b}"))?;
                        broken = Some(b);
                    }
                }
                if operation.is_none_or(|op| op == entry.operation_id) {
                    if json {
                        serde_json::to_writer(&mut out, &entry)?;
                        writeln!(out)?;
                    } else {
                        write_entry(&mut out, &entry)?;
                    }
                }
            }
            Err(e) => {
                let line_no = checker.lines() + 1;
                if broken.is_none() {
                    let b = checker.unparseable(text.len(), e.to_string(), complete);
                    note(&mut out, format!("  !! {b}"))?;
                    broken = Some(b);
                } else {
                    note(
                        &mut out,
                        format!("  !! line {line_no}: not an audit entry: {e}"),
                    )?;
                }
            }
        }
    }
    match broken {
        None => {
            let report = checker.report(None);
            note(&mut out, format!("chain holds: {} entries", report.entries))?;
        }
        Some(b) => note(&mut out, b.to_string())?,
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
