//! Short leases on Redis that say which replica is acting on something right now: one operation
//! (so a webhook on one replica and a canary step on another never interleave their writes), or
//! the escalation clock. A lease is renewed while it is held and lapses a few seconds after its
//! holder dies, unlike the service locks, which are the safety gates' and last a whole rollout.

use redis::aio::ConnectionManager;
use redis::Script;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Deletes the lease only if this holder still has it.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

/// Extends the lease only if this holder still has it.
const RENEW: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#;

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("lease backend at {url}: {message}")]
    Backend { url: String, message: String },
}

#[derive(Clone)]
pub struct Leases {
    conn: ConnectionManager,
    url: String,
    holder: String,
    ttl: Duration,
}

/// A held lease; dropping it stops the renewals and gives the lease back.
pub struct Lease {
    key: String,
    token: String,
    renewal: JoinHandle<()>,
    leases: Leases,
}

impl Leases {
    /// Leases named for `holder` (the replica), lapsing `ttl` after the last renewal.
    pub fn connect(url: &str, holder: &str, ttl: Duration) -> Result<Leases, LeaseError> {
        let shown = crate::redis_conn::redacted(url);
        let backend = |e: redis::RedisError| LeaseError::Backend {
            url: shown.clone(),
            message: e.to_string(),
        };
        let conn =
            crate::redis_conn::lazy_connection(url, Duration::from_secs(5)).map_err(backend)?;
        Ok(Leases {
            conn,
            url: shown,
            holder: holder.to_string(),
            ttl,
        })
    }

    fn err(&self, e: redis::RedisError) -> LeaseError {
        LeaseError::Backend {
            url: self.url.clone(),
            message: e.to_string(),
        }
    }

    /// Takes the lease on `name` if it is free.
    pub(crate) async fn try_take(&self, name: &str) -> Result<Option<Lease>, LeaseError> {
        let key = format!("healbot:lease:{name}");
        let token = format!("{}/{}", self.holder, next_grant());
        let mut conn = self.conn.clone();
        let taken: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(self.ttl.as_millis() as u64)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.err(e))?;
        if taken.is_none() {
            return Ok(None);
        }
        let renewal = tokio::spawn(renew(self.clone(), key.clone(), token.clone()));
        Ok(Some(Lease {
            key,
            token,
            renewal,
            leases: self.clone(),
        }))
    }

    /// Waits for the lease on `name` however long its holder keeps it, or until it lapses.
    pub async fn take(&self, name: &str) -> Result<Lease, LeaseError> {
        let mut pause = Duration::from_millis(10);
        loop {
            if let Some(lease) = self.try_take(name).await? {
                return Ok(lease);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }
}

/// Tells this process's grants apart (a holder may take the same lease again at once).
fn next_grant() -> String {
    static GRANTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = GRANTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{n}")
}

/// Renews the lease at a third of its TTL until the holder drops it.
async fn renew(leases: Leases, key: String, token: String) {
    let every = leases.ttl / 3;
    let script = Script::new(RENEW);
    loop {
        tokio::time::sleep(every).await;
        let mut conn = leases.conn.clone();
        let renewed: Result<i64, _> = script
            .key(&key)
            .arg(&token)
            .arg(leases.ttl.as_millis() as u64)
            .invoke_async(&mut conn)
            .await;
        match renewed {
            Ok(1) => {}
            Ok(_) => {
                tracing::error!(lease = %key, "lease lapsed while held: another replica may act");
                return;
            }
            Err(e) => tracing::warn!(lease = %key, error = %e, "lease renewal failed"),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewal.abort();
        let (mut conn, key, token) = (
            self.leases.conn.clone(),
            self.key.clone(),
            self.token.clone(),
        );
        // A lease that cannot be given back lapses on its own.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let released: Result<i64, _> = Script::new(RELEASE)
                    .key(&key)
                    .arg(&token)
                    .invoke_async(&mut conn)
                    .await;
                if let Err(e) = released {
                    tracing::warn!(lease = %key, error = %e, "lease not given back; it lapses");
                }
            });
        }
    }
}
