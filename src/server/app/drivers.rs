//! Operations are carried on by tasks of their own, never by the webhook worker: a canary step
//! waits minutes, and the next delivery must not wait with it. One operation is driven by one
//! task at a time, and a person's override on it waits for the step in flight to end.
//!
//! With several replicas ([`SharedWork`]) the same holds across processes: an operation to drive
//! goes on the Redis work queue, whichever replica takes it drives it, and acting on an operation
//! (driving it, or a webhook about it) takes its lease first and then folds what the other
//! replicas wrote to the chain, so every decision is made on the whole history.

use super::{other, HandlerError};
use crate::model::OperationId;
use crate::operation::lease::{Lease, Leases};
use crate::operation::work_queue::{WorkItem, WorkQueue};
use crate::orchestrator::Orchestrator;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Mutex as AsyncMutex, Notify, OwnedMutexGuard};
use tracing::instrument::WithSubscriber;

/// What replicas share to split the work: the queue and the per-operation leases.
pub struct SharedWork {
    pub queue: WorkQueue,
    pub leases: Leases,
}

pub(crate) struct Drivers {
    per_operation: Mutex<HashMap<OperationId, Arc<AsyncMutex<()>>>>,
    running: AtomicUsize,
    idle: Notify,
    shared: Option<SharedWork>,
    /// Queue entries this replica is working on (a claim must not start one twice).
    taken: Mutex<HashSet<String>>,
}

/// Who runs the escalation clock: the only replica, this one while it holds the clock's lease,
/// or another replica.
pub(crate) enum ClockTurn {
    Alone,
    Leased { _lease: Lease },
    Elsewhere,
}

/// The right to act on one operation, in this process and, when shared, across replicas.
pub(crate) struct Hold {
    _local: OwnedMutexGuard<()>,
    _lease: Option<Lease>,
}

impl Drivers {
    pub(crate) fn new(shared: Option<SharedWork>) -> Drivers {
        Drivers {
            per_operation: Mutex::default(),
            running: AtomicUsize::new(0),
            idle: Notify::new(),
            shared,
            taken: Mutex::default(),
        }
    }

    /// Exclusive use of one operation until the hold drops, with the journal up to date.
    pub(crate) async fn hold(
        &self,
        orchestrator: &Orchestrator,
        id: &OperationId,
    ) -> Result<Hold, HandlerError> {
        let lock = {
            let mut map = self
                .per_operation
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            map.entry(id.clone()).or_default().clone()
        };
        let local = lock.lock_owned().await;
        let lease = match &self.shared {
            Some(shared) => Some(
                shared
                    .leases
                    .take(&format!("op:{id}"))
                    .await
                    .map_err(other)?,
            ),
            None => None,
        };
        orchestrator.journal.sync().await.map_err(other)?;
        Ok(Hold {
            _local: local,
            _lease: lease,
        })
    }

    /// Whether this replica runs the escalation clock this tick.
    pub(crate) async fn clock_turn(
        &self,
        orchestrator: &Orchestrator,
    ) -> Result<ClockTurn, HandlerError> {
        let Some(shared) = &self.shared else {
            return Ok(ClockTurn::Alone);
        };
        let Some(lease) = shared
            .leases
            .try_take("escalation-clock")
            .await
            .map_err(other)?
        else {
            return Ok(ClockTurn::Elsewhere);
        };
        orchestrator.journal.sync().await.map_err(other)?;
        Ok(ClockTurn::Leased { _lease: lease })
    }

    /// Has `id` driven on in the background: by this replica, or by whichever replica takes it
    /// from the shared queue.
    pub(crate) fn kick(self: &Arc<Self>, orchestrator: &Arc<Orchestrator>, id: OperationId) {
        let (drivers, orchestrator) = (self.clone(), orchestrator.clone());
        self.spawn(async move {
            match &drivers.shared {
                Some(shared) => {
                    if let Err(e) = shared.queue.push(&id).await {
                        tracing::error!(operation = %id, error = %e, "cannot queue the operation");
                    }
                }
                None => {
                    drivers.drive(&orchestrator, &id).await;
                }
            }
        });
    }

