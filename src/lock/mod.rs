//! Locks keep two operations off the same resource. Every lock comes with a fencing token that
//! only grows, and every side effect it guards checks that token, so a holder whose lock expired
//! cannot write. Scopes are ordered (SYSTEM → SERVICE → INCIDENT → DEPLOYMENT) and taken in that
//! order only, so two operations can never deadlock.

pub mod conflict;
pub mod memory;
pub mod redis;

pub use self::redis::{RedisLockConfig, RedisLockManager};
pub use memory::MemoryLockManager;

use crate::config::LocksPolicy;
use crate::model::LockScope;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

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

    /// Parses `scope:name` (the form [`LockResource::key`] writes and the CLI takes).
    pub fn parse(text: &str) -> Result<LockResource, LockError> {
        let bad = || {
            LockError::BadResource(format!(
                "{text:?}: expected SCOPE:NAME with SCOPE one of system, service, incident, \
                 deployment"
            ))
        };
        let (scope, name) = text.split_once(':').ok_or_else(bad)?;
        let scope = match scope {
            "system" => LockScope::System,
            "service" => LockScope::Service,
            "incident" => LockScope::Incident,
            "deployment" => LockScope::Deployment,
            _ => return Err(bad()),
        };
        if name.is_empty() {
            return Err(bad());
        }
        Ok(LockResource {
            scope,
            name: name.to_string(),
        })
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
    #[error("bad lock resource {0}")]
    BadResource(String),
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

    /// Removes every lock held for at least `age` (presumed abandoned by a dead holder) and
    /// returns what it removed. Backends that can compare and delete in one step override this,
    /// so a lock taken again between the listing and the removal is never dropped.
    async fn force_release_older_than(
        &self,
        age: Duration,
    ) -> Result<Vec<LockResource>, LockError> {
        let age_ms = age.as_millis() as u64;
        let mut released = Vec::new();
        for info in self.list().await? {
            if info.age_ms >= age_ms && self.force_release(&info.resource).await? {
                released.push(info.resource);
            }
        }
        Ok(released)
    }

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

/// Runs `op` again while it fails with [`LockError::Backend`], sleeping the policy's doubling
/// backoff between attempts (`locks.retry`). Any other error, or the last backend error, is
/// returned as is: the caller then fails closed and escalates.
pub async fn retry_backend<T, F, Fut>(policy: &LocksPolicy, mut op: F) -> Result<T, LockError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, LockError>>,
{
    let attempts = policy.retry.attempts.max(1);
    let mut attempt = 0;
    loop {
        match op().await {
            Err(LockError::Backend(reason)) if attempt + 1 < attempts => {
                tracing::warn!(attempt, %reason, "lock backend unavailable, retrying");
                tokio::time::sleep(policy.backoff(attempt)).await;
                attempt += 1;
            }
            other => return other,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PolicySet;

    #[test]
    fn resources_parse_back_from_their_keys() {
        let r = LockResource::parse("incident:inc-1:part").unwrap();
        assert_eq!(r.scope, LockScope::Incident);
        assert_eq!(r.name, "inc-1:part");
        assert_eq!(LockResource::parse(&r.key()).unwrap(), r);
        for bad in ["payment", "svc:payment", "service:"] {
            assert!(matches!(
                LockResource::parse(bad),
                Err(LockError::BadResource(_))
            ));
        }
    }

    #[tokio::test]
    async fn retry_backend_retries_backend_errors_only() {
        let mut policy = PolicySet::embedded().locks;
        policy.retry.attempts = 3;
        policy.retry.initial_backoff_ms = 1;
        policy.retry.max_backoff_ms = 2;
        let mut calls = 0;
        let r: Result<(), _> = retry_backend(&policy, || {
            calls += 1;
            async { Err(LockError::Backend("down".into())) }
        })
        .await;
        assert_eq!((r, calls), (Err(LockError::Backend("down".into())), 3));
        let mut calls = 0;
        let r = retry_backend(&policy, || {
            calls += 1;
            let n = calls;
            async move {
                if n < 2 {
                    Err(LockError::Backend("down".into()))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(r, Ok(2));
        let mut calls = 0;
        let r: Result<(), _> = retry_backend(&policy, || {
            calls += 1;
            async { Err(LockError::Lost(LockResource::service("s"))) }
        })
        .await;
        assert!(matches!(r, Err(LockError::Lost(_))));
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn default_force_release_older_than_uses_list() {
        let m = MemoryLockManager::new();
        let ttl = Duration::from_secs(30);
        m.try_acquire(&LockResource::service("old"), "a", ttl)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        m.try_acquire(&LockResource::service("new"), "b", ttl)
            .await
            .unwrap();
        let released = m
            .force_release_older_than(Duration::from_millis(50))
            .await
            .unwrap();
        assert_eq!(released, [LockResource::service("old")]);
        assert_eq!(m.list().await.unwrap().len(), 1);
    }
}
