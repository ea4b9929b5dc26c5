//! What writes the delivery log, held by one batch's leader at a time: group commit (every
//! request waiting goes into one `writev` and one `fdatasync`), sealing the log past its size
//! or age, and deleting sealed segments past their retention. The lines themselves are built
//! by the callers ([`received_line`]), in parallel: the writer only dedupes, writes, syncs and
//! answers.
//!
//! The log being written is grown ahead of its data with zeros, [`PREALLOCATE`] bytes at a
//! time, as databases do with their write-ahead logs: a batch then overwrites blocks the file
//! already has, so its `fdatasync` flushes data only, with no block allocation and no journal
//! commit for a new file size: on ext4 that cuts an fsync by about a third. The data ends at the
//! first zero byte (no line holds one: JSON escapes control characters); a clean stop and
//! every seal cut the zeros off, and opening the log cuts them off after a crash.

use super::seen::{self, Seen};
use super::segments::{self, Files, Sealed, LOG_FILE};
use super::{io_err, locked, DeliveryLogError, DoneMarks, Recorded, Request, Retention, Stats};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{IoSlice, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::oneshot;

/// How often a quiet writer checks for segments to seal or delete.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(60);

/// How long a `done` mark waits at most for a batch of records to go out with.
pub(super) const DONE_FLUSH_EVERY: Duration = Duration::from_millis(500);

/// How far past its data the log being written is grown with zeros at a time: about 64 of
/// GitHub's larger deliveries, so one batch in many pays for a new extent.
pub(super) const PREALLOCATE: u64 = 1 << 20;

#[derive(Serialize)]
struct ReceivedLine<'a> {
    kind: &'static str,
    id: &'a str,
    source: super::Source,
    event: Option<&'a str>,
    action: Option<&'a str>,
    received_at: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    ignored: bool,
}

#[derive(Serialize)]
struct DoneLine<'a> {
    kind: &'static str,
    id: &'a str,
}

type Reply = oneshot::Sender<Result<Recorded, DeliveryLogError>>;

pub(super) struct Writer {
    state_dir: PathBuf,
    active_path: PathBuf,
    file: File,
    /// Bytes of the log being written up to the last durable batch; the file's cursor.
    committed_len: u64,
    /// The file's length: its data, then zeros written ahead ([`PREALLOCATE`]).
    allocated_len: u64,
    opened_at: Instant,
    generation: u64,
    sealed: VecDeque<Sealed>,
    /// Unfinished deliveries (those with a body) and the generation that holds each.
    pending: HashMap<String, u64>,
    /// How many unfinished deliveries each generation holds.
    pending_per_generation: HashMap<u64, usize>,
    seen: Arc<Mutex<Seen>>,
    done: DoneMarks,
    stats: Arc<Stats>,
    retention: Retention,
    last_maintenance: Instant,
    /// Set after a failed fsync: the kernel may have dropped the pages, so later fsyncs could
    /// succeed without the data. No more records until the log is reopened.
    failed: Option<String>,
    /// This batch's `done` lines.
    buf: Vec<u8>,
    /// [`PREALLOCATE`] zeros, made once.
    zeros: Vec<u8>,
}

impl Writer {
    pub(super) fn new(
        files: Files,
        seen: Arc<Mutex<Seen>>,
        done: DoneMarks,
        stats: Arc<Stats>,
        retention: Retention,
        pending: HashMap<String, u64>,
    ) -> Writer {
        let mut pending_per_generation = HashMap::new();
        for generation in pending.values() {
            *pending_per_generation.entry(*generation).or_insert(0) += 1;
        }
        Writer {
            active_path: files.state_dir.join(LOG_FILE),
            state_dir: files.state_dir,
            file: files.active,
            committed_len: 0,
            allocated_len: 0,
            opened_at: Instant::now(),
            generation: files.generation,
            sealed: files.sealed.into(),
            pending,
            pending_per_generation,
            seen,
            done,
            stats,
            retention,
            last_maintenance: Instant::now(),
            failed: None,
            buf: Vec::with_capacity(16 * 1024),
            zeros: Vec::new(),
        }
    }

    /// Seals and prunes when the last check is old enough or the log large enough.
    pub(super) fn maintain_if_due(&mut self) {
        if self.last_maintenance.elapsed() >= MAINTENANCE_EVERY
            || self.committed_len >= self.retention.segment_bytes
        {
            self.maintain();
        }
    }

    /// Writes the last done marks and leaves the log synced, without its zeros. Done lines
    /// are not synced one by one; a clean stop makes them durable.
    pub(super) fn close(&mut self) {
        self.commit(&mut Vec::new());
        let _ = self.trim();
    }

