//! The command line: one file per subcommand. Errors end here as one clear line on stderr and
//! a non-zero exit code.

pub mod app;
pub mod audit;
pub mod canary;
pub mod demo;
pub mod format;
pub mod graph;
pub mod heal;
pub mod localize;
pub mod locks;
pub mod ops;
pub mod policy;
pub mod pr;
pub mod rca;
pub mod serve;
pub mod templates;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "healbot",
    version,
    about = "Turns a production incident into a reviewed, canaried fix"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a whole incident → PR → canary → close loop on embedded defaults.
    Demo(demo::DemoArgs),
    /// Heal the incident an incident bundle (alerts, logs, traces) describes.
    Heal(heal::HealArgs),
    /// Check or inspect the audit chain.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Work with pull requests on the embedded local forge.
    #[command(subcommand)]
    Pr(pr::PrCommand),
    /// Judge canary samples against baseline samples.
    #[command(subcommand)]
    Canary(canary::CanaryCommand),
    /// Map a stack trace to ranked code locations in a repository.
    Localize(localize::LocalizeArgs),
    /// List fix templates or run their test cases.
    #[command(subcommand)]
    Templates(templates::TemplatesCommand),
    /// Validate policy files.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Serve the GitHub App's webhooks, /healthz and /metrics.
    Serve(serve::ServeArgs),
    /// List or free locks on the shared Redis backend (runbook).
    Locks(locks::LocksArgs),
    /// List operations or steer one by id as a person (runbook, e.g. when GitHub is down).
    #[command(subcommand)]
    Ops(ops::OpsCommand),
    /// Rank the services of a metrics CSV by how likely each is the root cause.
    Rca(rca::RcaArgs),
    /// Show, refresh or export the dependency graph healbot uses.
    #[command(subcommand)]
    Graph(graph::GraphCommand),
    /// Set up healbot's GitHub App (GitHub's manifest flow).
    #[command(subcommand)]
    App(app::AppCommand),
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => demo::run(args).await,
            Command::Heal(args) => heal::run(args).await,
            Command::Audit(cmd) => audit::run(cmd).await,
            Command::Pr(cmd) => pr::run(cmd).await,
            Command::Canary(cmd) => canary::run(cmd).await,
            Command::Localize(args) => localize::run(args).await,
            Command::Templates(cmd) => templates::run(cmd).await,
            Command::Policy(cmd) => policy::run(cmd).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Locks(args) => locks::run(args).await,
            Command::Rca(args) => rca::run(args).await,
            Command::Graph(cmd) => graph::run(cmd).await,
            Command::Ops(cmd) => ops::run(cmd).await,
            Command::App(cmd) => app::run(cmd).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("HEALBOT_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
