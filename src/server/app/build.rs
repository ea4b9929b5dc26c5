//! Builds the GitHub App from `healbot.yaml`: the GitHub forge with the app's key, the audit log
//! and journal in the state directory, locks (Redis when `redis_url` is set), Prometheus,
//! the configured log source, the dependency catalog and the policies.

use super::{AppHandler, SharedWork};
use crate::audit::file::FileAuditStore;
use crate::config::bot::BotConfig;
use crate::config::policy::PolicySet;
use crate::config::sources::LogsSource;
use crate::fix::template::FixTemplate;
use crate::forge::github::{
    AppCredentials, AppId, AppKey, CloneSettings, GithubConfig, GithubForge,
};
use crate::forge::RepoRef;
use crate::lock::memory::MemoryLockManager;
use crate::lock::redis::{RedisLockConfig, RedisLockManager};
use crate::lock::LockManager;
use crate::model::{Clock, SystemClock};
use crate::notify::Notifier;
use crate::operation::lease::Leases;
use crate::operation::work_queue::WorkQueue;
use crate::operation::Journal;
use crate::orchestrator::{Orchestrator, Settings};
use crate::signals::elasticsearch::ElasticsearchLogs;
use crate::signals::logfile::LogFileSource;
use crate::signals::loki::LokiLogs;
use crate::signals::prometheus::{MetricQueries, PrometheusClient, PrometheusMetrics};
use crate::signals::{LogSource, MetricsSource};
use std::sync::Arc;
use std::time::Duration;

/// What `serve` says when it has GitHub credentials and no dependency graph.
pub(crate) const NO_CATALOG: &str = "healbot.yaml has GitHub App credentials but no `catalog:`; \
     set `catalog:` to the YAML catalog of your services (each with `name` and \
     `depends_on`): root-cause analysis, blast radius and conflicts run on it";

/// The app and its orchestrator; `None` when `healbot.yaml` has no GitHub credentials. With
/// credentials and no catalog it refuses, naming what to set.
pub(crate) async fn from_config(config: &BotConfig) -> anyhow::Result<Option<AppHandler>> {
    if config.github_credentials_present() && config.sources.catalog.is_none() {
        anyhow::bail!(NO_CATALOG);
    }
    let Some(prometheus) = &config.sources.prometheus else {
        return Ok(None);
    };
    let policies = policies(config)?;
    let client = PrometheusClient::new(&prometheus.url, prometheus.timeout)?;
    let mut metrics =
        PrometheusMetrics::new(client, MetricQueries::from_policy(&policies.detection));
    // A step is judged on what it served: the samples of its own wait, enough of them.
    let min_samples = policies.canary.min_samples.max(1) as u32 + 2;
    metrics.canary_step = prometheus.step;
    metrics.canary_window = config
        .sources
        .canary_wait
        .max(prometheus.step * min_samples);
    assemble(config, Arc::new(metrics), Arc::new(SystemClock)).await
}

fn policies(config: &BotConfig) -> anyhow::Result<PolicySet> {
    Ok(match &config.policies_dir {
        Some(dir) => PolicySet::load(dir)?,
        None => PolicySet::embedded(),
    })
}

