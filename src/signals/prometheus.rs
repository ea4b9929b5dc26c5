//! Production metrics from Prometheus's HTTP API: a small typed client (instant and range
//! queries) and [`PrometheusMetrics`], the `MetricsSource` the detector and the canary judge
//! read when healbot runs against a real cluster instead of the demo's simulator.
//!
//! Label conventions the default queries assume (each query can be replaced):
//! - requests: counter `http_requests_total{service="…", code="200|500|…"}`;
//! - latency: histogram `http_request_duration_seconds_bucket{service="…", le="…"}`;
//! - canary and stable pods carry `track="canary"` and `track="stable"` (relabel Argo
//!   Rollouts' pod template hash, or set it in the pod template);
//! - CPU and memory utilisation: cAdvisor's usage over kube-state-metrics' requests, with a
//!   `service` label on both;
//! - `$service` is replaced by the service name, `$track` by `canary` or `stable`, `$window`
//!   by a duration such as `3600s`. The rules' `query` in `policies/detection.yaml` win over
//!   the defaults for their metric.

use super::{CanaryObservation, MetricSamples, MetricsSource, ServiceHealth, SignalError};
use crate::config::detection::{DetectedMetric, DetectionPolicy};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One value at one time (unix seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub time: f64,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
}

/// A query's result, by the `resultType` Prometheus reports.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryResult {
    /// One sample per series.
    Vector(Vec<Series>),
    Matrix(Vec<Series>),
    Scalar(Sample),
    String {
        time: f64,
        value: String,
    },
}

impl QueryResult {
    /// The single number of a scalar or one-series vector; `None` when empty.
    pub fn first_value(&self) -> Option<f64> {
        match self {
            QueryResult::Scalar(s) => Some(s.value),
            QueryResult::Vector(v) | QueryResult::Matrix(v) => {
                v.first().and_then(|s| s.samples.last()).map(|s| s.value)
            }
            QueryResult::String { .. } => None,
        }
    }

