//! The delivery log: every accepted webhook is written here and made durable before it is
//! answered, so a crash after GitHub's 202 loses nothing. It is also the dedupe set, and it
//! knows which deliveries were never finished, so a restart hands those to the worker again.
//!
//! - **Group commit.** A request joins a queue and asks for a leader: the leader takes the
//!   [`writer`], takes everything queued, writes it with one `writev`, makes it durable with
//!   one `fdatasync` and answers every request in the batch; what queued meanwhile goes in the
//!   next batch. A 202 is sent only after the fsync that holds its delivery.
//! - **Who leads follows the fsync.** Where an fsync is all but free (tmpfs, a disk without a
//!   volatile cache) the caller leads on its runtime thread, when no other caller holds the
//!   writer ([`Shared::lead`]): a wake-up of another thread would cost more than the batch.
//!   Where it waits on a device (a moving mean of the `fdatasync` above [`HAND_OFF_ABOVE`]),
//!   the log's own thread leads: a runtime thread woken from a 100 µs fsync waits for a core
//!   behind the busy ones (`perf sched`: 0.135 ms on average on two cores), which doubled a
//!   commit; the log's thread sleeps between batches and gets a core at once. No runtime
//!   thread is then ever blocked in the log, so `serve` runs as many as there are cores
//!   (`scripts/bench/webhook`'s payloads, alternating runs: a commit from 0.23 to 0.14–0.17
//!   ms, as sent +15% requests a second, `/heal` +7% but its p99 from about 3 to 4–5 ms).
//!   Before each batch it leads, the thread yields for [`GATHER`] (30 µs), so the requests
//!   the runtime threads are finishing share its fsync (as sent: 8 deliveries a batch → 13,
//!   +20% requests a second).
//! - **Claims in the batch.** With replicas ([`DeliveryLog::open_claiming`]), the deliveries a
//!   batch must claim are claimed together by the log's thread before it writes them
//!   ([`claimed`]): one round trip a batch, one wait a request. The log's thread then leads
//!   every batch, so a claim never blocks a runtime thread.
//! - **Bodies in the log.** A delivery healbot acts on keeps its body inline on its own line
//!   (`"body": {...}`): for GitHub, what healbot reads of it (`GithubEvent::kept_body`, about
//!   400 bytes of a 15.5 KB comment payload); Alertmanager and Argo bodies whole. One that needs no
//!   action costs one short line and nothing else.
//! - **Segments and retention.** The log being written is `<state>/deliveries.jsonl`; it is
//!   sealed into `<state>/deliveries/sealed-<unix ms>.jsonl` when it grows past a size or an
//!   age, and on every start. A sealed segment is deleted once every delivery in it (and in the
//!   segments before it) is handled and it is older than `delivery_retention_days`.
//! - **Bounded memory.** The seen ids are kept as 128-bit digests for the retention window, at
//!   most [`Retention::max_seen`] of them.

mod claimed;
mod seen;
mod segments;
mod writer;

use super::kpis::Histogram;
use axum::body::Bytes;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

pub use claimed::BatchClaims;
pub use segments::{log_text, segment_files};

/// Where a delivery came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Github,
    Alertmanager,
    Argo,
}

/// One line of the log, as tools and tests read it (a delivery's inline `body` is skipped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LogLine {
    /// A delivery was accepted. `body_file` is set only on lines written before bodies moved
    /// into the log (relative to the state dir).
    Received {
        id: String,
        source: Source,
        event: Option<String>,
        action: Option<String>,
        received_at: String,
        body_file: Option<String>,
        /// Recorded without a body: healbot has nothing to do with it, so it never gets a
        /// `done` line.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        ignored: bool,
    },
    /// The worker finished with the delivery (whatever the handler's result).
    Done { id: String },
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryLogError {
    #[error("delivery log {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("delivery log: the writer has stopped")]
    WriterGone,
    /// The delivery could not be claimed for this replica, so it was not recorded.
    #[error("{0}")]
    Claim(String),
}

/// Whether [`DeliveryLog::record`] wrote a new delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New,
    Duplicate,
    /// Another replica claimed the delivery first; nothing written.
    HeldElsewhere,
}

