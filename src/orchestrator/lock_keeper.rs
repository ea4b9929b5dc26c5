//! A service lock lives as long as its operation. The lock's TTL (`policies/locks.yaml`) only
//! bounds how long a crashed holder keeps a service; a fix PR may wait hours for review, so the
//! holder renews its lock every third of the TTL for as long as the operation lives. Renewal is
//! fenced: the backend extends only the token this operation was granted, so a lock that lapsed
//! and went to someone else is never taken back by a renewal.

use super::artifacts::{self, in_scan, LOCK};
use super::{Orchestrator, OrchestratorError};
use crate::lock::{LockError, LockGuard};
use crate::operation::{OpState, Operation};
use serde_json::json;
use std::time::Duration;

/// What one pass of the keeper did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KeptLocks {
    /// Locks extended by another TTL.
    pub renewed: usize,
    /// Locks that had lapsed with nobody else holding them, taken again (new fencing token).
    pub retaken: usize,
    /// Locks lost to another holder or to an unreachable backend: the next write fails closed.
    pub lost: usize,
}

/// Whether `op` holds its service lock now: it took it (`Locked`) and has neither finished nor
/// escalated since (both release it; a person's resume takes it again through the gates).
pub(crate) fn holds_lock(op: &Operation) -> bool {
    if op.state.is_terminal() || op.state == OpState::Escalated {
        return false;
    }
    let last = op
        .history
        .iter()
        .rev()
        .map(|(_, state, _)| *state)
        .find(|s| matches!(s, OpState::Locked | OpState::Escalated));
    last == Some(OpState::Locked) && op.effects.contains_key(&LOCK.key(&op.id))
}

impl Orchestrator {
    /// How often the keeper runs: a third of the lock TTL, so two renewals can fail before the
    /// lock lapses.
    pub(crate) fn lock_renewal_interval(&self) -> Duration {
        (self.settings.lock_ttl / 3).max(Duration::from_millis(100))
    }

    /// Extends the lock of every live operation that holds one. A lock that lapsed (the
    /// in-memory backend after a restart) is taken again when nobody else holds it.
    pub async fn keep_locks(&self) -> Result<KeptLocks, OrchestratorError> {
        let mut kept = KeptLocks::default();
        for op in self.journal.operations().await {
            if !holds_lock(&op) {
                continue;
            }
            let Some(guard) = in_scan(op.effect(&LOCK)) else {
                continue;
            };
            match self.locks.extend(&guard, self.settings.lock_ttl).await {
                Ok(_) => kept.renewed += 1,
                Err(LockError::Backend(reason)) => {
                    // Nothing to do but try again next pass; writes validate the lock first.
                    tracing::warn!(operation = %op.id, %reason, "lock renewal: backend unavailable");
                    kept.lost += 1;
                }
                Err(lapsed) => match self.ensure_lock(&op).await {
                    Ok(_) => {
                        tracing::warn!(operation = %op.id, error = %lapsed,
                            "lock had lapsed; taken again");
                        kept.retaken += 1;
                    }
                    Err(e) => {
                        kept.lost += 1;
                        self.lock_lost(&op, &guard, &e.to_string()).await?;
                    }
                },
            }
        }
        Ok(kept)
    }

    /// Records once per fencing token that the operation lost its lock.
    async fn lock_lost(
        &self,
        op: &Operation,
        guard: &LockGuard,
        why: &str,
    ) -> Result<(), OrchestratorError> {
        let key = artifacts::lock_lost(guard.fencing);
        if op.effects.contains_key(&key.key(&op.id)) {
            return Ok(());
        }
        tracing::error!(operation = %op.id, resource = %guard.resource, %why,
            "lock lost; the next write is refused");
        let detail =
            json!({"resource": guard.resource.key(), "fencing": guard.fencing, "why": why});
        self.journal.effect(&op.id, &key, &detail).await?;
        Ok(())
    }
}