    /// Cuts the zeros written ahead off the log being written and syncs it.
    fn trim(&mut self) -> std::io::Result<()> {
        if self.allocated_len > self.committed_len {
            self.file.set_len(self.committed_len)?;
            self.allocated_len = self.committed_len;
        }
        self.file.sync_data()
    }

    /// Grows the file with zeros so that `len` more bytes fit, and [`PREALLOCATE`] beyond
    /// them. The zeros past the batch are written here; the batch writes its own bytes.
    fn make_room(&mut self, len: u64) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let end = self.committed_len + len;
        if end <= self.allocated_len {
            return Ok(());
        }
        let from = end.max(self.allocated_len);
        if self.zeros.is_empty() {
            self.zeros = vec![0u8; PREALLOCATE as usize];
        }
        self.file.write_all_at(&self.zeros, from)?;
        self.allocated_len = from + PREALLOCATE;
        Ok(())
    }

    /// Writes the done marks and `batch` with one `writev`, syncs, and answers each request.
    pub(super) fn commit(&mut self, batch: &mut Vec<Request>) {
        self.buf.clear();
        let mut replies: Vec<(Reply, Recorded)> = Vec::new();
        let mut inserted = Vec::new();
        let mut with_body = Vec::new();
        let done = std::mem::take(&mut *locked(&self.done));
        for id in &done {
            write_done(&mut self.buf, id);
        }
        let mut lines = Vec::with_capacity(batch.len());
        {
            let mut seen = locked(&self.seen);
            for request in batch.drain(..) {
                if let Some(reason) = &self.failed {
                    let _ = request.reply.send(Err(io_err(&self.active_path, reason)));
                    continue;
                }
                let key = seen::key(&request.id);
                if !seen.insert(key, self.generation) {
                    replies.push((request.reply, Recorded::Duplicate));
                    continue;
                }
                inserted.push(key);
                lines.push(request.line);
                if request.with_body {
                    with_body.push(request.id);
                }
                replies.push((request.reply, Recorded::New));
            }
        }
        let len = self.buf.len() + lines.iter().map(Vec::len).sum::<usize>();
        if len == 0 {
            for (reply, recorded) in replies {
                let _ = reply.send(Ok(recorded));
            }
            return;
        }
        let started = Instant::now();
        let room = self.make_room(len as u64);
        // The lines go out as they are, gathered by one `writev`, never copied again.
        let mut slices: Vec<IoSlice> = std::iter::once(self.buf.as_slice())
            .chain(lines.iter().map(Vec::as_slice))
            .filter(|l| !l.is_empty())
            .map(IoSlice::new)
            .collect();
        let written = room.and_then(|()| write_all_vectored(&mut self.file, &mut slices));
        let synced = written.as_ref().map_err(|e| e.to_string()).and_then(|()| {
            if inserted.is_empty() {
                Ok(())
            } else {
                let syncing = Instant::now();
                let synced = self.file.sync_data().map_err(|e| e.to_string());
                self.stats.observe_sync(syncing.elapsed());
                synced
            }
        });
        match synced {
            Ok(()) => {
                if !inserted.is_empty() {
                    locked(&self.stats.commit_seconds).observe(started.elapsed().as_secs_f64());
                    self.stats
                        .records
                        .fetch_add(inserted.len() as u64, Ordering::Relaxed);
                }
                self.committed_len += len as u64;
                for id in done {
                    if let Some(generation) = self.pending.remove(&id) {
                        if let Some(n) = self.pending_per_generation.get_mut(&generation) {
                            *n = n.saturating_sub(1);
                        }
                    }
                }
                for id in with_body {
                    self.pending.insert(id, self.generation);
                    *self
                        .pending_per_generation
                        .entry(self.generation)
                        .or_insert(0) += 1;
                }
                for (reply, recorded) in replies {
                    let _ = reply.send(Ok(recorded));
                }
            }
            Err(reason) => {
                {
                    let mut seen = locked(&self.seen);
                    for key in inserted {
                        seen.remove(key);
                    }
                }
                // Cut back what reached the file (and the zeros ahead), so the log ends on
                // the last durable batch and the cursor is back there.
                self.allocated_len = self.committed_len;
                let rolled_back = self
                    .file
                    .set_len(self.committed_len)
                    .and_then(|()| self.file.sync_data())
                    .and_then(|()| self.file.seek(SeekFrom::Start(self.committed_len)))
                    .map(drop);
                let reason = format!("writing the log failed: {reason}; nothing was recorded");
                if written.is_err() && rolled_back.is_ok() {
                    tracing::error!(path = %self.active_path.display(), %reason, "delivery log append failed");
                } else {
                    tracing::error!(path = %self.active_path.display(), %reason, "delivery log stopped: restart to check it");
                    self.failed = Some(reason.clone());
                }
                for (reply, _) in replies {
                    let _ = reply.send(Err(io_err(&self.active_path, &reason)));
                }
            }
        }
    }

    /// Seals the log being written when it is large or old enough, and deletes sealed
    /// segments past their retention.
    pub(super) fn maintain(&mut self) {
        self.last_maintenance = Instant::now();
        let too_big = self.committed_len >= self.retention.segment_bytes;
        let too_old =
            self.committed_len > 0 && self.opened_at.elapsed() >= self.retention.segment_age;
        if self.failed.is_none() && (too_big || too_old) {
            if let Err(e) = self.rotate() {
                tracing::warn!(error = %e, "cannot seal the delivery log; writing on");
            }
        }
        self.prune();
    }

    fn rotate(&mut self) -> Result<(), DeliveryLogError> {
        // Sealed segments hold their lines and nothing else.
        self.trim().map_err(|e| io_err(&self.active_path, e))?;
        let (path, sealed_at) = segments::next_sealed_path(&self.state_dir, self.sealed.back());
        segments::seal(&self.active_path, &path, &self.state_dir)?;
        self.sealed.push_back(Sealed {
            path,
            sealed_at,
            generation: self.generation,
        });
        self.generation += 1;
        self.file = segments::create_active(&self.active_path, &self.state_dir)?;
        self.committed_len = 0;
        self.allocated_len = 0;
        self.opened_at = Instant::now();
        Ok(())
    }

    /// Deletes sealed segments, oldest first, while each is past its retention and holds no
    /// unfinished delivery; the ids they held leave the dedupe set.
    fn prune(&mut self) {
        let now = SystemTime::now();
        while let Some(oldest) = self.sealed.front() {
            let expired = oldest.sealed_at + self.retention.keep <= now;
            let busy = self
                .pending_per_generation
                .get(&oldest.generation)
                .is_some_and(|n| *n > 0);
            if !expired || busy {
                break;
            }
            if let Err(e) = std::fs::remove_file(&oldest.path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %oldest.path.display(), error = %e, "cannot delete a delivery log segment");
                    break;
                }
            }
            tracing::info!(path = %oldest.path.display(), "deleted a delivery log segment past its retention");
            locked(&self.seen).forget_through(oldest.generation);
            self.pending_per_generation.remove(&oldest.generation);
            self.sealed.pop_front();
        }
        let pending = &self.pending;
        let stale = segments::stale_body_files(&self.state_dir, self.retention.keep, |id| {
            pending.contains_key(id)
        });
        for path in stale {
            let _ = std::fs::remove_file(&path);
        }
    }
}

