//! Distributed traces as evidence: OTLP JSON (`resourceSpans`, what the OpenTelemetry
//! collector's file exporter writes) and Jaeger's JSON API (`data[].spans`). Spans whose parent
//! sits in another service are calls between services: `topology::spans` makes the
//! dependency graph of them, and the deepest erroring span names where an error began.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// One span, whichever format it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    pub parent_id: Option<String>,
    pub service: String,
    pub name: String,
    pub start_ns: u64,
    pub end_ns: u64,
    pub error: bool,
    /// The status message or error tag, when the span carries one.
    pub message: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("traces: {field}: {message}")]
    Invalid { field: String, message: String },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> TraceError {
    TraceError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Detects the format: an object with `resourceSpans` is OTLP, one with `data` is Jaeger.
pub(crate) fn parse_traces(text: &str) -> Result<Vec<Span>, TraceError> {
    let value: Value = serde_json::from_str(text).map_err(|e| invalid("body", e.to_string()))?;
    if value.get("resourceSpans").is_some() {
        otlp(&value)
    } else if value.get("data").is_some() {
        jaeger(&value)
    } else {
        Err(invalid(
            "body",
            "neither OTLP JSON (`resourceSpans`) nor Jaeger JSON (`data`)",
        ))
    }
}

/// OTLP JSON already parsed (an object with `resourceSpans`), as trace backends embed it.
pub(crate) fn parse_otlp_value(value: &Value) -> Result<Vec<Span>, TraceError> {
    otlp(value)
}

fn array<'a>(v: &'a Value, key: &str, at: &str) -> Result<&'a [Value], TraceError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(invalid(format!("{at}.{key}"), "must be an array")),
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// OTLP encodes 64-bit integers as strings in JSON; some writers use numbers.
fn int(v: &Value, key: &str, at: &str) -> Result<u64, TraceError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| invalid(format!("{at}.{key}"), format!("{s:?} is not an integer"))),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().map(|f| f as u64))
            .ok_or_else(|| invalid(format!("{at}.{key}"), "not an unsigned integer")),
        Some(_) => Err(invalid(format!("{at}.{key}"), "must be an integer")),
    }
}

