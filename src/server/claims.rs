//! One delivery, one replica. Behind a load balancer a delivery can reach two replicas (a
//! redelivery, a retried request), and each keeps its own delivery log; so before a replica
//! records a delivery it claims the id in Redis with `SET NX` and a retention TTL. The replica
//! that holds the claim processes it; another answers "duplicate".
//!
//! Claims are batched: every claim waiting while the last batch was on the wire goes out as
//! one pipeline of `SET NX EX` and `GET` pairs, so a burst of deliveries costs a few round
//! trips, not one each. The `GET` tells who holds the claim, so two requests with one id at
//! one replica both learn that the replica holds it (its own delivery log then picks one),
//! and a replica's claim is told from another's even when both were given one name.

use redis::aio::ConnectionManager;
use redis::Script;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Claims sent in one pipeline at most.
const MAX_BATCH: usize = 512;

type ClaimReply = oneshot::Sender<Result<bool, String>>;

/// How long a claimed id is remembered: GitHub lets people redeliver for about a week.
pub(crate) const CLAIM_RETENTION: Duration = Duration::from_secs(8 * 24 * 3600);

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
    /// Written as the claim's value (the replica's name and a random nonce), so a replica
    /// releases only its own claims and knows a claim it holds.
    replica: String,
    retention: Duration,
    /// The batcher task, started by the first claim (it needs the runtime).
    batcher: OnceLock<mpsc::UnboundedSender<(String, ClaimReply)>>,
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
        // A claim is this process's alone, even when two replicas were given one name (no
        // HOSTNAME in a container, say): a claim is held when its value is ours.
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| ClaimError {
            url: shown.clone(),
            reason: format!("no randomness for the replica's claim value: {e}"),
        })?;
        Ok(DeliveryClaims {
            conn,
            url: shown.clone(),
            prefix: "healbot:delivery:".to_string(),
            replica: format!("{replica}:{}", hex::encode(nonce)),
            retention: CLAIM_RETENTION,
            batcher: OnceLock::new(),
        })
    }

    fn error(&self, e: redis::RedisError) -> ClaimError {
        ClaimError {
            url: self.url.clone(),
            reason: e.to_string(),
        }
    }

    /// `true` when this replica holds `id` (claimed now, or earlier by this replica); `false`
    /// when another replica claimed it first.
    pub async fn claim(&self, id: &str) -> Result<bool, ClaimError> {
        let batcher = self.batcher.get_or_init(|| self.start_batcher());
        let (reply, answer) = oneshot::channel();
        let gone = || ClaimError {
            url: self.url.clone(),
            reason: "the claim batcher stopped".into(),
        };
        batcher
            .send((format!("{}{id}", self.prefix), reply))
            .map_err(|_| gone())?;
        answer
            .await
            .map_err(|_| gone())?
            .map_err(|reason| ClaimError {
                url: self.url.clone(),
                reason,
            })
    }

    fn start_batcher(&self) -> mpsc::UnboundedSender<(String, ClaimReply)> {
        let (tx, mut rx) = mpsc::unbounded_channel::<(String, ClaimReply)>();
        let mut conn = self.conn.clone();
        let (replica, seconds) = (self.replica.clone(), self.retention.as_secs());
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let mut pipe = redis::pipe();
                for (key, _) in &batch {
                    pipe.cmd("SET")
                        .arg(key)
                        .arg(&replica)
                        .arg("NX")
                        .arg("EX")
                        .arg(seconds)
                        .ignore()
                        .cmd("GET")
                        .arg(key);
                }
                let holders: Result<Vec<Option<String>>, _> = pipe.query_async(&mut conn).await;
                match holders {
                    Ok(holders) if holders.len() == batch.len() => {
                        for ((_, reply), holder) in batch.drain(..).zip(holders) {
                            let _ = reply.send(Ok(holder.as_deref() == Some(replica.as_str())));
                        }
                    }
                    Ok(holders) => {
                        let reason = format!("{} answers to {} claims", holders.len(), batch.len());
                        for (_, reply) in batch.drain(..) {
                            let _ = reply.send(Err(reason.clone()));
                        }
                    }
                    Err(e) => {
                        let reason = e.to_string();
                        for (_, reply) in batch.drain(..) {
                            let _ = reply.send(Err(reason.clone()));
                        }
                    }
                }
            }
        });
        tx
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
