//! Grafana Tempo's HTTP API: `GET /api/search` (TraceQL, unix-second `start`/`end`) for the
//! trace ids in the window, then `GET /api/traces/<id>` for each, an OTLP-shaped trace
//! (`resourceSpans`; `batches` before Tempo 2.6) with base64 ids and enum names. An unknown
//! trace is a 404 with an empty body.

use super::trace_source::{dedupe, Http, TraceSource, TraceSourceError, Window};
use super::traces::{parse_otlp_value, Span};
use async_trait::async_trait;
use serde_json::Value;
use std::time::Duration;

/// Traces fetched per window.
pub(crate) const DEFAULT_LIMIT: u32 = 100;

pub struct TempoTraces {
    http: Http,
    limit: u32,
    /// A TraceQL filter; every trace (`{}`) by default.
    query: String,
}

impl TempoTraces {
    pub fn new(base_url: &str, timeout: Duration) -> Result<TempoTraces, TraceSourceError> {
        Ok(TempoTraces {
            http: Http::new("tempo", base_url, timeout)?,
            limit: DEFAULT_LIMIT,
            query: "{}".into(),
        })
    }

    /// The trace ids `GET /api/search` finds in the window, padded to 32 hex digits.
    pub async fn search(&self, window: Window) -> Result<Vec<String>, TraceSourceError> {
        let path = "/api/search";
        let query = [
            ("q", self.query.clone()),
            ("start", format!("{}", window.from.floor().max(0.0) as u64)),
            ("end", format!("{}", window.to.ceil().max(0.0) as u64)),
            ("limit", self.limit.to_string()),
        ];
        let Some(body) = self.http.get(path, &query).await? else {
            return Ok(Vec::new());
        };
        let value: Value =
            serde_json::from_str(&body).map_err(|e| self.http.decode(path, "body", e))?;
        let traces = match value.get("traces") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(self.http.decode(path, "traces", "not an array")),
        };
        traces
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let id = t
                    .get("traceID")
                    .and_then(Value::as_str)
                    .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()))
                    .ok_or_else(|| {
                        self.http
                            .decode(path, &format!("traces[{i}].traceID"), "not a hex id")
                    })?;
                Ok(format!("{id:0>32}"))
            })
            .collect()
    }

    /// `GET /api/traces/<id>`; no spans for an unknown trace.
    pub async fn trace(&self, id: &str) -> Result<Vec<Span>, TraceSourceError> {
        let path = format!("/api/traces/{id}");
        let Some(body) = self.http.get(&path, &[]).await? else {
            return Ok(Vec::new());
        };
        if body.trim().is_empty() {
            return Ok(Vec::new());
        }
        let mut value: Value =
            serde_json::from_str(&body).map_err(|e| self.http.decode(&path, "body", e))?;
        // Before Tempo 2.6 the resource spans were called `batches`.
        if value.get("resourceSpans").is_none() {
            if let Some(batches) = value.get_mut("batches").map(Value::take) {
                value = serde_json::json!({ "resourceSpans": batches });
            }
        }
        parse_otlp_value(&value).map_err(|e| self.http.decode(&path, "resourceSpans", e))
    }
}

#[async_trait]
impl TraceSource for TempoTraces {
    async fn spans(&self, window: Window) -> Result<Vec<Span>, TraceSourceError> {
        let mut spans = Vec::new();
        for id in self.search(window).await? {
            spans.extend(self.trace(&id).await?);
        }
        dedupe(&mut spans);
        Ok(spans)
    }

    fn name(&self) -> &'static str {
        "tempo"
    }
}
