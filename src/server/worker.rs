//! The worker: takes recorded deliveries off the queue, one at a time, and hands them to the
//! [`DeliveryHandler`]. Each call runs in its own task, so a handler that panics costs that
//! delivery, not the worker. Also re-queues the deliveries a previous run left unfinished.

use super::delivery_log::{DeliveryLog, Pending, Source};
use super::events::GithubEvent;
use super::handler::{DeliveryHandler, GithubDelivery, RawDelivery};
use super::metrics::{Metrics, Outcome};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::instrument::WithSubscriber;

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
}

pub(crate) fn spawn(
    mut rx: mpsc::Receiver<Job>,
    handler: Arc<dyn DeliveryHandler>,
    log: Arc<DeliveryLog>,
    metrics: Arc<Metrics>,
    dispatch: Option<tracing::Dispatch>,
) -> JoinHandle<()> {
    let outer = dispatch.clone();
    let run = async move {
        while let Some(job) = rx.recv().await {
            let id = job.id().to_string();
            let source = job.source();
            let h = handler.clone();
            let call = async move {
                match job {
                    Job::Github(d) => h.handle(d).await,
                    Job::Raw(d) if d.source == Source::Alertmanager => {
                        h.handle_alertmanager(d).await
                    }
                    Job::Raw(d) => h.handle_argo(d).await,
                }
            };
            let result = match &dispatch {
                Some(d) => tokio::spawn(call.with_subscriber(d.clone())).await,
                None => tokio::spawn(call).await,
            };
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    metrics.handler_error(source);
                    tracing::warn!(delivery = %id, error = %e, "handler failed");
                }
                Err(e) => {
                    metrics.handler_error(source);
                    tracing::error!(delivery = %id, error = %e, "handler panicked");
                }
            }
            metrics.count(source, Outcome::Processed);
            metrics.dequeued();
            mark_done(&log, id).await;
        }
    };
    match outer {
        Some(d) => tokio::spawn(run.with_subscriber(d)),
        None => tokio::spawn(run),
    }
}

async fn mark_done(log: &Arc<DeliveryLog>, id: String) {
    let log = log.clone();
    let result = tokio::task::spawn_blocking(move || log.mark_done(&id)).await;
    if let Ok(Err(e)) = result {
        tracing::warn!(error = %e, "cannot mark a delivery done; it will run again after a restart");
    }
}

/// Hands deliveries left unfinished by the last run to the worker, reading their bodies again.
pub(crate) fn requeue(
    pending: Vec<Pending>,
    tx: mpsc::Sender<Job>,
    log: Arc<DeliveryLog>,
    metrics: Arc<Metrics>,
) {
    if pending.is_empty() {
        return;
    }
    tokio::spawn(async move {
        for p in pending {
            let job = match load(&p).await {
                Some(job) => job,
                None => {
                    mark_done(&log, p.id).await;
                    continue;
                }
            };
            tracing::info!(delivery = %p.id, "re-queueing an unfinished delivery");
            metrics.enqueued();
            if tx.send(job).await.is_err() {
                metrics.dequeued();
                return;
            }
        }
    });
}

/// `None` when the delivery can no longer be handled (body gone or no longer parses).
async fn load(p: &Pending) -> Option<Job> {
    let path = p.body_file.as_ref()?;
    let bytes = match tokio::fs::read(path).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(delivery = %p.id, error = %e, "unfinished delivery has no body");
            return None;
        }
    };
    let body: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    match p.source {
        Source::Github => {
            let event = GithubEvent::parse(p.event.as_deref()?, &body).ok()??;
            Some(Job::Github(GithubDelivery {
                id: p.id.clone(),
                event,
            }))
        }
        source => Some(Job::Raw(RawDelivery {
            id: p.id.clone(),
            source,
            body,
        })),
    }
}
