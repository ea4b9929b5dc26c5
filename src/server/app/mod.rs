//! The GitHub App proper: the [`DeliveryHandler`] `healbot serve` runs when it has GitHub
//! credentials. Alerts open operations, reviews and `/heal` commands become overrides once the
//! person's permission is checked, PR merges and closes move operations on, and installation
//! events are tracked. Operations are driven by tasks of their own ([`drivers`]).

mod alerts;
mod approver_pins;
mod argo;
pub mod build;
mod command_budget;
mod configs;
mod drivers;
mod installations;
mod overrides;

pub use configs::CONFIG_CHECK;
pub use drivers::SharedWork;

use super::events::{GithubEvent, PullRequestAction, PullRequestEvent};
use super::handler::{
    DeliveryHandler, GithubDelivery, HandlerError, InstallationTracker, RawDelivery,
};
use crate::detect::grouping::AlertGrouper;
use crate::forge::github::GithubForge;
use crate::forge::{CommitSha, PrNumber, RepoRef};
use crate::model::OperationId;
use crate::orchestrator::Orchestrator;
use async_trait::async_trait;
use configs::RepoConfigs;
use drivers::{ClockTurn, Drivers};
use std::path::Path;
use std::sync::Arc;

pub struct AppHandler {
    orchestrator: Arc<Orchestrator>,
    github: Arc<GithubForge>,
    installations: InstallationTracker,
    /// Repositories named in `healbot.yaml`, watched even before an installation event.
    configured_repos: Vec<RepoRef>,
    configs: RepoConfigs,
    alerts: tokio::sync::Mutex<AlertGrouper>,
    drivers: Arc<Drivers>,
    /// Reads the shared work queue, with several replicas.
    consumer: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    commands: command_budget::CommandBudget,
    /// Renews the service locks of live operations (`Orchestrator::keep_locks`).
    keeper: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for AppHandler {
    fn drop(&mut self) {
        if let Some(consumer) = self.consumer.get_mut().take() {
            consumer.abort();
        }
        if let Some(keeper) = self.keeper.take() {
            keeper.abort();
        }
    }
}

impl AppHandler {
    /// `orchestrator` must talk to `github` as its forge.
    pub fn new(
        orchestrator: Arc<Orchestrator>,
        github: Arc<GithubForge>,
        state_dir: &Path,
        configured_repos: Vec<RepoRef>,
        shared: Option<SharedWork>,
    ) -> Result<AppHandler, HandlerError> {
        let keeper = tokio::runtime::Handle::try_current()
            .ok()
            .map(|_| keep_locks(orchestrator.clone()));
        Ok(AppHandler {
            keeper,
            installations: InstallationTracker::open(state_dir)?,
            configs: RepoConfigs::new(
                github.clone(),
                orchestrator.clone(),
                approver_pins::ApproverPins::open(state_dir)?,
            ),
            orchestrator,
            github,
            configured_repos,
            alerts: tokio::sync::Mutex::new(AlertGrouper::new()),
            drivers: Arc::new(Drivers::new(shared)),
            consumer: Default::default(),
            commands: Default::default(),
        })
    }

    pub fn orchestrator(&self) -> &Arc<Orchestrator> {
        &self.orchestrator
    }

    /// Carries on every operation a previous run left in flight. With several replicas that is
    /// the work queue's job: this replica reads it from here on, starting with what it took
    /// before a restart, and takes over what a dead replica left.
    pub async fn resume(&self) {
        // Every configured repository's `depends_on:` joins the graph before the first alert.
        for repo in &self.configured_repos {
            if let Err(e) = self.configs.get(repo).await {
                tracing::warn!(repo = %repo.0, error = %e, "repository config unusable");
            }
        }
        if let Some(consumer) = self.drivers.start_consumer(&self.orchestrator) {
            *self.consumer.lock().await = Some(consumer);
            return;
        }
        for id in self.orchestrator.resumable().await {
            tracing::info!(operation = %id, "resuming an operation after a restart");
            self.kick(id);
        }
    }