/// Where an unfinished delivery's body is.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyRef {
    /// On its own line of a sealed segment: `len` bytes at `offset`.
    InLog {
        path: PathBuf,
        offset: u64,
        len: usize,
    },
    /// A file of its own (logs written before bodies moved into the log).
    File(PathBuf),
}

/// A delivery that was received but never marked done: the worker's backlog after a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub id: String,
    pub source: Source,
    pub event: Option<String>,
    pub body: BodyRef,
}

impl Pending {
    /// Reads the body back. Blocking: call it from `spawn_blocking`.
    pub(crate) fn read_body(&self) -> Result<Vec<u8>, DeliveryLogError> {
        segments::read_body(&self.body)
    }
}

/// How long handled deliveries are kept, and how much the log remembers.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Sealed segments whose deliveries are all handled are deleted this long after sealing.
    pub keep: Duration,
    /// At most this many delivery ids are remembered for dedupe (the oldest go first).
    pub max_seen: usize,
    /// The log being written is sealed past this size…
    pub segment_bytes: u64,
    /// …or this age.
    pub segment_age: Duration,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            keep: Duration::from_secs(3 * 24 * 3600),
            max_seen: 1_000_000,
            segment_bytes: 64 * 1024 * 1024,
            segment_age: Duration::from_secs(3600),
        }
    }
}

/// Locks `mutex`, poisoned or not: a panicking holder leaves the log's data consistent (each
/// update is one call on it), so the next one carries on.
fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn io_err(path: &Path, e: impl std::fmt::Display) -> DeliveryLogError {
    DeliveryLogError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// A delivery id is used in log lines and was used as a file name, so only a safe alphabet
/// passes.
pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !id.starts_with('.')
}

/// A delivery to record: its `received` line is built by the caller, in parallel with the
/// others, so the leader of a batch only dedupes, writes and syncs.
struct Request {
    id: String,
    /// The whole line, newline included.
    line: Vec<u8>,
    /// Whether the line holds a body (the delivery is then pending until marked done).
    with_body: bool,
    /// Whether the delivery must be claimed for this replica before it is written.
    claim: bool,
    reply: oneshot::Sender<Result<Recorded, DeliveryLogError>>,
}

/// Deliveries handled since the writer last wrote: their `done` lines go out with the next
/// batch of records, or within [`writer::DONE_FLUSH_EVERY`] (the log's thread). Marking one
/// done wakes no thread; the workers mark one per delivery.
type DoneMarks = Arc<Mutex<Vec<String>>>;

/// Upper bounds, in seconds, of [`CommitStats::seconds`]' buckets: an fdatasync takes from
/// tens of microseconds (NVMe, tmpfs) to tens of milliseconds (a busy network disk).
const COMMIT_BUCKETS: [f64; 10] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0,
];

/// What the writer counts: for `/metrics`, benchmarks and tests.
#[derive(Debug)]
struct Stats {
    records: AtomicU64,
    /// Write and fdatasync of each batch that recorded something (its count is the number of
    /// fsyncs). One leader at a time observes it, so the lock is never contended but by
    /// `/metrics`.
    commit_seconds: Mutex<Histogram>,
    /// A moving mean of the `fdatasync` alone, in nanoseconds (0 before the first): where it
    /// is above [`HAND_OFF_ABOVE`] the log's own thread leads.
    sync_nanos: AtomicU64,
}

impl Stats {
    /// Takes one `fdatasync`'s time into the moving mean (weight 1/8: a few slow syncs do not
    /// move the leader, a disk that got slower does within tens of batches).
    fn observe_sync(&self, took: Duration) {
        let took = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let mean = self.sync_nanos.load(Ordering::Relaxed);
        let next = if mean == 0 {
            took
        } else {
            mean - mean / 8 + took / 8
        };
        self.sync_nanos.store(next.max(1), Ordering::Relaxed);
    }

    /// Whether a batch is led by the log's own thread rather than by its caller.
    fn hands_off(&self) -> bool {
        self.sync_nanos.load(Ordering::Relaxed) > HAND_OFF_ABOVE.as_nanos() as u64
    }
}

