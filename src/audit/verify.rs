//! Checks an audit chain from the outside, the way `healbot audit verify` and a store opening
//! its log do: every entry's hash must match its contents, seqs must run 1, 2, 3… and each
//! `prev_hash` must be the previous entry's hash. The first entry that fails is named by seq
//! and line, so an edit, a deletion, a reordering or a cut-off last line points at one place.
//!
//! The checker keeps only the previous entry's seq and hash and reuses its buffers, so it runs
//! over a log of any size in constant memory at close to the speed of hashing the file.

use super::{AuditEntry, AuditError, GENESIS_HASH};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
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
    pub fn expected_seq(&self) -> u64 {
        self.prev_seq + 1
    }

    /// Lines (or entries) seen so far, including a broken one.
    pub fn lines(&self) -> usize {
        self.lines
    }

    /// Checks one line without its newline. `complete` says whether it ended with a newline:
    /// a last line without one that does not parse was cut off.
    pub fn check_line(&mut self, line: &[u8], complete: bool) -> Result<(), ChainBreak> {
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

    pub fn check_entry(&mut self, entry: &AuditEntry) -> Result<(), ChainBreak> {
        self.check(&Fields::of(entry))
    }

    /// Counts a line that is not an entry and says how it breaks the chain.
    pub fn unparseable(&mut self, bytes: usize, error: String, complete: bool) -> ChainBreak {
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

/// A line parsed without copying its strings (they borrow from the line unless escaped);
/// `detail` stays raw text, re-serialized only when it is not already canonical.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryView<'a> {
    seq: u64,
    #[serde(borrow)]
    ts: Cow<'a, str>,
    #[serde(borrow)]
    operation_id: Cow<'a, str>,
    #[serde(borrow)]
    correlation_id: Cow<'a, str>,
    #[serde(borrow)]
    actor: Cow<'a, str>,
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(borrow)]
    detail: &'a RawValue,
    #[serde(borrow)]
    prev_hash: Cow<'a, str>,
    #[serde(borrow)]
    hash: Cow<'a, str>,
}

impl EntryView<'_> {
    fn fields<'v>(&'v self, detail: Detail<'v>) -> Fields<'v> {
        Fields {
            seq: self.seq,
            ts: &self.ts,
            operation_id: &self.operation_id,
            correlation_id: &self.correlation_id,
            actor: &self.actor,
            action: &self.action,
            detail,
            prev_hash: &self.prev_hash,
            hash: &self.hash,
        }
    }
}

/// An entry's fields by reference, whether parsed from a line or held as an [`AuditEntry`].
/// [`write_canonical`] writes them (without `hash`) exactly as [`super::canonical_json`].
struct Fields<'a> {
    seq: u64,
    ts: &'a str,
    operation_id: &'a str,
    correlation_id: &'a str,
    actor: &'a str,
    action: &'a str,
    detail: Detail<'a>,
    prev_hash: &'a str,
    hash: &'a str,
}

