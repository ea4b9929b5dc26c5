//! Error lines from Grafana Loki (`GET /loki/api/v1/query_range`). All lines of the window are
//! read, not only the ones that say "error": the frames of a stack trace arrive as lines of
//! their own and must be joined back onto the line that logged them, stream by stream.

use super::logfile::{join_records, summarize};
use super::{ErrorLogLine, LogSource, SignalError};
use async_trait::async_trait;
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
pub struct LokiLogs {
    base: String,
    http: reqwest::Client,
    /// LogQL stream selector; `$service` is replaced (default `{service="$service"}`).
    pub selector: String,
    /// How far back from now to read.
    pub window: Duration,
    /// Lines per query (Loki's `limit`).
    pub limit: u32,
}

fn logs_error(message: String) -> SignalError {
    SignalError::Logs(format!("loki: {message}"))
}

impl LokiLogs {
    pub fn new(base_url: &str, timeout: Duration) -> Result<LokiLogs, SignalError> {
        reqwest::Url::parse(base_url)
            .map_err(|e| logs_error(format!("base URL {base_url:?}: {e}")))?;
        let http = crate::http_client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| logs_error(e.to_string()))?;
        Ok(LokiLogs {
            base: base_url.trim_end_matches('/').to_string(),
            http,
            selector: r#"{service="$service"}"#.into(),
            window: Duration::from_secs(15 * 60),
            limit: 5000,
        })
    }

    /// Lines per stream, oldest first, for `service` between `start` and `end` (unix ns).
    pub async fn lines(
        &self,
        service: &str,
        start: u128,
        end: u128,
    ) -> Result<Vec<Vec<String>>, SignalError> {
        let escaped = service.replace('\\', "\\\\").replace('"', "\\\"");
        let query = self.selector.replace("$service", &escaped);
        let url = format!("{}/loki/api/v1/query_range", self.base);
        let response = self
            .http
            .get(&url)
            .query(&[
                ("query", query),
                ("start", start.to_string()),
                ("end", end.to_string()),
                ("limit", self.limit.to_string()),
                ("direction", "forward".to_string()),
            ])
            .send()
            .await
            .map_err(|e| logs_error(format!("{url}: {e}")))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| logs_error(format!("{url}: {e}")))?;
        if !status.is_success() {
            return Err(logs_error(format!(
                "{url}: HTTP {status}: {:.200}",
                String::from_utf8_lossy(&body).trim()
            )));
        }
        let json: Value = serde_json::from_slice(&body)
            .map_err(|e| logs_error(format!("{url}: body is not JSON: {e}")))?;
        decode_streams(&json)
            .map_err(|(field, message)| logs_error(format!("{url}: {field}: {message}")))
    }
}

/// `data.result[].values[] = [ns, line]` of a `streams` result, each stream sorted by time.
pub(crate) fn decode_streams(json: &Value) -> Result<Vec<Vec<String>>, (String, String)> {
    let kind = json.pointer("/data/resultType").and_then(Value::as_str);
    if kind != Some("streams") {
        return Err((
            "data.resultType".into(),
            format!("expected \"streams\" (a log query), got {kind:?}"),
        ));
    }
    let result = json
        .pointer("/data/result")
        .and_then(Value::as_array)
        .ok_or(("data.result".to_string(), "not an array".to_string()))?;
    result
        .iter()
        .enumerate()
        .map(|(i, stream)| {
            let values = stream.get("values").and_then(Value::as_array).ok_or((
                format!("data.result[{i}].values"),
                "not an array".to_string(),
            ))?;
            let mut lines = values
                .iter()
                .enumerate()
                .map(|(j, v)| {
                    let at = format!("data.result[{i}].values[{j}]");
                    let ts: u128 = v
                        .get(0)
                        .and_then(Value::as_str)
                        .and_then(|t| t.parse().ok())
                        .ok_or((
                            format!("{at}[0]"),
                            "expected a timestamp in ns as a string".to_string(),
                        ))?;
                    let line = v
                        .get(1)
                        .and_then(Value::as_str)
                        .ok_or((format!("{at}[1]"), "expected the log line".to_string()))?;
                    Ok((ts, line.to_string()))
                })
                .collect::<Result<Vec<_>, (String, String)>>()?;
            // Stable: lines of one trace often share a timestamp.
            lines.sort_by_key(|(ts, _)| *ts);
            Ok(lines.into_iter().map(|(_, l)| l).collect())
        })
        .collect()
}

#[async_trait]
impl LogSource for LokiLogs {
    async fn error_logs(&self, service: &str) -> Result<Vec<ErrorLogLine>, SignalError> {
        let end = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let start = end.saturating_sub(self.window.as_nanos());
        let mut records = Vec::new();
        for stream in self.lines(service, start, end).await? {
            records.extend(join_records(stream.iter().map(String::as_str)));
        }
        Ok(summarize(service, &records))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_streams_and_names_bad_fields() {
        let text = std::fs::read_to_string(format!(
            "{}/testdata/signals/logs/loki-query-range.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let streams = decode_streams(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(streams.len(), 2);
        assert!(streams[0][0].contains("INFO"));
        let e =
            decode_streams(&serde_json::json!({"data": {"resultType": "matrix", "result": []}}))
                .unwrap_err();
        assert_eq!(e.0, "data.resultType");
        let e = decode_streams(&serde_json::json!({"data": {"resultType": "streams",
            "result": [{"values": [[1, "x"]]}]}}))
        .unwrap_err();
        assert_eq!(e.0, "data.result[0].values[0][0]");
    }
}