/// An fsync slower than this, on the moving mean, has batches led by the log's thread: waking
/// it costs a few microseconds, far less than a runtime thread's wait for a core after an
/// fsync that slept on a device; tmpfs syncs in 2–4 µs, a disk's flush takes 100 µs or more.
const HAND_OFF_ABOVE: Duration = Duration::from_micros(30);

/// How long the log's thread gathers before each batch it leads, about a third of a disk's
/// fsync: the runtime threads are mid-request, and what they queue in that time shares the
/// batch's fsync instead of waiting for the next one. On this 2-core machine the batches, as
/// sent, grow from 8 to 13–14 deliveries, and deliveries a second by about a fifth
/// (`scripts/bench/webhook`); `/heal`, whose requests cost more CPU, stays the same.
const GATHER: Duration = Duration::from_micros(30);

/// How the log's group commit is doing, for `/metrics`: on a disk, the batches' write and
/// fdatasync bound how many deliveries a second the intake takes (`records / commits`
/// deliveries a batch, one batch at a time).
#[derive(Debug, Clone, PartialEq)]
pub struct CommitStats {
    /// Deliveries recorded (duplicates are not).
    pub records: u64,
    /// Seconds each batch took to write and sync.
    pub seconds: Histogram,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            records: AtomicU64::new(0),
            commit_seconds: Mutex::new(CommitStats::default().seconds),
            sync_nanos: AtomicU64::new(0),
        }
    }
}

impl CommitStats {
    /// Batches made durable, one fdatasync each: one timed commit each.
    pub fn commits(&self) -> u64 {
        self.seconds.count
    }
}

impl Default for CommitStats {
    /// A log that has committed nothing yet.
    fn default() -> CommitStats {
        CommitStats {
            records: 0,
            seconds: Histogram::new(&COMMIT_BUCKETS),
        }
    }
}

pub struct DeliveryLog {
    shared: Arc<Shared>,
    seen: Arc<Mutex<seen::Seen>>,
    done: DoneMarks,
    /// The log's own thread: it leads batches when fsyncs are slow, and ticks.
    thread: Option<thread::JoinHandle<()>>,
}

/// What the log's thread is told. Between signals it ticks every
/// [`writer::DONE_FLUSH_EVERY`].
enum Signal {
    /// Requests are queued: lead them.
    Lead,
    /// The log is closing.
    Stop,
}

/// What the callers share: the requests waiting for a batch, the writer a batch's leader
/// takes (`None` once the log is closed; a leader task spawned before then finds it so), and
/// the way to the log's thread.
struct Shared {
    queue: Mutex<Vec<Request>>,
    writer: Mutex<Option<writer::Writer>>,
    stats: Arc<Stats>,
    /// One signal waits at most: a `Lead` already waiting covers every request queued
    /// before the thread takes it.
    signals: mpsc::SyncSender<Signal>,
    /// How long the log's thread waits for more requests before it leads a batch ([`GATHER`]).
    gather: Duration,
    /// Where a batch's deliveries are claimed before they are written, with replicas.
    claims: Option<Arc<dyn BatchClaims>>,
    seen: Arc<Mutex<seen::Seen>>,
    /// `Lead` signals the log's thread took.
    #[cfg(test)]
    signals_led: AtomicU64,
}

impl Shared {
    /// Commits what is queued as one batch, unless another caller holds the writer (`wait`:
    /// waits for it instead). Returns whether requests are left queued that no leader has
    /// seen yet.
    fn commit_queued(&self, wait: bool) -> bool {
        let guard = if wait {
            locked(&self.writer)
        } else {
            match self.writer.try_lock() {
                Ok(guard) => guard,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                // The holder looks at the queue after it lets go.
                Err(std::sync::TryLockError::WouldBlock) => return false,
            }
        };
        let mut guard = guard;
        let mut batch = std::mem::take(&mut *locked(&self.queue));
        match guard.as_mut() {
            Some(writer) => {
                if let Some(claims) = &self.claims {
                    claimed::claim_batch(claims.as_ref(), &self.seen, &mut batch);
                }
                writer.commit(&mut batch);
                writer.maintain_if_due();
            }
            None => {
                for request in batch {
                    let _ = request.reply.send(Err(DeliveryLogError::WriterGone));
                }
            }
        }
        drop(guard);
        !locked(&self.queue).is_empty()
    }

