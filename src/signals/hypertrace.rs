//! Hypertrace's GraphQL API (`POST /graphql`, tenant in `x-tenant-id`): spans in a window
//! through the `spans` field, each attribute read through an aliased `attribute(expression:)`;
//! and the service graph through `entities(scope: "SERVICE")` and their `outgoingEdges`.
//! The schema is generated from Java interfaces (no SDL file exists); the names here follow
//! the summary in the project's notes on Hypertrace.

use super::trace_source::{dedupe, Http, TraceSource, TraceSourceError, Window};
use super::traces::Span;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::time::Duration;

/// Spans asked for per page, and pages at most per window.
pub(crate) const PAGE: u32 = 1000;
pub(crate) const MAX_PAGES: u32 = 20;

const SPANS_QUERY: &str = r#"query Spans($between: TimeRange!, $limit: Int!, $offset: Int!) {
  spans(between: $between, limit: $limit, offset: $offset,
        orderBy: [{keyExpression: {key: "startTime"}, direction: ASC}]) {
    results {
      id
      traceId: attribute(expression: {key: "traceId"})
      parentSpanId: attribute(expression: {key: "parentSpanId"})
      serviceName: attribute(expression: {key: "serviceName"})
      displaySpanName: attribute(expression: {key: "displaySpanName"})
      startTime: attribute(expression: {key: "startTime"})
      endTime: attribute(expression: {key: "endTime"})
      spanTags: attribute(expression: {key: "spanTags"})
    }
    total
  }
}"#;

const EDGES_QUERY: &str = r#"query Edges($between: TimeRange!) {
  entities(scope: "SERVICE", between: $between, limit: 10000) {
    results {
      name: attribute(expression: {key: "name"})
      outgoingEdges(neighborType: SERVICE) {
        results {
          neighbor { name: attribute(expression: {key: "name"}) }
          calls: metric(expression: {key: "numCalls"}) { sum { value } }
        }
      }
      backends: outgoingEdges(neighborType: BACKEND) {
        results {
          neighbor { name: attribute(expression: {key: "name"}) }
          calls: metric(expression: {key: "numCalls"}) { sum { value } }
        }
      }
    }
  }
}"#;

pub struct HypertraceTraces {
    http: Http,
    tenant: Option<String>,
}

/// A service-to-service (or backend) edge as Hypertrace aggregates it.
#[derive(Debug, Clone, PartialEq)]
pub struct HypertraceEdge {
    pub caller: String,
    pub callee: String,
    pub calls: Option<f64>,
}

impl HypertraceTraces {
    pub fn new(
        base_url: &str,
        tenant: Option<String>,
        timeout: Duration,
    ) -> Result<HypertraceTraces, TraceSourceError> {
        Ok(HypertraceTraces {
            http: Http::new("hypertrace", base_url, timeout)?,
            tenant,
        })
    }

    async fn query(&self, query: &str, variables: Value) -> Result<Value, TraceSourceError> {
        let path = "/graphql";
        let headers: Vec<(&str, String)> = self
            .tenant
            .iter()
            .map(|t| ("x-tenant-id", t.clone()))
            .collect();
        let body = self
            .http
            .post_json(
                path,
                &json!({"query": query, "variables": variables}),
                &headers,
            )
            .await?
            .ok_or_else(|| self.http.decode(path, "status", "404: no GraphQL endpoint"))?;
        let value: Value =
            serde_json::from_str(&body).map_err(|e| self.http.decode(path, "body", e))?;
        if let Some(errors) = value.get("errors").and_then(Value::as_array) {
            if !errors.is_empty() {
                let messages: Vec<&str> = errors
                    .iter()
                    .filter_map(|e| e.get("message").and_then(Value::as_str))
                    .collect();
                return Err(self.http.decode(path, "errors", messages.join("; ")));
            }
        }
        value
            .get("data")
            .cloned()
            .ok_or_else(|| self.http.decode(path, "data", "missing"))
    }

