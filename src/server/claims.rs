//! One delivery, one replica. Behind a load balancer a delivery can reach two replicas (a
//! redelivery, a retried request), and each keeps its own delivery log; so before a replica
//! records a delivery it claims the id in Redis with `SET NX` and a retention TTL. The replica
//! that holds the claim processes it; another answers "duplicate".
//!
//! Claims are batched: every claim waiting while the last batch was on the wire goes out as
//! one pipeline, so a burst of deliveries costs a few round trips, not one each. Each claim is
//! one `SET NX GET EX` (Redis 7.0 and later: the value held before, none when this set it), or
//! on an older Redis a `SET NX EX` and `GET` pair. Reading the holder back means two requests
//! with one id at one replica both learn that the replica holds it (its own delivery log then
//! picks one), and a replica's claim is told from another's even when both were given one
//! name.

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
    /// Set for tests; otherwise read from the server's version by the first batch.
    form: Option<ClaimForm>,
}

/// How a batch asks Redis for its claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimForm {
    /// `SET key replica NX GET EX ttl`, one command a claim (Redis 7.0 and later).
    SetNxGet,
    /// `SET key replica NX EX ttl` then `GET key` (before Redis 7.0, `NX` and `GET` could not
    /// go together).
    SetThenGet,
}

impl ClaimForm {
    /// The form a Redis of this `INFO server` text takes.
    fn for_server(info: &str) -> ClaimForm {
        let major = info
            .lines()
            .find_map(|line| line.strip_prefix("redis_version:"))
            .and_then(|version| version.trim().split('.').next()?.parse::<u32>().ok());
        match major {
            Some(major) if major >= 7 => ClaimForm::SetNxGet,
            _ => ClaimForm::SetThenGet,
        }
    }
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
            form: None,
        })
    }

    /// These claims in `form` whatever the server's version (to test both against one Redis).
    pub fn with_form(mut self, form: ClaimForm) -> DeliveryClaims {
        self.form = Some(form);
        self
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
        let mut form = self.form;
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let holders = match form {
                    Some(known) => send(&mut conn, known, &batch, &replica, seconds).await,
                    None => match server_form(&mut conn).await {
                        Ok(found) => {
                            form = Some(found);
                            send(&mut conn, found, &batch, &replica, seconds).await
                        }
                        Err(e) => Err(e),
                    },
                };
                match holders {
                    Ok(holders) if holders.len() == batch.len() => {
                        for ((_, reply), holds) in batch.drain(..).zip(holders) {
                            let _ = reply.send(Ok(holds));
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

/// The claim form of the server behind `conn`, from its version.
async fn server_form(conn: &mut ConnectionManager) -> redis::RedisResult<ClaimForm> {
    let info: String = redis::cmd("INFO").arg("server").query_async(conn).await?;
    Ok(ClaimForm::for_server(&info))
}

/// Claims every key of `batch` in one pipeline: whether this replica holds each.
async fn send(
    conn: &mut ConnectionManager,
    form: ClaimForm,
    batch: &[(String, ClaimReply)],
    replica: &str,
    seconds: u64,
) -> redis::RedisResult<Vec<bool>> {
    let mut pipe = redis::pipe();
    for (key, _) in batch {
        let set = pipe.cmd("SET").arg(key).arg(replica).arg("NX");
        match form {
            ClaimForm::SetNxGet => {
                set.arg("GET").arg("EX").arg(seconds);
            }
            ClaimForm::SetThenGet => {
                set.arg("EX").arg(seconds).ignore().cmd("GET").arg(key);
            }
        }
    }
    let holders: Vec<Option<String>> = pipe.query_async(conn).await?;
    Ok(holders
        .into_iter()
        .map(|holder| match (form, holder) {
            // The value before this `SET`: none means this one set it.
            (ClaimForm::SetNxGet, None) => true,
            (_, holder) => holder.as_deref() == Some(replica),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::ClaimForm;

    #[test]
    fn the_claim_form_follows_the_server_version() {
        let info = |v: &str| format!("# Server\r\nredis_version:{v}\r\nredis_mode:standalone\r\n");
        assert_eq!(ClaimForm::for_server(&info("7.0.15")), ClaimForm::SetNxGet);
        assert_eq!(ClaimForm::for_server(&info("7.2.4")), ClaimForm::SetNxGet);
        assert_eq!(ClaimForm::for_server(&info("10.0.0")), ClaimForm::SetNxGet);
        assert_eq!(
            ClaimForm::for_server(&info("6.2.14")),
            ClaimForm::SetThenGet
        );
        // Anything unreadable takes the form every version answers.
        assert_eq!(ClaimForm::for_server("# Server\r\n"), ClaimForm::SetThenGet);
        assert_eq!(ClaimForm::for_server(&info("x.y")), ClaimForm::SetThenGet);
    }
}
