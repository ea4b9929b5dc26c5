//! The checks of what healbot reads production from: Prometheus (every query healbot runs, with
//! a real service filled in), the log backend (the query healbot runs) and trace backends.

use super::{shown_url, within, Check};
use crate::config::bot::BotConfig;
use crate::config::policy::PolicySet;
use crate::config::sources::LogsSource;
use crate::signals::elasticsearch::ElasticsearchLogs;
use crate::signals::loki::LokiLogs;
use crate::signals::prometheus::{MetricQueries, PrometheusClient};
use crate::signals::LogSource;
use std::time::Duration;

/// The service put into `$service` when neither Prometheus nor the catalog names one.
const PROBE_SERVICE: &str = "healbot-doctor-probe";

/// `GET /api/v1/status/buildinfo`: Prometheus answers, and which version it is.
pub(super) async fn prometheus_up(url: &str, limit: Duration) -> Check {
    let http = match crate::http_client::builder().timeout(limit).build() {
        Ok(h) => h,
        Err(e) => return Check::fail("prometheus", e.to_string()),
    };
    let endpoint = format!("{}/api/v1/status/buildinfo", url.trim_end_matches('/'));
    let shown = shown_url(url);
    let response = match http.get(&endpoint).send().await {
        Ok(r) => r,
        Err(e) => {
            return Check::fail(
                "prometheus",
                format!("{shown}: {}", causes(&e.without_url())),
            )
        }
    };
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    match body["data"]["version"].as_str() {
        Some(v) if status.is_success() => {
            Check::ok("prometheus", format!("{shown}: Prometheus {v} answers"))
        }
        _ => Check::fail(
            "prometheus",
            format!(
                "{shown}: GET /api/v1/status/buildinfo answered HTTP {status} without a version"
            ),
        ),
    }
}

/// An error with its causes ("error sending request: connection refused"), which reqwest's
/// own message leaves out.
pub(super) fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let more = cause.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        next = cause.source();
    }
    text
}

/// The queries healbot will run, by name, with placeholders filled for `service`.
fn queries(q: &MetricQueries, service: &str) -> Vec<(String, String)> {
    let fill = |text: &str, track: &str| {
        text.replace("$service", service)
            .replace("$track", track)
            .replace("$window", "1h")
    };
    let mut out = vec![
        ("requests".to_string(), fill(&q.requests, "")),
        ("error_rate".to_string(), fill(&q.error_rate, "")),
        ("latency_p95_ms".to_string(), fill(&q.latency_p95_ms, "")),
        ("latency_p99_ms".to_string(), fill(&q.latency_p99_ms, "")),
        ("cpu_utilisation".to_string(), fill(&q.cpu_utilisation, "")),
        (
            "memory_utilisation".to_string(),
            fill(&q.memory_utilisation, ""),
        ),
        ("slo_error_rate".to_string(), fill(&q.slo_error_rate, "")),
    ];
    for (name, text) in &q.canary {
        out.push((format!("canary {name}"), fill(text, "canary")));
    }
    if let Some(weight) = &q.canary_weight {
        out.push(("canary_weight".to_string(), fill(weight, "canary")));
    }
    out
}

