//! The embedded lock manager: one process, one map. Same semantics as the Redis backend
//! (token, TTL, fencing counter), so the orchestrator cannot tell them apart.

use super::{LockError, LockGuard, LockInfo, LockManager, LockResource};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
pub struct MemoryLockManager {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    held: HashMap<LockResource, LockGuard>,
    fences: HashMap<LockResource, u64>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn expired(g: &LockGuard, now: i64) -> bool {
    now >= g.acquired_at_ms + g.ttl_ms as i64
}

impl MemoryLockManager {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this mutex cannot leave the map half-written (every update is
        // one insert or remove), so a poisoned lock is safe to keep using.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl LockManager for MemoryLockManager {
    async fn try_acquire(
        &self,
        resource: &LockResource,
        owner: &str,
        ttl: Duration,
    ) -> Result<LockGuard, LockError> {
        let mut inner = self.lock();
        let now = now_ms();
        if let Some(g) = inner.held.get(resource) {
            if !expired(g, now) {
                return Err(LockError::Held {
                    resource: resource.clone(),
                    holder: g.owner.clone(),
                });
            }
        }
        let fence = inner.fences.entry(resource.clone()).or_insert(0);
        *fence += 1;
        let guard = LockGuard {
            resource: resource.clone(),
            owner: owner.to_string(),
            token: format!("{owner}:{fence}:{now}"),
            fencing: *fence,
            acquired_at_ms: now,
            ttl_ms: ttl.as_millis() as u64,
        };
        inner.held.insert(resource.clone(), guard.clone());
        Ok(guard)
    }

    async fn release(&self, guard: &LockGuard) -> Result<(), LockError> {
        let mut inner = self.lock();
        match inner.held.get(&guard.resource) {
            Some(g) if g.token == guard.token => {
                inner.held.remove(&guard.resource);
                Ok(())
            }
            _ => Err(LockError::Lost(guard.resource.clone())),
        }
    }

    async fn extend(&self, guard: &LockGuard, ttl: Duration) -> Result<LockGuard, LockError> {
        let mut inner = self.lock();
        let now = now_ms();
        match inner.held.get_mut(&guard.resource) {
            Some(g) if g.token == guard.token && !expired(g, now) => {
                g.ttl_ms = (now - g.acquired_at_ms) as u64 + ttl.as_millis() as u64;
                Ok(g.clone())
            }
            _ => Err(LockError::Lost(guard.resource.clone())),
        }
    }

    async fn validate(&self, guard: &LockGuard) -> Result<(), LockError> {
        let inner = self.lock();
        let current = inner.fences.get(&guard.resource).copied().unwrap_or(0);
        if current != guard.fencing {
            return Err(LockError::StaleFence {
                resource: guard.resource.clone(),
                presented: guard.fencing,
                current,
            });
        }
        match inner.held.get(&guard.resource) {
            Some(g) if g.token == guard.token && !expired(g, now_ms()) => Ok(()),
            _ => Err(LockError::Lost(guard.resource.clone())),
        }
    }

    async fn list(&self) -> Result<Vec<LockInfo>, LockError> {
        let inner = self.lock();
        let now = now_ms();
        let mut out: Vec<LockInfo> = inner
            .held
            .values()
            .filter(|g| !expired(g, now))
            .map(|g| LockInfo {
                resource: g.resource.clone(),
                owner: g.owner.clone(),
                fencing: g.fencing,
                age_ms: (now - g.acquired_at_ms).max(0) as u64,
                ttl_left_ms: (g.acquired_at_ms + g.ttl_ms as i64 - now).max(0) as u64,
            })
            .collect();
        out.sort_by(|a, b| a.resource.cmp(&b.resource));
        Ok(out)
    }

    async fn force_release(&self, resource: &LockResource) -> Result<bool, LockError> {
        Ok(self.lock().held.remove(resource).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn second_holder_is_refused_and_fence_grows() {
        let m = MemoryLockManager::new();
        let r = LockResource::service("payment-service");
        let g1 = m
            .try_acquire(&r, "op-1", Duration::from_secs(30))
            .await
            .unwrap();
        let err = m
            .try_acquire(&r, "op-2", Duration::from_secs(30))
            .await
            .unwrap_err();
        assert!(matches!(err, LockError::Held { .. }));
        m.release(&g1).await.unwrap();
        let g2 = m
            .try_acquire(&r, "op-2", Duration::from_secs(30))
            .await
            .unwrap();
        assert!(g2.fencing > g1.fencing);
        assert!(matches!(
            m.validate(&g1).await,
            Err(LockError::StaleFence { .. })
        ));
        m.validate(&g2).await.unwrap();
    }

    #[tokio::test]
    async fn expired_lock_can_be_taken_and_old_holder_is_fenced() {
        let m = MemoryLockManager::new();
        let r = LockResource::service("s");
        let g1 = m
            .try_acquire(&r, "a", Duration::from_millis(1))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let g2 = m
            .try_acquire(&r, "b", Duration::from_secs(5))
            .await
            .unwrap();
        assert!(m.validate(&g1).await.is_err());
        assert!(m.release(&g1).await.is_err());
        m.validate(&g2).await.unwrap();
    }

    #[tokio::test]
    async fn wait_times_out() {
        let m = MemoryLockManager::new();
        let r = LockResource::service("s");
        let _g = m
            .try_acquire(&r, "a", Duration::from_secs(5))
            .await
            .unwrap();
        let err = m
            .acquire(&r, "b", Duration::from_secs(5), Duration::from_millis(60))
            .await
            .unwrap_err();
        assert!(matches!(err, LockError::Timeout { .. }));
    }

    #[test]
    fn lock_order_is_enforced() {
        use super::super::{check_order, LockScope::*};
        assert!(check_order(&[System], Service).is_ok());
        assert!(check_order(&[Service], System).is_err());
        assert!(check_order(&[Service], Service).is_err());
    }
}
