//! The workers: recorded deliveries are handed to the [`DeliveryHandler`] concurrently, up to
//! [`MAX_CONCURRENT`] at once, but deliveries with the same order key (one pull request, one
//! installation, one alert group, one rollout) one at a time in arrival order. Each key has a
//! lane: the first delivery for an idle key starts a task that runs the lane until it is
//! empty; later ones queue behind it. A handler that panics is caught at the call, so it
//! costs that delivery, not its lane. Also re-queues the deliveries a previous run left
//! unfinished.

use super::delivery_log::{DeliveryLog, Pending, Source};
use super::events::GithubEvent;
use super::handler::{DeliveryHandler, GithubDelivery, RawDelivery};
use super::metrics::{Metrics, Outcome};
use futures_util::FutureExt;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tracing::instrument::WithSubscriber;

/// Handler calls running at once.
pub(crate) const MAX_CONCURRENT: usize = 32;

#[allow(clippy::large_enum_variant)] // moved once through the queue
pub(crate) enum Job {
    Github(GithubDelivery),
    Raw(RawDelivery),
}

impl Job {
    fn source(&self) -> Source {
        match self {
            Job::Github(_) => Source::Github,
            Job::Raw(d) => d.source,
        }
    }

    fn id(&self) -> &str {
        match self {
            Job::Github(d) => &d.id,
            Job::Raw(d) => &d.id,
        }
    }

    /// Jobs with equal keys run in arrival order; a delivery with nothing to order against
    /// gets its own id as its key.
    fn order_key(&self) -> String {
        let key = match self {
            Job::Github(d) => d.event.order_key(),
            Job::Raw(d) if d.source == Source::Alertmanager => Some(
                d.body
                    .get("groupKey")
                    .and_then(serde_json::Value::as_str)
                    .map_or_else(|| "alerts".to_string(), |g| format!("alerts:{g}")),
            ),
            Job::Raw(d) => {
                let field = |name: &str| d.body.get(name).and_then(serde_json::Value::as_str);
                let rollout = field("rollout").or_else(|| field("name")).unwrap_or("");
                Some(format!(
                    "argo:{}/{rollout}",
                    field("namespace").unwrap_or("")
                ))
            }
        };
        key.unwrap_or_else(|| format!("id:{}", self.id()))
    }
}

/// The queued jobs of every key that has a running lane.
type Lanes = Mutex<HashMap<String, VecDeque<Job>>>;

struct Shared {
    handler: Arc<dyn DeliveryHandler>,
    log: Arc<DeliveryLog>,
    metrics: Arc<Metrics>,
    dispatch: Option<tracing::Dispatch>,
    lanes: Lanes,
    permits: Arc<Semaphore>,
}

/// Takes jobs off `rx` until every sender is gone, then waits for every lane to finish.
pub(crate) fn spawn(
    mut rx: mpsc::UnboundedReceiver<Job>,
    handler: Arc<dyn DeliveryHandler>,
    log: Arc<DeliveryLog>,
    metrics: Arc<Metrics>,
    dispatch: Option<tracing::Dispatch>,
) -> JoinHandle<()> {
    let outer = dispatch.clone();
    let shared = Arc::new(Shared {
        handler,
        log,
        metrics,
        dispatch,
        lanes: Mutex::new(HashMap::new()),
        permits: Arc::new(Semaphore::new(MAX_CONCURRENT)),
    });
    let run = async move {
        let mut running = JoinSet::new();
        loop {
            let job = tokio::select! {
                job = rx.recv() => job,
                Some(_) = running.join_next(), if !running.is_empty() => continue,
            };
            let Some(job) = job else { break };
            let key = job.order_key();
            let start = {
                let mut lanes = shared.lanes.lock().unwrap_or_else(PoisonError::into_inner);
                match lanes.get_mut(&key) {
                    Some(queue) => {
                        queue.push_back(job);
                        None
                    }
                    None => {
                        lanes.insert(key.clone(), VecDeque::new());
                        Some(job)
                    }
                }
            };
            if let Some(job) = start {
                let lane = run_lane(shared.clone(), key, job);
                match &shared.dispatch {
                    Some(d) => running.spawn(lane.with_subscriber(d.clone())),
                    None => running.spawn(lane),
                };
            }
        }
        while running.join_next().await.is_some() {}
    };
    match outer {
        Some(d) => tokio::spawn(run.with_subscriber(d)),
        None => tokio::spawn(run),
    }
}

