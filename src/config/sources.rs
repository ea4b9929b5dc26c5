//! Where `healbot serve` reads production from and what it may act on: Prometheus for health
//! and canary metrics, Loki, Elasticsearch or log files for stack traces, the dependency
//! catalog, the canary step wait, and repositories to watch beyond the installation events.

use super::yaml::FieldError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a canary step runs before it is judged, unless `canary_wait_seconds` says.
pub(crate) const DEFAULT_CANARY_WAIT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PrometheusFile {
    pub url: String,
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Seconds between the canary samples healbot reads (at least the scrape interval;
    /// default 10).
    #[serde(default)]
    pub step_seconds: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogsFile {
    #[serde(default)]
    pub loki_url: Option<String>,
    #[serde(default)]
    pub elasticsearch_url: Option<String>,
    #[serde(default)]
    pub elasticsearch_index: Option<String>,
    /// Service → log files, read from their tail.
    #[serde(default)]
    pub files: BTreeMap<String, Vec<PathBuf>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusSource {
    pub url: String,
    pub timeout: Duration,
    /// Between two canary samples.
    pub step: Duration,
}

/// Where logs come from; the first configured wins, in this order.
#[derive(Debug, Clone, PartialEq)]
pub enum LogsSource {
    Loki { url: String },
    Elasticsearch { url: String, index: String },
    Files(BTreeMap<String, Vec<PathBuf>>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sources {
    pub prometheus: Option<PrometheusSource>,
    pub logs: LogsSource,
    /// Required with GitHub credentials: `serve` refuses to start without it.
    pub catalog: Option<PathBuf>,
    pub canary_wait: Duration,
    pub repositories: Vec<String>,
}

impl Default for Sources {
    fn default() -> Sources {
        Sources {
            prometheus: None,
            logs: LogsSource::Files(BTreeMap::new()),
            catalog: None,
            canary_wait: DEFAULT_CANARY_WAIT,
            repositories: Vec::new(),
        }
    }
}

fn url(field: &str, value: &str) -> Result<String, FieldError> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value.trim_end_matches('/').to_string())
    } else {
        Err(FieldError::new(
            field,
            format!("not an http(s) URL: {value:?}"),
        ))
    }
}

impl Sources {
    /// Checks the file's sections; relative paths are taken from `base`.
    pub fn from_file(
        prometheus: Option<PrometheusFile>,
        logs: Option<LogsFile>,
        catalog: Option<PathBuf>,
        canary_wait_seconds: Option<u64>,
        repositories: Vec<String>,
        base: &Path,
    ) -> Result<Sources, FieldError> {
        let prometheus = match prometheus {
            Some(p) => Some(PrometheusSource {
                url: url("prometheus.url", &p.url)?,
                timeout: Duration::from_secs(p.timeout_seconds.unwrap_or(10).clamp(1, 300)),
                step: Duration::from_secs(p.step_seconds.unwrap_or(10).clamp(1, 300)),
            }),
            None => None,
        };
        let logs = logs.unwrap_or_default();
        let logs = match (logs.loki_url, logs.elasticsearch_url) {
            (Some(loki), _) => LogsSource::Loki {
                url: url("logs.loki_url", &loki)?,
            },
            (None, Some(es)) => LogsSource::Elasticsearch {
                url: url("logs.elasticsearch_url", &es)?,
                index: logs
                    .elasticsearch_index
                    .unwrap_or_else(|| "logs-*".to_string()),
            },
            (None, None) => LogsSource::Files(
                logs.files
                    .into_iter()
                    .map(|(service, files)| (service, files.iter().map(|f| base.join(f)).collect()))
                    .collect(),
            ),
        };
        for (i, repo) in repositories.iter().enumerate() {
            let mut parts = repo.split('/');
            let ok = matches!(
                (parts.next(), parts.next(), parts.next()),
                (Some(o), Some(n), None) if !o.is_empty() && !n.is_empty()
            );
            if !ok {
                return Err(FieldError::new(
                    format!("repositories[{i}]"),
                    format!("not of the form owner/name: {repo:?}"),
                ));
            }
        }
        Ok(Sources {
            prometheus,
            logs,
            catalog: catalog.map(|c| base.join(c)),
            canary_wait: canary_wait_seconds.map_or(DEFAULT_CANARY_WAIT, Duration::from_secs),
            repositories,
        })
    }
}
