//! The one thread that writes the delivery log: group commit (every request waiting goes into
//! one `write` and one `fdatasync`), sealing the log past its size or age, and deleting sealed
//! segments past their retention.

use super::seen::{self, Seen};
use super::segments::{self, Files, Sealed, LOG_FILE};
use super::{io_err, DeliveryLogError, DoneMarks, Recorded, Request, Retention, Stats};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::oneshot;

/// How often a quiet writer checks for segments to seal or delete.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(60);

/// How long a `done` mark waits at most for a batch of records to go out with.
pub(super) const DONE_FLUSH_EVERY: Duration = Duration::from_millis(500);

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
    /// Bytes of the log being written up to the last durable batch.
    committed_len: u64,
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
    buf: Vec<u8>,
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
            buf: Vec::with_capacity(256 * 1024),
        }
    }

    pub(super) fn run(mut self, requests: mpsc::Receiver<Request>) {
        let mut batch = Vec::new();
        loop {
            match requests.recv_timeout(DONE_FLUSH_EVERY) {
                Ok(first) => {
                    batch.push(first);
                    // Everything that queued up during the last fsync goes together.
                    batch.extend(requests.try_iter());
                    self.commit(&mut batch);
                }
                // No records: the done marks go out on their own.
                Err(mpsc::RecvTimeoutError::Timeout) => self.commit(&mut batch),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.commit(&mut batch);
                    break;
                }
            }
            if self.last_maintenance.elapsed() >= MAINTENANCE_EVERY
                || self.committed_len >= self.retention.segment_bytes
            {
                self.maintain();
            }
        }
        // Done lines are not synced one by one; a clean stop makes them durable.
        let _ = self.file.sync_data();
    }

    fn commit(&mut self, batch: &mut Vec<Request>) {
        self.buf.clear();
        let mut replies: Vec<(Reply, Recorded)> = Vec::new();
        let mut inserted = Vec::new();
        let mut with_body = Vec::new();
        let done = std::mem::take(&mut *self.done.lock().unwrap_or_else(PoisonError::into_inner));
        for id in &done {
            write_done(&mut self.buf, id);
        }
        {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            for request in batch.drain(..) {
                let Request {
                    id,
                    source,
                    event,
                    action,
                    body,
                    reply,
                } = request;
                if let Some(reason) = &self.failed {
                    let _ = reply.send(Err(io_err(&self.active_path, reason)));
                    continue;
                }
                let key = seen::key(&id);
                if !seen.insert(key, self.generation) {
                    replies.push((reply, Recorded::Duplicate));
                    continue;
                }
                inserted.push(key);
                let line = ReceivedLine {
                    kind: "received",
                    id: &id,
                    source,
                    event: event.as_deref(),
                    action: action.as_deref(),
                    received_at: chrono::Utc::now().to_rfc3339(),
                    ignored: body.is_none(),
                };
                write_received(&mut self.buf, &line, body.as_deref());
                if body.is_some() {
                    with_body.push(id);
                }
                replies.push((reply, Recorded::New));
            }
        }
        if self.buf.is_empty() {
            for (reply, recorded) in replies {
                let _ = reply.send(Ok(recorded));
            }
            return;
        }
        let written = self.file.write_all(&self.buf);
        let synced = written.as_ref().map_err(|e| e.to_string()).and_then(|()| {
            if inserted.is_empty() {
                Ok(())
            } else {
                self.file.sync_data().map_err(|e| e.to_string())
            }
        });
        match synced {
            Ok(()) => {
                if !inserted.is_empty() {
                    self.stats.syncs.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .records
                        .fetch_add(inserted.len() as u64, Ordering::Relaxed);
                }
                self.committed_len += self.buf.len() as u64;
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
                    let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
                    for key in inserted {
                        seen.remove(key);
                    }
                }
                // Cut back what reached the file, so the log ends on the last durable batch.
                let rolled_back = self
                    .file
                    .set_len(self.committed_len)
                    .and_then(|()| self.file.sync_data());
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
        self.file
            .sync_data()
            .map_err(|e| io_err(&self.active_path, e))?;
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
            self.seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .forget_through(oldest.generation);
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

/// The line's fields, then the body verbatim as the `body` member. The body is JSON the route
/// parsed; its only raw line breaks are whitespace between tokens (inside strings JSON escapes
/// them), so turning them into spaces keeps it the same JSON on one line.
fn write_received(buf: &mut Vec<u8>, line: &ReceivedLine, body: Option<&[u8]>) {
    let start = buf.len();
    let _ = serde_json::to_writer(&mut *buf, line);
    if let Some(body) = body {
        if buf.last() == Some(&b'}') && buf.len() > start {
            buf.pop();
            buf.extend_from_slice(b",\"body\":");
            // Copied whole, then its line breaks blanked in place: a loop the compiler
            // vectorises, where searching break by break cost a call per line of a
            // pretty-printed body (the writer is one thread; it is the intake's bottleneck).
            let at = buf.len();
            buf.extend_from_slice(body);
            for b in &mut buf[at..] {
                if *b == b'\n' || *b == b'\r' {
                    *b = b' ';
                }
            }
            buf.push(b'}');
        }
    }
    buf.push(b'\n');
}
