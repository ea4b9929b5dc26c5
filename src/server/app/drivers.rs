//! Operations are carried on by tasks of their own, never by the webhook worker: a canary step
//! waits minutes, and the next delivery must not wait with it. One operation is driven by one
//! task at a time, and a person's override on it waits for the step in flight to end.

use crate::coord::OperationId;
use crate::orchestrator::Orchestrator;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Mutex as AsyncMutex, Notify, OwnedMutexGuard};
use tracing::instrument::WithSubscriber;

#[derive(Default)]
pub(crate) struct Drivers {
    per_operation: Mutex<HashMap<OperationId, Arc<AsyncMutex<()>>>>,
    running: AtomicUsize,
    idle: Notify,
}

impl Drivers {
    /// Exclusive use of one operation until the guard drops.
    pub(crate) async fn hold(&self, id: &OperationId) -> OwnedMutexGuard<()> {
        let lock = {
            let mut map = self
                .per_operation
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            map.entry(id.clone()).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// Drives `id` on in the background, after any drive or override in flight on it.
    pub(crate) fn kick(self: &Arc<Self>, orchestrator: &Arc<Orchestrator>, id: OperationId) {
        let (drivers, orchestrator) = (self.clone(), orchestrator.clone());
        self.running.fetch_add(1, Ordering::SeqCst);
        let task = async move {
            let guard = drivers.hold(&id).await;
            match orchestrator.drive(&id).await {
                Ok(progress) => tracing::info!(operation = %id, ?progress, "operation driven"),
                Err(e) => tracing::error!(operation = %id, error = %e, "operation stopped"),
            }
            drop(guard);
            if drivers.running.fetch_sub(1, Ordering::SeqCst) == 1 {
                drivers.idle.notify_waiters();
            }
        };
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        tokio::spawn(task.with_subscriber(dispatch));
    }

    /// Returns once no operation is being driven (tests and shutdown use it).
    pub(crate) async fn settled(&self) {
        loop {
            let notified = self.idle.notified();
            if self.running.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}