    pub fn series(&self) -> &[Series] {
        match self {
            QueryResult::Vector(v) | QueryResult::Matrix(v) => v,
            _ => &[],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    #[error("prometheus: bad base URL {url:?}: {message}")]
    Url { url: String, message: String },
    #[error("prometheus {url}: no answer within {after:?}")]
    Timeout { url: String, after: Duration },
    #[error("prometheus {url}: {message}")]
    Http { url: String, message: String },
    #[error("prometheus {url}: HTTP {status}, {error_type}: {error}")]
    Api {
        url: String,
        status: u16,
        error_type: String,
        error: String,
    },
    #[error("prometheus {url}: response field {field}: {message}")]
    Decode {
        url: String,
        field: String,
        message: String,
    },
}

impl From<PrometheusError> for SignalError {
    fn from(e: PrometheusError) -> SignalError {
        SignalError::Metrics(e.to_string())
    }
}

#[derive(Debug, Clone)]
pub struct PrometheusClient {
    base: String,
    http: reqwest::Client,
    timeout: Duration,
}

impl PrometheusClient {
    /// `base_url` is where Prometheus serves `/api/v1` (`http://prometheus:9090`).
    pub fn new(base_url: &str, timeout: Duration) -> Result<PrometheusClient, PrometheusError> {
        let url_error = |message: String| PrometheusError::Url {
            url: base_url.to_string(),
            message,
        };
        let parsed = reqwest::Url::parse(base_url).map_err(|e| url_error(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(url_error("the scheme must be http or https".into()));
        }
        let http = crate::http_client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| url_error(e.to_string()))?;
        Ok(PrometheusClient {
            base: base_url.trim_end_matches('/').to_string(),
            http,
            timeout,
        })
    }

    /// `GET /api/v1/query`; `time` defaults to Prometheus's now.
    pub async fn query(
        &self,
        promql: &str,
        time: Option<f64>,
    ) -> Result<QueryResult, PrometheusError> {
        let mut params = vec![("query", promql.to_string())];
        if let Some(t) = time {
            params.push(("time", format!("{t:.3}")));
        }
        let data = self.get("/api/v1/query", &params).await?;
        self.result(&data)
    }

    /// `GET /api/v1/query_range` from `start` to `end` (unix seconds) every `step`.
    pub async fn query_range(
        &self,
        promql: &str,
        start: f64,
        end: f64,
        step: Duration,
    ) -> Result<QueryResult, PrometheusError> {
        let params = [
            ("query", promql.to_string()),
            ("start", format!("{start:.3}")),
            ("end", format!("{end:.3}")),
            ("step", format!("{}", step.as_secs_f64().max(0.001))),
        ];
        let data = self.get("/api/v1/query_range", &params).await?;
        self.result(&data)
    }

    async fn get(&self, path: &str, params: &[(&str, String)]) -> Result<Value, PrometheusError> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .get(&url)
            .query(params)
            .send()
            .await
            .map_err(|e| self.transport(&url, e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport(&url, e))?;
        let Ok(json) = serde_json::from_slice::<Value>(&body) else {
            let text = String::from_utf8_lossy(&body);
            return Err(PrometheusError::Http {
                url,
                message: format!("HTTP {status}, not JSON: {:.200}", text.trim()),
            });
        };
        if json.get("status").and_then(Value::as_str) != Some("success") {
            let field = |k: &str| {
                json.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_string()
            };
            return Err(PrometheusError::Api {
                url,
                status: status.as_u16(),
                error_type: field("errorType"),
                error: field("error"),
            });
        }
        json.get("data").cloned().ok_or(PrometheusError::Decode {
            url,
            field: "data".into(),
            message: "missing".into(),
        })
    }

    fn transport(&self, url: &str, e: reqwest::Error) -> PrometheusError {
        if e.is_timeout() {
            PrometheusError::Timeout {
                url: url.to_string(),
                after: self.timeout,
            }
        } else {
            PrometheusError::Http {
                url: url.to_string(),
                message: e.to_string(),
            }
        }
    }

    fn result(&self, data: &Value) -> Result<QueryResult, PrometheusError> {
        decode_result(data).map_err(|(field, message)| PrometheusError::Decode {
            url: self.base.clone(),
            field,
            message,
        })
    }
}

/// Decodes `data` of a query response; errors are (field, message).
pub(crate) fn decode_result(data: &Value) -> Result<QueryResult, (String, String)> {
    let kind = data
        .get("resultType")
        .and_then(Value::as_str)
        .ok_or(("data.resultType".to_string(), "missing".to_string()))?;
    let result = data
        .get("result")
        .ok_or(("data.result".to_string(), "missing".to_string()))?;
    let series = |field: &str| -> Result<Vec<Series>, (String, String)> {
        let items = result
            .as_array()
            .ok_or(("data.result".to_string(), "not an array".to_string()))?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let at = format!("data.result[{i}]");
                let labels = item
                    .get("metric")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                let samples = match field {
                    "value" => vec![sample(item.get("value"), &format!("{at}.value"))?],
                    _ => item
                        .get("values")
                        .and_then(Value::as_array)
                        .ok_or((format!("{at}.values"), "not an array".to_string()))?
                        .iter()
                        .enumerate()
                        .map(|(j, v)| sample(Some(v), &format!("{at}.values[{j}]")))
                        .collect::<Result<_, _>>()?,
                };
                Ok(Series { labels, samples })
            })
            .collect()
    };
    match kind {
        "vector" => Ok(QueryResult::Vector(series("value")?)),
        "matrix" => Ok(QueryResult::Matrix(series("values")?)),
        "scalar" => Ok(QueryResult::Scalar(sample(Some(result), "data.result")?)),
        "string" => {
            let time = sample_time(result, "data.result")?;
            let value = result
                .get(1)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            Ok(QueryResult::String { time, value })
        }
        other => Err((
            "data.resultType".to_string(),
            format!("unknown result type {other:?}"),
        )),
    }
}

