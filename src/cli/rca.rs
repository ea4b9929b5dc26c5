//! `healbot rca`: ranks the services of a wide metrics CSV by how likely each is the root cause
//! (robust scores against a normal window, the anomaly start found when not given, the
//! dependency graph and traces when given), so the ranking can be checked and benchmarked on
//! fault-injection data sets outside the pipeline.

use crate::rca::labels::{self, LabelMap, DEFAULT_QUERIES};
use crate::rca::{diagnose, DiagnoseOptions, Diagnosis, MetricTable, RcaReport};
use crate::signals::prometheus::PrometheusClient;
use crate::signals::traces::{parse_traces, Span};
use crate::topology::DependencyGraph;
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub struct RcaArgs {
    /// Wide CSV: `time` (unix seconds), then one `<service>_<metric>` column per series.
    #[arg(
        long,
        required_unless_present = "prometheus",
        conflicts_with = "prometheus"
    )]
    pub metrics: Option<PathBuf>,
    /// Read the metrics from this Prometheus instead (`--from`/`--to`, unix seconds), named by
    /// the label map and queries of healbot.yaml's `rca:` section (`--config`) or the defaults.
    #[arg(long, requires_all = ["from", "to"])]
    pub prometheus: Option<String>,
    /// Start of the Prometheus range, unix seconds.
    #[arg(long)]
    pub from: Option<f64>,
    /// End of the Prometheus range, unix seconds.
    #[arg(long)]
    pub to: Option<f64>,
    /// Seconds between samples read from Prometheus.
    #[arg(long, default_value_t = 15.0)]
    pub step: f64,
    /// healbot.yaml, for its `rca:` section.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Dependency graph: a YAML service catalog, traces (OTLP JSON or Jaeger JSON), or a
    /// Neo4j server (`bolt://host:7687`; credentials from NEO4J_USER and NEO4J_PASSWORD;
    /// needs a build with `--features neo4j`).
    #[arg(long)]
    pub graph: Option<PathBuf>,
    /// Traces from the incident (OTLP JSON or Jaeger JSON): where errors and latency begin.
    #[arg(long)]
    pub traces: Option<PathBuf>,
    /// When the anomaly began (unix seconds); found from the data when left out.
    #[arg(long)]
    pub anomaly_start: Option<f64>,
    /// Metric scores (robust z) at or above this count as anomalous in the text report.
    #[arg(long, default_value_t = DiagnoseOptions::default().anomaly_threshold)]
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
pub(crate) fn load_graph(path: &Path) -> anyhow::Result<DependencyGraph> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the graph {}", path.display()))?;
    if text.trim_start().starts_with('{') {
        let spans = parse_traces(&text).with_context(|| format!("{}", path.display()))?;
        return Ok(crate::topology::spans::from_spans(&spans).graph);
    }
    Ok(DependencyGraph::from_catalog_yaml(
        &text,
        &path.display().to_string(),
    )?)
}

/// The graph `--graph` names: a Neo4j server, or a file.
async fn graph_of(location: &Path) -> anyhow::Result<DependencyGraph> {
    let text = location.to_string_lossy();
    if crate::topology::neo4j::is_neo4j_uri(&text) {
        let user = std::env::var("NEO4J_USER").unwrap_or_else(|_| "neo4j".to_string());
        let password = crate::config::secrets::env_secret("NEO4J_PASSWORD").unwrap_or_default();
        return Ok(crate::topology::neo4j::load(&text, &user, &password).await?);
    }
    load_graph(location)
}

fn load_spans(path: &Path) -> anyhow::Result<Vec<Span>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the traces {}", path.display()))?;
    parse_traces(&text).with_context(|| format!("{}", path.display()))
}

/// The metrics table: the CSV, or range queries against Prometheus.
async fn metrics(args: &RcaArgs) -> anyhow::Result<(MetricTable, String)> {
    if let Some(path) = &args.metrics {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the metrics {file}"))?;
        let table = MetricTable::parse_csv(&text, &file)?;
        return Ok((table, file));
    }
    let (Some(url), Some(from), Some(to)) = (&args.prometheus, args.from, args.to) else {
        anyhow::bail!("give --metrics FILE, or --prometheus URL with --from and --to");
    };
    let rca = match &args.config {
        Some(path) => {
            let env_secret = std::env::var(crate::config::bot::WEBHOOK_SECRET_ENV).ok();
            crate::config::bot::BotConfig::load(path, env_secret.as_deref())?.rca
        }
        None => Default::default(),
    };
    let map = if rca.label_map.is_empty() {
        LabelMap::default()
    } else {
        let rules: Vec<(String, Option<String>)> = rca
            .label_map
            .iter()
            .map(|r| (r.label.clone(), r.pattern.clone()))
            .collect();
        LabelMap::from_rules(&rules).context("rca.label_map")?
    };
    let queries: Vec<(String, String)> = if rca.queries.is_empty() {
        DEFAULT_QUERIES
            .iter()
            .map(|(m, q)| (m.to_string(), q.to_string()))
            .collect()
    } else {
        rca.queries.into_iter().collect()
    };
    let client = PrometheusClient::new(url, std::time::Duration::from_secs(30))?;
    let step = std::time::Duration::from_secs_f64(args.step.max(1.0));
    let mut results = Vec::new();
    for (metric, promql) in &queries {
        let result = client
            .query_range(promql, from, to, step)
            .await
            .with_context(|| format!("query for {metric}"))?;
        results.push((metric.clone(), result.series().to_vec()));
    }
    let (table, unnamed) = labels::table(&results, &map);
    if unnamed > 0 {
        eprintln!("warning: {unnamed} series matched no rule of the label map and are left out");
    }
    if table.columns.is_empty() {
        anyhow::bail!("{url}: the queries returned no series a label names a service for");
    }
    Ok((table, url.clone()))
}

pub async fn analyse(args: &RcaArgs, graph: Option<&DependencyGraph>) -> anyhow::Result<Diagnosis> {
    let (table, file) = metrics(args).await?;
    let spans = args.traces.as_deref().map(load_spans).transpose()?;
    let options = DiagnoseOptions {
        anomaly_threshold: args.threshold,
        ..DiagnoseOptions::default()
    };
    Ok(diagnose(
        &table,
        args.anomaly_start,
        graph,
        spans.as_deref(),
        &options,
        &file,
    )?)
}

pub async fn run(args: RcaArgs) -> anyhow::Result<ExitCode> {
    let graph = match &args.graph {
        Some(location) => Some(graph_of(location).await?),
        None => None,
    };
    let diagnosis = analyse(&args, graph.as_ref()).await?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&diagnosis.ranking)?),
        Format::Text => print!(
            "{}",
            text(&diagnosis.report(graph.as_ref(), args.threshold))
        ),
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
