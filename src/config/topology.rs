//! healbot.yaml's `traces:` and `topology:` sections: where `serve` reads traces from (Jaeger,
//! Tempo or Hypertrace), and how the dependency graph is discovered (from those traces, from
//! the service mesh's metrics in Prometheus, from Neo4j, from local checkouts' `depends_on:`),
//! merged with the catalog and refreshed. Parsing and checking only.

use super::yaml::FieldError;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TracesFile {
    /// Jaeger's query service (api_v3), e.g. `http://jaeger-query:16686`.
    #[serde(default)]
    pub jaeger_url: Option<String>,
    /// Grafana Tempo's HTTP API, e.g. `http://tempo:3200`.
    #[serde(default)]
    pub tempo_url: Option<String>,
    /// Hypertrace's GraphQL service, e.g. `http://hypertrace:23431`.
    #[serde(default)]
    pub hypertrace_url: Option<String>,
    #[serde(default)]
    pub hypertrace_tenant: Option<String>,
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// How far back each read goes (default 900).
    #[serde(default)]
    pub lookback_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TracesBackend {
    Jaeger { url: String },
    Tempo { url: String },
    Hypertrace { url: String, tenant: Option<String> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct TracesConfig {
    pub backend: TracesBackend,
    pub timeout: Duration,
    pub lookback: Duration,
}

/// Which service mesh's request counters name the edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MeshKind {
    Istio,
    Linkerd,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TopologyFile {
    /// Seconds between discoveries in `serve` (default 300; 0 turns the schedule off).
    #[serde(default)]
    pub refresh_seconds: Option<u64>,
    /// Edges from the traces of the `traces:` section (default: yes when it is set).
    #[serde(default)]
    pub from_traces: Option<bool>,
    /// Edges from the mesh's request counters in the `prometheus:` source.
    #[serde(default)]
    pub mesh: Option<MeshKind>,
    /// How far back the mesh's counters are read (default 900).
    #[serde(default)]
    pub mesh_window_seconds: Option<u64>,
    /// A Neo4j server to read `(:Service)-[:DEPENDS_ON]->` from (credentials from NEO4J_USER
    /// and NEO4J_PASSWORD; needs a build with `--features neo4j`).
    #[serde(default)]
    pub neo4j_url: Option<String>,
    /// Local checkouts whose `.github/healbot.yml` services list `depends_on:`.
    #[serde(default)]
    pub repositories: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopologyConfig {
    pub traces: Option<TracesConfig>,
    pub refresh: Option<Duration>,
    pub from_traces: bool,
    pub mesh: Option<MeshKind>,
    pub mesh_window: Duration,
    pub neo4j_url: Option<String>,
    pub repositories: Vec<PathBuf>,
}

impl Default for TopologyConfig {
    fn default() -> TopologyConfig {
        TopologyConfig {
            traces: None,
            refresh: Some(Duration::from_secs(300)),
            from_traces: false,
            mesh: None,
            mesh_window: Duration::from_secs(900),
            neo4j_url: None,
            repositories: Vec::new(),
        }
    }
}

impl TopologyConfig {
    /// Whether anything besides a catalog can give the graph.
    pub fn discovers(&self) -> bool {
        self.from_traces
            || self.mesh.is_some()
            || self.neo4j_url.is_some()
            || !self.repositories.is_empty()
    }

    /// Checks both sections; relative paths are taken from `base`.
    pub fn from_file(
        traces: Option<TracesFile>,
        topology: Option<TopologyFile>,
        base: &Path,
    ) -> Result<TopologyConfig, FieldError> {
        let traces = traces.map(traces_config).transpose()?;
        let t = topology.unwrap_or_default();
        if t.from_traces == Some(true) && traces.is_none() {
            return Err(FieldError::new(
                "topology.from_traces",
                "needs a traces: section saying where the traces are",
            ));
        }
        if let Some(url) = &t.neo4j_url {
            if !["bolt://", "bolt+s://", "neo4j://", "neo4j+s://"]
                .iter()
                .any(|p| url.starts_with(p))
            {
                return Err(FieldError::new(
                    "topology.neo4j_url",
                    format!("not a bolt:// or neo4j:// URL: {url:?}"),
                ));
            }
        }
        let refresh = match t.refresh_seconds {
            Some(0) => None,
            Some(s) => Some(Duration::from_secs(s.max(10))),
            None => Some(Duration::from_secs(300)),
        };
        Ok(TopologyConfig {
            from_traces: t.from_traces.unwrap_or(traces.is_some()),
            traces,
            refresh,
            mesh: t.mesh,
            mesh_window: Duration::from_secs(
                t.mesh_window_seconds.unwrap_or(900).clamp(60, 86_400),
            ),
            neo4j_url: t.neo4j_url,
            repositories: t.repositories.into_iter().map(|p| base.join(p)).collect(),
        })
    }
}

fn http_url(field: &str, value: &str) -> Result<String, FieldError> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value.trim_end_matches('/').to_string())
    } else {
        Err(FieldError::new(
            field,
            format!("not an http(s) URL: {value:?}"),
        ))
    }
}

fn traces_config(f: TracesFile) -> Result<TracesConfig, FieldError> {
    let backend = match (f.jaeger_url, f.tempo_url, f.hypertrace_url) {
        (Some(url), None, None) => TracesBackend::Jaeger {
            url: http_url("traces.jaeger_url", &url)?,
        },
        (None, Some(url), None) => TracesBackend::Tempo {
            url: http_url("traces.tempo_url", &url)?,
        },
        (None, None, Some(url)) => TracesBackend::Hypertrace {
            url: http_url("traces.hypertrace_url", &url)?,
            tenant: f.hypertrace_tenant,
        },
        (None, None, None) => {
            return Err(FieldError::new(
                "traces",
                "set one of jaeger_url, tempo_url, hypertrace_url",
            ))
        }
        _ => {
            return Err(FieldError::new(
                "traces",
                "set only one of jaeger_url, tempo_url, hypertrace_url",
            ))
        }
    };
    Ok(TracesConfig {
        backend,
        timeout: Duration::from_secs(f.timeout_seconds.unwrap_or(10).clamp(1, 300)),
        lookback: Duration::from_secs(f.lookback_seconds.unwrap_or(900).clamp(60, 86_400)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_backend_and_named_fields() {
        let ok = TopologyConfig::from_file(
            Some(TracesFile {
                tempo_url: Some("http://tempo:3200/".into()),
                ..TracesFile::default()
            }),
            Some(TopologyFile {
                mesh: Some(MeshKind::Istio),
                ..TopologyFile::default()
            }),
            Path::new("/etc/healbot"),
        )
        .unwrap();
        assert!(ok.from_traces && ok.discovers());
        assert_eq!(
            ok.traces.unwrap().backend,
            TracesBackend::Tempo {
                url: "http://tempo:3200".into()
            }
        );
        let two = TopologyConfig::from_file(
            Some(TracesFile {
                tempo_url: Some("http://tempo:3200".into()),
                jaeger_url: Some("http://jaeger:16686".into()),
                ..TracesFile::default()
            }),
            None,
            Path::new("."),
        )
        .unwrap_err();
        assert!(two.to_string().contains("only one"), "{two}");
        let e = TopologyConfig::from_file(
            None,
            Some(TopologyFile {
                from_traces: Some(true),
                ..TopologyFile::default()
            }),
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("topology.from_traces"), "{e}");
        assert!(!TopologyConfig::default().discovers());
    }
}