    /// The service graph Hypertrace has aggregated over the window.
    pub async fn edges(&self, window: Window) -> Result<Vec<HypertraceEdge>, TraceSourceError> {
        let data = self
            .query(EDGES_QUERY, json!({"between": between(window)}))
            .await?;
        let mut edges = Vec::new();
        let results = data
            .pointer("/entities/results")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                self.http
                    .decode("/graphql", "entities.results", "not an array")
            })?;
        for (i, entity) in results.iter().enumerate() {
            let caller = text(entity.get("name")).ok_or_else(|| {
                self.http.decode(
                    "/graphql",
                    &format!("entities.results[{i}].name"),
                    "missing",
                )
            })?;
            for key in ["outgoingEdges", "backends"] {
                let list = entity
                    .get(key)
                    .and_then(|e| e.get("results"))
                    .and_then(Value::as_array);
                for edge in list.into_iter().flatten() {
                    let Some(callee) = text(edge.pointer("/neighbor/name")) else {
                        continue;
                    };
                    edges.push(HypertraceEdge {
                        caller: caller.clone(),
                        callee,
                        calls: edge.pointer("/calls/sum/value").and_then(Value::as_f64),
                    });
                }
            }
        }
        Ok(edges)
    }
}

fn between(window: Window) -> Value {
    json!({
        "startTime": super::trace_source::rfc3339(window.from),
        "endTime": super::trace_source::rfc3339(window.to),
    })
}

/// An attribute value as text: Hypertrace's `Unknown` scalar may be a string or a number.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Milliseconds since the epoch (a number or a numeric string) as nanoseconds.
fn millis(v: Option<&Value>) -> Option<u64> {
    // Whole milliseconds stay integers: an f64 cannot hold epoch nanoseconds exactly.
    let whole = match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse::<u64>().ok(),
        _ => return None,
    };
    if let Some(ms) = whole {
        return ms.checked_mul(1_000_000);
    }
    let ms = match v? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.parse().ok()?,
        _ => return None,
    };
    (ms.is_finite() && ms >= 0.0).then_some((ms * 1e6) as u64)
}

/// Whether the span tags say the span failed (`error`, or an OTel/gRPC status code).
fn failed(tags: Option<&Value>) -> bool {
    let Some(tags) = tags.and_then(Value::as_object) else {
        return false;
    };
    let is = |key: &str, values: &[&str]| {
        tags.get(key)
            .map(|v| match v {
                Value::String(s) => values.contains(&s.to_ascii_lowercase().as_str()),
                Value::Bool(b) => *b && values.contains(&"true"),
                Value::Number(n) => values.contains(&n.to_string().as_str()),
                _ => false,
            })
            .unwrap_or(false)
    };
    is("error", &["true"]) || is("status.code", &["2", "error", "status_code_error"])
}

/// One page's spans.
fn spans_of(data: &Value, http: &Http) -> Result<(Vec<Span>, u64), TraceSourceError> {
    let results = data
        .pointer("/spans/results")
        .and_then(Value::as_array)
        .ok_or_else(|| http.decode("/graphql", "spans.results", "not an array"))?;
    let total = data
        .pointer("/spans/total")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let mut spans = Vec::with_capacity(results.len());
    for (i, r) in results.iter().enumerate() {
        let field = |name: &str| format!("spans.results[{i}].{name}");
        let id =
            text(r.get("id")).ok_or_else(|| http.decode("/graphql", &field("id"), "missing"))?;
        let trace_id = text(r.get("traceId"))
            .ok_or_else(|| http.decode("/graphql", &field("traceId"), "missing"))?;
        let service = text(r.get("serviceName"))
            .ok_or_else(|| http.decode("/graphql", &field("serviceName"), "missing"))?;
        let start_ns = millis(r.get("startTime")).ok_or_else(|| {
            http.decode("/graphql", &field("startTime"), "not epoch milliseconds")
        })?;
        let end_ns = millis(r.get("endTime")).unwrap_or(start_ns);
        spans.push(Span {
            trace_id,
            span_id: id,
            parent_id: text(r.get("parentSpanId")),
            service,
            name: text(r.get("displaySpanName")).unwrap_or_default(),
            start_ns,
            end_ns,
            error: failed(r.get("spanTags")),
            message: None,
        });
    }
    Ok((spans, total))
}

#[async_trait]
impl TraceSource for HypertraceTraces {
    async fn spans(&self, window: Window) -> Result<Vec<Span>, TraceSourceError> {
        let mut spans = Vec::new();
        for page in 0..MAX_PAGES {
            let data = self
                .query(
                    SPANS_QUERY,
                    json!({"between": between(window), "limit": PAGE, "offset": page * PAGE}),
                )
                .await?;
            let (mut found, total) = spans_of(&data, &self.http)?;
            let done = found.len() < PAGE as usize || u64::from((page + 1) * PAGE) >= total;
            spans.append(&mut found);
            if done {
                break;
            }
        }
        dedupe(&mut spans);
        Ok(spans)
    }

    fn name(&self) -> &'static str {
        "hypertrace"
    }
}