fn sample_time(v: &Value, at: &str) -> Result<f64, (String, String)> {
    v.get(0)
        .and_then(Value::as_f64)
        .ok_or((format!("{at}[0]"), "expected a unix time".to_string()))
}

/// `[1764280800.123, "0.5"]`; values are strings so that `NaN` and `+Inf` survive JSON.
fn sample(v: Option<&Value>, at: &str) -> Result<Sample, (String, String)> {
    let v = v.ok_or((at.to_string(), "missing".to_string()))?;
    let time = sample_time(v, at)?;
    let text = v
        .get(1)
        .and_then(Value::as_str)
        .ok_or((format!("{at}[1]"), "expected a string value".to_string()))?;
    let value = text
        .parse()
        .map_err(|_| (format!("{at}[1]"), format!("{text:?} is not a number")))?;
    Ok(Sample { time, value })
}

/// The PromQL [`PrometheusMetrics`] runs. See the module comment for the placeholders.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQueries {
    /// Lists the services when none are configured (one series per `service` label).
    pub services: String,
    pub requests: String,
    pub error_rate: String,
    pub latency_p95_ms: String,
    pub latency_p99_ms: String,
    pub cpu_utilisation: String,
    pub memory_utilisation: String,
    /// Metric name → query with `$track`, for the canary judge.
    pub canary: BTreeMap<String, String>,
    /// The canary's traffic weight in percent; `None` reports 0.
    pub canary_weight: Option<String>,
    /// Error rate over `$window`.
    pub slo_error_rate: String,
}

