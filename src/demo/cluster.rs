//! The demo's production: an embedded stand-in for Argo Rollouts and the service's pods. It
//! reads the Rollout manifest from Git as Argo would (image tag and canary weight), keeps the
//! stable and canary revisions, and serves real traffic: each revision's code, exported from
//! Git, runs in python3 and the metrics are what those runs measured.

use super::traffic::{self, percentile, TrafficRun};
use crate::gitops::rollout::RolloutManifest;
use crate::gitops::workspace::export_tree;
use crate::model::MetricSamples;
use crate::orchestrator::{ReproOutcome, Reproducer};
use crate::signals::{
    CanaryObservation, ErrorLogLine, LogSource, MetricsSource, ServiceHealth, SignalError,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Requests and errors the cluster has served since the demo began.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Served {
    requests: u64,
    errors: u64,
}

/// Which revisions run, as Argo Rollouts would report it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RolloutStatus {
    pub stable: String,
    pub canary: Option<String>,
    pub weight: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterConfig {
    pub repo_path: PathBuf,
    pub branch: String,
    pub manifest: String,
    pub service: String,
    /// Requests per measuring interval, over stable and canary together.
    pub requests: usize,
    /// Where revisions are exported and the status is kept.
    pub state_dir: PathBuf,
    /// Modelled request rate, to turn CPU seconds into utilisation of the pods' CPU request.
    pub requests_per_second: f64,
    pub cpu_request_cores: f64,
    pub memory_request_kb: f64,
    /// How long one measured interval answers `health`, as a Prometheus scrape answers every
    /// query until the next one: detection, RCA and the gates read the same production
    /// traffic instead of each running its own. A new rollout state is always measured anew.
    pub scrape_interval: std::time::Duration,
}

/// The last production interval `health` measured, and when and under which rollout state.
struct Scrape {
    at: std::time::Instant,
    status: RolloutStatus,
    health: Vec<ServiceHealth>,
}

pub struct EmbeddedCluster {
    cfg: ClusterConfig,
    seed: AtomicU64,
    last_errors: Mutex<Vec<ErrorLogLine>>,
    served_lock: Mutex<()>,
    last_scrape: Mutex<Option<Scrape>>,
    /// Where measured production traffic is also counted for Prometheus, when it is scraped.
    exporter: std::sync::OnceLock<std::sync::Arc<super::exporter::Exporter>>,
}

fn metrics_err(e: impl std::fmt::Display) -> SignalError {
    SignalError::Metrics(e.to_string())
}

impl EmbeddedCluster {
    pub fn new(cfg: ClusterConfig, seed: u64) -> EmbeddedCluster {
        EmbeddedCluster {
            cfg,
            seed: AtomicU64::new(seed),
            last_errors: Mutex::new(Vec::new()),
            served_lock: Mutex::new(()),
            last_scrape: Mutex::new(None),
            exporter: std::sync::OnceLock::new(),
        }
    }

    /// Counts every production request from now on in `exporter` as well; its series start
    /// at zero now. Reproductions are not production traffic and are not counted.
    pub(crate) fn export_to(&self, exporter: std::sync::Arc<super::exporter::Exporter>) {
        for service in [self.cfg.service.as_str(), "order-service", "user-service"] {
            exporter.register(service, "stable");
        }
        exporter.register(&self.cfg.service, "canary");
        exporter.register("postgres_primary", "stable");
        let _ = self.exporter.set(exporter);
    }

    /// The service's requests by track, its callers' requests (as `health` models them) and
    /// the database calls, into the exporter.
    fn export(&self, stable: &TrafficRun, canary: Option<&TrafficRun>) {
        let Some(e) = self.exporter.get() else {
            return;
        };
        for (run, track) in std::iter::once((stable, "stable")).chain(canary.map(|c| (c, "canary")))
        {
            for r in &run.requests {
                let seconds = r.latency_ms / 1000.0;
                e.observe(&self.cfg.service, track, r.ok, seconds);
                e.observe(&r.caller, "stable", r.ok, seconds);
                if r.db_ms > 0.0 {
                    e.observe("postgres_primary", "stable", true, r.db_ms / 1000.0);
                }
            }
        }
    }

    /// The modelled request rate of the service.
    pub(crate) fn requests_per_second(&self) -> f64 {
        self.cfg.requests_per_second
    }

    fn status_path(&self) -> PathBuf {
        self.cfg.state_dir.join("rollout-status.json")
    }

    fn driver_path(&self) -> PathBuf {
        self.cfg.state_dir.join("driver.py")
    }

    /// Reads the manifest at the branch head and moves the status as Argo would.
    pub(crate) fn reconcile(&self) -> Result<RolloutStatus, SignalError> {
        let text = read_file_at(&self.cfg.repo_path, &self.cfg.branch, &self.cfg.manifest)?;
        let manifest = RolloutManifest::parse(&text, &self.cfg.manifest).map_err(metrics_err)?;
        let tag = manifest
            .image_tag()
            .ok_or_else(|| metrics_err(format!("{}: the image has no tag", self.cfg.manifest)))?
            .to_string();
        let weight = manifest.canary_weight().unwrap_or(0).min(100) as u8;
        let previous: Option<RolloutStatus> = std::fs::read(self.status_path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let mut status = previous.unwrap_or(RolloutStatus {
            stable: tag.clone(),
            canary: None,
            weight: 0,
        });
        if tag == status.stable {
            status.canary = None;
            status.weight = 0;
        } else if weight >= 100 {
            status.stable = tag;
            status.canary = None;
            status.weight = 0;
        } else {
            status.canary = Some(tag);
            status.weight = weight;
        }
        let bytes = serde_json::to_vec_pretty(&status).map_err(metrics_err)?;
        std::fs::write(self.status_path(), bytes).map_err(metrics_err)?;
        Ok(status)
    }

    fn served_path(&self) -> PathBuf {
        self.cfg.state_dir.join("served.json")
    }

    fn served(&self) -> Result<Served, SignalError> {
        match std::fs::read(self.served_path()) {
            Ok(b) => serde_json::from_slice(&b).map_err(metrics_err),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Served::default()),
            Err(e) => Err(metrics_err(e)),
        }
    }

    fn count_served(&self, runs: &[&TrafficRun]) -> Result<(), SignalError> {
        let _guard = self.served_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut s = self.served()?;
        for r in runs {
            s.requests += r.requests.len() as u64;
            s.errors += r.requests.iter().filter(|q| !q.ok).count() as u64;
        }
        let bytes = serde_json::to_vec(&s).map_err(metrics_err)?;
        std::fs::write(self.served_path(), bytes).map_err(metrics_err)
    }

    /// The code of `tag` (a git tag or commit) as a directory, exported once.
    fn revision_dir(&self, tag: &str) -> Result<PathBuf, SignalError> {
        let dir = self.cfg.state_dir.join("revisions").join(tag);
        if !dir.join(".exported").exists() {
            export_tree(&self.cfg.repo_path, tag, &dir).map_err(metrics_err)?;
            std::fs::write(dir.join(".exported"), tag).map_err(metrics_err)?;
        }
        Ok(dir)
    }

    async fn run(&self, dir: &Path, requests: usize) -> Result<TrafficRun, SignalError> {
        let driver = self.driver_path();
        if !driver.exists() {
            std::fs::write(&driver, traffic::DRIVER_PY).map_err(metrics_err)?;
        }
        let seed = self.seed.fetch_add(1, Ordering::Relaxed);
        traffic::run(&driver, dir, requests, seed)
            .await
            .map_err(metrics_err)
    }

    fn remember_errors(&self, runs: &[&TrafficRun]) {
        let mut lines: Vec<ErrorLogLine> = Vec::new();
        for run in runs {
            for r in run.requests.iter().filter(|r| !r.ok) {
                let message = r.error.clone().unwrap_or_default();
                match lines.iter_mut().find(|l| l.message == message) {
                    Some(l) => l.count += 1,
                    None => lines.push(ErrorLogLine {
                        service: self.cfg.service.clone(),
                        stacktrace: run
                            .tracebacks
                            .iter()
                            .find(|t| t.trim_end().ends_with(message.as_str()))
                            .cloned(),
                        message,
                        count: 1,
                    }),
                }
            }
        }
        lines.sort_by_key(|l| std::cmp::Reverse(l.count));
        *self.last_errors.lock().unwrap_or_else(|p| p.into_inner()) = lines;
    }

    fn health_of(
        &self,
        service: &str,
        runs: &[&TrafficRun],
        caller: Option<&str>,
    ) -> ServiceHealth {
        let reqs: Vec<&traffic::RequestOutcome> = runs
            .iter()
            .flat_map(|r| r.requests.iter())
            .filter(|r| caller.is_none_or(|c| r.caller == c))
            .collect();
        let n = reqs.len();
        let errors = reqs.iter().filter(|r| !r.ok).count();
        let latencies: Vec<f64> = reqs.iter().map(|r| r.latency_ms).collect();
        let cpu: f64 = runs.iter().map(|r| r.cpu_seconds).sum();
        let interval = (n.max(1) as f64) / self.cfg.requests_per_second;
        let rss = runs.iter().map(|r| r.max_rss_kb).max().unwrap_or(0) as f64;
        ServiceHealth {
            service: service.to_string(),
            requests: n as u64,
            error_rate: if n == 0 {
                0.0
            } else {
                errors as f64 / n as f64
            },
            latency_p95_ms: percentile(&latencies, 0.95),
            latency_p99_ms: percentile(&latencies, 0.99),
            cpu_utilization: (cpu / (interval * self.cfg.cpu_request_cores)).min(1.0),
            memory_utilization: (rss / self.cfg.memory_request_kb).min(1.0),
        }
    }

    /// Stable and canary traffic for one interval, split by the canary weight.
    async fn interval(
        &self,
        min_canary: usize,
    ) -> Result<(RolloutStatus, TrafficRun, Option<TrafficRun>), SignalError> {
        self.interval_under(self.reconcile()?, min_canary).await
    }

    /// [`EmbeddedCluster::interval`] under a rollout state already reconciled.
    async fn interval_under(
        &self,
        status: RolloutStatus,
        min_canary: usize,
    ) -> Result<(RolloutStatus, TrafficRun, Option<TrafficRun>), SignalError> {
        let stable_dir = self.revision_dir(&status.stable)?;
        match &status.canary {
            Some(tag) if status.weight > 0 => {
                let canary_dir = self.revision_dir(tag)?;
                let canary_n = (self.cfg.requests * status.weight as usize / 100).max(min_canary);
                let stable_n = self.cfg.requests.saturating_sub(canary_n).max(min_canary);
                let (stable, canary) = tokio::join!(
                    self.run(&stable_dir, stable_n),
                    self.run(&canary_dir, canary_n)
                );
                Ok((status, stable?, Some(canary?)))
            }
            _ => Ok((
                status,
                self.run(&stable_dir, self.cfg.requests).await?,
                None,
            )),
        }
    }
}

/// A file's content at the head of `branch`, as Argo CD would read it.
fn read_file_at(repo: &Path, branch: &str, path: &str) -> Result<String, SignalError> {
    let read = || -> Result<String, git2::Error> {
        let repo = git2::Repository::open(repo)?;
        let tree = repo.revparse_single(branch)?.peel_to_tree()?;
        let blob = tree
            .get_path(Path::new(path))?
            .to_object(&repo)?
            .peel_to_blob()?;
        Ok(String::from_utf8_lossy(blob.content()).into_owned())
    };
    read().map_err(|e| metrics_err(format!("{path} at {branch}: {}", e.message())))
}

fn samples(run: &TrafficRun) -> MetricSamples {
    let mut m = MetricSamples::new();
    m.insert("error_rate".into(), run.batch_error_rates(5));
    m.insert("latency_ms".into(), run.latencies());
    m
}

#[async_trait]
impl MetricsSource for EmbeddedCluster {
    async fn health(&self) -> Result<Vec<ServiceHealth>, SignalError> {
        let status = self.reconcile()?;
        if let Some(scrape) = self
            .last_scrape
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|s| s.status == status && s.at.elapsed() < self.cfg.scrape_interval)
        {
            return Ok(scrape.health.clone());
        }
        let at = std::time::Instant::now();
        let (status, stable, canary) = self.interval_under(status, 0).await?;
        let runs: Vec<&TrafficRun> = std::iter::once(&stable).chain(canary.as_ref()).collect();
        self.remember_errors(&runs);
        self.count_served(&runs)?;
        self.export(&stable, canary.as_ref());
        let db: Vec<f64> = runs
            .iter()
            .flat_map(|r| r.requests.iter().map(|q| q.db_ms))
            .filter(|ms| *ms > 0.0)
            .collect();
        let db_health = ServiceHealth {
            service: "postgres_primary".into(),
            requests: db.len() as u64,
            error_rate: 0.0,
            latency_p95_ms: percentile(&db, 0.95),
            latency_p99_ms: percentile(&db, 0.99),
            cpu_utilization: 0.0,
            memory_utilization: 0.0,
        };
        let health = vec![
            self.health_of(&self.cfg.service, &runs, None),
            self.health_of("order-service", &runs, Some("order-service")),
            self.health_of("user-service", &runs, Some("user-service")),
            db_health,
        ];
        *self.last_scrape.lock().unwrap_or_else(|p| p.into_inner()) = Some(Scrape {
            at,
            status,
            health: health.clone(),
        });
        Ok(health)
    }

    async fn canary_samples(&self, service: &str) -> Result<CanaryObservation, SignalError> {
        if service != self.cfg.service {
            return Err(SignalError::NoData(service.to_string()));
        }
        let (status, stable, canary) = self.interval(100).await?;
        let canary = canary.ok_or_else(|| {
            SignalError::Metrics(format!(
                "no canary of {service} is running (weight {})",
                status.weight
            ))
        })?;
        self.remember_errors(&[&stable, &canary]);
        self.count_served(&[&stable, &canary])?;
        self.export(&stable, Some(&canary));
        Ok(CanaryObservation {
            weight: status.weight,
            baseline: samples(&stable),
            canary: samples(&canary),
        })
    }

    async fn slo_window_error_rate(
        &self,
        service: &str,
        window: std::time::Duration,
    ) -> Result<Option<f64>, SignalError> {
        if service != self.cfg.service {
            return Ok(None);
        }
        // The service ran healthy before the demo began: the window holds the modelled request
        // volume, and the only failures in it are the ones the demo served.
        let served = self.served()?;
        let volume =
            (window.as_secs_f64() * self.cfg.requests_per_second).max(served.requests as f64);
        Ok(Some(served.errors as f64 / volume.max(1.0)))
    }
}

#[async_trait]
impl LogSource for EmbeddedCluster {
    async fn error_logs(&self, service: &str) -> Result<Vec<ErrorLogLine>, SignalError> {
        Ok(self
            .last_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|l| l.service == service)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl Reproducer for EmbeddedCluster {
    async fn reproduce(&self, worktree: &Path) -> Result<ReproOutcome, SignalError> {
        let run = self.run(worktree, self.cfg.requests).await?;
        let errors = run.requests.iter().filter(|r| !r.ok).count() as u64;
        Ok(ReproOutcome {
            requests: run.requests.len() as u64,
            errors,
            error_rate: run.error_rate(),
            first_error: run.requests.iter().find_map(|r| r.error.clone()),
        })
    }
}