/// The app on `metrics` and `clock` and everything else `config` names.
pub async fn assemble(
    config: &BotConfig,
    metrics: Arc<dyn MetricsSource>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Option<AppHandler>> {
    let Some(app) = &config.github else {
        return Ok(None);
    };
    if !app.private_key_file.is_file() {
        return Ok(None);
    }
    let key = AppKey::from_file(&app.private_key_file)?;
    let credentials = AppCredentials {
        app_id: AppId(app.app_id),
        key,
    };
    let mut github_config = GithubConfig::new(app.api_url.clone(), credentials);
    github_config.clones = Some(CloneSettings {
        dir: config.state_dir.join("git"),
        depth: config.clone_depth,
    });
    let github = Arc::new(GithubForge::new(github_config)?);
    let sources = &config.sources;
    let policies = policies(config)?;
    let timeout = Duration::from_secs(10);
    let logs: Arc<dyn LogSource> = match &sources.logs {
        LogsSource::Loki { url } => Arc::new(LokiLogs::new(url, timeout)?),
        LogsSource::Elasticsearch { url, index } => {
            Arc::new(ElasticsearchLogs::new(url, index, timeout)?)
        }
        LogsSource::Files(files) => {
            let mut source = LogFileSource::new();
            for (service, paths) in files {
                for path in paths {
                    source.add(service, path);
                }
            }
            Arc::new(source)
        }
    };
    let graph = dependency_graph(config).await?;
    let locks: Arc<dyn LockManager> = match &config.redis_url {
        Some(url) => Arc::new(RedisLockManager::connect(RedisLockConfig::new(url)).await?),
        None => Arc::new(MemoryLockManager::new()),
    };

    std::fs::create_dir_all(&config.state_dir)?;
    let log = config.state_dir.join("audit.jsonl");
    let store: Arc<dyn crate::audit::AuditStore> = match (&config.redis_url, config.audit_on_redis)
    {
        (Some(url), true) => {
            // One chain for every replica; `audit.jsonl` is this replica's mirror of it.
            let store = crate::audit::redis::RedisAuditStore::open(url, "main", Some(&log))?
                .with_clock(clock.clone());
            store.sync_mirror().await?;
            Arc::new(store)
        }
        _ => Arc::new(FileAuditStore::open_with_clock(&log, clock.clone())?),
    };
    let store = match &config.audit_signing {
        Some(signing) => signed(store, signing, config, &log).await?,
        None => store,
    };
    let journal = Arc::new(Journal::replay(store).await?);
    let shared = match (&config.redis_url, config.audit_on_redis) {
        (Some(url), true) => {
            let replica = BotConfig::replica_name();
            let queue = WorkQueue::connect(url, &replica, config.takeover_after).await?;
            let leases = Leases::connect(url, &replica, config.takeover_after / 2)?;
            Some(SharedWork { queue, leases })
        }
        _ => None,
    };
    let mut settings = Settings::new(config.state_dir.join("scratch"));
    settings.sandbox = crate::fix::Sandbox::new(config.validation.clone(), config.redactor());
    settings.canary_wait = sources.canary_wait;
    settings.lock_ttl = Duration::from_secs(policies.locks.ttl_seconds);
    settings.lock_wait = Duration::from_secs(policies.locks.wait_timeout_seconds);
    if let Some(file) = &config.registry_token_file {
        let token = std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("registry_token_file {}: {e}", file.display()))?;
        settings.registry =
            crate::gitops::image::RegistryClient::new(Some(token.trim().to_string()));
    }
    let notifier: Arc<dyn Notifier> = Arc::new(crate::notify::channels::router(
        &config.notify,
        &policies.escalation,
    )?);
    let orchestrator = Arc::new(Orchestrator {
        journal,
        forge: github.clone(),
        locks,
        metrics,
        logs,
        notifier,
        workspaces: github.clone(),
        health_probe: Arc::new(crate::verify::HttpHealthProbe::allowing(
            config.health_url_hosts.clone(),
        )),
        reproducer: None,
        graph: graph.clone(),
        policies: Arc::new(policies),
        templates: Arc::new(templates(config)?),
        settings,
        repo_configs: crate::orchestrator::repo_configs::RepoConfigCache::declaring_into(graph),
        clock,
    });
    let repos = sources.repositories.iter().cloned().map(RepoRef).collect();
    Ok(Some(AppHandler::new(
        orchestrator,
        github,
        &config.state_dir,
        repos,
        shared,
    )?))
}

