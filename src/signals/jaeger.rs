//! Jaeger's query API, api_v3 over HTTP (the v1 `/api/traces` search is gone from Jaeger's
//! newest releases): the services, then each service's traces in the window, as OTLP JSON
//! wrapped in `{"result": …}` with hex ids. A search that matches nothing is a 404.

use super::trace_source::{dedupe, rfc3339, Http, TraceSource, TraceSourceError, Window};
use super::traces::{parse_otlp_value, Span};
use async_trait::async_trait;
use serde_json::Value;
use std::time::Duration;

/// Traces asked for per service and window (`query.searchDepth`).
pub(crate) const DEFAULT_SEARCH_DEPTH: u32 = 100;

pub struct JaegerTraces {
    http: Http,
    search_depth: u32,
}

impl JaegerTraces {
    pub fn new(base_url: &str, timeout: Duration) -> Result<JaegerTraces, TraceSourceError> {
        Ok(JaegerTraces {
            http: Http::new("jaeger", base_url, timeout)?,
            search_depth: DEFAULT_SEARCH_DEPTH,
        })
    }

    /// `GET /api/v3/services`.
    pub async fn services(&self) -> Result<Vec<String>, TraceSourceError> {
        let path = "/api/v3/services";
        let Some(body) = self.http.get(path, &[]).await? else {
            return Ok(Vec::new());
        };
        let value: Value =
            serde_json::from_str(&body).map_err(|e| self.http.decode(path, "body", e))?;
        match value.get("services") {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|s| {
                    s.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.http.decode(path, "services[]", "not a string"))
                })
                .collect(),
            Some(_) => Err(self.http.decode(path, "services", "not an array")),
        }
    }

    /// `GET /api/v3/traces` for one service.
    pub async fn find(&self, service: &str, window: Window) -> Result<Vec<Span>, TraceSourceError> {
        let path = "/api/v3/traces";
        let query = [
            ("query.serviceName", service.to_string()),
            ("query.startTimeMin", rfc3339(window.from)),
            ("query.startTimeMax", rfc3339(window.to)),
            ("query.searchDepth", self.search_depth.to_string()),
        ];
        let Some(body) = self.http.get(path, &query).await? else {
            return Ok(Vec::new());
        };
        let value: Value =
            serde_json::from_str(&body).map_err(|e| self.http.decode(path, "body", e))?;
        match value.get("result") {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(result) => {
                parse_otlp_value(result).map_err(|e| self.http.decode(path, "result", e))
            }
        }
    }
}

#[async_trait]
impl TraceSource for JaegerTraces {
    async fn spans(&self, window: Window) -> Result<Vec<Span>, TraceSourceError> {
        let mut spans = Vec::new();
        for service in self.services().await? {
            spans.extend(self.find(&service, window).await?);
        }
        dedupe(&mut spans);
        Ok(spans)
    }

    fn name(&self) -> &'static str {
        "jaeger"
    }
}
