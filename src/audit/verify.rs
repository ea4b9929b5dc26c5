//! Checks an audit chain from the outside, the way `healbot audit verify` and a store opening
//! its log do: every entry's hash must match its contents, seqs must run 1, 2, 3… and each
//! `prev_hash` must be the previous entry's hash. The first entry that fails is named by seq
//! and line, so an edit, a deletion, a reordering or a cut-off last line points at one place.
//!
//! The checker keeps only the previous entry's seq and hash and reuses its buffers, so it runs
//! over a log of any size in constant memory at close to the speed of hashing the file.

#[path = "verify_bytes.rs"]
mod bytes;

use super::{AuditEntry, AuditError, GENESIS_HASH};
use bytes::{is_canonical_json, write_canonical, Detail, EntryView, Fields};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

/// Seq of the first entry of a chain.
pub const FIRST_SEQ: u64 = 1;

/// Size of each read: large reads keep the verifier close to disk speed.
const READ_BUFFER_BYTES: usize = 1 << 20;

/// At most this many threads check chunks of a file; parsing and hashing are the cost, and
/// every entry can be checked on its own, so the work spreads over the cores.
const MAX_WORKERS: usize = 8;

/// The outcome of checking a chain. `broken` is `None` when the whole chain holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries that verified, i.e. those before the break if there is one.
    pub entries: u64,
    /// Seq and hash of the last entry that verified.
    pub head: Option<(u64, String)>,
    pub broken: Option<ChainBreak>,
}

impl VerifyReport {
    pub fn holds(&self) -> bool {
        self.broken.is_none()
    }
}

/// The first entry where the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The seq written in the broken entry; for a line that is not an entry at all, the seq it
    /// should have had (the previous entry's seq + 1).
    pub seq: u64,
    /// 1-based line in the file (position in the list for [`verify_entries`]).
    pub line: usize,
    pub reason: BreakReason,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "chain broken at seq {} (line {}): {}",
            self.seq, self.line, self.reason
        )
    }
}

/// Why an entry breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakReason {
    /// The last line has no newline and does not parse: a write cut off by a crash, or a
    /// truncated file.
    Truncated { bytes: usize, error: String },
    /// A line that is not an audit entry.
    Malformed { error: String },
    /// The entry's contents do not hash to its `hash`: a field was edited.
    HashMismatch { stored: String, computed: String },
    /// The seq is not the previous seq + 1: entries before it were deleted or moved.
    SeqOutOfOrder {
        expected: u64,
        found: u64,
        /// Whether `prev_hash` still names the previous entry (it does not after a deletion
        /// or a reordering).
        prev_hash_links: bool,
    },
    /// The seq follows on but `prev_hash` is not the previous entry's hash: the previous
    /// entry was replaced, or this one was rewritten with a recomputed hash.
    PrevHashMismatch { expected: String, found: String },
}

impl fmt::Display for BreakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakReason::Truncated { bytes, error } => write!(
                f,
                "last line is cut off ({bytes} bytes, no newline, not an entry: {error})"
            ),
            BreakReason::Malformed { error } => write!(f, "line is not an audit entry: {error}"),
            BreakReason::HashMismatch { stored, computed } => write!(
                f,
                "hash does not match the entry's contents (edited): stored {}, computed {}",
                short(stored),
                short(computed)
            ),
            BreakReason::SeqOutOfOrder {
                expected,
                found,
                prev_hash_links,
            } => {
                write!(f, "seq {found} where seq {expected} was expected")?;
                if !prev_hash_links {
                    write!(f, " and prev_hash does not match the previous entry's hash")?;
                }
                write!(f, " (an entry is missing or out of order)")
            }
            BreakReason::PrevHashMismatch { expected, found } => write!(
                f,
                "prev_hash {} is not the previous entry's hash {} (an entry was replaced)",
                short(found),
                short(expected)
            ),
        }
    }
}

/// The first 12 characters of a hash, enough to tell hashes apart in a message.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Checks a whole file. Errors are only for a file that cannot be read; a broken chain is a
/// report with `broken` set. Chunks of the file are checked on all cores and stitched
/// together in order, so the report is the same as [`verify_reader`]'s.
pub fn verify_file(path: &Path) -> Result<VerifyReport, AuditError> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_WORKERS);
    verify_file_in_chunks(path, READ_BUFFER_BYTES, workers)
}

