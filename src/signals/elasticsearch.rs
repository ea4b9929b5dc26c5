//! Error lines from Elasticsearch (`POST /<index>/_search`), with ECS field names by default
//! (`service.name`, `log.level`, `message`, `error.stack_trace`). A stack trace kept in its own
//! field is appended to its message; one split over several documents is joined back.

use super::logfile::{is_error, join_records, summarize_errors, LogRecord};
use super::{ErrorLogLine, LogSource, SignalError};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ElasticsearchLogs {
    base: String,
    http: reqwest::Client,
    /// Index or pattern (`logs-*`).
    pub index: String,
    pub service_field: String,
    pub level_field: String,
    pub message_field: String,
    pub stack_field: String,
    pub timestamp_field: String,
    /// Elasticsearch date math for the window start (`now-15m`).
    pub since: String,
    pub size: u32,
}

fn logs_error(message: String) -> SignalError {
    SignalError::Logs(format!("elasticsearch: {message}"))
}

impl ElasticsearchLogs {
    pub fn new(
        base_url: &str,
        index: &str,
        timeout: Duration,
    ) -> Result<ElasticsearchLogs, SignalError> {
        reqwest::Url::parse(base_url)
            .map_err(|e| logs_error(format!("base URL {base_url:?}: {e}")))?;
        let http = crate::http_client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| logs_error(e.to_string()))?;
        Ok(ElasticsearchLogs {
            base: base_url.trim_end_matches('/').to_string(),
            http,
            index: index.to_string(),
            service_field: "service.name".into(),
            level_field: "log.level".into(),
            message_field: "message".into(),
            stack_field: "error.stack_trace".into(),
            timestamp_field: "@timestamp".into(),
            since: "now-15m".into(),
            size: 1000,
        })
    }

    /// The search body: the service's documents in the window, oldest first.
    pub(crate) fn request_body(&self, service: &str) -> Value {
        json!({
            "size": self.size,
            "sort": [{ (self.timestamp_field.clone()): "asc" }],
            "query": { "bool": { "filter": [
                { "term": { (self.service_field.clone()): service } },
                { "range": { (self.timestamp_field.clone()): { "gte": self.since } } }
            ]}}
        })
    }

    /// Records of one `_search` response, each marked whether it is an error.
    pub fn records(&self, response: &Value) -> Result<Vec<(LogRecord, bool)>, (String, String)> {
        let hits = response
            .pointer("/hits/hits")
            .and_then(Value::as_array)
            .ok_or((
                "hits.hits".to_string(),
                "missing or not an array".to_string(),
            ))?;
        let mut out: Vec<(LogRecord, bool)> = Vec::new();
        for (i, hit) in hits.iter().enumerate() {
            let source = hit
                .get("_source")
                .ok_or((format!("hits.hits[{i}]._source"), "missing".to_string()))?;
            let message = field(source, &self.message_field).ok_or((
                format!("hits.hits[{i}]._source.{}", self.message_field),
                "missing or not a string".to_string(),
            ))?;
            let stack = field(source, &self.stack_field);
            let level = field(source, &self.level_field).map(str::to_ascii_lowercase);
            let level_error = matches!(
                level.as_deref(),
                Some("error" | "err" | "fatal" | "critical" | "severe" | "panic")
            );
            // A stack field belongs to its message; otherwise a document may hold a whole
            // trace, or one line of it.
            let records = match stack {
                Some(stack) => vec![LogRecord {
                    lines: message
                        .lines()
                        .chain(stack.lines())
                        .map(str::to_string)
                        .collect(),
                }],
                None => join_records(message.lines()),
            };
            for record in records {
                match out.last_mut() {
                    Some((last, e)) if level.is_none() && continues_document(&record) => {
                        last.lines.extend(record.lines);
                        *e = *e || is_error(last);
                    }
                    _ => {
                        let e = level_error || (level.is_none() && is_error(&record));
                        out.push((record, e));
                    }
                }
            }
        }
        Ok(out)
    }
}

/// A document that is only a continuation line (a frame) when shippers split traces.
fn continues_document(record: &LogRecord) -> bool {
    record.lines.first().is_some_and(|l| {
        l.starts_with([' ', '\t'])
            || l.starts_with("Caused by:")
            || l.starts_with("stack backtrace:")
    })
}

/// A dotted field: nested objects (`{"log":{"level":…}}`) or a flat key (`"log.level"`).
fn field<'a>(source: &'a Value, path: &str) -> Option<&'a str> {
    if let Some(v) = source.get(path).and_then(Value::as_str) {
        return Some(v);
    }
    let mut at = source;
    for part in path.split('.') {
        at = at.get(part)?;
    }
    at.as_str()
}

#[async_trait]
impl LogSource for ElasticsearchLogs {
    async fn error_logs(&self, service: &str) -> Result<Vec<ErrorLogLine>, SignalError> {
        let url = format!("{}/{}/_search", self.base, self.index);
        let response = self
            .http
            .post(&url)
            .json(&self.request_body(service))
            .send()
            .await
            .map_err(|e| logs_error(format!("{url}: {e}")))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| logs_error(format!("{url}: {e}")))?;
        let json: Value = serde_json::from_slice(&body)
            .map_err(|e| logs_error(format!("{url}: HTTP {status}, body is not JSON: {e}")))?;
        if !status.is_success() {
            let reason = json
                .pointer("/error/reason")
                .and_then(Value::as_str)
                .unwrap_or("no reason given");
            return Err(logs_error(format!("{url}: HTTP {status}: {reason}")));
        }
        let records = self
            .records(&json)
            .map_err(|(field, message)| logs_error(format!("{url}: {field}: {message}")))?;
        Ok(summarize_errors(
            service,
            records.iter().filter(|(_, e)| *e).map(|(r, _)| r),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> ElasticsearchLogs {
        ElasticsearchLogs::new("http://127.0.0.1:9200", "logs-*", Duration::from_secs(1)).unwrap()
    }

    #[test]
    fn documents_become_error_records() {
        let text = std::fs::read_to_string(format!(
            "{}/testdata/signals/logs/es-search.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let records = source()
            .records(&serde_json::from_str(&text).unwrap())
            .unwrap();
        assert_eq!(records.len(), 3);
        assert!(records[0].1 && records[1].1 && !records[2].1);
        assert!(records[0].0.text().contains("Caused by: java.sql"));
        let errors = summarize_errors("orders", records.iter().filter(|r| r.1).map(|r| &r.0));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].count, 2);
        assert!(errors[0].stacktrace.is_some());
    }

    #[test]
    fn bad_responses_name_the_field() {
        let e = source().records(&json!({"hits": {}})).unwrap_err();
        assert_eq!(e.0, "hits.hits");
        let e = source()
            .records(&json!({"hits": {"hits": [{"_source": {"msg": "x"}}]}}))
            .unwrap_err();
        assert_eq!(e.0, "hits.hits[0]._source.message");
    }

    #[test]
    fn the_query_filters_service_and_window() {
        let body = source().request_body("orders");
        assert_eq!(
            body["query"]["bool"]["filter"][0]["term"]["service.name"],
            "orders"
        );
        assert_eq!(body["sort"][0]["@timestamp"], "asc");
    }
}