pub(super) async fn prometheus(
    config: &BotConfig,
    policies: Option<&PolicySet>,
    limit: Duration,
) -> Vec<Check> {
    let Some(source) = &config.sources.prometheus else {
        return vec![Check::skipped(
            "prometheus",
            "no prometheus: in healbot.yaml (required with a GitHub App)",
        )];
    };
    let up = within("prometheus", limit, prometheus_up(&source.url, limit)).await;
    if up.status != super::Status::Ok {
        return vec![up];
    }
    let Some(policies) = policies else {
        return vec![
            up,
            Check::skipped("prometheus queries", "the policies do not load"),
        ];
    };
    let client = match PrometheusClient::new(&source.url, limit) {
        Ok(c) => c,
        Err(e) => return vec![up, Check::fail("prometheus queries", e.to_string())],
    };
    let q = MetricQueries::from_policy(&policies.detection);
    let mut rows = vec![up];
    let listed = client.query(&q.services, None).await;
    let found = listed.as_ref().ok().and_then(|r| {
        r.series()
            .iter()
            .find_map(|s| s.labels.get("service").cloned())
    });
    rows.push(match &listed {
        Ok(r) if found.is_some() => Check::ok(
            "prometheus query services",
            format!("{} service(s) have series", r.series().len()),
        ),
        Ok(_) => Check::warn(
            "prometheus query services",
            format!("no series for {:?}: healbot sees no service", q.services),
        ),
        Err(e) => Check::fail("prometheus query services", e.to_string()),
    });
    let service = found
        .or_else(|| first_catalog_service(config))
        .unwrap_or_else(|| PROBE_SERVICE.to_string());
    for (name, text) in queries(&q, &service) {
        let row = format!("prometheus query {name}");
        rows.push(match client.query(&text, None).await {
            Ok(r) => Check::ok(
                row,
                format!("{} series for service {service:?}", r.series().len()),
            ),
            Err(e) => Check::fail(row, e.to_string()),
        });
    }
    rows
}

fn first_catalog_service(config: &BotConfig) -> Option<String> {
    let path = config.sources.catalog.as_ref()?;
    let graph = crate::topology::DependencyGraph::load_catalog(path).ok()?;
    let first = graph.services().next().map(str::to_string);
    first
}

/// Runs the log query healbot runs for one service.
pub(super) async fn logs(config: &BotConfig, limit: Duration) -> Vec<Check> {
    let service = first_catalog_service(config).unwrap_or_else(|| PROBE_SERVICE.to_string());
    let (name, source): (&str, Result<Box<dyn LogSource>, String>) = match &config.sources.logs {
        LogsSource::Loki { url } => (
            "logs (loki)",
            LokiLogs::new(url, limit)
                .map(|l| Box::new(l) as Box<dyn LogSource>)
                .map_err(|e| e.to_string()),
        ),
        LogsSource::Elasticsearch { url, index } => (
            "logs (elasticsearch)",
            ElasticsearchLogs::new(url, index, limit)
                .map(|l| Box::new(l) as Box<dyn LogSource>)
                .map_err(|e| e.to_string()),
        ),
        LogsSource::Files(files) => return log_files(files),
    };
    let source = match source {
        Ok(s) => s,
        Err(e) => return vec![Check::fail(name, e)],
    };
    let check = async {
        match source.error_logs(&service).await {
            Ok(lines) => Check::ok(
                name,
                format!(
                    "the error-log query for service {service:?} ran: {} error line(s)",
                    lines.len()
                ),
            ),
            Err(e) => Check::fail(name, e.to_string()),
        }
    };
    vec![within(name, limit, check).await]
}

fn log_files(files: &std::collections::BTreeMap<String, Vec<std::path::PathBuf>>) -> Vec<Check> {
    if files.is_empty() {
        return vec![Check::skipped(
            "logs",
            "no logs: in healbot.yaml: no stack traces are read, localization has only alerts",
        )];
    }
    files
        .iter()
        .map(|(service, paths)| {
            let name = format!("logs (files of {service})");
            let unreadable: Vec<String> = paths
                .iter()
                .filter(|p| std::fs::File::open(p).is_err())
                .map(|p| p.display().to_string())
                .collect();
            if unreadable.is_empty() {
                Check::ok(name, format!("{} file(s) readable", paths.len()))
            } else {
                // A file that is not there yet may appear when the service logs.
                Check::warn(name, format!("cannot open {}", unreadable.join(", ")))
            }
        })
        .collect()
}

/// healbot.yaml has no trace backend: traces come with incident bundles (`healbot heal`).
pub(super) fn traces() -> Check {
    Check::skipped(
        "traces",
        "healbot.yaml configures no trace backend (Jaeger, Tempo, Hypertrace): traces are read only from incident bundles",
    )
}