    /// Every `every`, sends the escalation steps due for operations waiting for a person.
    pub fn start_escalation_clock(
        &self,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let orchestrator = self.orchestrator.clone();
        let drivers = self.drivers.clone();
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        let clock = async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                // One replica at a time runs the clock, on the whole chain.
                let _turn = match drivers.clock_turn(&orchestrator).await {
                    Ok(ClockTurn::Elsewhere) => continue,
                    Ok(turn) => turn,
                    Err(e) => {
                        tracing::warn!(error = %e, "escalation clock");
                        continue;
                    }
                };
                let now = orchestrator.clock.now();
                match clock_tick(&orchestrator, &drivers, now).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(steps = n, "escalations sent"),
                    Err(e) => tracing::warn!(error = %e, "escalation clock"),
                }
            }
        };
        tokio::spawn(tracing::instrument::WithSubscriber::with_subscriber(
            clock, dispatch,
        ))
    }

    /// One turn of the escalation clock at `now` (what `start_escalation_clock` runs): Argo
    /// steps past their timeout pause for a person, then the escalation steps due go out.
    /// Returns how many of both.
    pub async fn clock_tick(&self, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<usize> {
        clock_tick(&self.orchestrator, &self.drivers, now).await
    }

    /// A person's runbook act on operation `id` (`healbot ops`), taken under the operation's
    /// lease like a webhook's. When the act lets the operation go on, it is handed on the way
    /// a webhook's would be: with replicas, onto the shared work queue, where a running
    /// server takes it; alone, driven here (no server can run on a state directory this
    /// process holds).
    pub async fn runbook_act<F, Fut>(&self, id: &OperationId, act: F) -> anyhow::Result<Vec<String>>
    where
        F: FnOnce(Arc<Orchestrator>) -> Fut,
        Fut: std::future::Future<
            Output = Result<
                crate::orchestrator::runbook::Acted,
                crate::orchestrator::OrchestratorError,
            >,
        >,
    {
        let hold = self.drivers.hold(&self.orchestrator, id).await?;
        let acted = act(self.orchestrator.clone()).await?;
        drop(hold);
        let mut lines = acted.lines;
        if acted.drive {
            if self.drivers.queue(id).await? {
                lines.push(format!("{id}: queued for the running healbot server"));
            } else {
                let progress = self.orchestrator.drive(id).await?;
                lines.push(format!("{id}: {progress:?}"));
            }
        }
        Ok(lines)
    }

    /// Returns once no operation is being driven.
    pub async fn settled(&self) {
        self.drivers.settled().await
    }

    fn kick(&self, id: OperationId) {
        self.drivers.kick(&self.orchestrator, id);
    }

    /// Every repository healbot may act on: the configured ones and the installations'.
    async fn repositories(&self) -> Vec<RepoRef> {
        let mut repos = self.configured_repos.clone();
        for record in self.installations.installations().await.into_values() {
            for name in record.repositories {
                let repo = RepoRef(name);
                if !repos.contains(&repo) {
                    repos.push(repo);
                }
            }
        }
        repos
    }

    async fn pull_request(&self, e: &PullRequestEvent) -> Result<(), HandlerError> {
        let repo = RepoRef(e.repository.full_name.clone());
        let pr = PrNumber(e.pull_request.number);
        let actor = e.sender.login.as_str();
        let Some(op) = self.orchestrator.operation_for(&repo, pr).await else {
            if matches!(
                e.action,
                PullRequestAction::Opened
                    | PullRequestAction::Reopened
                    | PullRequestAction::Synchronize
            ) {
                let head = CommitSha(e.pull_request.head.sha.clone());
                let base = &e.pull_request.base;
                let base = if base.sha.is_empty() {
                    &base.name
                } else {
                    &base.sha
                };
                self.configs
                    .check_pr(&repo, base, &head, &self.orchestrator.policies)
                    .await
                    .map_err(other)?;
            }
            return Ok(());
        };
        let guard = self.drivers.hold(&self.orchestrator, &op.id).await?;
        let result = match e.action {
            PullRequestAction::Closed if e.pull_request.merged == Some(true) => {
                let sha = CommitSha(e.pull_request.merge_commit_sha.clone().unwrap_or_default());
                let head = CommitSha(e.pull_request.head.sha.clone());
                self.orchestrator
                    .pr_merged(&repo, pr, &sha, &head, actor)
                    .await
            }
            PullRequestAction::Closed => self.orchestrator.pr_closed(&repo, pr, actor).await,
            PullRequestAction::Synchronize if !e.sender.is_bot() => {
                let head = CommitSha(e.pull_request.head.sha.clone());
                self.orchestrator
                    .pr_head_moved(&repo, pr, &head, actor)
                    .await
            }
            _ => Ok(None),
        };
        drop(guard);
        if let Some(id) = result.map_err(other)? {
            self.kick(id);
        }
        Ok(())
    }
}

