//! `healbot audit verify`: the tamper check operators and CI script against. The chain itself,
//! then entries recorded elsewhere (`--expect-head`, PR footers) and the signed checkpoints
//! (`--key`). Exit 0 when all hold, 1 at the first that does not, 2 when something cannot be
//! read. `--format json` gives the same verdict as one object.

use super::{EXIT_BROKEN, EXIT_UNREADABLE};
use crate::audit::checkpoint::{
    check_checkpoints, hashes_at, read_checkpoints, Checkpoint, ExpectedEntry, SigningKey,
};
use crate::audit::{AuditEntry, AuditError, VerifyReport};
use crate::cli::format::Format;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What `verify` checks beyond the chain itself.
pub(super) struct Anchors {
    pub keys: Vec<PathBuf>,
    pub expect_head: Vec<ExpectedEntry>,
}

/// Where the entries and checkpoints come from, and how to look a seq's hash up.
pub(super) enum Chain {
    File {
        path: PathBuf,
        checkpoints: PathBuf,
    },
    Redis {
        entries: Vec<AuditEntry>,
        checkpoints: Vec<Checkpoint>,
    },
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

/// The whole verdict, printed as text or JSON.
#[derive(Debug, Default, Serialize)]
struct Outcome {
    holds: bool,
    entries: u64,
    head: Option<Head>,
    /// The first broken entry, when the chain does not hold.
    broken: Option<Broken>,
    /// Files a crash repair set aside next to the log.
    set_aside: Vec<SetAside>,
    expected: Vec<Expected>,
    signed: Option<Signed>,
    /// Something could not be read (exit 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Head {
    seq: u64,
    hash: String,
}

#[derive(Debug, Serialize)]
struct Broken {
    seq: u64,
    line: usize,
    message: String,
}

#[derive(Debug, Serialize)]
struct SetAside {
    path: String,
    bytes: u64,
}

#[derive(Debug, Serialize)]
struct Expected {
    seq: u64,
    hash: String,
    found: bool,
    message: String,
}

#[derive(Debug, Serialize)]
struct Signed {
    holds: bool,
    checkpoints: usize,
    last_signed: Option<Head>,
    unsigned_tail: u64,
    problem: Option<String>,
}

/// Checks the chain, the expected entries and the checkpoints, prints the verdict.
pub(super) fn verdict(
    report: &VerifyReport,
    chain: &Chain,
    anchors: &Anchors,
    format: Format,
) -> ExitCode {
    let outcome = outcome(report, chain, anchors);
    match format {
        Format::Json => match serde_json::to_string_pretty(&outcome) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: {e}"),
        },
        Format::Text => print_text(&outcome),
    }
    if outcome.error.is_some() {
        ExitCode::from(EXIT_UNREADABLE)
    } else if outcome.holds {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_BROKEN)
    }
}

fn outcome(report: &VerifyReport, chain: &Chain, anchors: &Anchors) -> Outcome {
    let mut out = Outcome {
        holds: report.holds(),
        entries: report.entries,
        head: report.head.as_ref().map(|(seq, hash)| Head {
            seq: *seq,
            hash: hash.clone(),
        }),
        broken: report.broken.as_ref().map(|b| Broken {
            seq: b.seq,
            line: b.line,
            message: b.to_string(),
        }),
        ..Outcome::default()
    };
    if let Chain::File { path, .. } = chain {
        out.set_aside = set_aside_files(path)
            .into_iter()
            .map(|(p, bytes)| SetAside {
                path: p.display().to_string(),
                bytes,
            })
            .collect();
    }
    if !out.holds {
        return out;
    }
    let head = report.head.as_ref().map(|(s, h)| (*s, h.as_str()));
    if !anchors.expect_head.is_empty() {
        let seqs = anchors.expect_head.iter().map(|e| e.seq).collect();
        let found = match chain.hashes_at(&seqs) {
            Ok(found) => found,
            Err(e) => {
                out.error = Some(e.to_string());
                return out;
            }
        };
        for expected in &anchors.expect_head {
            let at = found.get(&expected.seq).map(String::as_str);
            let ok = expected.matches(at);
            let message = match (ok, at) {
                (true, _) => format!("expected entry seq {} is in the log", expected.seq),
                (false, None) => format!(
                    "expected entry seq {} hash {} is not in the log (it ends at seq {}): entries were cut off",
                    expected.seq,
                    expected.hash,
                    head.map_or(0, |(s, _)| s)
                ),
                (false, Some(h)) => format!(
                    "expected entry seq {} hash {} but the log has hash {h}: the history was rewritten",
                    expected.seq, expected.hash
                ),
            };
            out.holds &= ok;
            out.expected.push(Expected {
                seq: expected.seq,
                hash: expected.hash.clone(),
                found: ok,
                message,
            });
        }
    }
    if anchors.keys.is_empty() || !out.holds {
        return out;
    }
    let mut keys = Vec::new();
    for path in &anchors.keys {
        match SigningKey::from_file(path) {
            Ok(k) => keys.push(k),
            Err(e) => {
                out.error = Some(e.to_string());
                return out;
            }
        }
    }
    let checkpoints = match chain.checkpoints() {
        Ok(c) => c,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    let seqs = checkpoints.iter().map(|c| c.seq).collect();
    let hashes = match chain.hashes_at(&seqs) {
        Ok(h) => h,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    let signed = check_checkpoints(&checkpoints, &keys, head, |s| hashes.get(&s).cloned());
    out.holds &= signed.holds();
    out.signed = Some(Signed {
        holds: signed.holds(),
        checkpoints: signed.checkpoints,
        last_signed: signed.last_signed.as_ref().map(|(seq, hash)| Head {
            seq: *seq,
            hash: hash.clone(),
        }),
        unsigned_tail: signed.unsigned_tail,
        problem: signed.problem.as_ref().map(ToString::to_string),
    });
    out
}

fn print_text(o: &Outcome) {
    match (&o.broken, &o.head) {
        (None, Some(head)) => println!(
            "chain holds: {} entries, head seq {} hash {}",
            o.entries, head.seq, head.hash
        ),
        (None, None) => println!("chain holds: 0 entries (empty log)"),
        (Some(broken), head) => {
            println!("{}", broken.message);
            match head {
                Some(head) => println!(
                    "the {} entries before it verify (up to seq {})",
                    o.entries, head.seq
                ),
                None => println!("no entry before it verifies"),
            }
        }
    }
    for s in &o.set_aside {
        println!(
            "set aside by a crash repair (a last line cut off mid-write, never acknowledged): {} ({} bytes)",
            s.path, s.bytes
        );
    }
    for e in &o.expected {
        println!("{}", e.message);
    }
    if let Some(signed) = &o.signed {
        match (&signed.problem, &signed.last_signed) {
            (Some(problem), _) => println!("signature check failed: {problem}"),
            (None, Some(head)) => println!(
                "signed: last signed head seq {} hash {} ({} checkpoints; {} entries after it not yet signed)",
                head.seq, head.hash, signed.checkpoints, signed.unsigned_tail
            ),
            (None, None) => println!("signed: nothing to sign (empty log)"),
        }
    }
    if let Some(e) = &o.error {
        eprintln!("error: {e}");
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
