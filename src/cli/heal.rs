//! `healbot heal --incident FILE`: heals the incident an incident bundle describes (alerts, log
//! lines, traces, optional metrics and deploys; see `detect::bundle`). It exists so that an
//! on-call person can hand healbot what they have without wiring up live signal sources: the
//! bundle becomes one incident with a confidence, which then runs through the same pipeline as
//! `healbot demo --incident` on the embedded payment-service. With `--repo DIR` it runs on that
//! repository instead: the incident's stack trace is localized there and the first fix that
//! passes the repository's own check (its `.github/healbot.yml` validation command, or
//! `--check`) is printed, as `healbot fix` does. The steps after the patch (PR, canary,
//! verification) need a forge and a production to watch: `healbot serve` has both.

use crate::demo::{DemoOptions, Scenario};
use crate::detect::bundle::{self, Bundle};
use crate::detect::{Incident, Signal};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct HealArgs {
    /// The incident bundle (YAML or JSON): alertmanager, logs, traces, metrics, deploys.
    #[arg(long)]
    pub incident: PathBuf,
    /// Where the run keeps its repository, forge, audit log and worktrees
    /// (default: a new directory under the system temp dir).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Stop when the fix PR waits for review, so that you approve it with `healbot pr`.
    #[arg(long)]
    pub pause_for_review: bool,
    /// Requests per measuring interval of the embedded traffic.
    #[arg(long, default_value_t = 600)]
    pub requests: usize,
    /// Heal the incident in this repository instead of the embedded payment-service: the
    /// first validated fix is printed (the repository itself is never modified).
    #[arg(long)]
    pub repo: Option<PathBuf>,
    /// With `--repo`: the check a fix must pass (default: the repository's own validation
    /// command).
    #[arg(long, requires = "repo")]
    pub check: Option<String>,
}

pub async fn run(args: HealArgs) -> anyhow::Result<ExitCode> {
    if args.requests < 100 {
        anyhow::bail!("--requests must be at least 100 for the canary judge to have samples");
    }
    // Read and check the bundle before anything is set up, so a bad file leaves nothing behind.
    let now = chrono::Utc::now().timestamp();
    let (bundle, incident) = bundle::load(&args.incident, now)?;
    summary(&bundle, &incident);
    if let Some(repo) = &args.repo {
        return heal_in(repo, &incident, args.check.as_deref()).await;
    }
    let workdir = args.workdir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "healbot-heal-{}-{}",
            std::process::id(),
            chrono::Utc::now().format("%Y%m%d%H%M%S")
        ))
    });
    let outcome = crate::demo::run(DemoOptions {
        scenario: Scenario::PaymentNull,
        workdir,
        requests: args.requests,
        seed: 7,
        canary_wait: Duration::ZERO,
        scrape_interval: crate::demo::SCRAPE_INTERVAL,
        pause_for_review: args.pause_for_review,
        resume: false,
        incident: Some(incident),
    })
    .await?;
    if let Some(pr) = outcome.waiting_for_review {
        println!(
            "PR #{} waits for review: approve it with `healbot pr`",
            pr.0
        );
    }
    Ok(if outcome.as_expected {
        ExitCode::SUCCESS
    } else {
        eprintln!("the incident did not end healed: {:?}", outcome.operations);
        ExitCode::FAILURE
    })
}

/// The repair step on a repository the user names: the bundle's trace, localized and fixed
/// there. Exit 0 with a validated fix, 1 without one, 2 when the bundle holds no trace.
async fn heal_in(
    repo: &std::path::Path,
    incident: &Incident,
    check: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let Some(trace) = incident.stacktrace() else {
        eprintln!(
            "error: the bundle holds no stack trace (a log record with a trace) to localize in {}",
            repo.display()
        );
        return Ok(ExitCode::from(2));
    };
    let args = super::fix::FixArgs {
        repo: repo.to_path_buf(),
        trace: PathBuf::new(),
        check: check.map(str::to_string),
        top: 5,
        format: super::fix::Format::Text,
        timeout: std::time::Duration::from_secs(600),
        attempts: 8,
        templates: None,
        config: None,
    };
    super::fix::run_on(&args, trace.to_string()).await
}

/// What the bundle amounts to, before the pipeline runs.
fn summary(bundle: &Bundle, incident: &Incident) {
    println!("healbot heal — incident bundle");
    println!("  incident:   {}", incident.id);
    println!("  service:    {}", incident.service);
    println!("  severity:   {}", incident.severity);
    println!("  title:      {}", incident.title);
    let kinds: Vec<String> = bundle::count_by_kind(&incident.signals)
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    println!("  signals:    {}", kinds.join(", "));
    let (c, agree, disagree) = bundle::confidence(&incident.signals, &incident.service);
    let mut why = format!("{} of {} kinds agree", agree.len(), bundle::KINDS.len());
    if !agree.is_empty() {
        why.push_str(&format!(": {}", agree.join(", ")));
    }
    if !disagree.is_empty() {
        why.push_str(&format!("; pointing elsewhere: {}", disagree.join(", ")));
    }
    println!(
        "  confidence: {:.0}% ({why})",
        incident.confidence.unwrap_or(c) * 100.0
    );
    match &incident.pattern {
        Some(p) => println!(
            "  pattern:    {} ({:.0}%): {}",
            p.pattern.id(),
            p.confidence * 100.0,
            p.evidence
        ),
        None => println!("  pattern:    none recognised"),
    }
    let origin = incident.signals.iter().find_map(|s| match s {
        Signal::ErrorSpan { origin, .. } => Some(origin.as_str()),
        _ => None,
    });
    if let Some(origin) = origin {
        let erring: Vec<&str> = incident
            .signals
            .iter()
            .filter_map(|s| match s {
                Signal::ErrorSpan { service, .. } => Some(service.as_str()),
                _ => None,
            })
            .collect();
        println!(
            "  traces:     errors begin in {origin} (erring spans in {})",
            erring.join(", ")
        );
    }
    for d in bundle::recent_deploys(bundle, &incident.service, incident.detected_at) {
        println!(
            "  deploy:     {} revision {} {} s before detection",
            d.service,
            d.revision,
            incident.detected_at - d.at
        );
    }
    println!();
}
