//! `healbot demo`: the whole loop on one machine with embedded defaults. A real git repository
//! and the local forge stand in for GitHub, an in-memory lock manager for Redis, the embedded
//! cluster (real Python traffic on each revision) for Prometheus and Argo Rollouts. Everything
//! else — detection, RCA, localization, the fix, gates, PR, review, canary judge, audit — is the
//! production code path.

pub mod cluster;
pub mod exporter;
mod print;
pub mod progress;
pub mod prometheus;
mod run;
pub(crate) mod setup;
pub mod traffic;

pub use run::{run, run_with, DemoOptions, DemoOutcome, PrometheusOptions};

/// How long one measured interval of the embedded traffic answers health queries unless
/// `--scrape-interval` says otherwise: Prometheus' usual scrape period.
pub const SCRAPE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15);

use crate::audit::FileAuditStore;
use crate::config::policy::PolicySet;
use crate::detect::ErrorPattern;
use crate::detect::Incident;
use crate::fix::template::{embedded_templates, FixTemplate};
use crate::forge::local::LocalForge;
use crate::forge::Workspaces;
use crate::forge::{
    parse_commands, CommitSha, Forge, ForgeError, Override, OverrideKind, PrNumber, RepoRef,
};
use crate::lock::MemoryLockManager;
use crate::notify::LogNotifier;
use crate::operation::Journal;
use crate::orchestrator::{Orchestrator, Settings};
use crate::signals::{LogSource, MetricsSource};
use crate::topology::graph::DependencyGraph;
use anyhow::Context;
use async_trait::async_trait;
use cluster::{ClusterConfig, EmbeddedCluster};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// A None dereference in payment-service: guard → canary → resolved.
    PaymentNull,
    /// A fix the canary judge rejects: automatic rollback, revert PR, escalation.
    BadCanary,
    /// A second incident on the same service while the first holds the lock.
    Concurrent,
    /// The release deployed ten minutes ago broke a path that worked: healbot reverts the
    /// commit that did it → canary → resolved.
    BadDeploy,
}

/// What a demo work directory was made for; `session.json` keeps it so that `healbot pr …`
/// and `--resume` reopen the same setup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoSession {
    pub scenario: Scenario,
    pub repo: RepoRef,
    pub repo_path: PathBuf,
    pub service: String,
    pub requests: usize,
    pub seed: u64,
    pub canary_wait_ms: u64,
    /// How long one measured interval of production traffic answers health queries.
    #[serde(default = "default_scrape_interval_ms")]
    pub scrape_interval_ms: u64,
    /// Whether the demo's scripted reviewer approves PRs (off with `--pause-for-review`).
    pub auto_review: bool,
}

/// A scrape period as Prometheus is often configured with; sessions written before the
/// setting existed get it.
fn default_scrape_interval_ms() -> u64 {
    crate::demo::SCRAPE_INTERVAL.as_millis() as u64
}

pub struct Demo {
    pub state_dir: PathBuf,
    pub session: DemoSession,
    pub forge: Arc<LocalForge>,
    pub cluster: Arc<EmbeddedCluster>,
    pub notifier: Arc<LogNotifier>,
    pub orchestrator: Arc<Orchestrator>,
}

/// The name the scripted reviewer acts under.
pub(crate) const REVIEWER: &str = "demo-reviewer";
/// The demo's review panel, in the order they approve.
pub(crate) const REVIEWERS: [&str; 2] = [REVIEWER, "demo-reviewer-2"];

impl Demo {
    /// Sets up a fresh work directory for `session`.
    pub async fn create(state_dir: &Path, session: DemoSession) -> anyhow::Result<Demo> {
        if state_dir.join("session.json").exists() {
            anyhow::bail!(
                "{} already holds a demo; use --resume or another --workdir",
                state_dir.display()
            );
        }
        std::fs::create_dir_all(&session.repo_path)
            .with_context(|| format!("creating {}", session.repo_path.display()))?;
        setup::create_service_repo(&session.repo_path, session.scenario)?;
        let forge = LocalForge::open(state_dir)?;
        forge.register_repo(&session.repo.0, &session.repo_path)?;
        let json = serde_json::to_vec_pretty(&session)?;
        std::fs::write(state_dir.join("session.json"), json)
            .with_context(|| format!("writing {}/session.json", state_dir.display()))?;
        Demo::open(state_dir).await
    }

