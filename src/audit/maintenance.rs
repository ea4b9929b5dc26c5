//! The runbook's tools for the audit log itself: a consistent backup, cutting a damaged tail off
//! (`truncate`), and re-chaining from a seq (`rebuild`). The last two change history, so each
//! keeps what it removed in a file next to the log, takes the log's writer lock (they refuse to
//! run beside a server), and ends by appending an entry that says what was done, by whom and
//! why — signed at once when the log is signed. `rebuild` needs the signing key: without it,
//! re-chaining is exactly the forgery the checkpoints exist to catch.

use super::checkpoint::{
    checkpoints_path, read_checkpoints, Checkpoint, CheckpointFile, SigningKey,
};
use super::signed::SignedStore;
use super::verify::{verify_reader, ChainChecker};
use super::{hash_entry, AuditEntry, AuditError, AuditStore, FileAuditStore, NewEntry};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Audit actions these tools write.
pub mod action {
    pub(crate) const TRUNCATED: &str = "audit.truncated";
    pub(crate) const REBUILT: &str = "audit.rebuilt";
}

#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("{path}: {reason}")]
    Refused { path: String, reason: String },
}

fn refused(path: &Path, reason: impl Into<String>) -> MaintenanceError {
    MaintenanceError::Refused {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

fn io(path: &Path, source: std::io::Error) -> MaintenanceError {
    MaintenanceError::Audit(AuditError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// What [`backup`] copied.
#[derive(Debug, Clone, PartialEq)]
pub struct Backup {
    pub entries: u64,
    pub head: Option<(u64, String)>,
    pub bytes: u64,
    /// `Some(reason)` when the copied chain does not hold (it is copied anyway: evidence).
    pub broken: Option<String>,
    pub checkpoints: usize,
}

/// Copies the log's whole lines (and its checkpoints) to `dest`, durably, without stopping a
/// server that appends to it: a line being written at that moment is left for the next backup.
/// The copy is read back and verified to the same head before it counts.
pub fn backup(log: &Path, dest: &Path) -> Result<Backup, MaintenanceError> {
    if dest.exists() {
        return Err(refused(dest, "exists already; a backup never overwrites"));
    }
    let mut data = Vec::new();
    File::open(log)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(|e| io(log, e))?;
    let whole = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    data.truncate(whole);
    let report = verify_reader(&data[..]).map_err(|e| io(log, e))?;
    write_new(dest, &data)?;
    // Read back what reached the disk: the copy must be the same chain, to the same head.
    let mut copied = Vec::new();
    File::open(dest)
        .and_then(|mut f| f.read_to_end(&mut copied))
        .map_err(|e| io(dest, e))?;
    let reread = verify_reader(&copied[..]).map_err(|e| io(dest, e))?;
    if copied != data || reread.entries != report.entries || reread.head != report.head {
        return Err(refused(
            dest,
            "the copy read back differs from what was written; the backup is not usable",
        ));
    }
    let checkpoints = read_checkpoints(&checkpoints_path(log))?;
    if !checkpoints.is_empty() {
        write_new(&checkpoints_path(dest), &checkpoint_lines(&checkpoints)?)?;
    }
    Ok(Backup {
        entries: report.entries,
        head: report.head.clone(),
        bytes: data.len() as u64,
        broken: report.broken.map(|b| b.to_string()),
        checkpoints: checkpoints.len(),
    })
}

/// Writes a new file and makes it and its name durable.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), MaintenanceError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| io(path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| io(path, e))?;
    sync_dir(path);
    Ok(())
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

fn checkpoint_lines(cps: &[Checkpoint]) -> Result<Vec<u8>, MaintenanceError> {
    let mut out = Vec::new();
    for cp in cps {
        serde_json::to_writer(&mut out, cp).map_err(|e| {
            MaintenanceError::Audit(AuditError::Corrupt {
                path: "checkpoints".into(),
                line: 0,
                reason: e.to_string(),
            })
        })?;
        out.push(b'\n');
    }
    Ok(out)
}

/// Who does it and why; both go into the entry that records the act.
#[derive(Debug, Clone)]
pub struct Act {
    pub actor: String,
    pub reason: String,
}

/// The signing key and interval, for a log whose head is signed.
#[derive(Debug, Clone)]
pub struct Signing {
    pub key: SigningKey,
    pub every: u64,
}

/// What [`truncate`] cut off.
#[derive(Debug, Clone, PartialEq)]
pub struct Truncated {
    pub kept: u64,
    pub cut: u64,
    pub cut_file: PathBuf,
    /// The entry that records the cut.
    pub entry: AuditEntry,
}

/// Cuts every entry from seq `at` on into `<log>.cut-<unix-ts>` (their checkpoints into the
/// same name with `.checkpoints`), then appends `audit.truncated` naming the file and the hash
/// of what was cut. The entries before `at` must verify. A signed log needs `signing`, so the
/// new head is signed and `audit verify --key` holds again.
pub async fn truncate(
    log: &Path,
    at: u64,
    act: &Act,
    signing: Option<&Signing>,
) -> Result<Truncated, MaintenanceError> {
    let (cut_file, cut, kept, previous_head, cut_sha) = {
        let (file, data) = locked(log)?;
        let lines = whole_lines(&data);
        let index = lines
            .iter()
            .position(|(_, line)| seq_of(line) == Some(at))
            .ok_or_else(|| refused(log, format!("has no entry with seq {at}")))?;
        let kept_bytes = lines[index].0;
        check_prefix(log, &data[..kept_bytes])?;
        let cps = read_checkpoints(&checkpoints_path(log))?;
        if !cps.is_empty() && signing.is_none() {
            return Err(refused(
                log,
                "the log is signed: pass --key so the new head can be signed",
            ));
        }
        let previous_head = last_entry(&data).map(|e| (e.seq, e.hash));
        let cut_bytes = &data[kept_bytes..];
        let cut_file = aside(log, "cut");
        write_new(&cut_file, cut_bytes)?;
        let (keep_cps, cut_cps): (Vec<Checkpoint>, Vec<Checkpoint>) =
            cps.into_iter().partition(|c| c.seq < at);
        if !cut_cps.is_empty() {
            write_new(&checkpoints_path(&cut_file), &checkpoint_lines(&cut_cps)?)?;
            replace(&checkpoints_path(log), &checkpoint_lines(&keep_cps)?)?;
        }
        file.set_len(kept_bytes as u64)
            .and_then(|()| file.sync_all())
            .map_err(|e| io(log, e))?;
        let sha = hex::encode(Sha256::digest(cut_bytes));
        (
            cut_file,
            (lines.len() - index) as u64,
            index as u64,
            previous_head,
            sha,
        )
        // The writer lock goes with `file` here, before the store takes it again.
    };
    let detail = serde_json::json!({
        "at": at,
        "cut_entries": cut,
        "cut_file": cut_file.display().to_string(),
        "cut_sha256": cut_sha,
        "previous_head": previous_head.map(|(seq, hash)| serde_json::json!({"seq": seq, "hash": hash})),
        "reason": act.reason,
    });
    let entry = append(log, act, action::TRUNCATED, detail, signing).await?;
    Ok(Truncated {
        kept,
        cut,
        cut_file,
        entry,
    })
}

/// What [`rebuild`] re-chained.
#[derive(Debug, Clone, PartialEq)]
pub struct Rebuilt {
    pub rechained: u64,
    pub original_file: PathBuf,
    pub entry: AuditEntry,
}

/// Re-chains every entry from seq `from` on (new seqs, prev_hashes and hashes, contents as
/// they are), keeping the original log in `<log>.before-rebuild-<unix-ts>`, drops the
/// checkpoints from `from` on, and appends a signed `audit.rebuilt` entry. Dangerous: it
/// rewrites history. The entries before `from` must verify, every later line must be an entry.
pub async fn rebuild(
    log: &Path,
    from: u64,
    act: &Act,
    signing: &Signing,
) -> Result<Rebuilt, MaintenanceError> {
    let (original_file, rechained, original_sha, previous_head) = {
        let (_file, data) = locked(log)?;
        let lines = whole_lines(&data);
        let index = lines
            .iter()
            .position(|(_, line)| seq_of(line) == Some(from))
            .ok_or_else(|| refused(log, format!("has no entry with seq {from}")))?;
        check_prefix(log, &data[..lines[index].0])?;
        let mut entries = Vec::with_capacity(lines.len() - index);
        for (n, (_, line)) in lines.iter().enumerate().skip(index) {
            let e: AuditEntry = serde_json::from_slice(line).map_err(|e| {
                refused(
                    log,
                    format!(
                        "line {} is not an entry ({e}); cut it off with truncate",
                        n + 1
                    ),
                )
            })?;
            entries.push(e);
        }
        let previous_head = entries.last().map(|e| (e.seq, e.hash.clone()));
        let (mut seq, mut prev) = match index {
            0 => (0, super::GENESIS_HASH.to_string()),
            _ => {
                let before: AuditEntry = serde_json::from_slice(lines[index - 1].1)
                    .map_err(|e| refused(log, e.to_string()))?;
                (before.seq, before.hash)
            }
        };
        let mut out = data[..lines[index].0].to_vec();
        for mut e in entries {
            seq += 1;
            e.seq = seq;
            e.prev_hash = prev;
            e.hash = hash_entry(&e);
            prev = e.hash.clone();
            serde_json::to_writer(&mut out, &e).map_err(|e| refused(log, e.to_string()))?;
            out.push(b'\n');
        }
        let original_file = aside(log, "before-rebuild");
        write_new(&original_file, &data)?;
        let cps = read_checkpoints(&checkpoints_path(log))?;
        if !cps.is_empty() {
            write_new(&checkpoints_path(&original_file), &checkpoint_lines(&cps)?)?;
            let keep: Vec<Checkpoint> = cps.into_iter().filter(|c| c.seq < from).collect();
            replace(&checkpoints_path(log), &checkpoint_lines(&keep)?)?;
        }
        replace(log, &out)?;
        let sha = hex::encode(Sha256::digest(&data));
        (
            (original_file),
            (lines.len() - index) as u64,
            sha,
            previous_head,
        )
    };
    let detail = serde_json::json!({
        "from": from,
        "rechained_entries": rechained,
        "original_file": original_file.display().to_string(),
        "original_sha256": original_sha,
        "previous_head": previous_head.map(|(seq, hash)| serde_json::json!({"seq": seq, "hash": hash})),
        "reason": act.reason,
    });
    let entry = append(log, act, action::REBUILT, detail, Some(signing)).await?;
    Ok(Rebuilt {
        rechained,
        original_file,
        entry,
    })
}

/// The log opened for writing with its writer lock held (a server running on it refuses).
fn locked(log: &Path) -> Result<(File, Vec<u8>), MaintenanceError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(log)
        .map_err(|e| io(log, e))?;
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => {}
        Err(fs4::TryLockError::WouldBlock) => {
            return Err(refused(
                log,
                "another process (a running server?) holds the log; stop it first",
            ))
        }
        Err(fs4::TryLockError::Error(e)) => return Err(io(log, e)),
    }
    let mut data = Vec::new();
    file.read_to_end(&mut data).map_err(|e| io(log, e))?;
    Ok((file, data))
}

/// `(start offset, line without newline)` of every whole line.
fn whole_lines(data: &[u8]) -> Vec<(usize, &[u8])> {
    let mut out = Vec::new();
    let mut start = 0;
    while let Some(end) = data[start..].iter().position(|b| *b == b'\n') {
        out.push((start, &data[start..start + end]));
        start += end + 1;
    }
    out
}

fn seq_of(line: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: u64,
    }
    serde_json::from_slice::<Seq>(line).ok().map(|s| s.seq)
}

fn last_entry(data: &[u8]) -> Option<AuditEntry> {
    whole_lines(data)
        .iter()
        .rev()
        .find_map(|(_, l)| serde_json::from_slice(l).ok())
}

/// The part of the log that stays must verify on its own.
fn check_prefix(log: &Path, kept: &[u8]) -> Result<(), MaintenanceError> {
    let mut checker = ChainChecker::new();
    for (n, (_, line)) in whole_lines(kept).iter().enumerate() {
        if let Err(b) = checker.check_line(line, true) {
            return Err(refused(
                log,
                format!("the entries kept do not verify (line {}): {b}", n + 1),
            ));
        }
    }
    Ok(())
}

/// `<log>.<what>-<unix-ts>`, a name not yet taken.
fn aside(log: &Path, what: &str) -> PathBuf {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let base = format!("{}.{what}-{ts}", log.display());
    let mut candidate = PathBuf::from(&base);
    let mut n = 1;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{base}-{n}"));
        n += 1;
    }
    candidate
}

