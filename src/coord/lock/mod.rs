//! Locks keep two operations off the same resource. Every lock comes with a fencing token that
//! only grows, and every side effect it guards checks that token, so a holder whose lock expired
//! cannot write. Scopes are ordered (SYSTEM → SERVICE → INCIDENT → DEPLOYMENT) and taken in that
//! order only, so two operations can never deadlock.

pub mod memory;

pub use memory::MemoryLockManager;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LockScope {
    System = 1,
    Service = 2,
    Incident = 3,
    Deployment = 4,
}

/// What is locked: `service:payment-service`, `incident:inc-1`…
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LockResource {
    pub scope: LockScope,
    pub name: String,
}

impl LockResource {
    pub fn service(name: &str) -> LockResource {
        LockResource {
            scope: LockScope::Service,
            name: name.to_string(),
        }
    }

    pub fn key(&self) -> String {
        let scope = match self.scope {
            LockScope::System => "system",
            LockScope::Service => "service",
            LockScope::Incident => "incident",
            LockScope::Deployment => "deployment",
        };
        format!("{scope}:{}", self.name)
    }
}

impl fmt::Display for LockResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// Proof of holding a lock; `fencing` orders all grants of the same resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockGuard {
    pub resource: LockResource,
    pub owner: String,
    pub token: String,
    pub fencing: u64,
    /// Unix milliseconds.
    pub acquired_at_ms: i64,
    pub ttl_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    pub resource: LockResource,
    pub owner: String,
    pub fencing: u64,
    pub age_ms: u64,
    pub ttl_left_ms: u64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LockError {
    #[error("{resource} is held by {holder}")]
    Held {
        resource: LockResource,
        holder: String,
    },
    #[error("waited {waited_ms} ms for {resource}, held by {holder}")]
    Timeout {
        resource: LockResource,
        holder: String,
        waited_ms: u64,
    },
    #[error("lock order: cannot take {wanted:?} while holding {held:?}")]
    Order { wanted: LockScope, held: LockScope },
    #[error("lock on {0} was lost (expired or taken over)")]
    Lost(LockResource),
    #[error("stale fencing token {presented} for {resource} (current {current})")]
    StaleFence {
        resource: LockResource,
        presented: u64,
        current: u64,
    },
    #[error("lock backend unavailable: {0}")]
    Backend(String),
}

#[async_trait]
pub trait LockManager: Send + Sync {
    /// Takes the lock or fails at once with [`LockError::Held`].
    async fn try_acquire(
        &self,
        resource: &LockResource,
        owner: &str,
        ttl: Duration,
    ) -> Result<LockGuard, LockError>;
    async fn release(&self, guard: &LockGuard) -> Result<(), LockError>;
    async fn extend(&self, guard: &LockGuard, ttl: Duration) -> Result<LockGuard, LockError>;
    /// Checks that `guard` still holds its resource with the newest fencing token.
    async fn validate(&self, guard: &LockGuard) -> Result<(), LockError>;
    async fn list(&self) -> Result<Vec<LockInfo>, LockError>;
    async fn force_release(&self, resource: &LockResource) -> Result<bool, LockError>;

    /// Waits for the lock up to `wait`, polling; the caller escalates on timeout.
    async fn acquire(
        &self,
        resource: &LockResource,
        owner: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<LockGuard, LockError> {
        let start = std::time::Instant::now();
        loop {
            match self.try_acquire(resource, owner, ttl).await {
                Err(LockError::Held { holder, .. }) if start.elapsed() < wait => {
                    let _ = holder;
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Err(LockError::Held { holder, .. }) => {
                    return Err(LockError::Timeout {
                        resource: resource.clone(),
                        holder,
                        waited_ms: start.elapsed().as_millis() as u64,
                    })
                }
                other => return other,
            }
        }
    }
}

/// Refuses to take `wanted` while already holding a scope at or after it in the lock order.
pub fn check_order(held: &[LockScope], wanted: LockScope) -> Result<(), LockError> {
    match held.iter().max() {
        Some(&h) if h >= wanted => Err(LockError::Order { wanted, held: h }),
        _ => Ok(()),
    }
}
