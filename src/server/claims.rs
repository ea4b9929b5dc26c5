//! One delivery, one replica. Behind a load balancer a delivery can reach two replicas (a
//! redelivery, a retried request), and each keeps its own delivery log; so before a replica
//! records a delivery it claims the id in Redis with `SET NX` and a retention TTL. The replica
//! that holds the claim processes it; another answers "duplicate".
//!
//! Claims are made by the delivery log's thread, for a whole batch just before it writes it
//! ([`BatchClaims`]): one pipeline a batch, on a blocking connection of that thread's own, and
//! no wait of its own for a request. Each claim is one `SET NX GET EX` (Redis 7.0 and later:
//! the value held before, none when this set it), or on an older Redis a `SET NX EX` and `GET`
//! pair. Reading the holder back means two requests with one id at one replica both learn that
//! the replica holds it (its own delivery log then picks one), and a replica's claim is told
//! from another's even when both were given one name.

use super::delivery_log::BatchClaims;
use redis::aio::ConnectionManager;
use redis::Script;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long the log's thread waits for Redis to answer a batch's claims: a batch waits for
/// them, deliveries that need no claim included, so far less than the 2 s other Redis users
/// get; a Redis on the local network answers in well under a millisecond.
const CLAIM_TIMEOUT: Duration = Duration::from_millis(500);

/// After Redis failed a batch's claims, how long further claims fail at once rather than wait
/// for a Redis that is down or hung (the deliveries get a 503, and GitHub's retry comes later).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

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
    /// For releases, from the runtime.
    conn: ConnectionManager,
    /// For the log's thread: claims block it, never a runtime thread.
    client: redis::Client,
    blocking: Mutex<Blocking>,
    url: String,
    prefix: String,
    /// Written as the claim's value (the replica's name and a random nonce), so a replica
    /// releases only its own claims and knows a claim it holds.
    replica: String,
    retention: Duration,
    /// Set for tests; otherwise read from the server's version on each new connection.
    form: Option<ClaimForm>,
}

/// The log thread's connection, made at its first batch and again after a failure.
#[derive(Default)]
struct Blocking {
    conn: Option<(redis::Connection, ClaimForm)>,
    /// The last failure and when it was: claims fail at once until [`RETRY_AFTER_FAILURE`].
    failed: Option<(Instant, String)>,
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
        let client = redis::Client::open(url).map_err(err)?;
        // A claim is this process's alone, even when two replicas were given one name (no
        // HOSTNAME in a container, say): a claim is held when its value is ours.
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| ClaimError {
            url: shown.clone(),
            reason: format!("no randomness for the replica's claim value: {e}"),
        })?;
        Ok(DeliveryClaims {
            conn,
            client,
            blocking: Mutex::default(),
            url: shown.clone(),
            prefix: "healbot:delivery:".to_string(),
            replica: format!("{replica}:{}", hex::encode(nonce)),
            retention: CLAIM_RETENTION,
            form: None,
        })
    }

    /// These claims in `form` whatever the server's version (to test both against one Redis).
    pub fn with_form(mut self, form: ClaimForm) -> DeliveryClaims {
        self.form = Some(form);
        self
    }

    fn error(&self, reason: impl std::fmt::Display) -> ClaimError {
        ClaimError {
            url: self.url.clone(),
            reason: reason.to_string(),
        }
    }

    /// For each of `ids`, `true` when this replica holds it (claimed now, or earlier by this
    /// replica) and `false` when another replica claimed it first. Blocking, one round trip:
    /// the delivery log's thread calls it for a batch.
    pub fn claim_all(&self, ids: &[&str]) -> Result<Vec<bool>, ClaimError> {
        let mut blocking = self.blocking.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, reason)) = &blocking.failed {
            if at.elapsed() < RETRY_AFTER_FAILURE {
                return Err(self.error(reason));
            }
        }
        let reused = blocking.conn.is_some();
        let claimed = match self.claim_on(&mut blocking, ids) {
            // A connection Redis closed since the last batch (a restart): claims go again on a
            // new one, which is safe as a claim's holder reads its own value back.
            Err(e)
                if reused && !e.is_timeout() && (e.is_io_error() || e.is_connection_dropped()) =>
            {
                blocking.conn = None;
                self.claim_on(&mut blocking, ids)
            }
            claimed => claimed,
        };
        match &claimed {
            Ok(_) => blocking.failed = None,
            Err(e) => {
                // The connection may hold a half-read answer: the next batch connects anew.
                blocking.conn = None;
                blocking.failed = Some((Instant::now(), e.to_string()));
            }
        }
        claimed.map_err(|e| self.error(e))
    }

    fn claim_on(&self, blocking: &mut Blocking, ids: &[&str]) -> redis::RedisResult<Vec<bool>> {
        let (conn, form) = match &mut blocking.conn {
            Some((conn, form)) => (conn, *form),
            None => {
                let mut conn = self.client.get_connection_with_timeout(CLAIM_TIMEOUT)?;
                conn.set_read_timeout(Some(CLAIM_TIMEOUT))?;
                conn.set_write_timeout(Some(CLAIM_TIMEOUT))?;
                let form = match self.form {
                    Some(form) => form,
                    None => {
                        let info: String = redis::cmd("INFO").arg("server").query(&mut conn)?;
                        ClaimForm::for_server(&info)
                    }
                };
                let (conn, form) = blocking.conn.insert((conn, form));
                (conn, *form)
            }
        };
        let keys: Vec<String> = ids
            .iter()
            .map(|id| format!("{}{id}", self.prefix))
            .collect();
        let holders: Vec<Option<String>> =
            claim_pipeline(form, &keys, &self.replica, self.retention.as_secs()).query(conn)?;
        Ok(holders
            .into_iter()
            .map(|holder| match (form, holder) {
                // The value before this `SET`: none means this one set it.
                (ClaimForm::SetNxGet, None) => true,
                (_, holder) => holder.as_deref() == Some(self.replica.as_str()),
            })
            .collect())
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

impl BatchClaims for DeliveryClaims {
    fn claim(&self, ids: &[&str]) -> Result<Vec<bool>, String> {
        self.claim_all(ids).map_err(|e| e.to_string())
    }
}

/// One pipeline claiming every key: one answer per key, the holder before (or after, for the
/// older form) the claim.
fn claim_pipeline(
    form: ClaimForm,
    keys: &[String],
    replica: &str,
    seconds: u64,
) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    for key in keys {
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
    pipe
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
