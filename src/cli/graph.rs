//! `healbot graph show|refresh|export`: the dependency graph healbot uses, as `serve` would put
//! it together from healbot.yaml (catalog, repositories' `depends_on:`, traces, mesh metrics,
//! Neo4j). `refresh` discovers now and writes the snapshot `serve` reloads
//! (`<state_dir>/topology.json`); `show` prints the snapshot, or discovers when there is none.

use crate::config::bot::{BotConfig, WEBHOOK_SECRET_ENV};
use crate::topology::discover::{Discovery, Snapshot};
use crate::topology::render;
use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Subcommand)]
pub enum GraphCommand {
    /// Print the graph: the last snapshot, or what discovery finds now.
    Show(GraphArgs),
    /// Discover the graph now, write the snapshot `serve` reloads, and print it.
    Refresh(GraphArgs),
    /// Write the graph to Neo4j (MERGE; needs a build with `--features neo4j`).
    Export {
        #[command(flatten)]
        args: GraphArgs,
        /// `bolt://host:7687`; credentials from NEO4J_USER and NEO4J_PASSWORD.
        #[arg(long)]
        to: String,
    },
}

#[derive(Args)]
pub struct GraphArgs {
    /// healbot.yaml: its catalog, traces:, topology: and prometheus: sections.
    #[arg(long, conflicts_with = "catalog")]
    pub config: Option<PathBuf>,
    /// A catalog file alone, without healbot.yaml.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// `text` for people or `json` for scripts.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Mermaid,
    Dot,
}

struct Sources {
    discovery: Discovery,
    snapshot: Option<PathBuf>,
}

fn sources(args: &GraphArgs) -> anyhow::Result<Sources> {
    if let Some(path) = &args.config {
        let env_secret = std::env::var(WEBHOOK_SECRET_ENV).ok();
        let config = BotConfig::load(path, env_secret.as_deref())?;
        let discovery = Discovery::new(
            config.sources.catalog.clone(),
            config.topology.clone(),
            config.sources.prometheus.as_ref().map(|p| p.url.as_str()),
        )?;
        return Ok(Sources {
            discovery,
            snapshot: Some(config.state_dir.join("topology.json")),
        });
    }
    let Some(catalog) = &args.catalog else {
        anyhow::bail!("say where the graph comes from: --config healbot.yaml or --catalog FILE");
    };
    Ok(Sources {
        discovery: Discovery::new(Some(catalog.clone()), Default::default(), None)?,
        snapshot: None,
    })
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

async fn discover(sources: &Sources) -> Snapshot {
    let found = sources.discovery.discover(now()).await;
    found.snapshot()
}

pub async fn run(command: GraphCommand) -> anyhow::Result<ExitCode> {
    match command {
        GraphCommand::Show(args) => {
            let sources = sources(&args)?;
            let snapshot = match sources.snapshot.as_deref().filter(|p| p.is_file()) {
                Some(path) => Snapshot::read(path)?,
                None => discover(&sources).await,
            };
            print(&snapshot, args.format)?;
            Ok(status(&snapshot))
        }
        GraphCommand::Refresh(args) => {
            let sources = sources(&args)?;
            let snapshot = discover(&sources).await;
            if let Some(path) = &sources.snapshot {
                if snapshot.services.is_empty() {
                    anyhow::bail!(
                        "discovery found no service; {} is left as it was: {}",
                        path.display(),
                        snapshot.problems.join("; ")
                    );
                }
                write(path, &snapshot)?;
            }
            print(&snapshot, args.format)?;
            Ok(status(&snapshot))
        }
        GraphCommand::Export { args, to } => {
            let sources = sources(&args)?;
            let snapshot = match sources.snapshot.as_deref().filter(|p| p.is_file()) {
                Some(path) => Snapshot::read(path)?,
                None => discover(&sources).await,
            };
            let user = std::env::var("NEO4J_USER").unwrap_or_else(|_| "neo4j".to_string());
            let password = std::env::var("NEO4J_PASSWORD").unwrap_or_default();
            crate::topology::neo4j::export(&to, &user, &password, &snapshot.graph()).await?;
            println!(
                "exported {} services and {} dependencies to {to}",
                snapshot.services.len(),
                snapshot.edges.len()
            );
            Ok(status(&snapshot))
        }
    }
}

fn write(path: &Path, snapshot: &Snapshot) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    Ok(snapshot.write(path)?)
}

/// Exit 1 when a source failed (the graph printed is what the others gave).
fn status(snapshot: &Snapshot) -> ExitCode {
    for p in &snapshot.problems {
        eprintln!("warning: {p}");
    }
    if snapshot.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print(snapshot: &Snapshot, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(snapshot)?),
        Format::Mermaid => print!("{}", render::mermaid(snapshot)),
        Format::Dot => print!("{}", render::dot(snapshot)),
        Format::Text => {
            println!(
                "{} services, {} dependencies",
                snapshot.services.len(),
                snapshot.edges.len()
            );
            for e in &snapshot.edges {
                println!("{} -> {}  ({})", e.caller, e.callee, e.sources.join(", "));
            }
        }
    }
    Ok(())
}