    /// Has what is queued led: by the log's thread when fsyncs are slow, else by this caller
    /// (one batch, if no other caller holds the writer), with a new task to lead what queued
    /// meanwhile, so no caller waits for more than its own batch. Every holder of the writer
    /// but the last (`Drop`) hands on what queued while it held it: a request that found the
    /// writer held is led as soon as the holder lets go, never left for the next tick.
    fn lead(self: &Arc<Self>) {
        // A batch's claims wait on Redis: never on a runtime thread.
        if (self.claims.is_some() || self.stats.hands_off()) && self.signal_lead() {
            return;
        }
        if !self.commit_queued(false) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let shared = self.clone();
                runtime.spawn(async move { shared.lead() });
            }
            Err(_) => self.lead_all(),
        }
    }

    /// Tells the log's thread to lead; `false` when it is gone (the caller leads).
    fn signal_lead(&self) -> bool {
        match self.signals.try_send(Signal::Lead) {
            Ok(()) | Err(mpsc::TrySendError::Full(_)) => true,
            Err(mpsc::TrySendError::Disconnected(_)) => false,
        }
    }

    /// Commits batch after batch until nothing is queued: the log's thread, and a caller
    /// outside a runtime.
    fn lead_all(&self) {
        while self.commit_queued(true) {}
    }

    /// Before the log's thread leads a batch: yields its core for [`Shared::gather`], so the
    /// requests the runtime threads are in the middle of queue in time for it. Yielding, not
    /// sleeping: a sleep of tens of microseconds costs a timer and a wake-up of its own.
    fn gather(&self) {
        let started = Instant::now();
        while started.elapsed() < self.gather {
            thread::yield_now();
        }
    }

    /// The log's thread: leads when signalled, and every tick commits what no batch carried
    /// (done marks) and seals and prunes on time.
    fn run(&self, signals: mpsc::Receiver<Signal>) {
        loop {
            match signals.recv_timeout(writer::DONE_FLUSH_EVERY) {
                Ok(Signal::Lead) => {
                    #[cfg(test)]
                    self.signals_led.fetch_add(1, Ordering::Relaxed);
                    // A `Lead` whose requests an earlier batch took finds the queue empty:
                    // nothing to gather for.
                    while !locked(&self.queue).is_empty() {
                        self.gather();
                        self.commit_queued(true);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => self.lead_all(),
                Ok(Signal::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

impl DeliveryLog {
    /// [`DeliveryLog::open_with`] the default retention (3 days).
    pub fn open(state_dir: &Path) -> Result<(DeliveryLog, Vec<Pending>), DeliveryLogError> {
        DeliveryLog::open_with(state_dir, Retention::default())
    }

    /// Opens (or creates) the log under `state_dir` and returns the deliveries never finished,
    /// oldest first. A last line cut off by a crash is dropped (it was never answered), the log
    /// left by the last run is sealed, and segments past their retention are deleted.
    pub fn open_with(
        state_dir: &Path,
        retention: Retention,
    ) -> Result<(DeliveryLog, Vec<Pending>), DeliveryLogError> {
        DeliveryLog::open_gathering(state_dir, retention, GATHER, None)
    }

    /// [`DeliveryLog::open_with`], each batch claiming its deliveries recorded with
    /// [`DeliveryLog::record_claiming`] from `claims` before it writes them (replicas).
    pub fn open_claiming(
        state_dir: &Path,
        retention: Retention,
        claims: Arc<dyn BatchClaims>,
    ) -> Result<(DeliveryLog, Vec<Pending>), DeliveryLogError> {
        DeliveryLog::open_gathering(state_dir, retention, GATHER, Some(claims))
    }

    /// Opens the log, its thread gathering for `gather` before each batch.
    fn open_gathering(
        state_dir: &Path,
        retention: Retention,
        gather: Duration,
        claims: Option<Arc<dyn BatchClaims>>,
    ) -> Result<(DeliveryLog, Vec<Pending>), DeliveryLogError> {
        let opened = segments::open(state_dir, retention)?;
        let seen = Arc::new(Mutex::new(opened.seen));
        let stats = Arc::new(Stats::default());
        let done = DoneMarks::default();
        let mut writer = writer::Writer::new(
            opened.files,
            seen.clone(),
            done.clone(),
            stats.clone(),
            retention,
            opened.pending_generations,
        );
        writer.maintain();
        let (signals, received) = mpsc::sync_channel(1);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Vec::new()),
            writer: Mutex::new(Some(writer)),
            stats,
            signals,
            gather,
            claims,
            seen: seen.clone(),
            #[cfg(test)]
            signals_led: AtomicU64::new(0),
        });
        let running = shared.clone();
        let thread = thread::Builder::new()
            .name("delivery-log".into())
            .spawn(move || running.run(received))
            .map_err(|e| io_err(state_dir, e))?;
        let log = DeliveryLog {
            shared,
            seen,
            done,
            thread: Some(thread),
        };
        Ok((log, opened.pending))
    }

    /// Records a delivery (and its body, which must be JSON the caller has parsed) and returns
    /// once it is durable; `Duplicate`, and nothing written, for an id seen before.
    pub async fn record(
        &self,
        id: &str,
        source: Source,
        event: Option<&str>,
        action: Option<&str>,
        body: Option<Bytes>,
    ) -> Result<Recorded, DeliveryLogError> {
        self.record_claiming(id, source, event, action, body, false)
            .await
    }

    /// [`DeliveryLog::record`], the delivery claimed for this replica first when `claim` (in a
    /// log opened with [`DeliveryLog::open_claiming`]; otherwise there is nothing to claim
    /// from): `HeldElsewhere` when another replica holds it, `Claim` when it could not be
    /// claimed.
    pub async fn record_claiming(
        &self,
        id: &str,
        source: Source,
        event: Option<&str>,
        action: Option<&str>,
        body: Option<Bytes>,
        claim: bool,
    ) -> Result<Recorded, DeliveryLogError> {
        let (reply, answer) = oneshot::channel();
        let line = writer::received_line(id, source, event, action, body.as_deref());
        locked(&self.shared.queue).push(Request {
            id: id.to_string(),
            line,
            with_body: body.is_some(),
            claim,
            reply,
        });
        self.shared.lead();
        answer.await.map_err(|_| DeliveryLogError::WriterGone)?
    }

    /// Marks a delivery as handled. Not waited for and not fsync'd on its own (the next
    /// batch's fsync carries it, or the writer's next tick): losing it only means handling it
    /// again after a crash, and handlers are idempotent.
    pub(crate) fn mark_done(&self, id: &str) {
        locked(&self.done).push(id.to_string());
    }

    /// Whether `id` was recorded (within the retention window).
    pub fn contains(&self, id: &str) -> bool {
        locked(&self.seen).contains(seen::key(id))
    }

    /// How many fsyncs made records durable: with group commit, far fewer than records.
    pub fn sync_count(&self) -> u64 {
        self.commit_stats().commits()
    }

    /// The group commit's figures since the log was opened.
    pub fn commit_stats(&self) -> CommitStats {
        CommitStats {
            records: self.shared.stats.records.load(Ordering::Relaxed),
            seconds: locked(&self.shared.stats.commit_seconds).clone(),
        }
    }

    #[cfg(test)]
    /// How many new deliveries were recorded since the log was opened.
    pub fn record_count(&self) -> u64 {
        self.shared.stats.records.load(Ordering::Relaxed)
    }

    /// Stops the log's thread once it has led what it was signalled for; callers lead from
    /// then on.
    fn stop_thread(&mut self) {
        if let Some(thread) = self.thread.take() {
            // Waits while a `Lead` is waiting: the thread takes it first.
            let _ = self.shared.signals.send(Signal::Stop);
            let _ = thread.join();
        }
    }
}

impl Drop for DeliveryLog {
    fn drop(&mut self) {
        self.stop_thread();
        // No caller is left (each borrows the log): what is queued is answered, the done marks
        // written, the log synced and trimmed.
        self.shared.commit_queued(true);
        let writer = locked(&self.shared.writer).take();
        if let Some(mut writer) = writer {
            writer.close();
        }
    }
}

#[cfg(test)]
mod tests;
