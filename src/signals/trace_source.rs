//! Where `serve` reads traces from: Jaeger's query API (api_v3), Grafana Tempo's HTTP API or
//! Hypertrace's GraphQL API, as healbot.yaml's `traces:` section says. Each gives spans over a
//! time window in one shape ([`Span`]), for the dependency graph and for RCA's trace evidence.

use super::traces::Span;
use async_trait::async_trait;
use std::time::Duration;

/// A window of time, unix seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub from: f64,
    pub to: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum TraceSourceError {
    #[error("{backend}: bad base URL {url:?}: {message}")]
    Url {
        backend: &'static str,
        url: String,
        message: String,
    },
    #[error("{backend} {url}: {message}")]
    Http {
        backend: &'static str,
        url: String,
        message: String,
    },
    #[error("{backend} {url}: HTTP {status}: {body}")]
    Status {
        backend: &'static str,
        url: String,
        status: u16,
        body: String,
    },
    #[error("{backend} {url}: {field}: {message}")]
    Decode {
        backend: &'static str,
        url: String,
        field: String,
        message: String,
    },
}

#[async_trait]
pub trait TraceSource: Send + Sync {
    /// Spans of the traces in `window`, each span once.
    async fn spans(&self, window: Window) -> Result<Vec<Span>, TraceSourceError>;
    /// The backend's name in logs and errors.
    fn name(&self) -> &'static str;
}

/// How much of an error body goes into an error message.
const BODY_IN_ERRORS: usize = 300;

/// A small JSON-over-HTTP client shared by the three backends.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    pub backend: &'static str,
    pub base: String,
    client: reqwest::Client,
}

impl Http {
    pub fn new(
        backend: &'static str,
        base_url: &str,
        timeout: Duration,
    ) -> Result<Http, TraceSourceError> {
        let error = |message: String| TraceSourceError::Url {
            backend,
            url: base_url.to_string(),
            message,
        };
        let parsed = reqwest::Url::parse(base_url).map_err(|e| error(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(error("the scheme must be http or https".into()));
        }
        let client = crate::http_client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| error(e.to_string()))?;
        Ok(Http {
            backend,
            base: base_url.trim_end_matches('/').to_string(),
            client,
        })
    }

    /// GET `path` with `query`; `Ok(None)` on 404 (the backends say "no such trace" so).
    pub async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Option<String>, TraceSourceError> {
        let url = format!("{}{path}", self.base);
        let request = self.client.get(&url).query(query);
        self.send(request, &url).await
    }

    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
        headers: &[(&str, String)],
    ) -> Result<Option<String>, TraceSourceError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.client.post(&url).json(body);
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        self.send(request, &url).await
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<Option<String>, TraceSourceError> {
        let response = request.send().await.map_err(|e| TraceSourceError::Http {
            backend: self.backend,
            url: url.to_string(),
            message: e.to_string(),
        })?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(|e| TraceSourceError::Http {
            backend: self.backend,
            url: url.to_string(),
            message: e.to_string(),
        })?;
        match status {
            200..=299 => Ok(Some(body)),
            404 => Ok(None),
            _ => Err(TraceSourceError::Status {
                backend: self.backend,
                url: url.to_string(),
                status,
                body: body.chars().take(BODY_IN_ERRORS).collect(),
            }),
        }
    }

    pub fn decode(&self, url: &str, field: &str, message: impl ToString) -> TraceSourceError {
        TraceSourceError::Decode {
            backend: self.backend,
            url: format!("{}{url}", self.base),
            field: field.to_string(),
            message: message.to_string(),
        }
    }
}

/// Keeps the first of each (trace, span) pair: searches per service return shared traces.
pub(crate) fn dedupe(spans: &mut Vec<Span>) {
    let mut seen = std::collections::HashSet::new();
    spans.retain(|s| seen.insert((s.trace_id.clone(), s.span_id.clone())));
}

/// RFC 3339 with nanoseconds, as Jaeger's api_v3 wants its times.
pub(crate) fn rfc3339(unix_seconds: f64) -> String {
    let secs = unix_seconds.floor();
    let nanos = ((unix_seconds - secs) * 1e9)
        .round()
        .clamp(0.0, 999_999_999.0) as u32;
    chrono::DateTime::from_timestamp(secs as i64, nanos)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_duplicates() {
        assert_eq!(rfc3339(1_700_000_000.5), "2023-11-14T22:13:20.500000000Z");
        let span = |t: &str, s: &str| Span {
            trace_id: t.into(),
            span_id: s.into(),
            parent_id: None,
            service: "a".into(),
            name: String::new(),
            start_ns: 0,
            end_ns: 0,
            error: false,
            message: None,
        };
        let mut spans = vec![span("t", "1"), span("t", "2"), span("t", "1")];
        dedupe(&mut spans);
        assert_eq!(spans.len(), 2);
        assert!(Http::new("jaeger", "ftp://x", Duration::from_secs(1)).is_err());
    }
}