/// An OTLP `AnyValue` as text.
fn any_value(v: &Value) -> Option<String> {
    let obj = v.as_object()?;
    let (_, inner) = obj.iter().next()?;
    Some(match inner {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn otlp(root: &Value) -> Result<Vec<Span>, TraceError> {
    let mut spans = Vec::new();
    for (r, rs) in array(root, "resourceSpans", "")?.iter().enumerate() {
        let at = format!("resourceSpans[{r}]");
        let service = rs
            .get("resource")
            .map(|res| array(res, "attributes", &format!("{at}.resource")))
            .transpose()?
            .unwrap_or(&[])
            .iter()
            .find(|a| a.get("key").and_then(Value::as_str) == Some("service.name"))
            .and_then(|a| a.get("value").and_then(any_value))
            // What OpenTelemetry SDKs report when nobody named the service.
            .unwrap_or_else(|| "unknown_service".to_string());
        // `instrumentationLibrarySpans` is the name before OTLP 0.15.
        let scopes = match rs.get("scopeSpans") {
            Some(_) => array(rs, "scopeSpans", &at)?,
            None => array(rs, "instrumentationLibrarySpans", &at)?,
        };
        for (s, scope) in scopes.iter().enumerate() {
            let at = format!("{at}.scopeSpans[{s}]");
            for (i, span) in array(scope, "spans", &at)?.iter().enumerate() {
                let at = format!("{at}.spans[{i}]");
                let status = span.get("status");
                let code = status.and_then(|s| s.get("code"));
                let error = match code {
                    Some(Value::Number(n)) => n.as_u64() == Some(2),
                    Some(Value::String(s)) => s == "STATUS_CODE_ERROR" || s == "2",
                    _ => false,
                };
                spans.push(Span {
                    trace_id: text(span, "traceId")
                        .ok_or_else(|| invalid(format!("{at}.traceId"), "missing"))?,
                    span_id: text(span, "spanId")
                        .ok_or_else(|| invalid(format!("{at}.spanId"), "missing"))?,
                    parent_id: text(span, "parentSpanId"),
                    service: service.clone(),
                    name: text(span, "name").unwrap_or_default(),
                    start_ns: int(span, "startTimeUnixNano", &at)?,
                    end_ns: int(span, "endTimeUnixNano", &at)?,
                    error,
                    message: status.and_then(|s| text(s, "message")),
                });
            }
        }
    }
    Ok(spans)
}

fn jaeger(root: &Value) -> Result<Vec<Span>, TraceError> {
    let mut spans = Vec::new();
    for (t, trace) in array(root, "data", "")?.iter().enumerate() {
        let at = format!("data[{t}]");
        let processes: HashMap<&str, String> = trace
            .get("processes")
            .and_then(Value::as_object)
            .map(|p| {
                p.iter()
                    .filter_map(|(id, proc_)| Some((id.as_str(), text(proc_, "serviceName")?)))
                    .collect()
            })
            .unwrap_or_default();
        for (i, span) in array(trace, "spans", &at)?.iter().enumerate() {
            let at = format!("{at}.spans[{i}]");
            let service = match span.get("process") {
                Some(p) => text(p, "serviceName"),
                None => span
                    .get("processID")
                    .and_then(Value::as_str)
                    .and_then(|id| processes.get(id).cloned()),
            }
            .ok_or_else(|| {
                invalid(
                    format!("{at}.processID"),
                    "names no process with a serviceName",
                )
            })?;
            let parent_id = array(span, "references", &at)?
                .iter()
                .find(|r| r.get("refType").and_then(Value::as_str) == Some("CHILD_OF"))
                .or_else(|| array(span, "references", &at).ok()?.first())
                .and_then(|r| text(r, "spanID"))
                .or_else(|| text(span, "parentSpanID").filter(|p| p != "0"));
            let tags: BTreeMap<String, Value> = array(span, "tags", &at)?
                .iter()
                .filter_map(|t| Some((text(t, "key")?, t.get("value")?.clone())))
                .collect();
            let error = matches!(tags.get("error"), Some(Value::Bool(true)))
                || matches!(tags.get("error"), Some(Value::String(s)) if s == "true")
                || matches!(tags.get("otel.status_code"), Some(Value::String(s)) if s == "ERROR");
            let start_us = int(span, "startTime", &at)?;
            let duration_us = int(span, "duration", &at)?;
            spans.push(Span {
                trace_id: text(span, "traceID")
                    .ok_or_else(|| invalid(format!("{at}.traceID"), "missing"))?,
                span_id: text(span, "spanID")
                    .ok_or_else(|| invalid(format!("{at}.spanID"), "missing"))?,
                parent_id,
                service,
                name: text(span, "operationName").unwrap_or_default(),
                start_ns: start_us.saturating_mul(1_000),
                end_ns: start_us.saturating_add(duration_us).saturating_mul(1_000),
                error,
                message: [
                    "otel.status_description",
                    "error.message",
                    "exception.message",
                ]
                .iter()
                .find_map(|k| tags.get(*k).and_then(Value::as_str).map(str::to_string)),
            });
        }
    }
    Ok(spans)
}

fn by_id(spans: &[Span]) -> HashMap<(&str, &str), &Span> {
    spans
        .iter()
        .map(|s| ((s.trace_id.as_str(), s.span_id.as_str()), s))
        .collect()
}

/// Where an error began: an erroring span none of whose children erred, the deepest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ErrorOrigin {
    pub service: String,
    pub span: String,
    pub trace_id: String,
    /// Spans between it and its trace's root.
    pub depth: usize,
    pub message: Option<String>,
}

pub(crate) fn deepest_error(spans: &[Span]) -> Option<ErrorOrigin> {
    let index = by_id(spans);
    let erring_parents: std::collections::HashSet<(&str, &str)> = spans
        .iter()
        .filter(|s| s.error)
        .filter_map(|s| Some((s.trace_id.as_str(), s.parent_id.as_deref()?)))
        .collect();
    let depth = |span: &Span| {
        let mut depth = 0;
        let mut at = span;
        // Bounded by the span count, so a cycle of bad parent ids cannot loop forever.
        while let Some(parent) = at
            .parent_id
            .as_deref()
            .and_then(|p| index.get(&(at.trace_id.as_str(), p)))
        {
            depth += 1;
            at = parent;
            if depth > spans.len() {
                break;
            }
        }
        depth
    };
    spans
        .iter()
        .filter(|s| s.error)
        .filter(|s| !erring_parents.contains(&(s.trace_id.as_str(), s.span_id.as_str())))
        .map(|s| (depth(s), s))
        // Deepest; among equals, the one that ended first.
        .max_by(|(da, a), (db, b)| da.cmp(db).then(b.end_ns.cmp(&a.end_ns)))
        .map(|(depth, s)| ErrorOrigin {
            service: s.service.clone(),
            span: s.name.clone(),
            trace_id: s.trace_id.clone(),
            depth,
            message: s.message.clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/testdata/signals/traces/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn otlp_gives_the_graph_and_the_error_origin() {
        let spans = parse_traces(&fixture("otlp.json")).unwrap();
        assert_eq!(spans.len(), 6);
        let origin = deepest_error(&spans).unwrap();
        assert_eq!(origin.service, "payments");
        assert_eq!(origin.depth, 2);
        assert_eq!(origin.message.as_deref(), Some("card token was None"));
    }

    #[test]
    fn jaeger_gives_the_same_shape() {
        let spans = parse_traces(&fixture("jaeger.json")).unwrap();
        assert_eq!(spans.len(), 4);
        let origin = deepest_error(&spans).unwrap();
        assert_eq!(origin.service, "orders-db");
        assert_eq!(origin.span, "SELECT orders");
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_traces(r#"{"resourceSpans":[{"resource":{"attributes":{}}}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("resourceSpans[0].resource.attributes"), "{e}");
        let e = parse_traces(
            r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"a"}}]},
                "scopeSpans":[{"spans":[{"traceId":"t","spanId":"s","startTimeUnixNano":"x"}]}]}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano"),
            "{e}"
        );
        assert!(parse_traces("{}").is_err());
    }

    #[test]
    fn no_error_no_origin() {
        let spans = parse_traces(&fixture("otlp.json"))
            .unwrap()
            .into_iter()
            .map(|s| Span { error: false, ..s })
            .collect::<Vec<_>>();
        assert!(deepest_error(&spans).is_none());
    }
}
