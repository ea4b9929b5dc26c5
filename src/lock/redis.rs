//! The Redis lock backend, so several healbot replicas share one set of locks. Same semantics
//! as the memory backend: a token per grant, a TTL, and a fencing counter that only grows.
//!
//! Keys (prefix `healbot:lock:` by default):
//! - `<prefix><scope>:<name>` holds the grant's token, set with `SET … NX PX ttl`;
//! - `<prefix>fence:<scope>:<name>` is the fencing counter, `INCR`'d once per grant and never
//!   deleted, so a later grant always carries a larger number. It starts at Redis' clock in
//!   microseconds, so it keeps growing even across a Redis that lost its data.
//!
//! The token is the lock's metadata, so one `GET` tells everything about a grant:
//! `<fencing>:<acquired unix ms, Redis clock>:<nonce>:<owner>` (owner last: it may hold `:`).
//! Grant, release and extend are Lua scripts, so "compare, then act" is one atomic step.
//! When Redis cannot be reached every call fails with [`LockError::Backend`]: no lock, no deploy.

use super::{LockError, LockGuard, LockInfo, LockManager, LockResource};
use crate::redis_conn::redacted;
use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Script, Value};
use async_trait::async_trait;
use std::time::Duration;

/// Where the locks live and how long to wait for Redis before failing closed.
#[derive(Debug, Clone)]
pub struct RedisLockConfig {
    pub url: String,
    pub prefix: String,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
}

impl RedisLockConfig {
    pub(crate) const DEFAULT_PREFIX: &'static str = "healbot:lock:";

    pub fn new(url: &str) -> RedisLockConfig {
        RedisLockConfig {
            url: url.to_string(),
            prefix: Self::DEFAULT_PREFIX.to_string(),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
        }
    }

    pub fn with_prefix(mut self, prefix: &str) -> RedisLockConfig {
        self.prefix = prefix.to_string();
        self
    }
}

pub struct RedisLockManager {
    conn: ConnectionManager,
    prefix: String,
    url: String,
    scripts: Scripts,
}

struct Scripts {
    acquire: Script,
    release: Script,
    extend: Script,
    validate: Script,
    delete_if: Script,
}

// KEYS[1] lock, KEYS[2] fence; ARGV owner, nonce, ttl ms. Returns {1, token} or {0, holder}.
// A missing counter starts at Redis' clock in microseconds, so a Redis that lost its data
// (restart without persistence) still hands out larger fencing tokens than before.
const ACQUIRE: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur then return {0, cur} end
local t = redis.call('TIME')
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], t[1] .. string.format('%06d', tonumber(t[2])))
end
local fence = redis.call('INCR', KEYS[2])
local now = string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000))
local token = string.format('%d', fence) .. ':' .. now .. ':' .. ARGV[2] .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], token, 'NX', 'PX', ARGV[3])
return {1, token}
"#;

// KEYS[1] lock; ARGV token. Compare-and-delete.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

// KEYS[1] lock; ARGV token, ttl ms. Compare-and-pexpire; returns Redis time in ms, or 0.
const EXTEND: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local t = redis.call('TIME')
return t[1] * 1000 + math.floor(t[2] / 1000)
"#;

// KEYS[1] lock, KEYS[2] fence. Both read at one instant.
const VALIDATE: &str = r#"
return {redis.call('GET', KEYS[1]) or '', redis.call('GET', KEYS[2]) or '0'}
"#;

// KEYS[1] lock; ARGV token. Same as RELEASE, kept apart so the intent reads at the call site.
const DELETE_IF: &str = RELEASE;

/// A grant as parsed from its token.
struct Grant<'a> {
    fencing: u64,
    acquired_at_ms: i64,
    owner: &'a str,
}

fn parse_token(token: &str) -> Option<Grant<'_>> {
    let mut parts = token.splitn(4, ':');
    let fencing = parts.next()?.parse().ok()?;
    let acquired_at_ms = parts.next()?.parse().ok()?;
    let _nonce = parts.next()?;
    let owner = parts.next()?;
    Some(Grant {
        fencing,
        acquired_at_ms,
        owner,
    })
}

fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}{n:x}", std::process::id(), nanos)
}

fn ttl_ms(ttl: Duration) -> u64 {
    // PX 0 is an error in Redis; the shortest lock lives one millisecond.
    (ttl.as_millis() as u64).max(1)
}

