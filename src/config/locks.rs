//! `policies/locks.yaml`: how long locks live, how long an operation waits for one before a
//! person is called, and the lock order. The order itself is enforced in code
//! (`lock::check_order`); the file states it for reviewers and `policy check` refuses any
//! other order, so the file can never disagree with what runs.

use super::yaml::{check_at_least, FieldError};
use crate::model::LockScope;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocksPolicy {
    /// Scope name → rank; locks are taken in increasing rank only.
    pub order: BTreeMap<String, u32>,
    pub ttl_seconds: u64,
    pub wait_timeout_seconds: u64,
    /// `healbot locks force-release` default: locks older than this are presumed abandoned.
    pub force_release_older_than_seconds: u64,
    pub retry: LockRetryPolicy,
}

/// Retries when the lock backend is unreachable, before failing closed and escalating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockRetryPolicy {
    pub attempts: u32,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
}

/// The order the code enforces.
pub(crate) const LOCK_ORDER: [(&str, LockScope); 4] = [
    ("SYSTEM", LockScope::System),
    ("SERVICE", LockScope::Service),
    ("INCIDENT", LockScope::Incident),
    ("DEPLOYMENT", LockScope::Deployment),
];

impl LocksPolicy {
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_seconds)
    }

    /// Backoff before retry `attempt` (0-based): doubles from the initial value up to the cap.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u64.checked_shl(attempt.min(32)).unwrap_or(u64::MAX);
        let ms = self
            .retry
            .initial_backoff_ms
            .saturating_mul(factor)
            .min(self.retry.max_backoff_ms);
        Duration::from_millis(ms)
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        for name in self.order.keys() {
            if !LOCK_ORDER.iter().any(|(n, _)| n == name) {
                return Err(FieldError::new(
                    format!("order.{name}"),
                    "unknown lock scope; expected SYSTEM, SERVICE, INCIDENT or DEPLOYMENT",
                ));
            }
        }
        for (name, scope) in LOCK_ORDER {
            let expected = scope as u32;
            match self.order.get(name) {
                None => {
                    return Err(FieldError::new(
                        "order",
                        format!("missing scope {name} (rank {expected})"),
                    ))
                }
                Some(&rank) if rank != expected => {
                    return Err(FieldError::new(
                        format!("order.{name}"),
                        format!(
                        "must be {expected}: the lock order SYSTEM 1 → SERVICE 2 → INCIDENT 3 → \
                             DEPLOYMENT 4 is fixed in code, got {rank}"
                    ),
                    ))
                }
                Some(_) => {}
            }
        }
        check_at_least("ttl_seconds", self.ttl_seconds, 1)?;
        check_at_least("wait_timeout_seconds", self.wait_timeout_seconds, 1)?;
        check_at_least(
            "force_release_older_than_seconds",
            self.force_release_older_than_seconds,
            self.ttl_seconds,
        )
        .map_err(|e| FieldError::new(e.field, format!("{} (ttl_seconds)", e.message)))?;
        check_at_least("retry.attempts", u64::from(self.retry.attempts), 1)?;
        check_at_least("retry.initial_backoff_ms", self.retry.initial_backoff_ms, 1)?;
        check_at_least(
            "retry.max_backoff_ms",
            self.retry.max_backoff_ms,
            self.retry.initial_backoff_ms,
        )?;
        Ok(())
    }
}
