//! The embedded audit store: an append-only JSONL file, one entry a line, fsync'd before an
//! append returns. It is healbot's only durable memory on one machine, so it is careful about
//! three things:
//!
//! - **Group commit.** Appends go over a channel to one writer thread, which takes every request
//!   waiting, chains them, writes them with one `write` and makes them durable with ONE
//!   `sync_data`, then answers each caller. Under load, N concurrent appends cost a handful of
//!   fsyncs instead of N. When appenders come in bursts, the writer waits up to 250 µs for the
//!   rest of a burst, so that it costs one fsync rather than two (the first arrival alone, then
//!   the others). Each line is serialized once and hashed as written.
//! - **Tamper evidence on open.** The chain is checked when the file is opened; a broken chain
//!   refuses to open, because appending onto it would bury the break under valid entries.
//! - **Crash repair.** A crash can cut off the last line mid-write. That line was never
//!   acknowledged, so it is not part of the chain: it is moved aside into
//!   `<path>.partial-<unix-ts>`, reported (log and [`FileAuditStore::repaired`]), and the file is
//!   truncated back to the last whole entry. Nothing is silently dropped.

use super::verify::ChainChecker;
use super::{AuditEntry, AuditError, AuditStore, NewEntry, GENESIS_HASH};
use crate::model::{Clock, SystemClock};
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, PoisonError, RwLock};
use std::thread;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// What `open` did to a log whose last line a crash had cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// Where the cut-off bytes now are.
    pub partial_path: PathBuf,
    /// How many bytes were moved aside.
    pub partial_bytes: usize,
    /// The line they were on.
    pub line: usize,
    /// The seq the cut-off entry would have had.
    pub seq: u64,
    /// The log's length after truncating back to the last whole entry.
    pub kept_bytes: u64,
}

/// An append-only, fsync'd, hash-chained JSONL audit log. See the module docs.
pub struct FileAuditStore {
    path: PathBuf,
    /// `None` only while dropping, to let the writer thread see the channel close.
    requests: Option<mpsc::Sender<AppendRequest>>,
    shared: Arc<Shared>,
    repaired: Option<RepairReport>,
    writer: Option<thread::JoinHandle<()>>,
}

/// State the writer thread updates and readers see.
struct Shared {
    entries: RwLock<Vec<AuditEntry>>,
    syncs: AtomicU64,
}

struct AppendRequest {
    entry: NewEntry,
    reply: oneshot::Sender<Result<AuditEntry, AuditError>>,
}

impl FileAuditStore {
    /// Opens (or creates) the log at `path`, checking its chain and repairing a cut-off last
    /// line. Fails on a broken chain, naming the seq and line, and when another process holds
    /// the log open for appending.
    pub fn open(path: impl AsRef<Path>) -> Result<FileAuditStore, AuditError> {
        FileAuditStore::open_with_clock(path, Arc::new(SystemClock))
    }

