//! The checks of where healbot sends copies of what it does: the audit shipper's Elasticsearch
//! and the OTLP collector for its own spans. Each is a dry run that writes nothing: the
//! cluster's info with the API key, and an export holding no spans.

use super::{shown_url, signals::causes, Check};
use crate::config::bot::{AuditElasticsearch, BotConfig};
use crate::config::otlp::Otlp;
use std::time::Duration;

/// Rows for the configured export targets; none when nothing is configured.
pub(super) async fn check(config: &BotConfig, limit: Duration) -> Vec<Check> {
    let mut rows = Vec::new();
    if let Some(es) = &config.audit_elasticsearch {
        rows.push(super::within(ES, limit, elasticsearch(es, limit)).await);
    }
    if let Some(otlp) = &config.otlp {
        rows.push(super::within(OTLP, limit, collector(otlp, limit)).await);
    }
    rows
}

const ES: &str = "audit shipping (elasticsearch)";
const OTLP: &str = "otlp export";

/// `GET /` with the API key: the cluster answers, accepts the key, and says its version.
async fn elasticsearch(es: &AuditElasticsearch, limit: Duration) -> Check {
    let http = match crate::http_client::builder().timeout(limit).build() {
        Ok(h) => h,
        Err(e) => return Check::fail(ES, e.to_string()),
    };
    let shown = shown_url(&es.url);
    let mut request = http.get(format!("{}/", es.url));
    if let Some(key) = &es.api_key {
        request = request.header("authorization", format!("ApiKey {}", key.expose_str()));
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return Check::fail(ES, format!("{shown}: {}", causes(&e.without_url()))),
    };
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Check::fail(
            ES,
            format!("{shown}: the API key was refused (HTTP {status})"),
        );
    }
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    match body["version"]["number"].as_str() {
        Some(v) if status.is_success() => Check::ok(
            ES,
            format!(
                "{shown}: Elasticsearch {v} answers; entries go to index {}",
                es.index
            ),
        ),
        _ => Check::fail(
            ES,
            format!("{shown}: GET / answered HTTP {status} without a version"),
        ),
    }
}

/// Posts an export with no spans: the collector is there, speaks OTLP/HTTP, takes the headers.
async fn collector(otlp: &Otlp, limit: Duration) -> Check {
    let http = match crate::http_client::builder().timeout(limit).build() {
        Ok(h) => h,
        Err(e) => return Check::fail(OTLP, e.to_string()),
    };
    let shown = shown_url(&otlp.traces_url);
    // An empty protobuf message is zero bytes: an ExportTraceServiceRequest with no spans.
    let mut request = http
        .post(&otlp.traces_url)
        .header("content-type", "application/x-protobuf")
        .body(Vec::new());
    for (name, value) in &otlp.headers {
        request = request.header(name.as_str(), value.expose_str());
    }
    match request.send().await {
        Ok(r) if r.status().is_success() => Check::ok(
            OTLP,
            format!(
                "{shown}: the collector took an empty export (service.name {})",
                otlp.service_name
            ),
        ),
        Ok(r) => Check::fail(
            OTLP,
            format!("{shown}: an empty export was answered HTTP {}", r.status()),
        ),
        Err(e) => Check::fail(OTLP, format!("{shown}: {}", causes(&e.without_url()))),
    }
}