    /// Reopens a demo work directory, replaying its audit log.
    pub async fn open(state_dir: &Path) -> anyhow::Result<Demo> {
        let path = state_dir.join("session.json");
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "{} is not a demo work directory (no session.json)",
                state_dir.display()
            )
        })?;
        let session: DemoSession = serde_json::from_slice(&bytes)
            .with_context(|| format!("reading {}", path.display()))?;
        let forge = Arc::new(LocalForge::open(state_dir)?);
        let store = FileAuditStore::open(state_dir.join("audit.jsonl"))?;
        let journal = Arc::new(Journal::replay(Arc::new(store)).await?);
        let cluster_dir = state_dir.join("cluster");
        std::fs::create_dir_all(&cluster_dir)?;
        let cluster = Arc::new(EmbeddedCluster::new(
            ClusterConfig {
                repo_path: session.repo_path.clone(),
                branch: "main".into(),
                manifest: "deploy/rollout.yaml".into(),
                service: session.service.clone(),
                requests: session.requests,
                state_dir: cluster_dir,
                requests_per_second: 60.0,
                cpu_request_cores: 0.25,
                memory_request_kb: 256.0 * 1024.0,
                scrape_interval: Duration::from_millis(session.scrape_interval_ms),
            },
            session.seed,
        ));
        let notifier = Arc::new(LogNotifier::new());
        let graph = DependencyGraph::from_catalog_yaml(setup::CATALOG, "catalog.yaml")?;
        let mut settings = Settings::new(state_dir.join("scratch"));
        settings.sandbox = demo_sandbox();
        settings.canary_wait = Duration::from_millis(session.canary_wait_ms);
        let policies = PolicySet::embedded();
        settings.lock_ttl = Duration::from_secs(policies.locks.ttl_seconds);
        settings.lock_wait = Duration::from_secs(policies.locks.wait_timeout_seconds);
        let reproducer: Option<Arc<dyn crate::orchestrator::Reproducer>> = match session.scenario {
            // Shows the canary as the last line of defence: no offline replay of the failure.
            Scenario::BadCanary => None,
            _ => Some(cluster.clone()),
        };
        let orchestrator = Arc::new(Orchestrator {
            journal,
            forge: forge.clone(),
            locks: Arc::new(MemoryLockManager::new()),
            metrics: cluster.clone() as Arc<dyn MetricsSource>,
            logs: cluster.clone() as Arc<dyn LogSource>,
            notifier: notifier.clone(),
            workspaces: Arc::new(LocalWorkspaces {
                forge: forge.clone(),
            }),
            health_probe: Arc::new(crate::verify::HttpHealthProbe::default()),
            reproducer,
            graph: graph.into(),
            policies: Arc::new(policies),
            templates: Arc::new(templates_for(session.scenario)?),
            settings,
            repo_configs: Default::default(),
            clock: Arc::new(crate::model::SystemClock),
        });
        Ok(Demo {
            state_dir: state_dir.to_path_buf(),
            session,
            forge,
            cluster,
            notifier,
            orchestrator,
        })
    }

    /// Reads health, canary samples and the SLO window from Prometheus at `link` (which scrapes
    /// the demo's exporter) instead of the embedded cluster; traffic, logs and reproduction
    /// stay embedded.
    pub(crate) fn read_metrics_from(
        mut self,
        link: prometheus::PrometheusLink,
    ) -> anyhow::Result<Demo> {
        let metrics = prometheus::PrometheusDemoMetrics::new(
            link,
            self.cluster.clone(),
            &self.session.service,
            &self.orchestrator.policies,
            Duration::from_millis(self.session.canary_wait_ms),
            self.cluster.requests_per_second(),
        );
        let mut orchestrator = Arc::try_unwrap(self.orchestrator)
            .map_err(|_| anyhow::anyhow!("the demo's orchestrator is already in use"))?;
        orchestrator.metrics = Arc::new(metrics);
        self.orchestrator = Arc::new(orchestrator);
        Ok(self)
    }

    /// One measuring interval of production traffic through the detection rules.
    pub async fn detect(&self, id_prefix: &str) -> anyhow::Result<Vec<Incident>> {
        let health = self.orchestrator.metrics.health().await?;
        let logs = self.cluster.error_logs(&self.session.service).await?;
        let firings =
            crate::detect::rules::evaluate(&health, &self.orchestrator.policies.detection);
        Ok(crate::detect::rules::incidents(
            &firings,
            &logs,
            &self.orchestrator.graph.current(),
            self.orchestrator.clock.now().timestamp(),
            id_prefix,
        ))
    }

    /// The scripted reviewers: `/heal approve` as a PR comment, through the same parser and
    /// path a person's comment takes. The second approves only while the PR is still open
    /// after the first (MANUAL_REVIEW needs two people by default).
    pub async fn review(&self, pr: PrNumber) -> anyhow::Result<Vec<String>> {
        let mut replies = Vec::new();
        for reviewer in REVIEWERS {
            let current = self.forge.pull_request(&self.session.repo, pr).await?;
            // A reviewer who already commented is replayed (a resumed demo picks up where it
            // crashed); a new one is asked only while the PR still waits.
            let commented = current.comments.iter().any(|c| c.author == reviewer);
            if current.state != crate::forge::PrState::Open && !commented {
                break;
            }
            replies.extend(self.review_as(reviewer, &current).await?);
        }
        Ok(replies)
    }

    async fn review_as(
        &self,
        reviewer: &str,
        current: &crate::forge::PullRequest,
    ) -> anyhow::Result<Vec<String>> {
        let repo = &self.session.repo;
        let pr = current.number;
        let comment = match current.comments.iter().find(|c| c.author == reviewer) {
            Some(c) => c.clone(),
            None => self.forge.add_comment_as(
                repo,
                pr,
                reviewer,
                "Looks right to me.\n\n/heal approve",
            )?,
        };
        let mut replies = Vec::new();
        for command in parse_commands(&comment.body) {
            let command = command.map_err(|e| anyhow::anyhow!("{e}"))?;
            let ov = Override {
                actor_id: None,
                repo: repo.clone(),
                pr,
                actor: reviewer.into(),
                kind: OverrideKind::Command { command },
                head_sha: current.head_sha.clone(),
                source_id: format!("comment-{}", comment.id),
            };
            replies.extend(self.orchestrator.handle_override(ov).await?);
        }
        Ok(replies)
    }
}

