//! `healbot demo`: the whole loop on embedded defaults, with a timeline at the end.

use crate::demo::{DemoOptions, PrometheusOptions, Scenario};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct DemoArgs {
    /// Which incident to run.
    #[arg(long, value_enum, default_value = "payment-null")]
    pub scenario: Scenario,
    /// Where the demo keeps its repository, forge, audit log and worktrees
    /// (default: a new directory under the system temp dir).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Requests per measuring interval of the embedded traffic.
    #[arg(long, default_value_t = 600)]
    pub requests: usize,
    /// Seed of the traffic mix.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Seconds each canary step runs before it is judged.
    #[arg(long, default_value_t = 0.0)]
    pub canary_wait: f64,
    /// Seconds one measured interval of production traffic answers health queries, as one
    /// Prometheus scrape does: detection, RCA and the gates read the same interval. A new
    /// rollout state (a canary step, a promotion) is always measured anew.
    #[arg(long, default_value_t = crate::demo::SCRAPE_INTERVAL.as_secs_f64())]
    pub scrape_interval: f64,
    /// Stop when the fix PR waits for review, so that you approve it with `healbot pr`.
    #[arg(long)]
    pub pause_for_review: bool,
    /// Carry on an interrupted demo in --workdir.
    #[arg(long, requires = "workdir")]
    pub resume: bool,
    /// Heal this recorded incident (JSON, as in testdata/incidents/) instead of detecting one.
    #[arg(long, conflicts_with = "resume")]
    pub incident: Option<PathBuf>,
    /// Read health, canary samples and the SLO window from the Prometheus at this URL, which
    /// must scrape the demo's exporter (--exporter-listen) every second. Traffic, logs and
    /// reproduction stay embedded.
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    /// Where the demo serves its traffic as Prometheus metrics (`/metrics`), with --prometheus.
    #[arg(
        long,
        value_name = "ADDR",
        requires = "prometheus",
        default_value = "127.0.0.1:9464"
    )]
    pub exporter_listen: String,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    if !(args.canary_wait.is_finite() && args.canary_wait >= 0.0) {
        anyhow::bail!("--canary-wait must be a number of seconds >= 0");
    }
    if !(args.scrape_interval.is_finite() && (0.0..=3600.0).contains(&args.scrape_interval)) {
        anyhow::bail!("--scrape-interval must be a number of seconds from 0 to 3600");
    }
    if args.requests < 100 {
        anyhow::bail!("--requests must be at least 100 for the canary judge to have samples");
    }
    // Read the incident before anything is set up, so a bad file leaves nothing behind.
    let incident = args
        .incident
        .as_deref()
        .map(crate::detect::incident_file::load)
        .transpose()?;
    let workdir = args.workdir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "healbot-demo-{}-{}",
            std::process::id(),
            chrono::Utc::now().format("%Y%m%d%H%M%S")
        ))
    });
    let prometheus = args.prometheus.map(|url| PrometheusOptions {
        url,
        exporter_listen: args.exporter_listen,
    });
    let outcome = crate::demo::run_with(
        DemoOptions {
            scenario: args.scenario,
            workdir,
            requests: args.requests,
            seed: args.seed,
            canary_wait: Duration::from_secs_f64(args.canary_wait),
            scrape_interval: Duration::from_secs_f64(args.scrape_interval),
            pause_for_review: args.pause_for_review,
            resume: args.resume,
            incident,
        },
        prometheus,
    )
    .await?;
    Ok(if outcome.as_expected {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "the demo did not end as the scenario expects: {:?}",
            outcome.operations
        );
        ExitCode::FAILURE
    })
}