async fn clock_tick(
    orchestrator: &Arc<Orchestrator>,
    drivers: &Arc<Drivers>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<usize> {
    let mut done = 0;
    for id in orchestrator.approved_unmerged().await {
        // Approved fixes whose checks were still running: merge the green ones, escalate the
        // ones that waited too long.
        let merged = {
            let _hold = drivers.hold(orchestrator, &id).await?;
            orchestrator.recheck_approved(&id, now).await
        };
        match merged {
            Ok(true) => {
                done += 1;
                drivers.kick(orchestrator, id);
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(operation = %id, error = %e, "checking an approved fix"),
        }
    }
    for id in orchestrator.stalled_argo_steps(now).await {
        // Under the operation's hold: a notification arriving now must not race the pause.
        let _hold = drivers.hold(orchestrator, &id).await?;
        if orchestrator.argo_step_timed_out(&id, now).await? {
            done += 1;
        }
    }
    Ok(done + orchestrator.escalate_waiting(now).await?)
}

/// Runs the lock keeper every third of the lock TTL for as long as the app lives. Every replica
/// runs it: a renewal is idempotent and fenced by the holder's token.
fn keep_locks(orchestrator: Arc<Orchestrator>) -> tokio::task::JoinHandle<()> {
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    let keeper = async move {
        let mut tick = tokio::time::interval(orchestrator.lock_renewal_interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // Other replicas may have taken locks for operations this one has not read yet.
            if let Err(e) = orchestrator.journal.sync().await {
                tracing::warn!(error = %e, "lock keeper");
                continue;
            }
            match orchestrator.keep_locks().await {
                Ok(kept) if kept.retaken + kept.lost > 0 => {
                    tracing::warn!(?kept, "lock keeper")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "lock keeper"),
            }
        }
    };
    tokio::spawn(tracing::instrument::WithSubscriber::with_subscriber(
        keeper, dispatch,
    ))
}

/// Keeps the error as the source: the worker logs its whole chain.
fn other(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> HandlerError {
    HandlerError::Other(e.into())
}

#[async_trait]
impl DeliveryHandler for AppHandler {
    async fn handle(&self, delivery: GithubDelivery) -> Result<(), HandlerError> {
        // Other replicas may have opened the operation this delivery is about.
        self.orchestrator.journal.sync().await.map_err(other)?;
        match &delivery.event {
            GithubEvent::Installation(_) | GithubEvent::InstallationRepositories(_) => {
                self.installation(delivery).await
            }
            GithubEvent::Ping(p) => {
                tracing::info!(hook = ?p.hook_id, "ping");
                Ok(())
            }
            GithubEvent::Push(p) => {
                let repo = RepoRef(p.repository.full_name.clone());
                let default = p.repository.default_branch.as_deref().unwrap_or("main");
                if p.git_ref == format!("refs/heads/{default}") {
                    self.configs.forget(&repo);
                    if p.touches(crate::config::repo::REPO_CONFIG_PATH) {
                        // Read it again now: its `depends_on:` reach the graph at once.
                        if let Err(e) = self.configs.get(&repo).await {
                            tracing::warn!(repo = %repo.0, error = %e, "repository config unusable");
                        }
                    }
                }
                Ok(())
            }
            GithubEvent::PullRequest(e) => self.pull_request(e).await,
            GithubEvent::PullRequestReview(_)
            | GithubEvent::IssueComment(_)
            | GithubEvent::CheckRun(_) => self.overrides(&delivery).await,
        }
    }

    async fn handle_alertmanager(&self, delivery: RawDelivery) -> Result<(), HandlerError> {
        self.orchestrator.journal.sync().await.map_err(other)?;
        self.alertmanager(delivery).await
    }

    async fn handle_argo(&self, delivery: RawDelivery) -> Result<(), HandlerError> {
        self.orchestrator.journal.sync().await.map_err(other)?;
        self.argo(delivery).await
    }

    /// A comment is needed only with a `/heal` line, which its bytes tell before the parse
    /// (`events::may_hold_heal_line`).
    fn may_need(&self, name: &str, body: &[u8]) -> bool {
        name != "issue_comment" || crate::server::events::may_hold_heal_line(body)
    }

    /// Most comments carry no `/heal` line: those need nothing from the app.
    fn needs(&self, event: &GithubEvent) -> bool {
        match event {
            GithubEvent::IssueComment(_) => event.has_commands(),
            _ => true,
        }
    }

    fn kpi_source(&self) -> Option<Arc<Orchestrator>> {
        Some(self.orchestrator.clone())
    }

    fn health_problems(&self) -> Vec<String> {
        self.orchestrator.settings.deploy_access.problems()
    }
}