/// Runs `first`, then whatever queued behind it under `key`, until the lane is empty.
async fn run_lane(shared: Arc<Shared>, key: String, first: Job) {
    let mut job = first;
    loop {
        run_one(&shared, job).await;
        let mut lanes = shared.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        let next = lanes.get_mut(&key).and_then(VecDeque::pop_front);
        match next {
            Some(next) => job = next,
            None => {
                lanes.remove(&key);
                return;
            }
        }
    }
}

async fn run_one(shared: &Shared, job: Job) {
    // The semaphore is never closed.
    let _permit = shared.permits.clone().acquire_owned().await;
    let id = job.id().to_string();
    let source = job.source();
    let h = shared.handler.clone();
    // Every log line of the delivery's handling carries its id (and the source it came from).
    let span = tracing::info_span!("delivery", delivery_id = %id, source = ?source);
    let call = tracing::Instrument::instrument(
        async move {
            match job {
                Job::Github(d) => h.handle(d).await,
                Job::Raw(d) if d.source == Source::Alertmanager => h.handle_alertmanager(d).await,
                Job::Raw(d) => h.handle_argo(d).await,
            }
        },
        span,
    );
    // A panic is caught where it happens (no task of its own per call: that cost a spawn and
    // a wake-up on another thread for every delivery).
    let call = std::panic::AssertUnwindSafe(call).catch_unwind();
    let result = match &shared.dispatch {
        Some(d) => call.with_subscriber(d.clone()).await,
        None => call.await,
    };
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            shared.metrics.handler_error(source);
            tracing::warn!(delivery = %id, error = %crate::model::Causes(&e), "handler failed");
        }
        Err(panic) => {
            shared.metrics.handler_error(source);
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            tracing::error!(delivery = %id, error = %message, "handler panicked");
        }
    }
    shared.log.mark_done(&id);
    shared.metrics.count(source, Outcome::Processed);
    shared.metrics.dequeued();
}

/// Hands deliveries left unfinished by the last run to the workers, reading their bodies
/// again. They count toward the queue depth, so new deliveries wait (503) while these are many.
pub(crate) fn requeue(
    pending: Vec<Pending>,
    tx: mpsc::UnboundedSender<Job>,
    log: Arc<DeliveryLog>,
    metrics: Arc<Metrics>,
) {
    if pending.is_empty() {
        return;
    }
    metrics.enqueued_many(pending.len());
    tokio::spawn(async move {
        for p in pending {
            let job = match load(p.clone()).await {
                Some(job) => job,
                None => {
                    metrics.dequeued();
                    log.mark_done(&p.id);
                    continue;
                }
            };
            tracing::info!(delivery = %p.id, "re-queueing an unfinished delivery");
            if tx.send(job).is_err() {
                metrics.dequeued();
            }
        }
    });
}