fn verify_file_in_chunks(
    path: &Path,
    chunk_bytes: usize,
    workers: usize,
) -> Result<VerifyReport, AuditError> {
    let io_error = |source| AuditError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_error)?;
    if workers < 2 {
        let reader = std::io::BufReader::with_capacity(chunk_bytes, file);
        return verify_reader(reader).map_err(io_error);
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (result_tx, results) = mpsc::channel::<(usize, ChunkOutcome)>();
        let mut senders = Vec::with_capacity(workers);
        for _ in 0..workers {
            // Two chunks queued per worker bound the memory in flight.
            let (chunk_tx, chunks) = mpsc::sync_channel::<(usize, Vec<u8>)>(2);
            senders.push(chunk_tx);
            let result_tx = result_tx.clone();
            let stop = &stop;
            scope.spawn(move || {
                // Keeps draining after a stop so the reader never blocks on a full queue.
                for (index, chunk) in chunks {
                    if !stop.load(Ordering::Relaxed) {
                        let _ = result_tx.send((index, check_chunk(&chunk)));
                    }
                }
            });
        }
        drop(result_tx);
        let stop_ref = &stop;
        let reader = scope.spawn(move || read_chunks(file, chunk_bytes, senders, stop_ref));

        let mut stitch = Stitch::default();
        let mut waiting = BTreeMap::new();
        let mut next = 0;
        let mut broken = None;
        'results: for (index, outcome) in &results {
            waiting.insert(index, outcome);
            while let Some(outcome) = waiting.remove(&next) {
                next += 1;
                if let Some(b) = stitch.absorb(outcome) {
                    broken = Some(b);
                    break 'results;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        drop(results);
        let sent = match reader.join() {
            Ok(sent) => sent,
            Err(_) => Err(std::io::Error::other("the file reader thread stopped")),
        };
        match (broken, sent) {
            (Some(b), _) => Ok(stitch.report(Some(b))),
            (None, Err(e)) => Err(io_error(e)),
            (None, Ok(sent)) if sent != next => Err(io_error(std::io::Error::other(
                "a verifier thread stopped before checking its part of the file",
            ))),
            (None, Ok(_)) => Ok(stitch.report(None)),
        }
    })
}

/// Reads the file in chunks that end on a line boundary and deals them out to the workers
/// in turn. Returns how many chunks it sent.
fn read_chunks(
    mut file: std::fs::File,
    chunk_bytes: usize,
    workers: Vec<mpsc::SyncSender<(usize, Vec<u8>)>>,
    stop: &AtomicBool,
) -> std::io::Result<usize> {
    let mut sent = 0;
    let mut carry = Vec::new();
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(sent);
        }
        let mut chunk = Vec::with_capacity(carry.len() + chunk_bytes);
        chunk.append(&mut carry);
        let want = chunk_bytes as u64;
        let eof = file.by_ref().take(want).read_to_end(&mut chunk)? < chunk_bytes;
        let whole = if eof {
            chunk.len()
        } else {
            match memchr::memrchr(b'\n', &chunk) {
                Some(end) => end + 1,
                // One line longer than a chunk: read on until it ends.
                None => {
                    carry = chunk;
                    continue;
                }
            }
        };
        carry.extend_from_slice(&chunk[whole..]);
        chunk.truncate(whole);
        if chunk.is_empty() {
            return Ok(sent);
        }
        if workers[sent % workers.len()].send((sent, chunk)).is_err() {
            return Ok(sent);
        }
        sent += 1;
        if eof {
            return Ok(sent);
        }
    }
}

/// What one worker learned about one chunk, checked without knowing the entry before it.
struct ChunkOutcome {
    lines: usize,
    entries: u64,
    /// Seq and prev_hash of the chunk's first entry, when its own hash holds: the stitch
    /// checks that it follows the previous chunk.
    first_link: Option<(u64, String)>,
    /// Seq and hash of the chunk's last good entry.
    last: Option<(u64, String)>,
    /// The first break inside the chunk, with `line` counted from the chunk's start.
    broken: Option<ChainBreak>,
}

