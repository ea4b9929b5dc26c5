//! Ships audit entries to Elasticsearch, for teams that search the trail there (the chain stays
//! the record). Entries go in order through `_bulk` with the `create` action and `_id` = the
//! entry's seq, so shipping is idempotent: an entry sent twice (a restart before the cursor was
//! saved, two replicas on one chain) is refused by Elasticsearch as a conflict (409), which
//! counts as shipped. The cursor — the last seq shipped — is a small file in the state directory.

use super::{AuditEntry, AuditStore};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Entries per `_bulk` request.
const BATCH: usize = 500;

/// Where entries go (`audit_elasticsearch:` in healbot.yaml).
pub use crate::config::bot::AuditElasticsearch as EsTarget;

#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error("elasticsearch at {url}: {reason}")]
    Request { url: String, reason: String },
    #[error("elasticsearch refused audit entry seq {seq}: {reason}")]
    Refused { seq: u64, reason: String },
    #[error(transparent)]
    Audit(#[from] super::AuditError),
    #[error("shipping cursor {path}: {reason}")]
    Cursor { path: String, reason: String },
}

pub struct EsShipper {
    target: EsTarget,
    client: reqwest::Client,
    cursor_file: PathBuf,
}

impl EsShipper {
    /// `cursor_file` keeps the last seq shipped between runs.
    pub fn new(target: EsTarget, cursor_file: PathBuf) -> Result<EsShipper, ShipError> {
        let client = crate::http_client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ShipError::Request {
                url: target.url.clone(),
                reason: e.to_string(),
            })?;
        Ok(EsShipper {
            target,
            client,
            cursor_file,
        })
    }

    fn cursor(&self) -> Result<u64, ShipError> {
        match std::fs::read_to_string(&self.cursor_file) {
            Ok(text) => text.trim().parse().map_err(|_| ShipError::Cursor {
                path: self.cursor_file.display().to_string(),
                reason: format!("not a seq: {:?}", text.trim()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(ShipError::Cursor {
                path: self.cursor_file.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }

    fn save_cursor(&self, seq: u64) -> Result<(), ShipError> {
        let tmp = self.cursor_file.with_extension("tmp");
        std::fs::write(&tmp, format!("{seq}\n"))
            .and_then(|()| std::fs::rename(&tmp, &self.cursor_file))
            .map_err(|e| ShipError::Cursor {
                path: self.cursor_file.display().to_string(),
                reason: e.to_string(),
            })
    }

    /// Ships every entry after the cursor; returns how many went out.
    pub async fn ship(&self, store: &dyn AuditStore) -> Result<usize, ShipError> {
        let after = self.cursor()?;
        let entries = store.entries_after(after).await?;
        let mut shipped = 0;
        for batch in entries.chunks(BATCH) {
            self.send(batch).await?;
            if let Some(last) = batch.last() {
                self.save_cursor(last.seq)?;
            }
            shipped += batch.len();
        }
        Ok(shipped)
    }

    async fn send(&self, batch: &[AuditEntry]) -> Result<(), ShipError> {
        let url = format!("{}/_bulk", self.target.url.trim_end_matches('/'));
        let failed = |reason: String| ShipError::Request {
            url: self.target.url.clone(),
            reason,
        };
        let mut request = self
            .client
            .post(&url)
            .header("content-type", "application/x-ndjson")
            .body(bulk_body(&self.target.index, batch));
        if let Some(key) = &self.target.api_key {
            request = request.header("authorization", format!("ApiKey {}", key.expose_str()));
        }
        let response = request.send().await.map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(format!("_bulk answered {status}")));
        }
        let answer: serde_json::Value = response
            .json()
            .await
            .map_err(|e| failed(format!("_bulk answer is not JSON: {e}")))?;
        check_items(&answer)
    }

    /// Ships every `target.every` until the task is aborted; a failure is logged and retried.
    pub fn spawn(self, store: Arc<dyn AuditStore>) -> tokio::task::JoinHandle<()> {
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        let task = async move {
            let mut tick = tokio::time::interval(self.target.every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match self.ship(&*store).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(entries = n, "audit entries shipped to elasticsearch"),
                    Err(e) => tracing::warn!(error = %e, "shipping audit entries to elasticsearch"),
                }
            }
        };
        tokio::spawn(tracing::instrument::WithSubscriber::with_subscriber(
            task, dispatch,
        ))
    }
}

/// The `_bulk` body: a `create` with `_id` = seq, then the entry with `@timestamp`, per entry.
pub(crate) fn bulk_body(index: &str, batch: &[AuditEntry]) -> String {
    let mut body = String::new();
    for e in batch {
        let action = serde_json::json!({"create": {"_index": index, "_id": e.seq.to_string()}});
        let mut doc = serde_json::to_value(e).unwrap_or_default();
        doc["@timestamp"] = serde_json::Value::String(e.ts.clone());
        body.push_str(&action.to_string());
        body.push('\n');
        body.push_str(&doc.to_string());
        body.push('\n');
    }
    body
}

/// Every item must be created (201) or exist already (409: shipped before).
fn check_items(answer: &serde_json::Value) -> Result<(), ShipError> {
    if answer["errors"] == serde_json::Value::Bool(false) {
        return Ok(());
    }
    for item in answer["items"].as_array().into_iter().flatten() {
        let result = &item["create"];
        let status = result["status"].as_u64().unwrap_or(0);
        if status == 201 || status == 200 || status == 409 {
            continue;
        }
        let seq = result["_id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .unwrap_or(0);
        let reason = result["error"]["reason"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| format!("status {status}"));
        return Err(ShipError::Refused { seq, reason });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conflicts_count_as_shipped_other_errors_do_not() {
        let ok = json!({"errors": true, "items": [
            {"create": {"_id": "1", "status": 201}},
            {"create": {"_id": "2", "status": 409, "error": {"type": "version_conflict_engine_exception"}}}
        ]});
        assert!(check_items(&ok).is_ok());
        let bad = json!({"errors": true, "items": [
            {"create": {"_id": "3", "status": 400, "error": {"reason": "mapper_parsing_exception"}}}
        ]});
        let err = check_items(&bad).unwrap_err().to_string();
        assert!(
            err.contains("seq 3") && err.contains("mapper_parsing"),
            "{err}"
        );
    }
}