/// The store wrapped to sign its head: checkpoints next to the log, or on Redis next to the
/// shared chain (and in this replica's mirror).
async fn signed(
    store: Arc<dyn crate::audit::AuditStore>,
    signing: &crate::config::bot::AuditSigning,
    config: &BotConfig,
    log: &std::path::Path,
) -> anyhow::Result<Arc<dyn crate::audit::AuditStore>> {
    use crate::audit::checkpoint::{checkpoints_path, CheckpointFile, SigningKey};
    use crate::audit::signed::{CheckpointSink, SignedStore};
    let key = SigningKey::from_file(&signing.key_file)
        .map_err(|e| anyhow::anyhow!("audit.signing_key_file: {e}"))?;
    let local = checkpoints_path(log);
    let sink: Box<dyn CheckpointSink> = match (&config.redis_url, config.audit_on_redis) {
        (Some(url), true) => Box::new(crate::audit::redis::RedisCheckpoints::open(
            url,
            "main",
            Some(&local),
        )?),
        _ => Box::new(CheckpointFile::open(&local)?),
    };
    let transitions = [crate::operation::state::action::TRANSITION];
    let store = SignedStore::open(store, key, signing.every, &transitions, sink).await?;
    Ok(Arc::new(store))
}

/// The built-in fix templates, with `templates_dir`'s added (one with a built-in's id
/// replaces it), so a team ships its own templates without losing the rest.
pub(crate) fn templates(config: &BotConfig) -> anyhow::Result<Vec<FixTemplate>> {
    let builtin = crate::fix::template::embedded_templates()?;
    let Some(dir) = &config.templates_dir else {
        return Ok(builtin);
    };
    Ok(with_extra_templates(
        builtin,
        crate::fix::template::load_templates(dir)?,
    ))
}

fn with_extra_templates(builtin: Vec<FixTemplate>, extra: Vec<FixTemplate>) -> Vec<FixTemplate> {
    let mut out: Vec<FixTemplate> = builtin
        .into_iter()
        .filter(|b| extra.iter().all(|e| e.id != b.id))
        .collect();
    out.extend(extra);
    out
}

/// The graph `serve` starts with, and the task that keeps it fresh: the catalog merged with
/// what discovery finds (`topology:` and `traces:` in healbot.yaml); the last snapshot when
/// discovery finds nothing now. No fallback: RCA, blast radius and conflicts on a topology
/// that is not the user's would be wrong without saying so.
async fn dependency_graph(config: &BotConfig) -> anyhow::Result<crate::topology::SharedGraph> {
    use crate::topology::discover::{Discovery, Snapshot};
    let sources = &config.sources;
    if sources.catalog.is_none() {
        anyhow::bail!(NO_CATALOG);
    }
    let discovery = Discovery::new(
        sources.catalog.clone(),
        config.topology.clone(),
        sources.prometheus.as_ref().map(|p| p.url.as_str()),
    )?;
    let snapshot = config.state_dir.join("topology.json");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let found = discovery.discover(now).await;
    for problem in &found.problems {
        tracing::warn!("dependency graph discovery: {problem}");
    }
    let graph = if !found.graph.is_empty() {
        found.graph
    } else if let Ok(s) = Snapshot::read(&snapshot) {
        s.graph()
    } else {
        anyhow::bail!(
            "no dependency graph: the catalog and discovery gave no service ({})",
            found.problems.join("; ")
        );
    };
    let shared = crate::topology::SharedGraph::new(graph);
    tokio::spawn(crate::topology::shared::keep_fresh(
        shared.clone(),
        discovery,
        snapshot,
    ));
    Ok(shared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_templates_add_to_the_built_in_ones_and_replace_by_id() {
        let builtin = crate::fix::template::embedded_templates().unwrap();
        let n = builtin.len();
        let mut replaced = builtin[0].clone();
        replaced.description = "ours".into();
        let mut added = builtin[1].clone();
        added.id = "acme.our-guard".into();
        let all = with_extra_templates(builtin.clone(), vec![replaced.clone(), added]);
        assert_eq!(all.len(), n + 1);
        let ours = all
            .iter()
            .filter(|t| t.id == replaced.id)
            .collect::<Vec<_>>();
        assert_eq!(ours.len(), 1);
        assert_eq!(ours[0].description, "ours");
        assert!(all.iter().any(|t| t.id == "acme.our-guard"));
    }
}