    /// [`FileAuditStore::open`], stamping entries with `clock`'s time (the orchestrator's
    /// clock, so that ages computed from the log agree with the time policy reads).
    pub(crate) fn open_with_clock(
        path: impl AsRef<Path>,
        clock: Arc<dyn Clock>,
    ) -> Result<FileAuditStore, AuditError> {
        let path = path.as_ref().to_path_buf();
        let io_error = |source| io_error(&path, source);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io_error)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_error)?;
        lock_for_appending(&file, &path)?;
        let mut data = Vec::new();
        file.read_to_end(&mut data).map_err(io_error)?;

        let loaded = load(&path, &data)?;
        let mut repaired = None;
        match loaded.tail {
            Tail::Clean => {}
            Tail::MissingNewline => {
                // A whole entry whose newline the crash cut off: it chains, so it stays.
                file.write_all(b"\n").map_err(io_error)?;
                file.sync_data().map_err(io_error)?;
                tracing::info!(path = %path.display(), "audit log: added the newline missing after the last entry");
            }
            Tail::CutOff { line, seq } => {
                let partial = &data[loaded.good_len..];
                let report = set_aside(&path, &file, partial, loaded.good_len, line, seq)?;
                tracing::warn!(
                    path = %path.display(),
                    partial = %report.partial_path.display(),
                    line = report.line,
                    seq = report.seq,
                    bytes = report.partial_bytes,
                    "audit log: last line was cut off (crash during a write); moved it aside and truncated the log to the last whole entry"
                );
                repaired = Some(report);
            }
        }

        let (next_seq, last_hash) = match loaded.entries.last() {
            Some(e) => (e.seq + 1, e.hash.clone()),
            None => (super::verify::FIRST_SEQ, GENESIS_HASH.to_string()),
        };
        let committed_len = file.metadata().map_err(io_error)?.len();
        let shared = Arc::new(Shared {
            entries: RwLock::new(loaded.entries),
            syncs: AtomicU64::new(0),
        });
        let writer = Writer {
            path: path.clone(),
            file,
            shared: Arc::clone(&shared),
            next_seq,
            last_hash,
            committed_len,
            failed: None,
            buf: Vec::with_capacity(64 * 1024),
            clock,
        };
        let (requests, receiver) = mpsc::channel();
        let handle = thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(io_error)?;
        Ok(FileAuditStore {
            path,
            requests: Some(requests),
            shared,
            repaired,
            writer: Some(handle),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What `open` repaired, if the last line had been cut off by a crash.
    pub fn repaired(&self) -> Option<&RepairReport> {
        self.repaired.as_ref()
    }

    /// How many times the writer has made a batch durable: with group commit this stays well
    /// below the number of appends under concurrent load.
    pub fn sync_count(&self) -> u64 {
        self.shared.syncs.load(Ordering::Relaxed)
    }
}

impl Drop for FileAuditStore {
    fn drop(&mut self) {
        // Closing the channel stops the writer once it has answered what is queued; joining
        // it releases the file (and its lock) before a reopen.
        self.requests.take();
        if let Some(handle) = self.writer.take() {
            let _ = handle.join();
        }
    }
}

#[async_trait]
impl AuditStore for FileAuditStore {
    async fn append(&self, entry: NewEntry) -> Result<AuditEntry, AuditError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .as_ref()
            .ok_or(AuditError::WriterGone)?
            .send(AppendRequest { entry, reply })
            .map_err(|_| AuditError::WriterGone)?;
        let entry = answer.await.map_err(|_| AuditError::WriterGone)??;
        super::log_event::emit(&entry);
        Ok(entry)
    }

    async fn entries(&self) -> Result<Vec<AuditEntry>, AuditError> {
        Ok(self
            .shared
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }

    async fn entries_after(&self, after: u64) -> Result<Vec<AuditEntry>, AuditError> {
        let entries = self
            .shared
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let from = entries.partition_point(|e| e.seq <= after);
        Ok(entries[from..].to_vec())
    }

    async fn head(&self) -> Result<Option<(u64, String)>, AuditError> {
        Ok(self
            .shared
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .last()
            .map(|e| (e.seq, e.hash.clone())))
    }
}

/// `clock`'s time as the design writes it: RFC 3339, UTC, microseconds.
pub(crate) fn timestamp_now(clock: &dyn Clock) -> String {
    clock
        .now()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn io_error(path: &Path, source: std::io::Error) -> AuditError {
    AuditError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Two processes appending to one log would fork the chain, so the appender holds an
/// exclusive advisory lock; readers (`audit verify`) do not need it.
fn lock_for_appending(file: &File, path: &Path) -> Result<(), AuditError> {
    match fs4::FileExt::try_lock(file) {
        Ok(()) => Ok(()),
        Err(fs4::TryLockError::WouldBlock) => Err(io_error(
            path,
            std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "another process has it open for appending (one writer per log)",
            ),
        )),
        Err(fs4::TryLockError::Error(e)) => Err(io_error(path, e)),
    }
}

struct Loaded {
    entries: Vec<AuditEntry>,
    /// Bytes up to and including the last whole entry's line.
    good_len: usize,
    tail: Tail,
}

enum Tail {
    Clean,
    MissingNewline,
    CutOff { line: usize, seq: u64 },
}

/// Parses and checks every line, stopping with an error at the first break.
fn load(path: &Path, data: &[u8]) -> Result<Loaded, AuditError> {
    let mut checker = ChainChecker::new();
    let mut entries = Vec::new();
    let mut pos = 0;
    let mut tail = Tail::Clean;
    while pos < data.len() {
        let rest = &data[pos..];
        let (line, complete) = match rest.iter().position(|b| *b == b'\n') {
            Some(end) => (&rest[..end], true),
            None => (rest, false),
        };
        let entry = match serde_json::from_slice::<AuditEntry>(line) {
            Ok(entry) => entry,
            Err(e) => {
                let broken = checker.unparseable(line.len(), e.to_string(), complete);
                if complete {
                    return Err(refuse(path, &broken));
                }
                tail = Tail::CutOff {
                    line: broken.line,
                    seq: broken.seq,
                };
                break;
            }
        };
        if let Err(broken) = checker.check_entry(&entry) {
            return Err(refuse(path, &broken));
        }
        entries.push(entry);
        if complete {
            pos += line.len() + 1;
        } else {
            pos = data.len();
            tail = Tail::MissingNewline;
        }
    }
    Ok(Loaded {
        entries,
        good_len: pos,
        tail,
    })
}

fn refuse(path: &Path, broken: &super::ChainBreak) -> AuditError {
    AuditError::Corrupt {
        path: path.display().to_string(),
        line: broken.line,
        reason: format!(
            "chain broken at seq {}: {}; refusing to append to it (run `healbot audit verify` on it)",
            broken.seq, broken.reason
        ),
    }
}

/// Saves the cut-off bytes durably, then truncates the log: in that order, so that a crash
/// in between loses nothing.
fn set_aside(
    path: &Path,
    log: &File,
    partial: &[u8],
    good_len: usize,
    line: usize,
    seq: u64,
) -> Result<RepairReport, AuditError> {
    let unix_ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let base = format!("{}.partial-{unix_ts}", path.display());
    let mut attempt = 0;
    let (partial_path, mut out) = loop {
        let candidate = if attempt == 0 {
            PathBuf::from(&base)
        } else {
            PathBuf::from(format!("{base}-{attempt}"))
        };
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(f) => break (candidate, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                attempt += 1;
            }
            Err(e) => return Err(io_error(&candidate, e)),
        }
    };
    out.write_all(partial)
        .and_then(|()| out.sync_all())
        .map_err(|e| io_error(&partial_path, e))?;
    if let Some(dir) = partial_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // Makes the new file's name durable; not every platform can sync a directory.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    let kept_bytes = good_len as u64;
    log.set_len(kept_bytes)
        .and_then(|()| log.sync_data())
        .map_err(|e| io_error(path, e))?;
    Ok(RepairReport {
        partial_path,
        partial_bytes: partial.len(),
        line,
        seq,
        kept_bytes,
    })
}

/// The one thread that writes the log.
struct Writer {
    path: PathBuf,
    file: File,
    shared: Arc<Shared>,
    next_seq: u64,
    last_hash: String,
    /// Length of the log up to the last acknowledged entry.
    committed_len: u64,
    /// Set after a failed fsync: the kernel may have dropped the pages, so a later fsync could
    /// succeed without the data. No more appends until the log is reopened and checked.
    failed: Option<String>,
    /// Reused for each batch's lines.
    buf: Vec<u8>,
    /// Stamps each entry's `ts`.
    clock: Arc<dyn Clock>,
}

impl Writer {
    fn run(mut self, requests: mpsc::Receiver<AppendRequest>) {
        let mut batch = Vec::new();
        let mut last_batch = 0;
        while let Ok(first) = requests.recv() {
            batch.push(first);
            // Everything that queued up while the last batch was being synced goes together.
            batch.extend(requests.try_iter());
            // With company (this batch or the last had several appenders), wait a moment for
            // the appenders still on their way: otherwise a burst splits into a batch of the
            // first arrival and a batch of the rest, and costs two fsyncs instead of one.
            if batch.len() > 1 || last_batch > 1 {
                gather(&requests, &mut batch);
            }
            last_batch = batch.len();
            self.commit(&mut batch);
        }
    }

    fn commit(&mut self, batch: &mut Vec<AppendRequest>) {
        if let Some(reason) = &self.failed {
            for request in batch.drain(..) {
                let _ = request.reply.send(Err(self.error(reason.clone())));
            }
            return;
        }
        self.buf.clear();
        let mut chained = Vec::with_capacity(batch.len());
        let mut seq = self.next_seq;
        let mut prev_hash = self.last_hash.clone();
        for request in batch.drain(..) {
            let mut new = request.entry;
            // Sorted keys make each line its canonical JSON plus the hash, so the line alone
            // is enough to recompute the hash.
            new.detail = sort_keys(new.detail);
            let start = self.buf.len();
            match self.line(new, seq, &prev_hash) {
                Ok(entry) => {
                    prev_hash.clone_from(&entry.hash);
                    seq += 1;
                    chained.push((entry, request.reply));
                }
                Err(e) => {
                    self.buf.truncate(start);
                    let _ = request.reply.send(Err(
                        self.error(format!("entry cannot be written as JSON: {e}"))
                    ));
                }
            }
        }
        if chained.is_empty() {
            return;
        }
        let written = self.file.write_all(&self.buf);
        let synced = written
            .as_ref()
            .map_err(|e| e.to_string())
            .and_then(|()| self.file.sync_data().map_err(|e| e.to_string()));
        match synced {
            Ok(()) => {
                self.shared.syncs.fetch_add(1, Ordering::Relaxed);
                self.committed_len += self.buf.len() as u64;
                self.next_seq = seq;
                self.last_hash = prev_hash;
                self.shared
                    .entries
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend(chained.iter().map(|(e, _)| e.clone()));
                for (entry, reply) in chained {
                    let _ = reply.send(Ok(entry));
                }
            }
            Err(reason) => {
                // Cut back whatever part of the batch reached the file, so the log still ends
                // on the last acknowledged entry.
                let rolled_back = self
                    .file
                    .set_len(self.committed_len)
                    .and_then(|()| self.file.sync_data());
                let reason = format!("writing the log failed: {reason}; nothing was appended");
                if written.is_err() && rolled_back.is_ok() {
                    tracing::error!(path = %self.path.display(), %reason, "audit append failed");
                } else {
                    tracing::error!(path = %self.path.display(), %reason, "audit log stopped: reopen it to check and repair");
                    self.failed = Some(format!(
                        "{reason}; the log is closed for appends until it is reopened"
                    ));
                }
                for (_, reply) in chained {
                    let _ = reply.send(Err(self.error(reason.clone())));
                }
            }
        }
    }

    /// Writes the entry's line into the batch: its canonical JSON (serialized once, and hashed
    /// as written) with the hash spliced in as the last member.
    fn line(
        &mut self,
        new: NewEntry,
        seq: u64,
        prev_hash: &str,
    ) -> Result<AuditEntry, serde_json::Error> {
        let ts = timestamp_now(&*self.clock);
        let start = self.buf.len();
        serde_json::to_writer(
            &mut self.buf,
            &Unhashed {
                seq,
                ts: &ts,
                operation_id: &new.operation_id,
                correlation_id: &new.correlation_id,
                actor: &new.actor,
                action: &new.action,
                detail: &new.detail,
                prev_hash,
            },
        )?;
        let mut hasher = Sha256::new();
        hasher.update(prev_hash.as_bytes());
        hasher.update(&self.buf[start..]);
        let hash = hex::encode(hasher.finalize());
        self.buf.pop(); // the closing brace
        self.buf.extend_from_slice(b",\"hash\":\"");
        self.buf.extend_from_slice(hash.as_bytes());
        self.buf.extend_from_slice(b"\"}\n");
        Ok(AuditEntry {
            seq,
            ts,
            operation_id: new.operation_id,
            correlation_id: new.correlation_id,
            actor: new.actor,
            action: new.action,
            detail: new.detail,
            prev_hash: prev_hash.to_string(),
            hash,
        })
    }

    fn error(&self, reason: String) -> AuditError {
        io_error(&self.path, std::io::Error::other(reason))
    }
}

/// How long the writer waits at most, after a batch's first request, for more to join it.
const GATHER_FOR: Duration = Duration::from_micros(250);
/// It stops waiting as soon as this passes with no new request.
const GATHER_STEP: Duration = Duration::from_micros(25);

/// Adds the requests that arrive in the next moments to `batch`.
fn gather(requests: &mpsc::Receiver<AppendRequest>, batch: &mut Vec<AppendRequest>) {
    let until = Instant::now() + GATHER_FOR;
    while Instant::now() < until {
        thread::sleep(GATHER_STEP);
        let before = batch.len();
        batch.extend(requests.try_iter());
        if batch.len() == before {
            break;
        }
    }
}

/// An entry without its hash, in the canonical key order (`super::entry`'s): what is hashed,
/// and, with the hash added, the line.
#[derive(serde::Serialize)]
struct Unhashed<'a> {
    seq: u64,
    ts: &'a str,
    operation_id: &'a str,
    correlation_id: &'a str,
    actor: &'a str,
    action: &'a str,
    detail: &'a serde_json::Value,
    prev_hash: &'a str,
}

