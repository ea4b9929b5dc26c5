//! `healbot audit`: the runbook's view of the audit chain. `verify` is the tamper check that
//! operators and CI script against (exit 0 holds, 1 broken at a named seq, 2 unreadable);
//! `log` prints the chain as a timeline a person can read during an incident review.

use crate::audit::checkpoint::{
    check_checkpoints, checkpoints_path, hashes_at, read_checkpoints, Checkpoint, ExpectedEntry,
    SigningKey,
};
use crate::audit::{verify_file, AuditEntry, AuditError, ChainChecker, VerifyReport};
use clap::Subcommand;
use std::collections::{BTreeMap, BTreeSet};
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

/// What `verify` checks beyond the chain itself.
struct Anchors {
    keys: Vec<PathBuf>,
    expect_head: Vec<ExpectedEntry>,
}

/// Where the entries and checkpoints come from, and how to look a seq's hash up.
enum Chain {
    File {
        path: PathBuf,
        checkpoints: PathBuf,
    },
    Redis {
        entries: Vec<AuditEntry>,
        checkpoints: Vec<Checkpoint>,
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
            expect_head,
        } => {
            let anchors = Anchors { keys, expect_head };
            match (file, redis) {
                (_, Some(url)) => verify_redis(&url, &chain, anchors).await,
                (Some(path), None) => {
                    let checkpoints = checkpoints.unwrap_or_else(|| checkpoints_path(&path));
                    let outcome = tokio::task::spawn_blocking(move || {
                        let report = verify_file(&path)?;
                        Ok::<_, crate::audit::AuditError>((path, report))
                    })
                    .await?;
                    match outcome {
                        Ok((path, report)) => {
                            let chain = Chain::File { path, checkpoints };
                            Ok(tokio::task::spawn_blocking(move || {
                                verdict(&report, &chain, &anchors)
                            })
                            .await?)
                        }
                        Err(e) => {
                            eprintln!("error: {e}");
                            Ok(ExitCode::from(EXIT_UNREADABLE))
                        }
                    }
                }
                (None, None) => {
                    eprintln!("error: name an audit log file, or --redis URL");
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

async fn verify_redis(url: &str, chain: &str, anchors: Anchors) -> anyhow::Result<ExitCode> {
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
            Ok(verdict(&report, &chain, &anchors))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(EXIT_UNREADABLE))
        }
    }
}

impl Chain {
    fn hashes_at(&self, seqs: &BTreeSet<u64>) -> Result<BTreeMap<u64, String>, AuditError> {
        match self {
            Chain::File { path, .. } => hashes_at(path, seqs),
            Chain::Redis { entries, .. } => Ok(entries
                .iter()
                .filter(|e| seqs.contains(&e.seq))
                .map(|e| (e.seq, e.hash.clone()))
                .collect()),
        }
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>, AuditError> {
        match self {
            Chain::File { checkpoints, .. } => read_checkpoints(checkpoints),
            Chain::Redis { checkpoints, .. } => Ok(checkpoints.clone()),
        }
    }
}

/// Prints what the chain, the expected entries and the checkpoints say; exit 1 on the first
/// that does not hold, 2 when a key or the checkpoints cannot be read.
fn verdict(report: &VerifyReport, chain: &Chain, anchors: &Anchors) -> ExitCode {
    let code = print_verdict(report);
    if let Chain::File { path, .. } = chain {
        for (partial, bytes) in set_aside_files(path) {
            println!(
                "set aside by a crash repair (a last line cut off mid-write, never acknowledged): {} ({bytes} bytes)",
                partial.display()
            );
        }
    }
    if code != ExitCode::SUCCESS {
        return code;
    }
    let head = report.head.as_ref().map(|(s, h)| (*s, h.as_str()));
    if !anchors.expect_head.is_empty() {
        let seqs = anchors.expect_head.iter().map(|e| e.seq).collect();
        let found = match chain.hashes_at(&seqs) {
            Ok(found) => found,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_UNREADABLE);
            }
        };
        for expected in &anchors.expect_head {
            let at = found.get(&expected.seq).map(String::as_str);
            if !expected.matches(at) {
                match at {
                    None => println!(
                        "expected entry seq {} hash {} is not in the log (it ends at seq {}): entries were cut off",
                        expected.seq,
                        expected.hash,
                        head.map_or(0, |(s, _)| s)
                    ),
                    Some(h) => println!(
                        "expected entry seq {} hash {} but the log has hash {h}: the history was rewritten",
                        expected.seq, expected.hash
                    ),
                }
                return ExitCode::from(EXIT_BROKEN);
            }
            println!("expected entry seq {} is in the log", expected.seq);
        }
    }
    if anchors.keys.is_empty() {
        return ExitCode::SUCCESS;
    }
    let mut keys = Vec::new();
    for path in &anchors.keys {
        match SigningKey::from_file(path) {
            Ok(k) => keys.push(k),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_UNREADABLE);
            }
        }
    }
    let checkpoints = match chain.checkpoints() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_UNREADABLE);
        }
    };
    let seqs = checkpoints.iter().map(|c| c.seq).collect();
    let hashes = match chain.hashes_at(&seqs) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_UNREADABLE);
        }
    };
    let signed = check_checkpoints(&checkpoints, &keys, head, |s| hashes.get(&s).cloned());
    match (&signed.problem, &signed.last_signed) {
        (Some(problem), _) => {
            println!("signature check failed: {problem}");
            ExitCode::from(EXIT_BROKEN)
        }
        (None, Some((seq, hash))) => {
            println!(
                "signed: last signed head seq {seq} hash {hash} ({} checkpoints; {} entries after it not yet signed)",
                signed.checkpoints, signed.unsigned_tail
            );
            ExitCode::SUCCESS
        }
        (None, None) => {
            println!("signed: nothing to sign (empty log)");
            ExitCode::SUCCESS
        }
    }
}

/// `<log>.partial-*` files next to the log: what crash repairs set aside.
fn set_aside_files(log: &Path) -> Vec<(PathBuf, u64)> {
    let (Some(dir), Some(name)) = (log.parent(), log.file_name()) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.partial-", name.to_string_lossy());
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(PathBuf, u64)> = read
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| (e.path(), e.metadata().map_or(0, |m| m.len())))
        .collect();
    found.sort();
    found
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
