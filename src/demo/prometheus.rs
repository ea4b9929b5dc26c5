//! `healbot demo --prometheus URL`: the demo's health, canary samples and SLO window read from a
//! real Prometheus instead of the embedded cluster. Traffic, logs and reproduction stay
//! embedded: each measuring interval runs the revisions' code as before, the requests are
//! counted by the exporter (`exporter.rs`) that Prometheus scrapes, and once Prometheus shows
//! the new counter values the readings are PromQL over what it scraped.
//!
//! A demo runs for seconds, not hours, so its queries are fitted to that: health reads the
//! counters' growth since the interval began (`x - x @ start`, the policy's `[1m]`/`[5m]`
//! rates would mix intervals), the canary judge reads a window as long as the canary wait at
//! a 1 s step, and the SLO window assumes, as the embedded cluster does, that the service ran
//! healthy at the modelled rate before the demo began (Prometheus saw only the demo).

use super::cluster::EmbeddedCluster;
use super::exporter::Exporter;
use crate::signals::prometheus::{MetricQueries, PrometheusClient, PrometheusMetrics};
use crate::signals::{CanaryObservation, MetricsSource, ServiceHealth, SignalError};
use async_trait::async_trait;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long the demo waits for Prometheus to scrape what the exporter counted.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(30);

/// The services the demo's catalog names and the exporter counts.
pub const SERVICES: [&str; 4] = [
    "payment-service",
    "order-service",
    "user-service",
    "postgres_primary",
];

/// A reachable Prometheus that scrapes the demo's running exporter.
pub(crate) struct PrometheusLink {
    pub url: String,
    pub client: PrometheusClient,
    pub exporter: Arc<Exporter>,
    pub exporter_addr: SocketAddr,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn total_query(service: &str) -> String {
    format!("sum(http_requests_total{{service=\"{service}\"}})")
}

impl PrometheusLink {
    /// Checks that Prometheus answers at `url`, starts the exporter on `listen` with every
    /// series at zero, and waits until Prometheus has scraped it. Nothing is written to disk.
    pub async fn connect(url: &str, listen: &str) -> anyhow::Result<PrometheusLink> {
        let client = PrometheusClient::new(url, Duration::from_secs(5))?;
        client
            .query("vector(1)", None)
            .await
            .map_err(|e| anyhow::anyhow!("Prometheus at {url} is not reachable: {e}"))?;
        let exporter = Arc::new(Exporter::new());
        for service in SERVICES {
            exporter.register(service, "stable");
        }
        exporter.register(SERVICES[0], "canary");
        let exporter_addr = exporter.serve(listen).await?;
        let link = PrometheusLink {
            url: url.to_string(),
            client,
            exporter,
            exporter_addr,
        };
        link.await_scrape(SERVICES[0])
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(link)
    }

