//! The command line: one file per subcommand. Errors end here as one clear line on stderr and
//! a non-zero exit code.

pub mod app;
pub mod audit;
pub mod canary;
pub mod demo;
pub mod doctor;
pub mod duration;
pub mod fix;
pub mod format;
pub mod graph;
pub mod heal;
pub mod localize;
pub mod locks;
pub mod logging;
pub mod ops;
pub mod otlp;
pub mod policy;
pub mod pr;
pub mod rca;
pub mod serve;
pub mod state_dir;
pub mod templates;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "healbot",
    version,
    about = "Turns a production incident into a reviewed, canaried fix"
)]
pub(crate) struct Cli {
    /// Log lines as `text` or `json` [default: json for `serve`, text otherwise]; `HEALBOT_LOG`
    /// sets the filter (for example `debug` or `healbot=trace`).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "HEALBOT_LOG_FORMAT",
        value_name = "FORMAT"
    )]
    pub log_format: Option<logging::LogFormat>,
    /// Worker threads of the async runtime [default: the number of cores].
    #[arg(long, global = true, env = "HEALBOT_WORKER_THREADS", value_name = "N")]
    pub worker_threads: Option<std::num::NonZeroUsize>,
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
    /// Find the first validated patch for a stack trace in a repository (printed as a diff).
    Fix(fix::FixArgs),
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
    /// Check every dependency healbot.yaml configures (GitHub, Redis, Prometheus, logs, notifiers, sandbox, policies).
    Doctor(doctor::DoctorArgs),
    /// Print a shell completion script (`healbot completions bash > /etc/bash_completion.d/healbot`).
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        // A listing piped into `head` ends quietly when the pipe closes, as Unix tools do,
        // instead of panicking in println!. The server keeps Rust's default: a closed socket
        // is an error to handle, never a reason to die.
        // SAFETY: setting a signal disposition before any thread exists.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let log_format = cli.log_format;
    tracing::dispatcher::set_global_default(logging::dispatch(
        log_format.unwrap_or(logging::LogFormat::Text),
        "warn",
    ))
    .ok();
    // No runtime thread waits on a disk for long: where an fsync does, the delivery log's
    // own thread makes it (server::delivery_log).
    let threads = cli
        .worker_threads
        .map(|n| n.get())
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(2);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
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
            Command::Fix(args) => fix::run(args).await,
            Command::Templates(cmd) => templates::run(cmd).await,
            Command::Policy(cmd) => policy::run(cmd).await,
            Command::Serve(args) => serve::run(args, log_format).await,
            Command::Locks(args) => locks::run(args).await,
            Command::Rca(args) => rca::run(args).await,
            Command::Graph(cmd) => graph::run(cmd).await,
            Command::Ops(cmd) => ops::run(cmd).await,
            Command::App(cmd) => app::run(cmd).await,
            Command::Doctor(args) => doctor::run(args).await,
            Command::Completions { shell } => {
                let mut command = <Cli as clap::CommandFactory>::command();
                clap_complete::generate(shell, &mut command, "healbot", &mut std::io::stdout());
                Ok(ExitCode::SUCCESS)
            }
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

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every argument of every subcommand says what it is in `--help`.
    #[test]
    fn every_argument_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && !arg.is_hide_set() && arg.get_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "healbot", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:#?}");
    }
}