#[derive(Clone, Copy)]
enum Detail<'a> {
    /// Raw JSON text known to be canonical already: copied as it is.
    Canonical(&'a str),
    /// A parsed value: written with sorted keys.
    Value(&'a serde_json::Value),
}

impl<'a> Fields<'a> {
    fn of(e: &'a AuditEntry) -> Fields<'a> {
        Fields {
            seq: e.seq,
            ts: &e.ts,
            operation_id: &e.operation_id,
            correlation_id: &e.correlation_id,
            actor: &e.actor,
            action: &e.action,
            detail: Detail::Value(&e.detail),
            prev_hash: &e.prev_hash,
            hash: &e.hash,
        }
    }
}

/// Writes `{"seq":…,"ts":…,…,"prev_hash":…}` byte for byte as `canonical_json` does.
fn write_canonical(out: &mut Vec<u8>, e: &Fields<'_>) {
    out.extend_from_slice(b"{\"seq\":");
    let _ = serde_json::to_writer(&mut *out, &e.seq);
    for (key, value) in [
        (&b",\"ts\":"[..], e.ts),
        (b",\"operation_id\":", e.operation_id),
        (b",\"correlation_id\":", e.correlation_id),
        (b",\"actor\":", e.actor),
        (b",\"action\":", e.action),
    ] {
        out.extend_from_slice(key);
        write_json_str(out, value);
    }
    out.extend_from_slice(b",\"detail\":");
    match e.detail {
        Detail::Canonical(raw) => out.extend_from_slice(raw.as_bytes()),
        // Writing to a Vec cannot fail, and a Value has only string keys.
        Detail::Value(v) => {
            let _ = serde_json::to_writer(&mut *out, &Sorted(v));
        }
    }
    out.extend_from_slice(b",\"prev_hash\":");
    write_json_str(out, e.prev_hash);
    out.push(b'}');
}

/// A JSON string as serde_json writes it: only `"`, `\` and control characters are escaped.
fn write_json_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(needs_escape) {
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Containers deeper than this take the slow path.
const FAST_PATH_DEPTH: usize = 32;

/// An open container while scanning raw JSON.
#[derive(Clone, Copy)]
enum Open<'r> {
    Array,
    /// An object and the last key seen in it.
    Object(Option<&'r [u8]>),
}

/// Whether raw JSON text (already validated by the parser) is certainly what canonical
/// serialization would write: no whitespace, object keys strictly increasing, strings without
/// escapes, integers short enough to round-trip. Anything else (escapes, floats, big or
/// negative-zero numbers, deep nesting) answers false and takes the slow path, which
/// re-serializes: a wrong "no" only costs time, and "yes" is never wrong.
fn is_canonical_json(raw: &[u8]) -> bool {
    let mut open = [Open::Array; FAST_PATH_DEPTH];
    let mut depth = 0;
    let mut expect_key = false;
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            c @ (b'{' | b'[') => {
                if depth == FAST_PATH_DEPTH {
                    return false;
                }
                expect_key = c == b'{';
                open[depth] = if expect_key {
                    Open::Object(None)
                } else {
                    Open::Array
                };
                depth += 1;
                i += 1;
            }
            b'}' | b']' => {
                let Some(d) = depth.checked_sub(1) else {
                    return false;
                };
                depth = d;
                expect_key = false;
                i += 1;
            }
            b':' => {
                expect_key = false;
                i += 1;
            }
            b',' => {
                expect_key = depth > 0 && matches!(open[depth - 1], Open::Object(_));
                i += 1;
            }
            b'"' => {
                let body = &raw[i + 1..];
                let Some(end) = memchr::memchr2(b'"', b'\\', body) else {
                    return false;
                };
                if body[end] == b'\\' {
                    return false;
                }
                let text = &body[..end];
                if text.iter().any(|b| *b < 0x20) {
                    return false;
                }
                if expect_key {
                    match open.get_mut(depth.wrapping_sub(1)) {
                        Some(Open::Object(last)) if last.is_none_or(|l| l < text) => {
                            *last = Some(text);
                        }
                        _ => return false,
                    }
                }
                i += end + 2;
            }
            b'-' | b'0'..=b'9' => {
                let len = raw[i..]
                    .iter()
                    .position(|b| !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                    .unwrap_or(raw.len() - i);
                let token = &raw[i..i + len];
                let digits = token.strip_prefix(b"-").unwrap_or(token);
                let integer = !digits.is_empty() && digits.iter().all(u8::is_ascii_digit);
                if !integer || digits.len() > 18 || token.starts_with(b"-0") {
                    return false;
                }
                i += len;
            }
            b't' | b'n' => i += 4,
            b'f' => i += 5,
            _ => return false,
        }
    }
    depth == 0
}

/// Serializes a JSON value with object keys sorted, as `canonical_json` does, without cloning
/// it (serde_json keeps insertion order when a dependency turns on `preserve_order`).
struct Sorted<'a>(&'a serde_json::Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde_json::Value;
        match self.0 {
            Value::Object(map) => {
                let mut out = s.serialize_map(Some(map.len()))?;
                if map.keys().is_sorted() {
                    for (k, v) in map {
                        out.serialize_entry(k, &Sorted(v))?;
                    }
                } else {
                    let mut pairs: Vec<_> = map.iter().collect();
                    pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
                    for (k, v) in pairs {
                        out.serialize_entry(k, &Sorted(v))?;
                    }
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&Sorted(item))?;
                }
                out.end()
            }
            other => other.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{canonical_json, NewEntry};
    use serde_json::json;

    fn new_entry(i: u64, detail: serde_json::Value) -> NewEntry {
        NewEntry {
            operation_id: format!("op-{}", i % 3),
            correlation_id: format!("corr-{i}"),
            actor: "healbot".into(),
            action: "note".into(),
            detail,
        }
    }

    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let prev = out
                .last()
                .map_or(GENESIS_HASH.to_string(), |e| e.hash.clone());
            out.push(AuditEntry::chain(
                new_entry(
                    i,
                    json!({ "i": i, "z": [1, {"b": 2, "a": 1}], "a": "x\"y\n" }),
                ),
                FIRST_SEQ + i,
                &prev,
                format!("2025-01-01T00:00:{:02}.000000Z", i % 60),
            ));
        }
        out
    }

    fn to_jsonl(entries: &[AuditEntry]) -> Vec<u8> {
        let mut out = Vec::new();
        for e in entries {
            serde_json::to_writer(&mut out, e).unwrap();
            out.push(b'\n');
        }
        out
    }

    #[test]
    fn canonical_writer_matches_canonical_json() {
        let details = [
            json!(null),
            json!({}),
            json!({"b": 1, "a": {"d": [3, {"y": 1, "x": 2}], "c": 1.5}}),
            json!({"ünïcode": "é\u{1F600}", "ctl": "\u{0001}\t", "big": u64::MAX, "neg": -3}),
            json!([{"b": 1, "a": 2}, "s", true]),
        ];
        for (i, detail) in details.into_iter().enumerate() {
            let e = AuditEntry::chain(new_entry(i as u64, detail), 7, GENESIS_HASH, "t\"s".into());
            let mut buf = Vec::new();
            write_canonical(&mut buf, &Fields::of(&e));
            assert_eq!(String::from_utf8(buf).unwrap(), canonical_json(&e));
        }
    }

    /// The fast path says "canonical" only when re-serializing would give the same bytes, and
    /// says it for what the file store writes.
    #[test]
    fn canonical_fast_path_is_never_wrong() {
        let samples = [
            r#"{}"#,
            r#"[]"#,
            r#"null"#,
            r#"{"a":1,"b":[true,false,null],"c":{"d":"x"}}"#,
            r#"{"b":1,"a":2}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"":1,"":2}"#,
            r#"{"":1,"a":{"":[{}]}}"#,
            r#"{"a": 1}"#,
            r#"{"a":1.0}"#,
            r#"{"a":1e5}"#,
            r#"{"a":-0}"#,
            r#"{"a":-12}"#,
            r#"{"a":123456789012345678}"#,
            r#"{"a":1234567890123456789}"#,
            r#"{"a":18446744073709551616}"#,
            r#"{"a":"\u00e9"}"#,
            r#"{"a":"é\u0001"}"#,
            r#"{"a":"\/"}"#,
            r#"{"\u0061":1}"#,
            r#"{"é":1,"z":2}"#,
            r#"{"z":1,"é":2}"#,
            r#"[{"b":1,"a":2}]"#,
            r#"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"#,
            r#""plain""#,
            r#"-5"#,
            r#"{"a":[1,{"b":2,"c":[3]}],"b":"x"}"#,
        ];
        for raw in samples {
            let value: serde_json::Value = serde_json::from_str(raw).unwrap();
            let canonical = serde_json::to_string(&Sorted(&value)).unwrap();
            if is_canonical_json(raw.as_bytes()) {
                assert_eq!(raw, canonical, "fast path accepted a non-canonical text");
            }
        }
        for fast in [
            r#"{}"#,
            r#"null"#,
            r#"{"a":1,"b":[true,false,null],"c":{"d":"x"}}"#,
            r#"{"":1,"a":{"":[{}]}}"#,
            r#"{"a":-12}"#,
            r#"{"a":123456789012345678}"#,
            r#"{"z":1,"é":2}"#,
            r#"{"a":[1,{"b":2,"c":[3]}],"b":"x"}"#,
        ] {
            assert!(is_canonical_json(fast.as_bytes()), "slow path for {fast}");
        }
    }

    #[test]
    fn both_paths_give_the_same_hash() {
        for detail in [
            json!({"b": 1, "a": "x"}),
            json!({"a": 1.5, "b": "\n"}),
            json!({"a": 1, "b": 2}),
        ] {
            let entry = AuditEntry::chain(new_entry(1, detail), 1, GENESIS_HASH, "t".into());
            let line = serde_json::to_vec(&entry).unwrap();
            assert!(ChainChecker::new().check_line(&line, true).is_ok());
        }
    }

    #[test]
    fn intact_chain_holds() {
        let entries = chain(20);
        let report = verify_reader(&to_jsonl(&entries)[..]).unwrap();
        assert!(report.holds(), "{:?}", report.broken);
        assert_eq!(report.entries, 20);
        assert_eq!(report.head, Some((20, entries[19].hash.clone())));
        assert_eq!(verify_entries(&entries), report);
    }

    #[test]
    fn empty_log_holds_with_no_head() {
        let report = verify_reader(&b""[..]).unwrap();
        assert!(report.holds());
        assert_eq!((report.entries, report.head), (0, None));
    }

    #[test]
    fn edited_field_breaks_at_its_seq() {
        let mut entries = chain(10);
        entries[4].detail = json!({"i": 999});
        let report = verify_reader(&to_jsonl(&entries)[..]).unwrap();
        let broken = report.broken.unwrap();
        assert_eq!((broken.seq, broken.line), (5, 5));
        assert!(matches!(broken.reason, BreakReason::HashMismatch { .. }));
        assert_eq!(report.entries, 4);
        assert_eq!(report.head, Some((4, entries[3].hash.clone())));
    }

    #[test]
    fn edited_seq_reads_as_an_edit() {
        let mut entries = chain(10);
        entries[4].seq = 50;
        let broken = verify_entries(&entries).broken.unwrap();
        assert_eq!((broken.seq, broken.line), (50, 5));
        assert!(matches!(broken.reason, BreakReason::HashMismatch { .. }));
    }

    #[test]
    fn deleted_entry_breaks_at_the_entry_after_the_gap() {
        let mut entries = chain(10);
        entries.remove(4);
        let broken = verify_reader(&to_jsonl(&entries)[..])
            .unwrap()
            .broken
            .unwrap();
        assert_eq!((broken.seq, broken.line), (6, 5));
        assert_eq!(
            broken.reason,
            BreakReason::SeqOutOfOrder {
                expected: 5,
                found: 6,
                prev_hash_links: false
            }
        );
    }

    #[test]
    fn deleted_first_entry_is_found() {
        let mut entries = chain(3);
        entries.remove(0);
        let broken = verify_entries(&entries).broken.unwrap();
        assert_eq!((broken.seq, broken.line), (2, 1));
    }

    #[test]
    fn reordered_entries_break_at_the_first_out_of_place() {
        let mut entries = chain(10);
        entries.swap(4, 5);
        let broken = verify_reader(&to_jsonl(&entries)[..])
            .unwrap()
            .broken
            .unwrap();
        assert_eq!((broken.seq, broken.line), (6, 5));
        assert!(matches!(broken.reason, BreakReason::SeqOutOfOrder { .. }));
    }

    #[test]
    fn rehashed_edit_breaks_at_the_next_entry() {
        let mut entries = chain(10);
        entries[4].detail = json!({"forged": true});
        entries[4].hash = crate::audit::hash_entry(&entries[4]);
        let broken = verify_entries(&entries).broken.unwrap();
        assert_eq!(broken.seq, 6);
        assert!(matches!(
            broken.reason,
            BreakReason::PrevHashMismatch { .. }
        ));
    }

    #[test]
    fn first_entry_must_link_to_genesis() {
        let mut first = chain(1).remove(0);
        first.prev_hash = "1".repeat(64);
        first.hash = crate::audit::hash_entry(&first);
        let broken = verify_entries(&[first]).broken.unwrap();
        assert_eq!(broken.seq, 1);
        assert!(matches!(
            broken.reason,
            BreakReason::PrevHashMismatch { .. }
        ));
    }

    #[test]
    fn truncated_last_line_names_the_seq_it_should_have_had() {
        let bytes = to_jsonl(&chain(10));
        let cut = &bytes[..bytes.len() - 40];
        let report = verify_reader(cut).unwrap();
        let broken = report.broken.unwrap();
        assert_eq!((broken.seq, broken.line), (10, 10));
        assert!(matches!(broken.reason, BreakReason::Truncated { .. }));
        assert_eq!(report.entries, 9);
    }

    #[test]
    fn malformed_middle_line_is_named() {
        let mut bytes = to_jsonl(&chain(3));
        let first_newline = bytes.iter().position(|b| *b == b'\n').unwrap();
        bytes.splice(first_newline + 1..first_newline + 1, *b"not json\n");
        let broken = verify_reader(&bytes[..]).unwrap().broken.unwrap();
        assert_eq!((broken.seq, broken.line), (2, 2));
        assert!(matches!(broken.reason, BreakReason::Malformed { .. }));
    }

    #[test]
    fn unknown_fields_and_missing_fields_are_malformed() {
        let line = br#"{"seq":1,"ts":"t","operation_id":"o","correlation_id":"c","actor":"a","action":"x","detail":null,"prev_hash":"0","hash":"h","extra":1}"#;
        let broken = verify_reader(&[&line[..], b"\n"].concat()[..])
            .unwrap()
            .broken
            .unwrap();
        assert!(matches!(broken.reason, BreakReason::Malformed { .. }));
        let broken = verify_reader(&br#"{"seq":1}"#[..]).unwrap().broken.unwrap();
        assert!(matches!(broken.reason, BreakReason::Truncated { .. }));
    }

    #[test]
    fn escaped_strings_verify() {
        let mut entries = chain(2);
        let prev = entries[1].hash.clone();
        entries.push(AuditEntry::chain(
            NewEntry {
                operation_id: "op \"quoted\" \\ /".into(),
                correlation_id: "tab\there".into(),
                actor: "ünï".into(),
                action: "a\nb".into(),
                detail: json!({"k": "\u{0000}"}),
            },
            3,
            &prev,
            "ts".into(),
        ));
        assert!(verify_reader(&to_jsonl(&entries)[..]).unwrap().holds());
    }

    /// Every kind of damage at every position, checked by the chunked, threaded file verifier
    /// with chunk sizes that cut lines everywhere: it must agree with the sequential reader.
    #[test]
    fn threaded_file_verifier_agrees_with_the_sequential_one() {
        let entries = chain(12);
        let lines: Vec<Vec<u8>> = entries
            .iter()
            .map(|e| serde_json::to_vec(e).unwrap())
            .collect();
        let join = |ls: &[Vec<u8>]| -> Vec<u8> {
            ls.iter()
                .flat_map(|l| l.iter().chain(b"\n"))
                .copied()
                .collect()
        };
        let mut variants = vec![join(&lines), Vec::new()];
        for k in 0..lines.len() {
            let mut edited = entries.clone();
            edited[k].actor = "mallory".into();
            variants.push(to_jsonl(&edited));
            let mut deleted = lines.clone();
            deleted.remove(k);
            variants.push(join(&deleted));
            if k + 1 < lines.len() {
                let mut swapped = lines.clone();
                swapped.swap(k, k + 1);
                variants.push(join(&swapped));
            }
            let mut garbage = lines.clone();
            garbage[k] = b"{not json".to_vec();
            variants.push(join(&garbage));
        }
        let whole = join(&lines);
        for cut in [1, 30, 200, whole.len() / 2] {
            variants.push(whole[..whole.len() - cut].to_vec());
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        for (i, bytes) in variants.iter().enumerate() {
            std::fs::write(&path, bytes).unwrap();
            let expected = verify_reader(&bytes[..]).unwrap();
            for chunk_bytes in [1, 97, 400, 1 << 20] {
                for workers in [2, 3] {
                    let got = verify_file_in_chunks(&path, chunk_bytes, workers).unwrap();
                    assert_eq!(
                        got, expected,
                        "variant {i}, chunk {chunk_bytes}, {workers} workers"
                    );
                }
            }
            assert_eq!(verify_file(&path).unwrap(), expected);
        }
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = verify_file(&dir.path().join("absent.jsonl")).unwrap_err();
        assert!(err.to_string().contains("absent.jsonl"), "{err}");
    }

    #[test]
    fn display_names_seq_and_line() {
        let mut entries = chain(3);
        entries.remove(1);
        let broken = verify_entries(&entries).broken.unwrap();
        let text = broken.to_string();
        assert!(
            text.starts_with("chain broken at seq 3 (line 2): seq 3 where seq 2 was expected"),
            "{text}"
        );
    }
}