/// The fix templates the demo heals with: the built-in ones, except in the bad-canary scenario,
/// where `python.retry-backoff` is offered as the only template for a None dereference. It
/// validates (nothing replays the failure offline in that scenario) and ships, and only the
/// canary can tell it fixes nothing.
fn templates_for(scenario: Scenario) -> anyhow::Result<Vec<FixTemplate>> {
    let all = embedded_templates()?;
    if scenario != Scenario::BadCanary {
        return Ok(all);
    }
    let mut wrong = all
        .into_iter()
        .find(|t| t.id == "python.retry-backoff")
        .context("the built-in python.retry-backoff template is missing")?;
    wrong.patterns.push(ErrorPattern::NullDereference);
    Ok(vec![wrong])
}

/// Checkouts from the local forge's repositories.
struct LocalWorkspaces {
    forge: Arc<LocalForge>,
}

#[async_trait]
impl Workspaces for LocalWorkspaces {
    async fn export(
        &self,
        repo: &RepoRef,
        rev: &str,
        dest: &Path,
    ) -> Result<CommitSha, ForgeError> {
        let path = self.path_of(repo)?;
        let rev = if rev == "HEAD" {
            self.forge.default_branch(repo).await?
        } else {
            rev.to_string()
        };
        let sha = crate::gitops::workspace::resolve(&path, &rev)
            .map_err(|e| ForgeError::Git(e.to_string()))?;
        crate::gitops::workspace::export_tree(&path, &sha, dest)
            .map_err(|e| ForgeError::Git(e.to_string()))?;
        Ok(CommitSha(sha))
    }

    /// A clone of the local repository (the forge's own is never written to), checked out
    /// detached at `rev`.
    async fn history(&self, repo: &RepoRef, rev: &str, dest: &Path) -> Result<bool, ForgeError> {
        let path = self.path_of(repo)?;
        let git = |e: git2::Error| ForgeError::Git(format!("cloning {}: {e}", repo.0));
        if dest.exists() {
            std::fs::remove_dir_all(dest).map_err(|e| ForgeError::State {
                path: dest.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        let url = path.to_string_lossy().into_owned();
        let clone = git2::build::RepoBuilder::new()
            .clone(&url, dest)
            .map_err(git)?;
        let object = clone.revparse_single(rev).map_err(git)?;
        let commit = object.peel_to_commit().map_err(git)?;
        clone.set_head_detached(commit.id()).map_err(git)?;
        let mut checkout = git2::build::CheckoutBuilder::new();
        checkout.force();
        clone.checkout_head(Some(&mut checkout)).map_err(git)?;
        Ok(true)
    }
}

impl LocalWorkspaces {
    fn path_of(&self, repo: &RepoRef) -> Result<PathBuf, ForgeError> {
        self.forge
            .repos()?
            .into_iter()
            .find(|r| &r.name == repo)
            .map(|r| r.path)
            .ok_or_else(|| ForgeError::NotFound {
                what: format!("repository {}", repo.0),
            })
    }
}

/// The demo's check runs healbot's own embedded sample, so on a host without bubblewrap it
/// runs unsandboxed (and says so) rather than stop the demo; `serve` never does this.
fn demo_sandbox() -> crate::fix::Sandbox {
    use crate::config::validation::{SandboxMode, ValidationSettings};
    let sandbox = crate::fix::Sandbox::default();
    match sandbox.status() {
        crate::fix::SandboxStatus::Unavailable(why) => {
            eprintln!(
                "warning: no sandbox ({why}); the demo runs its own sample's tests without one"
            );
            crate::fix::Sandbox::new(
                ValidationSettings {
                    sandbox: SandboxMode::None,
                    ..ValidationSettings::default()
                },
                Default::default(),
            )
        }
        _ => sandbox,
    }
}
