//! The demo's scenarios, start to end, and resuming one that was interrupted.

use super::{Demo, DemoSession, Scenario};
use crate::detect::{Incident, Signal};
use crate::forge::{PrNumber, RepoRef};
use crate::model::IncidentId;
use crate::model::OperationId;
use crate::operation::OpState;
use crate::orchestrator::{OperationSpec, Progress};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub scenario: Scenario,
    pub workdir: PathBuf,
    pub requests: usize,
    pub seed: u64,
    pub canary_wait: Duration,
    /// How long one measured interval answers health queries ([`super::SCRAPE_INTERVAL`]).
    pub scrape_interval: Duration,
    /// Stop when the PR waits for review, for a person to approve with `healbot pr …`.
    pub pause_for_review: bool,
    /// Carry on an interrupted demo in `workdir` instead of starting a new one.
    pub resume: bool,
    /// A recorded incident to heal instead of the one the traffic raises.
    pub incident: Option<Incident>,
}

/// `healbot demo --prometheus URL`: where Prometheus is and where its exporter listens.
#[derive(Debug, Clone)]
pub struct PrometheusOptions {
    pub url: String,
    pub exporter_listen: String,
}

/// How the demo ended, per operation.
#[derive(Debug, Clone)]
pub struct DemoOutcome {
    pub scenario: Scenario,
    pub operations: Vec<(OperationId, OpState)>,
    /// Whether every operation ended where the scenario expects it to.
    pub as_expected: bool,
    pub waiting_for_review: Option<PrNumber>,
}

pub async fn run(opts: DemoOptions) -> anyhow::Result<DemoOutcome> {
    run_with(opts, None).await
}

/// [`run`], with the metrics read from Prometheus when `prometheus` is given.
pub async fn run_with(
    opts: DemoOptions,
    prometheus: Option<PrometheusOptions>,
) -> anyhow::Result<DemoOutcome> {
    let started = Instant::now();
    // Prometheus is checked, and scrapes the exporter, before anything is set up.
    let link = match &prometheus {
        Some(p) => {
            Some(super::prometheus::PrometheusLink::connect(&p.url, &p.exporter_listen).await?)
        }
        None => None,
    };
    let demo = if opts.resume {
        Demo::open(&opts.workdir).await?
    } else {
        std::fs::create_dir_all(&opts.workdir)?;
        let session = DemoSession {
            scenario: opts.scenario,
            repo: RepoRef("payment-service".into()),
            repo_path: opts.workdir.join("repos").join("payment-service"),
            service: "payment-service".into(),
            requests: opts.requests,
            seed: opts.seed,
            canary_wait_ms: opts.canary_wait.as_millis() as u64,
            scrape_interval_ms: opts.scrape_interval.as_millis() as u64,
            auto_review: !opts.pause_for_review,
        };
        Demo::create(&opts.workdir, session).await?
    };
    let demo = match link {
        Some(link) => {
            let (url, addr) = (link.url.clone(), link.exporter_addr);
            let demo = demo.read_metrics_from(link)?;
            println!("metrics: Prometheus at {url} (scraping the demo's traffic from http://{addr}/metrics)");
            demo
        }
        None => demo,
    };
    super::print::header(&demo, opts.resume)?;
    let start_ts = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
    let store = demo.orchestrator.journal.store().clone();
    let progress =
        super::progress::Progress::follow(store, demo.orchestrator.settings.canary_wait).await;

    // A demo interrupted before its incident was opened starts over from detection.
    let nothing_opened = demo.orchestrator.journal.operations().await.is_empty();
    if nothing_opened {
        let incidents = match opts.incident {
            Some(recorded) => vec![recorded],
            None => {
                progress.stage(&format!(
                    "running {} requests of traffic through payment-service and checking the detection rules",
                    demo.session.requests
                ));
                demo.detect("inc").await?
            }
        };
        progress.suspend(|| super::print::detected(&incidents));
        let Some(first) = incidents.into_iter().next() else {
            anyhow::bail!("no detection rule fired on the demo traffic; nothing to heal");
        };
        let id = demo
            .orchestrator
            .open(OperationSpec {
                incident: first.clone(),
                repo: demo.session.repo.clone(),
            })
            .await?;
        demo.orchestrator.drive(&id).await?;
        if demo.session.scenario == Scenario::Concurrent && demo.session.auto_review {
            concurrent_second_incident(&demo, &first).await?;
        }
    }
    // Whatever is left (a resumed demo, or the first operation): drive and review to the end.
    let mut waiting = None;
    for id in demo.orchestrator.resumable().await {
        let progress = demo.orchestrator.drive(&id).await?;
        if progress == Progress::Waiting(OpState::AwaitingReview) {
            let op = demo.orchestrator.journal.operation(&id).await?;
            let pr = crate::orchestrator::pr_of(&op)?;
            if demo.session.auto_review {
                demo.review(pr).await?;
            } else {
                waiting = Some(pr);
            }
        }
    }
    progress.finish().await;
    let mut outcome = outcome(&demo, waiting).await;
    let chain_holds = super::print::report(&demo, &outcome, start_ts, started.elapsed()).await?;
    outcome.as_expected &= chain_holds;
    Ok(outcome)
}