/// Replaces a file's contents atomically (write aside, sync, rename).
fn replace(path: &Path, bytes: &[u8]) -> Result<(), MaintenanceError> {
    let tmp = PathBuf::from(format!("{}.tmp-replace", path.display()));
    let _ = std::fs::remove_file(&tmp);
    write_new(&tmp, bytes)?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    sync_dir(path);
    Ok(())
}

/// Appends the entry recording the act through the file store (signed when `signing`).
async fn append(
    log: &Path,
    act: &Act,
    action: &str,
    detail: serde_json::Value,
    signing: Option<&Signing>,
) -> Result<AuditEntry, MaintenanceError> {
    let store: Arc<dyn AuditStore> = Arc::new(FileAuditStore::open(log)?);
    let store: Arc<dyn AuditStore> = match signing {
        Some(s) => {
            let sink = CheckpointFile::open(&checkpoints_path(log))?;
            Arc::new(
                SignedStore::open(store, s.key.clone(), s.every, &[action], Box::new(sink)).await?,
            )
        }
        None => store,
    };
    Ok(store
        .append(NewEntry {
            operation_id: String::new(),
            correlation_id: format!("{action}-{}", chrono::Utc::now().timestamp()),
            actor: act.actor.clone(),
            action: action.to_string(),
            detail,
        })
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::check_checkpoints;
    use crate::audit::verify_file;

    async fn log_of(n: u64, dir: &Path, signing: Option<&Signing>) -> PathBuf {
        let path = dir.join("audit.jsonl");
        let inner: Arc<dyn AuditStore> = Arc::new(FileAuditStore::open(&path).unwrap());
        let store: Arc<dyn AuditStore> = match signing {
            Some(s) => {
                let sink = CheckpointFile::open(&checkpoints_path(&path)).unwrap();
                Arc::new(
                    SignedStore::open(inner, s.key.clone(), s.every, &[], Box::new(sink))
                        .await
                        .unwrap(),
                )
            }
            None => inner,
        };
        for i in 0..n {
            store
                .append(NewEntry {
                    operation_id: "op".into(),
                    correlation_id: format!("c{i}"),
                    actor: "healbot".into(),
                    action: "x".into(),
                    detail: serde_json::json!({"i": i}),
                })
                .await
                .unwrap();
        }
        path
    }

    fn signing() -> Signing {
        Signing {
            key: SigningKey::from_bytes(&[7; 32]).unwrap(),
            every: 5,
        }
    }

    fn act() -> Act {
        Act {
            actor: "oncall".into(),
            reason: "test".into(),
        }
    }

    fn signed_holds(log: &Path, s: &Signing) -> bool {
        let entries: Vec<AuditEntry> = std::fs::read_to_string(log)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let cps = read_checkpoints(&checkpoints_path(log)).unwrap();
        let head = entries.last().map(|e| (e.seq, e.hash.as_str()));
        check_checkpoints(&cps, std::slice::from_ref(&s.key), head, |seq| {
            entries
                .iter()
                .find(|e| e.seq == seq)
                .map(|e| e.hash.clone())
        })
        .holds()
    }

    #[tokio::test]
    async fn backup_copies_whole_lines_and_checkpoints_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let s = signing();
        let log = log_of(12, dir.path(), Some(&s)).await;
        // A line being written at that moment is not copied.
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(b"{\"seq\":13,").unwrap();
        let dest = dir.path().join("backup.jsonl");
        let b = backup(&log, &dest).unwrap();
        assert_eq!(b.entries, 12);
        assert!(b.broken.is_none());
        assert!(verify_file(&dest).unwrap().holds());
        assert!(b.checkpoints > 0 && checkpoints_path(&dest).exists());
        assert!(backup(&log, &dest).is_err());
    }

    #[tokio::test]
    async fn truncate_keeps_the_cut_tail_and_records_a_signed_entry() {
        let dir = tempfile::tempdir().unwrap();
        let s = signing();
        let log = log_of(20, dir.path(), Some(&s)).await;
        let refused = truncate(&log, 15, &act(), None).await.unwrap_err();
        assert!(refused.to_string().contains("--key"), "{refused}");
        let t = truncate(&log, 15, &act(), Some(&s)).await.unwrap();
        assert_eq!((t.kept, t.cut), (14, 6));
        assert_eq!(t.entry.seq, 15);
        assert_eq!(t.entry.action, action::TRUNCATED);
        assert_eq!(
            std::fs::read_to_string(&t.cut_file)
                .unwrap()
                .lines()
                .count(),
            6
        );
        assert!(verify_file(&log).unwrap().holds());
        assert!(signed_holds(&log, &s));
    }

    #[tokio::test]
    async fn rebuild_rechains_keeps_the_original_and_signs_the_result() {
        let dir = tempfile::tempdir().unwrap();
        let s = signing();
        let log = log_of(10, dir.path(), Some(&s)).await;
        // Entry 6 damaged (edited, hash not recomputed): the chain breaks there.
        let text = std::fs::read_to_string(&log).unwrap();
        let damaged = text.replacen("\"i\":5", "\"i\":55", 1);
        std::fs::write(&log, &damaged).unwrap();
        assert!(!verify_file(&log).unwrap().holds());
        let r = rebuild(&log, 6, &act(), &s).await.unwrap();
        assert_eq!(r.rechained, 5);
        assert_eq!(std::fs::read_to_string(&r.original_file).unwrap(), damaged);
        assert!(verify_file(&log).unwrap().holds());
        assert!(signed_holds(&log, &s));
        assert_eq!(r.entry.action, action::REBUILT);
    }
}
