//! `healbot rca`: ranks the services of a wide metrics CSV by how likely each is the root cause
//! (BARO-style robust scores, then the dependency graph), so the ranking can be checked and
//! benchmarked on fault-injection datasets outside the pipeline.

use crate::rca::baro::{rank_table, MetricTable, BARO_ANOMALY_THRESHOLD};
use crate::rca::{DependencyGraph, RankOptions, RcaReport};
use crate::signals::traces::{dependency_graph, parse_traces};
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub struct RcaArgs {
    /// Wide CSV: `time` (unix seconds), then one `<service>_<metric>` column per series.
    #[arg(long)]
    pub metrics: PathBuf,
    /// Dependency graph: a YAML service catalog, traces (OTLP JSON or Jaeger JSON), or a
    /// Neo4j server (`bolt://host:7687`; credentials from NEO4J_USER and NEO4J_PASSWORD;
    /// needs a build with `--features neo4j`).
    #[arg(long)]
    pub graph: Option<PathBuf>,
    /// When the anomaly began (unix seconds); estimated from the data when left out.
    #[arg(long)]
    pub anomaly_start: Option<f64>,
    /// Scores at or above this count as anomalous when the graph is read.
    #[arg(long, default_value_t = BARO_ANOMALY_THRESHOLD)]
    pub threshold: f64,
    /// `text` for people or `json` for scripts.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// A catalog, or a graph derived from the calls in a traces file (detected by its content).
pub fn load_graph(path: &Path) -> anyhow::Result<DependencyGraph> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the graph {}", path.display()))?;
    if text.trim_start().starts_with('{') {
        let spans = parse_traces(&text).with_context(|| format!("{}", path.display()))?;
        return Ok(dependency_graph(&spans).graph);
    }
    Ok(DependencyGraph::from_catalog_yaml(
        &text,
        &path.display().to_string(),
    )?)
}

/// The graph `--graph` names: a Neo4j server, or a file.
async fn graph_of(location: &Path) -> anyhow::Result<DependencyGraph> {
    let text = location.to_string_lossy();
    if crate::rca::neo4j::is_neo4j_uri(&text) {
        let user = std::env::var("NEO4J_USER").unwrap_or_else(|_| "neo4j".to_string());
        let password = std::env::var("NEO4J_PASSWORD").unwrap_or_default();
        return Ok(crate::rca::neo4j::load(&text, &user, &password).await?);
    }
    load_graph(location)
}

pub fn analyse(args: &RcaArgs, graph: Option<&DependencyGraph>) -> anyhow::Result<RcaReport> {
    let file = args.metrics.display().to_string();
    let text = std::fs::read_to_string(&args.metrics)
        .with_context(|| format!("cannot read the metrics {file}"))?;
    let table = MetricTable::parse_csv(&text, &file)?;
    Ok(rank_table(
        &table,
        args.anomaly_start,
        graph,
        &RankOptions {
            anomaly_threshold: args.threshold,
            ..RankOptions::default()
        },
        &file,
    )?)
}

pub async fn run(args: RcaArgs) -> anyhow::Result<ExitCode> {
    let graph = match &args.graph {
        Some(location) => Some(graph_of(location).await?),
        None => None,
    };
    let report = analyse(&args, graph.as_ref())?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report.ranking)?),
        Format::Text => print!("{}", text(&report)),
    }
    Ok(ExitCode::SUCCESS)
}

fn text(report: &RcaReport) -> String {
    let mut out = format!(
        "root cause: {} (confidence {:.0}%)\ncausal chain: {}\n\n",
        report.root_cause,
        report.confidence * 100.0,
        report.causal_chain.join(" → ")
    );
    for (i, r) in report.ranking.iter().take(10).enumerate() {
        out.push_str(&format!(
            "{:>2}. {}  {}  score {:.2}\n",
            i + 1,
            r.service,
            r.metric,
            r.score
        ));
    }
    out.push('\n');
    for line in &report.evidence {
        out.push_str(&format!("- {line}\n"));
    }
    out
}