pub(crate) fn sort_keys(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut pairs: Vec<(String, Value)> = map.into_iter().collect();
            pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            Value::Object(pairs.into_iter().map(|(k, v)| (k, sort_keys(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{canonical_json, verify_file};
    use serde_json::json;

    fn new_entry(i: usize) -> NewEntry {
        NewEntry {
            operation_id: format!("op-{}", i % 4),
            correlation_id: format!("corr-{i}"),
            actor: "healbot".into(),
            action: "note".into(),
            detail: json!({ "z": i, "a": { "y": 1, "b": [2, 3] } }),
        }
    }

    fn log_path(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("audit").join("log.jsonl")
    }

    async fn write_log(path: &Path, n: usize) -> Vec<AuditEntry> {
        let store = FileAuditStore::open(path).unwrap();
        let mut out = Vec::new();
        for i in 0..n {
            out.push(store.append(new_entry(i)).await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn appends_chain_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(&dir);
        let written = write_log(&path, 5).await;
        assert_eq!(
            written.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(written[0].prev_hash, GENESIS_HASH);
        assert_eq!(written[1].prev_hash, written[0].hash);
        assert!(written[0].ts.ends_with('Z') && written[0].ts.len() == 27);

        let store = FileAuditStore::open(&path).unwrap();
        assert!(store.repaired().is_none());
        assert_eq!(store.entries().await.unwrap(), written);
        let sixth = store.append(new_entry(5)).await.unwrap();
        assert_eq!((sixth.seq, &sixth.prev_hash), (6, &written[4].hash));
        assert_eq!(store.head().await.unwrap(), Some((6, sixth.hash.clone())));
        drop(store);
        let report = verify_file(&path).unwrap();
        assert!(report.holds());
        assert_eq!(report.head, Some((6, sixth.hash)));
    }

    #[tokio::test]
    async fn each_line_is_canonical_json_plus_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(&dir);
        let written = write_log(&path, 3).await;
        let text = std::fs::read_to_string(&path).unwrap();
        for (line, entry) in text.lines().zip(&written) {
            let canonical = canonical_json(entry);
            let expected = format!(
                "{},\"hash\":\"{}\"}}",
                &canonical[..canonical.len() - 1],
                entry.hash
            );
            assert_eq!(line, expected);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_share_fsyncs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FileAuditStore::open(log_path(&dir)).unwrap());
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200 {
            let store = Arc::clone(&store);
            tasks.spawn(async move { store.append(new_entry(i)).await });
        }
        let mut seqs = Vec::new();
        while let Some(done) = tasks.join_next().await {
            seqs.push(done.unwrap().unwrap().seq);
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
        let syncs = store.sync_count();
        eprintln!("200 concurrent appends: {syncs} fsyncs");
        assert!(syncs < 200, "200 appends took {syncs} fsyncs");
        assert!(syncs >= 1);
        assert!(verify_file(store.path()).unwrap().holds());
    }

    #[tokio::test]
    async fn cut_off_last_line_is_set_aside_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(&dir);
        let written = write_log(&path, 4).await;
        let whole = std::fs::read(&path).unwrap();
        let cut = whole.len() - 30;
        std::fs::write(&path, &whole[..cut]).unwrap();
        let good_len = whole[..cut].iter().rposition(|b| *b == b'\n').unwrap() + 1;

        let store = FileAuditStore::open(&path).unwrap();
        let report = store.repaired().cloned().unwrap();
        assert_eq!((report.line, report.seq), (4, 4));
        assert_eq!(report.kept_bytes, good_len as u64);
        assert_eq!(report.partial_bytes, cut - good_len);
        assert_eq!(
            std::fs::read(&report.partial_path).unwrap(),
            &whole[good_len..cut]
        );
        assert!(report
            .partial_path
            .to_string_lossy()
            .contains("log.jsonl.partial-"));
        assert_eq!(store.entries().await.unwrap(), written[..3]);
        // The chain goes on from the last whole entry.
        let next = store.append(new_entry(9)).await.unwrap();
        assert_eq!((next.seq, &next.prev_hash), (4, &written[2].hash));
        drop(store);
        assert!(verify_file(&path).unwrap().holds());
    }

    #[tokio::test]
    async fn whole_last_entry_without_newline_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(&dir);
        let written = write_log(&path, 3).await;
        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() - 1]).unwrap();
        let store = FileAuditStore::open(&path).unwrap();
        assert!(store.repaired().is_none());
        assert_eq!(store.entries().await.unwrap(), written);
        assert_eq!(store.append(new_entry(3)).await.unwrap().seq, 4);
        drop(store);
        assert!(verify_file(&path).unwrap().holds());
    }

    #[tokio::test]
    async fn tampered_log_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(&dir);
        write_log(&path, 5).await;
        let text = std::fs::read_to_string(&path).unwrap();
        let tampered = text.replacen("\"corr-2\"", "\"corr-X\"", 1);
        assert_ne!(text, tampered);
        std::fs::write(&path, tampered).unwrap();
        let err = FileAuditStore::open(&path).err().unwrap();
        let message = err.to_string();
        assert!(
            matches!(err, AuditError::Corrupt { line: 3, .. }),
            "{message}"
        );
        assert!(message.contains("seq 3"), "{message}");
        assert!(message.contains("log.jsonl"), "{message}");
        // Nothing was changed by the refused open.
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text.replacen("\"corr-2\"", "\"corr-X\"", 1)
        );
    }

    #[tokio::test]
    async fn malformed_middle_line_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(&dir);
        write_log(&path, 3).await;
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines[1] = "{\"seq\": 2, garbage";
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let err = FileAuditStore::open(&path).err().unwrap();
        assert!(matches!(err, AuditError::Corrupt { line: 2, .. }), "{err}");
        assert!(err.to_string().contains("seq 2"), "{err}");
    }

    #[tokio::test]
    async fn a_second_appender_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(&dir);
        let first = FileAuditStore::open(&path).unwrap();
        let err = FileAuditStore::open(&path).err().unwrap();
        assert!(err.to_string().contains("one writer per log"), "{err}");
        drop(first);
        assert!(FileAuditStore::open(&path).is_ok());
    }

    #[tokio::test]
    async fn directory_in_place_of_the_file_is_a_named_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = FileAuditStore::open(dir.path()).err().unwrap();
        assert!(
            err.to_string().contains(&dir.path().display().to_string()),
            "{err}"
        );
    }
}