fn check_chunk(chunk: &[u8]) -> ChunkOutcome {
    let mut checker = ChainChecker::unanchored();
    let mut rest = chunk;
    let mut broken = None;
    while !rest.is_empty() {
        let (line, complete, next) = match memchr::memchr(b'\n', rest) {
            Some(end) => (&rest[..end], true, &rest[end + 1..]),
            None => (rest, false, &rest[rest.len()..]),
        };
        if let Err(b) = checker.check_line(line, complete) {
            broken = Some(b);
            break;
        }
        rest = next;
    }
    ChunkOutcome {
        lines: checker.lines,
        entries: checker.entries,
        first_link: checker.first_link.take(),
        last: (checker.entries > 0).then(|| (checker.prev_seq, checker.prev_hash.clone())),
        broken,
    }
}

/// Joins chunk outcomes in file order into one report.
#[derive(Default)]
struct Stitch {
    lines: usize,
    entries: u64,
    head: Option<(u64, String)>,
}

impl Stitch {
    fn absorb(&mut self, chunk: ChunkOutcome) -> Option<ChainBreak> {
        let expected = self.head.as_ref().map_or(FIRST_SEQ, |(seq, _)| seq + 1);
        let prev_hash = self.head.as_ref().map_or(GENESIS_HASH, |(_, h)| h.as_str());
        if let Some((seq, link)) = &chunk.first_link {
            let prev_hash_links = link == prev_hash;
            let reason = if *seq != expected {
                Some(BreakReason::SeqOutOfOrder {
                    expected,
                    found: *seq,
                    prev_hash_links,
                })
            } else if !prev_hash_links {
                Some(BreakReason::PrevHashMismatch {
                    expected: prev_hash.to_string(),
                    found: link.clone(),
                })
            } else {
                None
            };
            if let Some(reason) = reason {
                return Some(ChainBreak {
                    seq: *seq,
                    line: self.lines + 1,
                    reason,
                });
            }
        }
        let broken = chunk.broken.map(|mut b| {
            let unparseable = matches!(
                b.reason,
                BreakReason::Malformed { .. } | BreakReason::Truncated { .. }
            );
            if b.line == 1 && unparseable {
                // The worker could not know the seq before its chunk.
                b.seq = expected;
            }
            b.line += self.lines;
            b
        });
        self.lines += chunk.lines;
        self.entries += chunk.entries;
        if chunk.last.is_some() {
            self.head = chunk.last;
        }
        broken
    }

    fn report(self, broken: Option<ChainBreak>) -> VerifyReport {
        VerifyReport {
            entries: self.entries,
            head: self.head,
            broken,
        }
    }
}

/// Checks JSONL from any reader, one entry a line.
pub fn verify_reader<R: BufRead>(mut reader: R) -> std::io::Result<VerifyReport> {
    let mut checker = ChainChecker::new();
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(checker.report(None));
        }
        let complete = line.last() == Some(&b'\n');
        let text = if complete {
            &line[..line.len() - 1]
        } else {
            &line[..]
        };
        if let Err(broken) = checker.check_line(text, complete) {
            return Ok(checker.report(Some(broken)));
        }
    }
}

/// Checks entries already in memory; `line` in a break is the 1-based position in the list.
pub fn verify_entries(entries: &[AuditEntry]) -> VerifyReport {
    let mut checker = ChainChecker::new();
    for entry in entries {
        if let Err(broken) = checker.check_entry(entry) {
            return checker.report(Some(broken));
        }
    }
    checker.report(None)
}

/// Walks a chain one entry at a time, remembering only what the next entry must link to.
#[derive(Debug)]
pub struct ChainChecker {
    lines: usize,
    entries: u64,
    prev_seq: u64,
    prev_hash: String,
    /// False for a chunk checked on its own: its first entry's link is checked by the stitch.
    anchored: bool,
    first_link: Option<(u64, String)>,
    /// Reused for each entry's canonical JSON, so checking allocates nothing per entry.
    canonical: Vec<u8>,
}

impl Default for ChainChecker {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainChecker {
    pub fn new() -> ChainChecker {
        ChainChecker {
            lines: 0,
            entries: 0,
            prev_seq: FIRST_SEQ - 1,
            prev_hash: GENESIS_HASH.to_string(),
            anchored: true,
            first_link: None,
            canonical: Vec::with_capacity(1024),
        }
    }

