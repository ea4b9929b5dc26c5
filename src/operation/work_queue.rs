//! Operations waiting to be driven, shared by every replica: a Redis stream read through one
//! consumer group, so each entry goes to one replica. The entry stays pending until that replica
//! has driven the operation as far as it goes; a replica that dies leaves it pending, and another
//! claims it once it has been idle for `claim_after` (`XAUTOCLAIM`) and resumes the operation
//! from the audit chain. A replica driving a long step keeps its entry fresh so that nobody
//! claims it from under a live driver.

use crate::model::OperationId;
use redis::aio::ConnectionManager;
use redis::Value;
use std::collections::HashMap;
use std::time::Duration;

const STREAM: &str = "healbot:work";
const GROUP: &str = "drivers";
/// The stream keeps about this many entries; acknowledged ones are history only.
const KEEP: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("work queue at {url}: {message}")]
    Backend { url: String, message: String },
}

/// One request to drive an operation, as the stream holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkItem {
    pub entry: String,
    pub operation: OperationId,
}

#[derive(Clone)]
pub struct WorkQueue {
    conn: ConnectionManager,
    /// Blocking reads get a connection of their own: they would hold up every other command.
    reader: ConnectionManager,
    url: String,
    consumer: String,
    claim_after: Duration,
}

impl WorkQueue {
    /// Joins the consumer group as `consumer` (created with the stream when missing).
    pub async fn connect(
        url: &str,
        consumer: &str,
        claim_after: Duration,
    ) -> Result<WorkQueue, QueueError> {
        let shown = crate::redis_conn::redacted(url);
        let backend = |e: redis::RedisError| QueueError::Backend {
            url: shown.clone(),
            message: e.to_string(),
        };
        let connection = || crate::redis_conn::lazy_connection(url, Duration::from_secs(10));
        let conn = connection().map_err(backend)?;
        let reader = connection().map_err(backend)?;
        let queue = WorkQueue {
            conn,
            reader,
            url: shown,
            consumer: consumer.to_string(),
            claim_after,
        };
        let created: Result<(), _> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(STREAM)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut queue.conn.clone())
            .await;
        match created {
            Err(e) if e.code() != Some("BUSYGROUP") => Err(queue.err(e)),
            _ => Ok(queue),
        }
    }

    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    fn err(&self, e: redis::RedisError) -> QueueError {
        QueueError::Backend {
            url: self.url.clone(),
            message: e.to_string(),
        }
    }

    /// Asks some replica to drive `operation`.
    pub async fn push(&self, operation: &OperationId) -> Result<(), QueueError> {
        redis::cmd("XADD")
            .arg(STREAM)
            .arg("MAXLEN")
            .arg("~")
            .arg(KEEP)
            .arg("*")
            .arg("op")
            .arg(&operation.0)
            .query_async::<String>(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// What this consumer took before and never finished (after a restart under the same name).
    pub(crate) async fn own_pending(&self) -> Result<Vec<WorkItem>, QueueError> {
        let reply: Value = self.read_group("0", None).await?;
        Ok(items_of_read(reply))
    }

    /// The next new entry, waiting up to `block` for one.
    pub async fn next(&self, block: Duration) -> Result<Option<WorkItem>, QueueError> {
        let reply: Value = self.read_group(">", Some(block)).await?;
        Ok(items_of_read(reply).into_iter().next())
    }

    async fn read_group(&self, from: &str, block: Option<Duration>) -> Result<Value, QueueError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(GROUP).arg(&self.consumer);
        cmd.arg("COUNT").arg(if block.is_some() { 1 } else { 100 });
        if let Some(block) = block {
            cmd.arg("BLOCK").arg(block.as_millis() as u64);
        }
        cmd.arg("STREAMS").arg(STREAM).arg(from);
        let mut conn = if block.is_some() {
            self.reader.clone()
        } else {
            self.conn.clone()
        };
        cmd.query_async(&mut conn).await.map_err(|e| self.err(e))
    }

    /// Takes over entries another consumer left idle for `claim_after`: its replica died.
    pub(crate) async fn claim_abandoned(&self) -> Result<Vec<WorkItem>, QueueError> {
        let reply: Value = redis::cmd("XAUTOCLAIM")
            .arg(STREAM)
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(self.claim_after.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(16)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))?;
        // [next-start, [[id, [field, value…]]…], [deleted ids]]
        let Value::Array(parts) = reply else {
            return Ok(Vec::new());
        };
        Ok(parts.into_iter().nth(1).map(items_of).unwrap_or_default())
    }

    /// Marks `item` as still being worked on, so nobody claims it.
    pub async fn touch(&self, item: &WorkItem) -> Result<(), QueueError> {
        redis::cmd("XCLAIM")
            .arg(STREAM)
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(0)
            .arg(&item.entry)
            .arg("JUSTID")
            .query_async::<Value>(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// `item` is done with: its operation waits for a person, finished, or failed.
    pub async fn done(&self, item: &WorkItem) -> Result<(), QueueError> {
        redis::cmd("XACK")
            .arg(STREAM)
            .arg(GROUP)
            .arg(&item.entry)
            .query_async::<i64>(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Entries no replica has finished: pending with a consumer, or not read yet.
    pub(crate) async fn outstanding(&self) -> Result<u64, QueueError> {
        let groups: Vec<HashMap<String, Value>> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(STREAM)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))?;
        let count = |group: &HashMap<String, Value>, field: &str| match group.get(field) {
            Some(Value::Int(n)) => (*n).max(0) as u64,
            _ => 0,
        };
        Ok(groups
            .iter()
            .filter(
                |g| matches!(g.get("name"), Some(Value::BulkString(n)) if n == GROUP.as_bytes()),
            )
            .map(|g| count(g, "pending") + count(g, "lag"))
            .sum())
    }

    /// How often a driver should [`touch`](Self::touch) its entry.
    pub(crate) fn touch_every(&self) -> Duration {
        self.claim_after / 3
    }

    pub fn claim_after(&self) -> Duration {
        self.claim_after
    }
}

/// Entries of an `XREADGROUP` reply: `[[stream, [[id, [field, value…]]…]]]` (nil when none).
fn items_of_read(reply: Value) -> Vec<WorkItem> {
    let Value::Array(streams) = reply else {
        return Vec::new();
    };
    streams
        .into_iter()
        .filter_map(|stream| match stream {
            Value::Array(mut pair) if pair.len() == 2 => pair.pop(),
            _ => None,
        })
        .flat_map(items_of)
        .collect()
}

/// `[[id, [field, value…]]…]`; an entry deleted meanwhile has nil fields and is skipped.
fn items_of(entries: Value) -> Vec<WorkItem> {
    let Value::Array(entries) = entries else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|entry| {
            let (id, fields): (String, Option<Vec<String>>) =
                redis::from_redis_value(entry).ok()?;
            let fields = fields?;
            let op = fields
                .chunks(2)
                .find(|kv| kv.first().map(String::as_str) == Some("op"))
                .and_then(|kv| kv.get(1))?;
            Some(WorkItem {
                entry: id,
                operation: OperationId(op.clone()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn reads_entries_and_skips_deleted_ones() {
        let entries = Value::Array(vec![
            Value::Array(vec![
                bulk("1-0"),
                Value::Array(vec![bulk("op"), bulk("op-inc-1")]),
            ]),
            Value::Array(vec![bulk("2-0"), Value::Nil]),
        ]);
        let reply = Value::Array(vec![Value::Array(vec![bulk(STREAM), entries])]);
        assert_eq!(
            items_of_read(reply),
            vec![WorkItem {
                entry: "1-0".into(),
                operation: OperationId("op-inc-1".into()),
            }]
        );
        assert!(items_of_read(Value::Nil).is_empty());
    }
}
