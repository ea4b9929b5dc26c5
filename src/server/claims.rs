//! One delivery, one replica. Behind a load balancer a delivery can reach two replicas (a
//! redelivery, a retried request), and each keeps its own delivery log; so before a replica
//! records a delivery it claims the id in Redis with `SET NX` and a retention TTL. The replica
//! that wins processes it; the other answers "duplicate".

use redis::aio::ConnectionManager;
use redis::Script;
use std::time::Duration;

/// How long a claimed id is remembered: GitHub lets people redeliver for about a week.
pub const CLAIM_RETENTION: Duration = Duration::from_secs(8 * 24 * 3600);

/// Redis is needed to claim and did not answer; the caller refuses the delivery (503) rather
/// than risk processing it twice.
#[derive(Debug, thiserror::Error)]
#[error("delivery claims: redis at {url}: {reason}")]
pub struct ClaimError {
    url: String,
    reason: String,
}

pub struct DeliveryClaims {
    conn: ConnectionManager,
    url: String,
    prefix: String,
    /// Written as the claim's value, so a replica releases only its own claims.
    replica: String,
    retention: Duration,
}

/// Deletes the claim only if this replica holds it.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

impl DeliveryClaims {
    /// A lazy connection: a Redis that is down now is found out at the first claim.
    pub fn connect(url: &str, replica: &str) -> Result<DeliveryClaims, ClaimError> {
        let shown = crate::redis_conn::redacted(url);
        let err = |e: redis::RedisError| ClaimError {
            url: shown.clone(),
            reason: e.to_string(),
        };
        let conn = crate::redis_conn::lazy_connection(url, Duration::from_secs(2)).map_err(err)?;
        Ok(DeliveryClaims {
            conn,
            url: shown.clone(),
            prefix: "healbot:delivery:".to_string(),
            replica: replica.to_string(),
            retention: CLAIM_RETENTION,
        })
    }

    fn error(&self, e: redis::RedisError) -> ClaimError {
        ClaimError {
            url: self.url.clone(),
            reason: e.to_string(),
        }
    }

    /// `true` when this replica now holds `id`; `false` when another replica (or this one,
    /// earlier) claimed it first.
    pub async fn claim(&self, id: &str) -> Result<bool, ClaimError> {
        let mut conn = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(format!("{}{id}", self.prefix))
            .arg(&self.replica)
            .arg("NX")
            .arg("EX")
            .arg(self.retention.as_secs())
            .query_async(&mut conn)
            .await
            .map_err(|e| self.error(e))?;
        Ok(set.is_some())
    }

    /// Gives a claim back (the delivery could not be recorded after all), if this replica
    /// holds it.
    pub async fn release(&self, id: &str) -> Result<(), ClaimError> {
        let mut conn = self.conn.clone();
        let _: i64 = Script::new(RELEASE)
            .key(format!("{}{id}", self.prefix))
            .arg(&self.replica)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }
}