    /// Puts `id` on the shared work queue and waits until it is there; `false` when there is
    /// no queue (a single server drives its operations itself).
    pub(crate) async fn queue(&self, id: &OperationId) -> Result<bool, HandlerError> {
        match &self.shared {
            Some(shared) => {
                shared.queue.push(id).await.map_err(other)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Drives `id` as far as it goes; `false` when it could not even be taken (the lease
    /// backend or the chain failed), so that its queue entry is tried again later.
    async fn drive(&self, orchestrator: &Orchestrator, id: &OperationId) -> bool {
        let hold = match self.hold(orchestrator, id).await {
            Ok(hold) => hold,
            Err(e) => {
                tracing::error!(operation = %id, error = %e, "cannot take the operation");
                return false;
            }
        };
        match orchestrator.drive(id).await {
            Ok(progress) => tracing::info!(operation = %id, ?progress, "operation driven"),
            Err(e) => tracing::error!(operation = %id, error = %e, "operation stopped"),
        }
        drop(hold);
        true
    }

    /// Counts `task` as running until it ends, so [`settled`](Self::settled) waits for it.
    fn spawn(self: &Arc<Self>, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.running.fetch_add(1, Ordering::SeqCst);
        let drivers = self.clone();
        let counted = async move {
            task.await;
            drivers.finished();
        };
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        tokio::spawn(counted.with_subscriber(dispatch));
    }

    fn finished(&self) {
        if self.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Reads the shared queue until the process ends: first what this replica took and never
    /// finished, then new entries, and every so often entries a dead replica left behind.
    pub(crate) fn start_consumer(
        self: &Arc<Self>,
        orchestrator: &Arc<Orchestrator>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let queue = self.shared.as_ref()?.queue.clone();
        let (drivers, orchestrator) = (self.clone(), orchestrator.clone());
        let consumer = async move {
            match queue.own_pending().await {
                Ok(items) => {
                    for item in items {
                        drivers.work_on(&orchestrator, item);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading this replica's pending work"),
            }
            let mut last_claim = tokio::time::Instant::now();
            loop {
                if last_claim.elapsed() >= queue.claim_after() / 2 {
                    last_claim = tokio::time::Instant::now();
                    match queue.claim_abandoned().await {
                        Ok(items) => {
                            for item in items {
                                tracing::info!(operation = %item.operation, "taking over work a replica left");
                                drivers.work_on(&orchestrator, item);
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "claiming abandoned work"),
                    }
                }
                match queue.next(Duration::from_millis(500)).await {
                    Ok(Some(item)) => drivers.work_on(&orchestrator, item),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the work queue");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        };
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        Some(tokio::spawn(consumer.with_subscriber(dispatch)))
    }

    /// Drives the operation of `item`, keeping the entry fresh meanwhile, then acknowledges it.
    fn work_on(self: &Arc<Self>, orchestrator: &Arc<Orchestrator>, item: WorkItem) {
        let fresh = self
            .taken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(item.entry.clone());
        if !fresh {
            return;
        }
        let Some(queue) = self.shared.as_ref().map(|s| s.queue.clone()) else {
            return;
        };
        let (drivers, orchestrator) = (self.clone(), orchestrator.clone());
        self.spawn(async move {
            let keep_fresh = {
                let (queue, item) = (queue.clone(), item.clone());
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(queue.touch_every()).await;
                        if let Err(e) = queue.touch(&item).await {
                            tracing::warn!(error = %e, "keeping the work entry");
                        }
                    }
                })
            };
            let driven = drivers.drive(&orchestrator, &item.operation).await;
            keep_fresh.abort();
            // Not driven: left pending, so a replica claims it again once it has been idle.
            if driven {
                if let Err(e) = queue.done(&item).await {
                    tracing::warn!(operation = %item.operation, error = %e, "acknowledging work");
                }
            }
            drivers
                .taken
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&item.entry);
        });
    }

    /// Returns once no operation is being driven here (and, when shared, none is queued or
    /// pending anywhere). Tests and shutdown use it.
    pub(crate) async fn settled(&self) {
        loop {
            let notified = self.idle.notified();
            if self.running.load(Ordering::SeqCst) == 0 {
                match &self.shared {
                    None => return,
                    Some(shared) => match shared.queue.outstanding().await {
                        Ok(0) => return,
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "reading the work queue"),
                    },
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            notified.await;
        }
    }
}