    /// Polls until Prometheus reads the request total the exporter counted for `service`.
    pub(crate) async fn await_scrape(&self, service: &str) -> Result<(), SignalError> {
        let want = self.exporter.requests(service) as f64;
        let deadline = Instant::now() + SCRAPE_TIMEOUT;
        loop {
            let got = self
                .client
                .query(&total_query(service), None)
                .await?
                .first_value();
            if got == Some(want) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(SignalError::Metrics(format!(
                    "Prometheus at {} did not scrape the demo's exporter at http://{}/metrics \
                     within {}s (it reads {} requests of {service}, the exporter counted {want}); \
                     add a scrape job for that address with scrape_interval: 1s",
                    self.url,
                    self.exporter_addr,
                    SCRAPE_TIMEOUT.as_secs(),
                    got.map_or("no".to_string(), |g| g.to_string()),
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// [`MetricsSource`] for the demo: embedded traffic, readings from Prometheus.
pub(crate) struct PrometheusDemoMetrics {
    link: PrometheusLink,
    cluster: Arc<EmbeddedCluster>,
    service: String,
    /// The detection policy's queries; health replaces their rates with the interval's growth.
    base: MetricQueries,
    /// Canary samples and the SLO window, straight from `PrometheusMetrics`.
    judged: PrometheusMetrics,
    min_samples: usize,
    /// One measuring interval at a time, so that intervals read by Prometheus do not mix.
    turn: tokio::sync::Mutex<()>,
}

impl PrometheusDemoMetrics {
    /// `slo_volume` is the requests the SLO window held before the demo (the modelled rate
    /// times the window); `canary_wait` is how long a canary step runs.
    pub fn new(
        link: PrometheusLink,
        cluster: Arc<EmbeddedCluster>,
        service: &str,
        policies: &crate::config::policy::PolicySet,
        canary_wait: Duration,
        requests_per_second: f64,
    ) -> PrometheusDemoMetrics {
        cluster.export_to(link.exporter.clone());
        let base = MetricQueries::from_policy(&policies.detection);
        let min_samples = policies.canary.min_samples.max(1);
        let mut queries = base.clone();
        let budget = &policies.gates.error_budget;
        let volume = requests_per_second * f64::from(budget.window_days) * 86_400.0;
        let req = r#"http_requests_total{service="$service"}"#;
        let err = r#"http_requests_total{service="$service",code=~"5.."}"#;
        queries.slo_error_rate = format!(
            "(sum(increase({err}[$window])) or vector(0)) / clamp_min(sum(increase({req}[$window])), {volume})"
        );
        let mut judged = PrometheusMetrics::new(link.client.clone(), queries);
        judged.services = Some(SERVICES.iter().map(|s| s.to_string()).collect());
        judged.canary_step = Duration::from_secs(1);
        judged.canary_window = canary_wait.max(Duration::from_secs(min_samples as u64 + 2));
        PrometheusDemoMetrics {
            link,
            cluster,
            service: service.to_string(),
            base,
            judged,
            min_samples,
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// The health queries over the counters' growth since `start` (unix seconds).
    fn interval_metrics(&self, start: f64) -> PrometheusMetrics {
        let at = format!("@ {start:.3}");
        let req = r#"http_requests_total{service="$service"}"#;
        let err = r#"http_requests_total{service="$service",code=~"5.."}"#;
        let grown = |sel: &str, by: &str| format!("(sum{by}({sel}) - sum{by}({sel} {at}))");
        let bucket = r#"http_request_duration_seconds_bucket{service="$service"}"#;
        let quantile = |q: f64| {
            format!(
                "histogram_quantile({q}, {}) * 1000",
                grown(bucket, " by (le) ")
            )
        };
        let mut q = self.base.clone();
        q.requests = grown(req, "");
        q.error_rate = format!("({} or vector(0)) / {}", grown(err, ""), grown(req, ""));
        q.latency_p95_ms = quantile(0.95);
        q.latency_p99_ms = quantile(0.99);
        let mut m = PrometheusMetrics::new(self.link.client.clone(), q);
        m.services = self.judged.services.clone();
        m
    }
}

#[async_trait]
impl MetricsSource for PrometheusDemoMetrics {
    async fn health(&self) -> Result<Vec<ServiceHealth>, SignalError> {
        let _turn = self.turn.lock().await;
        // Prometheus holds the exporter's totals as of now: every interval waits for them.
        let start = now();
        self.cluster.measure().await?;
        self.link.await_scrape(&self.service).await?;
        self.interval_metrics(start).health().await
    }

    async fn canary_samples(&self, service: &str) -> Result<CanaryObservation, SignalError> {
        let _turn = self.turn.lock().await;
        let embedded = self.cluster.canary_samples(service).await?;
        self.link.await_scrape(&self.service).await?;
        // Each step of the window is one sample: wait until both sides have enough of them.
        let deadline = Instant::now() + self.judged.canary_window + SCRAPE_TIMEOUT;
        loop {
            let mut seen = self.judged.canary_samples(service).await?;
            let enough = [&seen.baseline, &seen.canary].iter().all(|side| {
                self.judged
                    .queries
                    .canary
                    .keys()
                    .all(|k| side.get(k).is_some_and(|v| v.len() >= self.min_samples))
            });
            if enough || Instant::now() > deadline {
                // The weight is Argo's (the Rollout status), not a metric.
                seen.weight = embedded.weight;
                return Ok(seen);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn slo_window_error_rate(
        &self,
        service: &str,
        window: Duration,
    ) -> Result<Option<f64>, SignalError> {
        self.judged.slo_window_error_rate(service, window).await
    }
}