impl RedisLockManager {
    /// Connects and checks that Redis answers, so a wrong URL fails here and not mid-operation.
    pub async fn connect(config: RedisLockConfig) -> Result<RedisLockManager, LockError> {
        let url = config.url.clone();
        let backend = |e: ::redis::RedisError| {
            LockError::Backend(format!("redis at {}: {e}", redacted(&url)))
        };
        let client = Client::open(config.url.as_str()).map_err(backend)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.response_timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let conn =
            ConnectionManager::new_lazy_with_config(client, manager_config).map_err(backend)?;
        let manager = RedisLockManager {
            conn,
            prefix: config.prefix,
            url: redacted(&config.url),
            scripts: Scripts {
                acquire: Script::new(ACQUIRE),
                release: Script::new(RELEASE),
                extend: Script::new(EXTEND),
                validate: Script::new(VALIDATE),
                delete_if: Script::new(DELETE_IF),
            },
        };
        manager.ping().await?;
        Ok(manager)
    }

    pub async fn ping(&self) -> Result<(), LockError> {
        let mut conn = self.conn.clone();
        let _: String = ::redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|e| self.backend(e))?;
        Ok(())
    }

    fn backend(&self, e: ::redis::RedisError) -> LockError {
        LockError::Backend(format!("redis at {}: {e}", self.url))
    }

    fn lock_key(&self, r: &LockResource) -> String {
        format!("{}{}", self.prefix, r.key())
    }

    fn fence_key(&self, r: &LockResource) -> String {
        format!("{}fence:{}", self.prefix, r.key())
    }

    /// Every live lock key with its token, by `SCAN` (never `KEYS`: it would stall Redis).
    async fn tokens(&self) -> Result<Vec<(LockResource, String, i64)>, LockError> {
        let mut conn = self.conn.clone();
        let fence_prefix = format!("{}fence:", self.prefix);
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = ::redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}*", glob_escape(&self.prefix)))
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.backend(e))?;
            keys.extend(batch.into_iter().filter(|k| !k.starts_with(&fence_prefix)));
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        let mut out = Vec::new();
        for chunk in keys.chunks(200) {
            let mut pipe = ::redis::pipe();
            for k in chunk {
                pipe.cmd("GET").arg(k).cmd("PTTL").arg(k);
            }
            let values: Vec<Value> = pipe
                .query_async(&mut conn)
                .await
                .map_err(|e| self.backend(e))?;
            for (key, pair) in chunk.iter().zip(values.chunks(2)) {
                let [token, pttl] = pair else { continue };
                let token: Option<String> = ::redis::from_redis_value_ref(token).unwrap_or(None);
                let pttl: i64 = ::redis::from_redis_value_ref(pttl).unwrap_or(-2);
                let (Some(token), Ok(resource)) =
                    (token, LockResource::parse(&key[self.prefix.len()..]))
                else {
                    continue; // expired since SCAN, or a foreign key under the prefix
                };
                out.push((resource, token, pttl));
            }
        }
        Ok(out)
    }

    async fn redis_now_ms(&self) -> Result<i64, LockError> {
        let mut conn = self.conn.clone();
        let (secs, micros): (i64, i64) = ::redis::cmd("TIME")
            .query_async(&mut conn)
            .await
            .map_err(|e| self.backend(e))?;
        Ok(secs * 1000 + micros / 1000)
    }
}

fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[async_trait]
impl LockManager for RedisLockManager {
    async fn try_acquire(
        &self,
        resource: &LockResource,
        owner: &str,
        ttl: Duration,
    ) -> Result<LockGuard, LockError> {
        let mut conn = self.conn.clone();
        let ttl_ms = ttl_ms(ttl);
        let (granted, token): (i64, String) = self
            .scripts
            .acquire
            .key(self.lock_key(resource))
            .key(self.fence_key(resource))
            .arg(owner)
            .arg(nonce())
            .arg(ttl_ms)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.backend(e))?;
        let grant = parse_token(&token);
        if granted != 1 {
            let holder = grant.map(|g| g.owner.to_string()).unwrap_or(token.clone());
            return Err(LockError::Held {
                resource: resource.clone(),
                holder,
            });
        }
        let grant = grant.ok_or_else(|| {
            LockError::Backend(format!("redis at {}: malformed token {token:?}", self.url))
        })?;
        Ok(LockGuard {
            resource: resource.clone(),
            owner: owner.to_string(),
            fencing: grant.fencing,
            acquired_at_ms: grant.acquired_at_ms,
            ttl_ms,
            token,
        })
    }

    async fn release(&self, guard: &LockGuard) -> Result<(), LockError> {
        let mut conn = self.conn.clone();
        let deleted: i64 = self
            .scripts
            .release
            .key(self.lock_key(&guard.resource))
            .arg(&guard.token)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.backend(e))?;
        if deleted == 1 {
            Ok(())
        } else {
            Err(LockError::Lost(guard.resource.clone()))
        }
    }

    async fn extend(&self, guard: &LockGuard, ttl: Duration) -> Result<LockGuard, LockError> {
        let mut conn = self.conn.clone();
        let now: i64 = self
            .scripts
            .extend
            .key(self.lock_key(&guard.resource))
            .arg(&guard.token)
            .arg(ttl_ms(ttl))
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.backend(e))?;
        if now == 0 {
            return Err(LockError::Lost(guard.resource.clone()));
        }
        let mut extended = guard.clone();
        extended.ttl_ms = (now - guard.acquired_at_ms).max(0) as u64 + ttl_ms(ttl);
        Ok(extended)
    }

    async fn validate(&self, guard: &LockGuard) -> Result<(), LockError> {
        let mut conn = self.conn.clone();
        let (token, fence): (String, String) = self
            .scripts
            .validate
            .key(self.lock_key(&guard.resource))
            .key(self.fence_key(&guard.resource))
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.backend(e))?;
        let current: u64 = fence.parse().map_err(|_| {
            LockError::Backend(format!("redis at {}: malformed fence {fence:?}", self.url))
        })?;
        if current != guard.fencing {
            return Err(LockError::StaleFence {
                resource: guard.resource.clone(),
                presented: guard.fencing,
                current,
            });
        }
        if token == guard.token {
            Ok(())
        } else {
            Err(LockError::Lost(guard.resource.clone()))
        }
    }

    async fn list(&self) -> Result<Vec<LockInfo>, LockError> {
        let now = self.redis_now_ms().await?;
        let mut out: Vec<LockInfo> = self
            .tokens()
            .await?
            .into_iter()
            .filter_map(|(resource, token, pttl)| {
                let grant = parse_token(&token)?;
                Some(LockInfo {
                    resource,
                    owner: grant.owner.to_string(),
                    fencing: grant.fencing,
                    age_ms: (now - grant.acquired_at_ms).max(0) as u64,
                    // -1: no expiry (set by hand); -2: gone since the scan.
                    ttl_left_ms: pttl.max(0) as u64,
                })
            })
            .collect();
        out.sort_by(|a, b| a.resource.cmp(&b.resource));
        Ok(out)
    }

    async fn force_release(&self, resource: &LockResource) -> Result<bool, LockError> {
        let mut conn = self.conn.clone();
        let deleted: i64 = ::redis::cmd("DEL")
            .arg(self.lock_key(resource))
            .query_async(&mut conn)
            .await
            .map_err(|e| self.backend(e))?;
        Ok(deleted > 0)
    }

    async fn force_release_older_than(
        &self,
        age: Duration,
    ) -> Result<Vec<LockResource>, LockError> {
        let now = self.redis_now_ms().await?;
        let age_ms = age.as_millis() as i64;
        let mut released = Vec::new();
        for (resource, token, _) in self.tokens().await? {
            let Some(grant) = parse_token(&token) else {
                continue;
            };
            if now - grant.acquired_at_ms < age_ms {
                continue;
            }
            // Deletes only the grant that was seen old: a fresh grant taken meanwhile stays.
            let mut conn = self.conn.clone();
            let deleted: i64 = self
                .scripts
                .delete_if
                .key(self.lock_key(&resource))
                .arg(&token)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.backend(e))?;
            if deleted == 1 {
                released.push(resource);
            }
        }
        Ok(released)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_carries_fence_time_and_owner() {
        let g = parse_token("7:1700000000123:ab12:op:with:colons").unwrap();
        assert_eq!(g.fencing, 7);
        assert_eq!(g.acquired_at_ms, 1_700_000_000_123);
        assert_eq!(g.owner, "op:with:colons");
        assert!(parse_token("x:1:n:o").is_none());
        assert!(parse_token("1:2:n").is_none());
    }

    #[test]
    fn globs_are_escaped() {
        assert_eq!(glob_escape("a*b[c]"), "a\\*b\\[c\\]");
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce(), nonce());
    }
}