/// `None` when the delivery can no longer be handled (body gone or no longer parses).
async fn load(p: Pending) -> Option<Job> {
    let id = p.id.clone();
    let read = tokio::task::spawn_blocking(move || p.read_body().map(|bytes| (p, bytes))).await;
    let (p, bytes) = match read {
        Ok(Ok(read)) => read,
        Ok(Err(e)) => {
            tracing::warn!(delivery = %id, error = %e, "unfinished delivery has no body");
            return None;
        }
        Err(e) => {
            tracing::warn!(delivery = %id, error = %e, "reading an unfinished delivery failed");
            return None;
        }
    };
    match p.source {
        Source::Github => {
            let event = GithubEvent::parse_slice(p.event.as_deref()?, &bytes)
                .ok()?
                .event?;
            Some(Job::Github(GithubDelivery { id: p.id, event }))
        }
        source => Some(Job::Raw(RawDelivery {
            id: p.id,
            source,
            body: serde_json::from_slice(&bytes).ok()?,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::handler::HandlerError;
    use async_trait::async_trait;
    use std::time::Duration;

    /// Records the order of calls per key and how many ran at once.
    #[derive(Default)]
    struct Probe {
        calls: Mutex<Vec<String>>,
        running: std::sync::atomic::AtomicUsize,
        most: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl DeliveryHandler for Probe {
        async fn handle(&self, _: GithubDelivery) -> Result<(), HandlerError> {
            Ok(())
        }

        async fn handle_argo(&self, d: RawDelivery) -> Result<(), HandlerError> {
            use std::sync::atomic::Ordering::SeqCst;
            let now = self.running.fetch_add(1, SeqCst) + 1;
            self.most.fetch_max(now, SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.calls.lock().unwrap().push(d.id.clone());
            self.running.fetch_sub(1, SeqCst);
            Ok(())
        }
    }

    fn argo(id: &str, rollout: &str) -> Job {
        Job::Raw(RawDelivery {
            id: id.to_string(),
            source: Source::Argo,
            body: serde_json::json!({"trigger": "on-rollout-step-completed", "rollout": rollout, "namespace": "prod"}),
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_key_in_order_different_keys_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = DeliveryLog::open(dir.path()).unwrap();
        let probe = Arc::new(Probe::default());
        let metrics = Arc::new(Metrics::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let worker = spawn(rx, probe.clone(), Arc::new(log), metrics.clone(), None);
        for i in 0..40 {
            metrics.enqueued();
            tx.send(argo(&format!("{}-{i}", i % 4), &format!("r{}", i % 4)))
                .unwrap();
        }
        drop(tx);
        worker.await.unwrap();
        let calls = probe.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 40);
        for lane in 0..4 {
            let seen: Vec<usize> = calls
                .iter()
                .filter(|c| c.starts_with(&format!("{lane}-")))
                .map(|c| c.split('-').nth(1).unwrap().parse().unwrap())
                .collect();
            let mut sorted = seen.clone();
            sorted.sort_unstable();
            assert_eq!(seen, sorted, "lane {lane} out of order");
        }
        let most = probe.most.load(std::sync::atomic::Ordering::SeqCst);
        assert!(most > 1, "different rollouts ran one at a time");
        assert_eq!(metrics.queue_depth(), 0);
    }

    /// Logs one line while it handles a delivery.
    struct Talker;

    #[async_trait]
    impl DeliveryHandler for Talker {
        async fn handle(&self, _: GithubDelivery) -> Result<(), HandlerError> {
            Ok(())
        }

        async fn handle_argo(&self, _: RawDelivery) -> Result<(), HandlerError> {
            tracing::info!("handling");
            Ok(())
        }
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_handler_logs_inside_a_span_with_the_delivery_id() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = DeliveryLog::open(dir.path()).unwrap();
        let captured = Captured::default();
        let writer = captured.clone();
        let dispatch = tracing::Dispatch::new(
            tracing_subscriber::fmt()
                .json()
                .with_env_filter("info")
                .with_writer(move || writer.clone())
                .finish(),
        );
        let metrics = Arc::new(Metrics::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let worker = spawn(
            rx,
            Arc::new(Talker),
            Arc::new(log),
            metrics.clone(),
            Some(dispatch),
        );
        metrics.enqueued();
        tx.send(argo("d-42", "r1")).unwrap();
        drop(tx);
        worker.await.unwrap();
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line = text
            .lines()
            .find(|l| l.contains("handling"))
            .unwrap_or_else(|| panic!("no handler line in {text}"));
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(event["span"]["name"], "delivery", "{line}");
        assert_eq!(event["span"]["delivery_id"], "d-42", "{line}");
    }
}