fn write_done(buf: &mut Vec<u8>, id: &str) {
    let line = DoneLine { kind: "done", id };
    // Serializing a struct of strings into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, &line);
    buf.push(b'\n');
}

/// `write_all` for a gather list: `writev` may take part of it, so what is left goes again.
fn write_all_vectored(file: &mut File, mut slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A delivery's `received` line, stamped now: the fields, then the body (if kept) verbatim as
/// the `body` member. The body is JSON the route parsed; its only raw line breaks are
/// whitespace between tokens (inside strings JSON escapes them), so turning them into spaces
/// keeps it the same JSON on one line.
pub(super) fn received_line(
    id: &str,
    source: super::Source,
    event: Option<&str>,
    action: Option<&str>,
    body: Option<&[u8]>,
) -> Vec<u8> {
    let line = ReceivedLine {
        kind: "received",
        id,
        source,
        event,
        action,
        received_at: chrono::Utc::now().to_rfc3339(),
        ignored: body.is_none(),
    };
    let mut buf = Vec::with_capacity(160 + body.map_or(0, <[u8]>::len));
    write_received(&mut buf, &line, body);
    buf
}

fn write_received(buf: &mut Vec<u8>, line: &ReceivedLine, body: Option<&[u8]>) {
    let start = buf.len();
    let _ = serde_json::to_writer(&mut *buf, line);
    if let Some(body) = body {
        if buf.last() == Some(&b'}') && buf.len() > start {
            buf.pop();
            buf.extend_from_slice(b",\"body\":");
            // Copied whole, then any line breaks blanked in place from the first one on, by a
            // branch-free loop the compiler vectorises (searching break by break cost a call
            // per line of a pretty-printed body). A compact body has none.
            let at = buf.len();
            buf.extend_from_slice(body);
            if let Some(first) = memchr::memchr2(b'\n', b'\r', body) {
                for b in &mut buf[at + first..] {
                    let line_break = (*b == b'\n') | (*b == b'\r');
                    *b = if line_break { b' ' } else { *b };
                }
            }
            buf.push(b'}');
        }
    }
    buf.push(b'\n');
}