impl Default for MetricQueries {
    fn default() -> MetricQueries {
        let req = r#"http_requests_total{service="$service"}"#;
        let err = r#"http_requests_total{service="$service",code=~"5.."}"#;
        let lat = |q: f64, sel: &str| {
            format!("histogram_quantile({q}, sum by (le) (rate(http_request_duration_seconds_bucket{{{sel}}}[1m]))) * 1000")
        };
        MetricQueries {
            services: "group by (service) (http_requests_total)".into(),
            requests: format!("sum(increase({req}[5m]))"),
            error_rate: format!("(sum(rate({err}[1m])) or vector(0)) / sum(rate({req}[1m]))"),
            latency_p95_ms: lat(0.95, r#"service="$service""#),
            latency_p99_ms: lat(0.99, r#"service="$service""#),
            cpu_utilisation: r#"sum(rate(container_cpu_usage_seconds_total{service="$service"}[5m])) / sum(kube_pod_container_resource_requests{service="$service",resource="cpu"})"#.into(),
            memory_utilisation: r#"sum(container_memory_working_set_bytes{service="$service"}) / sum(kube_pod_container_resource_requests{service="$service",resource="memory"})"#.into(),
            canary: BTreeMap::from([
                (
                    "error_rate".to_string(),
                    r#"(sum(rate(http_requests_total{service="$service",track="$track",code=~"5.."}[1m])) or vector(0)) / sum(rate(http_requests_total{service="$service",track="$track"}[1m]))"#.to_string(),
                ),
                (
                    // The name the canary policy judges latency under.
                    "latency_ms".to_string(),
                    lat(0.95, r#"service="$service",track="$track""#),
                ),
            ]),
            canary_weight: None,
            slo_error_rate: format!(
                "(sum(increase({err}[$window])) or vector(0)) / sum(increase({req}[$window]))"
            ),
        }
    }
}

impl MetricQueries {
    /// The defaults, with each metric's first rule `query` from the detection policy instead.
    pub fn from_policy(policy: &DetectionPolicy) -> MetricQueries {
        let mut q = MetricQueries::default();
        for rule in &policy.rules {
            let Some(query) = rule.query.clone() else {
                continue;
            };
            let slot = match rule.metric {
                DetectedMetric::ErrorRate => &mut q.error_rate,
                DetectedMetric::LatencyP95Ms => &mut q.latency_p95_ms,
                DetectedMetric::LatencyP99Ms => &mut q.latency_p99_ms,
                DetectedMetric::CpuUtilisation => &mut q.cpu_utilisation,
                DetectedMetric::MemoryUtilisation => &mut q.memory_utilisation,
                DetectedMetric::LatencyP50Ms | DetectedMetric::Saturation => continue,
            };
            // The first rule per metric wins; later ones only change thresholds.
            if *slot == MetricQueries::default_for(rule.metric) {
                *slot = query;
            }
        }
        q
    }

    fn default_for(metric: DetectedMetric) -> String {
        let d = MetricQueries::default();
        match metric {
            DetectedMetric::ErrorRate => d.error_rate,
            DetectedMetric::LatencyP95Ms => d.latency_p95_ms,
            DetectedMetric::LatencyP99Ms => d.latency_p99_ms,
            DetectedMetric::CpuUtilisation => d.cpu_utilisation,
            DetectedMetric::MemoryUtilisation => d.memory_utilisation,
            _ => String::new(),
        }
    }
}

/// A PromQL string literal's contents: a service name cannot break out of its quotes.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

fn fill(query: &str, service: &str) -> String {
    query.replace("$service", &escape(service))
}

/// [`MetricsSource`] over Prometheus.
#[derive(Debug, Clone)]
pub struct PrometheusMetrics {
    pub client: PrometheusClient,
    pub queries: MetricQueries,
    /// The services to report; `None` lists them with `queries.services`.
    pub services: Option<Vec<String>>,
    /// How far back `canary_samples` reads, and the step between samples.
    pub canary_window: Duration,
    pub canary_step: Duration,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// No data (an empty vector, or 0/0) reads as 0: a service without traffic fires no rule.
fn number(result: &QueryResult) -> f64 {
    result
        .first_value()
        .filter(|v| v.is_finite())
        .unwrap_or(0.0)
}

impl PrometheusMetrics {
    pub fn new(client: PrometheusClient, queries: MetricQueries) -> PrometheusMetrics {
        PrometheusMetrics {
            client,
            queries,
            services: None,
            canary_window: Duration::from_secs(300),
            canary_step: Duration::from_secs(10),
        }
    }

    async fn value(&self, query: &str, service: &str) -> Result<f64, PrometheusError> {
        Ok(number(
            &self.client.query(&fill(query, service), None).await?,
        ))
    }

    pub(crate) async fn service_names(&self) -> Result<Vec<String>, PrometheusError> {
        if let Some(s) = &self.services {
            return Ok(s.clone());
        }
        let result = self.client.query(&self.queries.services, None).await?;
        let mut names: Vec<String> = result
            .series()
            .iter()
            .filter_map(|s| s.labels.get("service").cloned())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    pub(crate) async fn service_health(
        &self,
        service: &str,
    ) -> Result<ServiceHealth, PrometheusError> {
        let q = &self.queries;
        Ok(ServiceHealth {
            service: service.to_string(),
            requests: self.value(&q.requests, service).await?.max(0.0).round() as u64,
            error_rate: self.value(&q.error_rate, service).await?,
            latency_p95_ms: self.value(&q.latency_p95_ms, service).await?,
            latency_p99_ms: self.value(&q.latency_p99_ms, service).await?,
            cpu_utilization: self.value(&q.cpu_utilisation, service).await?,
            memory_utilization: self.value(&q.memory_utilisation, service).await?,
        })
    }

    async fn track(
        &self,
        service: &str,
        track: &str,
        end: f64,
    ) -> Result<MetricSamples, PrometheusError> {
        let start = end - self.canary_window.as_secs_f64();
        let mut out = MetricSamples::new();
        for (metric, query) in &self.queries.canary {
            let query = fill(query, service).replace("$track", track);
            let result = self
                .client
                .query_range(&query, start, end, self.canary_step)
                .await?;
            let samples = result
                .series()
                .first()
                .map(|s| {
                    s.samples
                        .iter()
                        .map(|s| s.value)
                        .filter(|v| v.is_finite())
                        .collect()
                })
                .unwrap_or_default();
            out.insert(metric.clone(), samples);
        }
        Ok(out)
    }
}

#[async_trait]
impl MetricsSource for PrometheusMetrics {
    async fn health(&self) -> Result<Vec<ServiceHealth>, SignalError> {
        let mut out = Vec::new();
        for service in self.service_names().await? {
            out.push(self.service_health(&service).await?);
        }
        Ok(out)
    }

    async fn canary_samples(&self, service: &str) -> Result<CanaryObservation, SignalError> {
        let end = now();
        let weight = match &self.queries.canary_weight {
            Some(q) => self.value(q, service).await?.clamp(0.0, 100.0).round() as u8,
            None => 0,
        };
        Ok(CanaryObservation {
            weight,
            baseline: self.track(service, "stable", end).await?,
            canary: self.track(service, "canary", end).await?,
        })
    }

    async fn slo_window_error_rate(
        &self,
        service: &str,
        window: Duration,
    ) -> Result<Option<f64>, SignalError> {
        let query = fill(&self.queries.slo_error_rate, service)
            .replace("$window", &format!("{}s", window.as_secs().max(1)));
        let result = self
            .client
            .query(&query, None)
            .await
            .map_err(SignalError::from)?;
        Ok(result.first_value().filter(|v| v.is_finite()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_every_result_type() {
        let v = decode_result(&json!({"resultType": "vector", "result": [
            {"metric": {"service": "a"}, "value": [1764280800.5, "0.25"]}]}))
        .unwrap();
        assert_eq!(v.first_value(), Some(0.25));
        assert_eq!(v.series()[0].labels["service"], "a");
        let m = decode_result(&json!({"resultType": "matrix", "result": [
            {"metric": {}, "values": [[1, "1"], [2, "NaN"], [3, "+Inf"]]}]}))
        .unwrap();
        let s = &m.series()[0].samples;
        assert!(s[1].value.is_nan() && s[2].value.is_infinite());
        let sc = decode_result(&json!({"resultType": "scalar", "result": [5, "2"]})).unwrap();
        assert_eq!(
            sc,
            QueryResult::Scalar(Sample {
                time: 5.0,
                value: 2.0
            })
        );
        let e = decode_result(&json!({"resultType": "matrix", "result": [{"values": [[1, 2]]}]}))
            .unwrap_err();
        assert_eq!(e.0, "data.result[0].values[0][1]");
    }

    #[test]
    fn policy_queries_replace_the_defaults() {
        let text = std::fs::read_to_string(format!(
            "{}/policies/detection.yaml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let policy: DetectionPolicy = serde_norway::from_str(&text).unwrap();
        let q = MetricQueries::from_policy(&policy);
        assert!(
            q.error_rate.starts_with("sum(rate(http_requests_total"),
            "{}",
            q.error_rate
        );
        assert!(q.latency_p99_ms.contains("histogram_quantile(0.99"));
        assert_eq!(q.cpu_utilisation, MetricQueries::default().cpu_utilisation);
    }

    #[test]
    fn service_names_cannot_escape_the_label() {
        assert_eq!(
            fill(r#"x{service="$service"}"#, r#"a"} or vector(1) or {x=""#),
            r#"x{service="a\"} or vector(1) or {x=\""}"#
        );
    }

    #[test]
    fn bad_urls_are_refused() {
        assert!(PrometheusClient::new("ftp://x", Duration::from_secs(1)).is_err());
        assert!(PrometheusClient::new("not a url", Duration::from_secs(1)).is_err());
    }
}
