//! Drives operations through the pipeline. This is the only place that knows the order of the
//! stages: each stage is a function from the operation's recorded outputs to the next state.
//! Every step reads the operation's fold, does one thing, and records it, so an orchestrator
//! started on the same audit log carries on where a crashed one stopped.

mod analyze;
mod approvals;
mod argo_clock;
mod argo_mode;
pub mod artifacts;
mod canary;
mod conflicts;
pub mod deploy_repo;
mod escalation;
mod gate;
mod image_wait;
mod landing;
mod lock_keeper;
mod ops;
mod overrides;
mod pr;
mod pr_events;
pub mod repo_configs;
mod report;
mod required_checks;
mod rollback;
mod root_cause;
pub mod runbook;
mod verify;

pub use lock_keeper::KeptLocks;
pub use overrides::Applied;
pub use report::{mttr_breakdown, timeline, TimelineRow};

/// The fix PR an operation opened.
pub fn pr_of(op: &Operation) -> Result<crate::forge::PrNumber, OrchestratorError> {
    Orchestrator::pr_of(op)
}

use crate::config::policy::PolicySet;
use crate::detect::Incident;
use crate::fix::template::FixTemplate;
use crate::forge::{Forge, ForgeError, RepoRef, Workspaces};
use crate::lock::{LockError, LockManager};
use crate::model::OperationId;
use crate::notify::{Notification, NotificationKind, Notifier};
use crate::operation::{Journal, JournalError, OpState, Operation};
use crate::signals::{LogSource, MetricsSource, SignalError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What an operation is about; written once, in its `operation.opened` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationSpec {
    pub incident: Incident,
    pub repo: RepoRef,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// The bot's name as an actor in the audit log and on the forge.
    pub actor: String,
    /// Canary weights in percent, one commit each.
    pub canary_steps: Vec<u8>,
    /// How long each canary step runs before it is judged.
    pub canary_wait: Duration,
    pub lock_ttl: Duration,
    pub lock_wait: Duration,
    /// Where worktrees for validation go.
    pub scratch: PathBuf,
    /// Where repositories' check commands run (bubblewrap by default).
    pub sandbox: crate::fix::Sandbox,
    /// GitOps repositories the App cannot write to, for `/healthz`.
    pub deploy_access: std::sync::Arc<deploy_repo::DeployAccess>,
    /// Asks registries whether a service's templated image exists (anonymous by default).
    pub registry: crate::gitops::image::RegistryClient,
}

impl Settings {
    pub fn new(scratch: PathBuf) -> Settings {
        Settings {
            actor: "healbot".into(),
            canary_steps: vec![10, 50, 100],
            canary_wait: Duration::ZERO,
            lock_ttl: Duration::from_secs(15 * 60),
            lock_wait: Duration::from_secs(60),
            scratch,
            sandbox: crate::fix::Sandbox::default(),
            deploy_access: Default::default(),
            registry: Default::default(),
        }
    }
}

/// Runs the failing workload against a patched worktree to show that the error is gone.
#[async_trait]
pub trait Reproducer: Send + Sync {
    async fn reproduce(&self, worktree: &Path) -> Result<ReproOutcome, SignalError>;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReproOutcome {
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub first_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Forge(#[from] ForgeError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Signal(#[from] SignalError),
    /// A recorded stage output or effect that no longer decodes: the operation fails rather
    /// than redo what the record stood for.
    #[error(transparent)]
    Record(#[from] crate::operation::Unreadable),
    #[error("operation {0} has no valid spec in its opening entry")]
    Spec(OperationId),
    #[error("{stage}: {reason}")]
    Stage {
        stage: &'static str,
        reason: String,
        /// The error underneath, kept for the log's cause chain; `reason` says it in words.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    #[error("no operation owns PR {0} of {1}")]
    NoOperationForPr(u64, String),
}

impl OrchestratorError {
    fn stage(stage: &'static str, reason: impl std::fmt::Display) -> Self {
        OrchestratorError::Stage {
            stage,
            reason: reason.to_string(),
            source: None,
        }
    }

    /// A stage failed on `error`: its text is the reason, and it stays the source.
    fn stage_from(
        stage: &'static str,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        OrchestratorError::Stage {
            stage,
            reason: error.to_string(),
            source: Some(Box::new(error)),
        }
    }

    /// A stage failed on `error` about `what` (a file, a path): the reason is `what: error`,
    /// and the error stays the source.
    fn stage_in(
        stage: &'static str,
        what: impl std::fmt::Display,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        OrchestratorError::Stage {
            stage,
            reason: format!("{what}: {error}"),
            source: Some(Box::new(error)),
        }
    }
}

/// Where an operation stands after `drive` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Waiting for a person or an outside event.
    Waiting(OpState),
    /// Nothing more to do.
    Finished(OpState),
}

pub struct Orchestrator {
    pub journal: Arc<Journal>,
    pub forge: Arc<dyn Forge>,
    pub locks: Arc<dyn LockManager>,
    pub metrics: Arc<dyn MetricsSource>,
    pub logs: Arc<dyn LogSource>,
    pub notifier: Arc<dyn Notifier>,
    pub workspaces: Arc<dyn Workspaces>,
    /// Asks a service's `health_url` during verification.
    pub health_probe: Arc<dyn crate::verify::HealthProbe>,
    pub reproducer: Option<Arc<dyn Reproducer>>,
    /// Replaced whole when discovery refreshes it; take `current()` for one stage's reads.
    pub graph: crate::topology::SharedGraph,
    pub policies: Arc<PolicySet>,
    pub templates: Arc<Vec<FixTemplate>>,
    pub settings: Settings,
    /// Each repository's `.github/healbot.yml`, read once.
    pub repo_configs: repo_configs::RepoConfigCache,
    /// The time policy reads (peak hours, freeze windows, cooldowns, escalation).
    pub clock: Arc<dyn crate::model::Clock>,
}

impl Orchestrator {
    /// Opens an operation for an incident; an incident that already has one gets it back.
    pub async fn open(&self, spec: OperationSpec) -> Result<OperationId, OrchestratorError> {
        let id = OperationId::for_incident(&spec.incident.id);
        if self.journal.operation(&id).await.is_ok() {
            return Ok(id);
        }
        let detail =
            serde_json::to_value(&spec).map_err(|e| OrchestratorError::stage_from("open", e))?;
        self.journal
            .open(&id, &spec.incident.id.0, &self.settings.actor, detail)
            .await?;
        Ok(id)
    }

    pub(crate) fn spec(op: &Operation) -> Result<OperationSpec, OrchestratorError> {
        serde_json::from_value(op.opened.clone())
            .map_err(|_| OrchestratorError::Spec(op.id.clone()))
    }

    /// Carries an operation forward until it waits for a person or finishes. A stage that fails
    /// moves the operation to `Failed`, releases its lock and tells a person.
    pub async fn drive(&self, id: &OperationId) -> Result<Progress, OrchestratorError> {
        loop {
            let op = self.journal.operation(id).await?;
            if op.state.is_terminal() {
                return Ok(Progress::Finished(op.state));
            }
            if op.state.is_waiting() {
                return Ok(Progress::Waiting(op.state));
            }
            let argo = match op.state {
                OpState::Deploying(_) => Self::argo_managed(&op),
                _ => Ok(false),
            };
            if let Ok(true) = argo {
                // Argo runs the steps; its notifications move the operation on.
                return Ok(Progress::Waiting(op.state));
            }
            // Every log line of the step carries the operation's id, incident and state.
            let span = tracing::info_span!(
                "operation_step",
                operation_id = %op.id,
                correlation_id = %op.correlation_id,
                state = %op.state
            );
            let stepped = match argo {
                Ok(_) => tracing::Instrument::instrument(self.step(&op), span).await,
                Err(e) => Err(e),
            };
            if let Err(e) = stepped {
                if let OrchestratorError::Journal(JournalError::Audit(_)) = e {
                    // Without a durable log nothing may go on, not even recording the failure.
                    return Err(e);
                }
                self.fail(&op, &e).await?;
            }
        }
    }

    async fn step(&self, op: &Operation) -> Result<(), OrchestratorError> {
        match op.state {
            OpState::Detected => {
                self.transition(op, OpState::Analyzing, "analysis started")
                    .await
            }
            OpState::Analyzing => self.analyze(op).await,
            OpState::Planned => {
                self.transition(
                    op,
                    OpState::AwaitingGates,
                    "plan ready; checking safety gates",
                )
                .await
            }
            OpState::AwaitingGates => self.gate_and_lock(op).await,
            OpState::Locked => self.open_pull_request(op).await,
            OpState::PrOpen => self.request_review(op).await,
            OpState::Merged => self.start_canary(op).await,
            OpState::Deploying(weight) => self.judge_step(op, weight).await,
            OpState::Verifying => self.verify(op).await,
            OpState::RollingBack => self.roll_back(op).await,
            other => Err(OrchestratorError::stage(
                "drive",
                format!("nothing to do in state {other}"),
            )),
        }
    }

    pub(crate) async fn transition(
        &self,
        op: &Operation,
        to: OpState,
        reason: &str,
    ) -> Result<(), OrchestratorError> {
        self.journal
            .transition(&op.id, to, &self.settings.actor, reason)
            .await?;
        Ok(())
    }

    /// The error's message is the reason people read; the log gets its whole chain.
    async fn fail(
        &self,
        op: &Operation,
        error: &OrchestratorError,
    ) -> Result<(), OrchestratorError> {
        tracing::error!(operation = %op.id, error = %crate::model::Causes(error), "stage failed");
        let reason = &error.to_string();
        let current = self.journal.state(&op.id).await?;
        if current.is_terminal() {
            return Ok(());
        }
        self.journal
            .transition(&op.id, OpState::Failed, &self.settings.actor, reason)
            .await?;
        self.release_lock(op).await;
        self.notify(
            op,
            NotificationKind::Escalation,
            "healbot operation failed",
            reason,
        )
        .await;
        Ok(())
    }

    pub(crate) async fn notify(
        &self,
        op: &Operation,
        kind: NotificationKind,
        title: &str,
        body: &str,
    ) {
        let severity = Self::spec(op)
            .map(|s| s.incident.severity)
            .unwrap_or(crate::model::Severity::High);
        let n = Notification {
            kind,
            severity,
            operation_id: op.id.0.clone(),
            title: title.to_string(),
            body: body.to_string(),
        };
        let detail = serde_json::json!({"kind": kind, "title": title, "body": body});
        let _ = self
            .journal
            .note(&op.id, &self.settings.actor, "notify.sent", detail)
            .await;
        if let Err(e) = self.notifier.notify(&n).await {
            tracing::warn!(operation = %op.id, error = %e, "notification not delivered");
        }
    }

    /// Every operation that is neither finished nor waiting, e.g. after a restart.
    pub(crate) async fn resumable(&self) -> Vec<OperationId> {
        self.journal
            .operations()
            .await
            .into_iter()
            .filter(|op| !op.state.is_terminal())
            .map(|op| op.id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::OrchestratorError;
    use std::error::Error;

    /// The message people read is the same as before; the error underneath stays reachable.
    #[test]
    fn a_stage_error_keeps_what_caused_it() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "rollout.yaml is gone");
        let e = OrchestratorError::stage_in("validate", "/scratch/op-1/patched", io());
        assert_eq!(
            e.to_string(),
            "validate: /scratch/op-1/patched: rollout.yaml is gone"
        );
        let source = e.source().expect("the io error is the source");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
        let e = OrchestratorError::stage_from("canary", io());
        assert_eq!(e.to_string(), "canary: rollout.yaml is gone");
        assert!(e.source().is_some());
        assert!(OrchestratorError::stage("canary", "no RCA recorded")
            .source()
            .is_none());
    }
}