    fn unanchored() -> ChainChecker {
        ChainChecker {
            anchored: false,
            ..ChainChecker::new()
        }
    }

    /// The seq the next entry must have.
    pub(crate) fn expected_seq(&self) -> u64 {
        self.prev_seq + 1
    }

    /// Lines (or entries) seen so far, including a broken one.
    pub fn lines(&self) -> usize {
        self.lines
    }

    /// Checks one line without its newline. `complete` says whether it ended with a newline:
    /// a last line without one that does not parse was cut off.
    pub(crate) fn check_line(&mut self, line: &[u8], complete: bool) -> Result<(), ChainBreak> {
        let view = match serde_json::from_slice::<EntryView<'_>>(line) {
            Ok(view) => view,
            Err(e) => return Err(self.unparseable(line.len(), e.to_string(), complete)),
        };
        let raw = view.detail.get();
        if is_canonical_json(raw.as_bytes()) {
            return self.check(&view.fields(Detail::Canonical(raw)));
        }
        match serde_json::from_str::<serde_json::Value>(raw) {
            Ok(value) => self.check(&view.fields(Detail::Value(&value))),
            Err(e) => Err(self.unparseable(line.len(), e.to_string(), complete)),
        }
    }

    pub(crate) fn check_entry(&mut self, entry: &AuditEntry) -> Result<(), ChainBreak> {
        self.check(&Fields::of(entry))
    }

    /// Counts a line that is not an entry and says how it breaks the chain.
    pub(crate) fn unparseable(
        &mut self,
        bytes: usize,
        error: String,
        complete: bool,
    ) -> ChainBreak {
        self.lines += 1;
        let reason = if complete {
            BreakReason::Malformed { error }
        } else {
            BreakReason::Truncated { bytes, error }
        };
        ChainBreak {
            seq: self.expected_seq(),
            line: self.lines,
            reason,
        }
    }

    /// The report after the last entry checked, with the break that stopped it if any.
    pub fn report(&self, broken: Option<ChainBreak>) -> VerifyReport {
        VerifyReport {
            entries: self.entries,
            head: (self.entries > 0).then(|| (self.prev_seq, self.prev_hash.clone())),
            broken,
        }
    }

    fn check_link(&self, entry: &Fields<'_>) -> Result<(), BreakReason> {
        let prev_hash_links = entry.prev_hash == self.prev_hash;
        if entry.seq != self.expected_seq() {
            return Err(BreakReason::SeqOutOfOrder {
                expected: self.expected_seq(),
                found: entry.seq,
                prev_hash_links,
            });
        }
        if !prev_hash_links {
            return Err(BreakReason::PrevHashMismatch {
                expected: self.prev_hash.clone(),
                found: entry.prev_hash.to_string(),
            });
        }
        Ok(())
    }

    fn check(&mut self, entry: &Fields<'_>) -> Result<(), ChainBreak> {
        self.lines += 1;
        let line = self.lines;
        let at = |reason| ChainBreak {
            seq: entry.seq,
            line,
            reason,
        };
        // Contents first, so that an edited seq reads as an edit, not as a missing entry.
        self.canonical.clear();
        write_canonical(&mut self.canonical, entry);
        let mut hasher = Sha256::new();
        hasher.update(entry.prev_hash.as_bytes());
        hasher.update(&self.canonical);
        let mut computed = [0u8; 64];
        // Cannot fail: 32 bytes always fill 64 hex digits.
        let _ = hex::encode_to_slice(hasher.finalize(), &mut computed);
        if computed[..] != *entry.hash.as_bytes() {
            return Err(at(BreakReason::HashMismatch {
                stored: entry.hash.to_string(),
                computed: String::from_utf8_lossy(&computed).into_owned(),
            }));
        }
        if self.anchored || self.entries > 0 {
            self.check_link(entry).map_err(at)?;
        } else {
            self.first_link = Some((entry.seq, entry.prev_hash.to_string()));
        }
        self.prev_seq = entry.seq;
        self.prev_hash.clear();
        self.prev_hash.push_str(entry.hash);
        self.entries += 1;
        Ok(())
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