/// The concurrent scenario's second incident: order-service's checkout alert fires while the
/// first operation holds payment-service's lock. It is opened and driven in the background;
/// the reviewer approves the first PR once the second is seen blocked on the lock.
async fn concurrent_second_incident(demo: &Demo, first: &Incident) -> anyhow::Result<()> {
    let health = demo.orchestrator.metrics.health().await?;
    let order = health
        .iter()
        .find(|h| h.service == "order-service")
        .map_or(0.0, |h| h.error_rate);
    let second = Incident {
        id: IncidentId(format!("{}-order", first.id)),
        service: "order-service".into(),
        severity: first.severity,
        title: format!(
            "order-service: checkout error rate {:.1}% (alert CheckoutErrors)",
            order * 100.0
        ),
        detected_at: chrono::Utc::now().timestamp(),
        signals: vec![Signal::Alert {
            service: "order-service".into(),
            name: "CheckoutErrors".into(),
            fingerprint: "order-service-checkout-errors".into(),
            summary: format!("{:.1}% of checkouts fail", order * 100.0),
        }],
        pattern: None,
        confidence: None,
    };
    let orchestrator = demo.orchestrator.clone();
    let spec = OperationSpec {
        incident: second,
        repo: demo.session.repo.clone(),
    };
    let id = orchestrator.open(spec).await?;
    let second_id = id.clone();
    let task = tokio::spawn(async move { orchestrator.drive(&second_id).await });
    // Approve the first PR only once the second operation is seen waiting on the lock.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let entries = demo.orchestrator.journal.store().entries().await?;
        let blocked = entries
            .iter()
            .any(|e| e.operation_id == id.0 && e.action == "lock.blocked");
        let op = demo.orchestrator.journal.operation(&id).await?;
        if blocked || op.state.is_terminal() || op.state.is_waiting() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for op in demo.orchestrator.journal.operations().await {
        if op.state == OpState::AwaitingReview {
            let pr = crate::orchestrator::pr_of(&op)?;
            demo.review(pr).await?;
        }
    }
    task.await??;
    Ok(())
}

async fn outcome(demo: &Demo, waiting: Option<PrNumber>) -> DemoOutcome {
    let operations: Vec<(OperationId, OpState)> = demo
        .orchestrator
        .journal
        .operations()
        .await
        .into_iter()
        .map(|op| (op.id, op.state))
        .collect();
    let states: Vec<OpState> = operations.iter().map(|(_, s)| *s).collect();
    let as_expected = waiting.is_some()
        || match demo.session.scenario {
            Scenario::PaymentNull | Scenario::BadDeploy => states == [OpState::Completed],
            Scenario::BadCanary => states == [OpState::RolledBack],
            Scenario::Concurrent => {
                states.len() == 2
                    && states.contains(&OpState::Completed)
                    && states
                        .iter()
                        .all(|s| matches!(s, OpState::Completed | OpState::Cancelled))
            }
        };
    DemoOutcome {
        scenario: demo.session.scenario,
        operations,
        as_expected,
        waiting_for_review: waiting,
    }
}
