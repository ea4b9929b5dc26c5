//! The GitHub App harness the app tests share: a fake GitHub holding the payment service's
//! repository, `healbot serve`'s routes and worker with the real app handler on loopback, a
//! scripted production (metrics) and a log file with the service's traceback. Signed webhooks
//! are built from GitHub's own payloads.

use super::github::{test_key_path, FakeGithub, APP_ID};
use async_trait::async_trait;
use healbot::config::bot::{BotConfig, GithubApp, InboundTokens, Secret};
use healbot::config::sources::{LogsSource, Sources};
use healbot::forge::{PrNumber, RepoRef};
use healbot::model::PinnedClock;
use healbot::operation::OpState;
use healbot::server::app::{build, AppHandler};
use healbot::server::signature::sign;
use healbot::server::{serve_on, DeliveryHandler, ServeOptions, ServerHandle};
use healbot::signals::{CanaryObservation, MetricsSource, ServiceHealth, SignalError};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The bot's comments from an approval to a verified 100%.
pub const FULL_ROLLOUT: [&str; 7] = [
    "approved",
    "10% of traffic",
    "Canary at 10%: **Pass**",
    "50% of traffic",
    "Canary at 50%: **Pass**",
    "100% of traffic",
    "Verification at 100%",
];

pub const SECRET: &str = "app-test-secret";
/// The bearer token Alertmanager and Argo send to the test app.
pub const INBOUND_TOKEN: &str = "inbound-test-token";
pub const REPO: &str = "acme/payment-service";
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/github-webhooks");
/// The payment shop's dependency catalog (the demo's too).
pub const CATALOG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/testdata/services/payment-service/catalog.yaml"
);
pub const SERVICE_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/testdata/services/payment-service"
);

/// The traceback the payment service logs, as the demo's traffic produces it.
pub const LOG: &str = "2026-11-28 02:00:00,100 INFO POST /pay 200 12ms
2026-11-28 02:00:01,002 ERROR Unhandled exception on POST /pay
Traceback (most recent call last):
  File \"/srv/loadgen/driver.py\", line 54, in main
    payment_processor.process_payment(user_id, amount)
  File \"/app/payment_processor.py\", line 26, in process_payment
    send_receipt(user.email, payment_id, amount_cents)
  File \"/app/receipts.py\", line 9, in send_receipt
    local, domain = address.split(\"@\", 1)
                    ^^^^^^^^^^^^^
AttributeError: 'NoneType' object has no attribute 'split'
2026-11-28 02:00:01,450 INFO POST /pay 200 9ms
";

/// Production as the test scripts it: error rates per service (payment-service fails and its
/// callers suffer with it until [`ScriptedProduction::heal`]), the SLO window's error rate,
/// and a canary that looks like the baseline unless told otherwise.
pub struct ScriptedProduction {
    script: Mutex<Script>,
}

pub struct Script {
    pub error_rates: BTreeMap<String, f64>,
    pub cpu: f64,
    /// Mean error rate over the SLO window; `None`: no history.
    pub slo_error_rate: Option<f64>,
    /// The canary's error rate and latency (the baseline has 0.001 and 80 ms).
    pub canary_error_rate: f64,
    pub canary_latency_ms: f64,
    pub latency_p99_ms: f64,
    /// Samples per canary metric on each side (fewer than the policy's `min_samples`: the
    /// judge cannot tell, and a person decides).
    pub canary_samples: usize,
}

impl Default for ScriptedProduction {
    fn default() -> ScriptedProduction {
        let error_rates = [
            ("payment-service", 0.16),
            ("order-service", 0.17),
            ("user-service", 0.12),
            ("postgres_primary", 0.001),
            ("api-gateway", 0.05),
        ]
        .into_iter()
        .map(|(s, r)| (s.to_string(), r))
        .collect();
        ScriptedProduction {
            script: Mutex::new(Script {
                error_rates,
                cpu: 0.4,
                slo_error_rate: Some(0.0005),
                canary_error_rate: 0.001,
                canary_latency_ms: 80.0,
                latency_p99_ms: 120.0,
                canary_samples: 30,
            }),
        }
    }
}

impl ScriptedProduction {
    pub fn edit(&self, f: impl FnOnce(&mut Script)) {
        f(&mut self.script.lock().unwrap())
    }

    /// Every service back to a normal error rate (the fix is out).
    pub fn heal(&self) {
        self.edit(|s| s.error_rates.values_mut().for_each(|r| *r = 0.001));
    }
}

fn series(base: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| base * (1.0 + (i % 5) as f64 * 0.01))
        .collect()
}

#[async_trait]
impl MetricsSource for ScriptedProduction {
    async fn health(&self) -> Result<Vec<ServiceHealth>, SignalError> {
        let s = self.script.lock().unwrap();
        Ok(s.error_rates
            .iter()
            .map(|(service, &error_rate)| ServiceHealth {
                service: service.clone(),
                requests: 1200,
                error_rate,
                latency_p95_ms: 80.0,
                latency_p99_ms: s.latency_p99_ms,
                cpu_utilization: s.cpu,
                memory_utilization: 0.5,
            })
            .collect())
    }

    async fn canary_samples(&self, _service: &str) -> Result<CanaryObservation, SignalError> {
        let s = self.script.lock().unwrap();
        let samples = |error: f64, latency: f64| {
            BTreeMap::from([
                ("error_rate".to_string(), series(error, s.canary_samples)),
                ("latency_ms".to_string(), series(latency, s.canary_samples)),
            ])
        };
        Ok(CanaryObservation {
            weight: 10,
            baseline: samples(0.001, 80.0),
            canary: samples(s.canary_error_rate, s.canary_latency_ms),
        })
    }

    async fn slo_window_error_rate(
        &self,
        _service: &str,
        _window: Duration,
    ) -> Result<Option<f64>, SignalError> {
        Ok(self.script.lock().unwrap().slo_error_rate)
    }
}

pub fn service_files() -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                out.push((rel, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new(SERVICE_DIR), Path::new(SERVICE_DIR), &mut out);
    out.sort();
    out
}

/// The payment service's repository on `fake` (with `repo_config` as its
/// `.github/healbot.yml` when given); alice may write, mallory only read.
pub fn seed_repo(fake: &FakeGithub, repo_config: Option<&str>) {
    seed_repo_with(fake, repo_config, &[]);
}

/// [`seed_repo`] with `extra` files (path, contents) added.
pub fn seed_repo_with(fake: &FakeGithub, repo_config: Option<&str>, extra: &[(String, String)]) {
    seed_repo_at(fake, repo_config, extra, None);
}

/// [`seed_repo_with`] with the first commit dated `time` (unix seconds; `None`: now).
pub fn seed_repo_at(
    fake: &FakeGithub,
    repo_config: Option<&str>,
    extra: &[(String, String)],
    time: Option<i64>,
) {
    let mut files = service_files();
    files.extend(extra.iter().cloned());
    if let Some(config) = repo_config {
        for (path, content) in files.iter_mut() {
            if path == ".github/healbot.yml" {
                *content = config.to_string();
            }
        }
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    fake.add_repo_at(REPO, "main", &refs, time);
    fake.set_permission(REPO, "alice", "write");
    fake.set_permission(REPO, "mallory", "read");
}

/// Posts `body` to healbot's `path` (Alertmanager, Argo), which must accept it, and waits
/// until it is handled.
pub async fn post_json(t: &mut App, path: &str, body: &Value) {
    let resp = healbot::http_client::client()
        .post(t.url(path))
        .bearer_auth(INBOUND_TOKEN)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    t.deliveries += 1;
    t.settle().await;
}

/// Alertmanager's firing `SlowP99` alert on `service` (the `slow-p99` detection rule's), with
/// `summary` as its annotation, handled to the end.
pub async fn slow_p99_alert(t: &mut App, service: &str, summary: &str) {
    let body = json!({
        "version": "4",
        "groupKey": format!("{{}}:{{service=\"{service}\"}}"),
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "healbot",
        "groupLabels": {"service": service},
        "commonLabels": {"service": service, "severity": "high"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "SlowP99", "service": service, "severity": "high"},
            "annotations": {"summary": summary},
            "startsAt": "2026-11-28T02:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": "7a1e2b3c4d5e6f70"
        }]
    });
    post_json(t, "/webhooks/alertmanager", &body).await;
}

/// A copy of the repository's policies under `root/policies` with `edits` applied: each is
/// (file name, text, replacement), and the text must be there.
pub fn policies_with(root: &Path, edits: &[(&str, &str, &str)]) -> PathBuf {
    let dir = root.join("policies");
    std::fs::create_dir_all(&dir).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        let mut text = std::fs::read_to_string(&path).unwrap();
        for (file, from, to) in edits {
            if name == *file {
                assert!(text.contains(from), "{file} has no {from:?}");
                text = text.replace(from, to);
            }
        }
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

/// What a test changes about the harness.
#[derive(Default)]
pub struct AppOptions {
    /// Service locks on this Redis instead of in memory.
    pub redis_url: Option<String>,
    /// The audit chain on that Redis too.
    pub audit_on_redis: bool,
    /// A policy directory instead of the embedded policies.
    pub policies_dir: Option<PathBuf>,
    /// Log files per service (service, contents); payment-service gets [`LOG`] by default.
    pub logs: Vec<(String, String)>,
    /// Replaces the repository's `.github/healbot.yml`.
    pub repo_config: Option<String>,
    /// The dependency catalog instead of [`CATALOG`].
    pub catalog: Option<PathBuf>,
    /// Notification channels (`healbot.yaml`'s `notify:`); none (log only) by default.
    pub notify: Option<healbot::config::notify::NotifyConfig>,
    /// `healbot.yaml`'s `validation:` (the check's sandbox); bubblewrap by default.
    pub validation: Option<healbot::config::validation::ValidationSettings>,
    /// Files added to the repository besides the payment service's (path, contents).
    pub extra_files: Vec<(String, String)>,
    /// Where the app's clock starts instead of [`pinned_start`].
    pub clock_start: Option<chrono::DateTime<chrono::Utc>>,
    /// Hosts a `health_url` may name (`health_url_hosts` in healbot.yaml).
    pub health_url_hosts: Vec<String>,
    /// The date (unix seconds) of the repository's first commit; `None`: now.
    pub seeded_at: Option<i64>,
    /// `registry_token_file` in healbot.yaml: the container registry credential.
    pub registry_token_file: Option<PathBuf>,
}

/// Where the app's clock starts: a Sunday at 03:00 UTC, off-peak on any policy's peak hours,
/// after every timestamp a test writes with the wall clock. The app's clock runs on from here
/// (durations stay real), so a test passes at any time of day.
pub fn pinned_start() -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc
        .with_ymd_and_hms(2030, 1, 6, 3, 0, 0)
        .single()
        .expect("a valid date")
}

pub struct App {
    pub fake: FakeGithub,
    /// The time the app's policies read and its audit log is stamped with.
    pub clock: Arc<PinnedClock>,
    pub server: ServerHandle,
    pub app: Arc<AppHandler>,
    pub production: Arc<ScriptedProduction>,
    pub state: tempfile::TempDir,
    pub deliveries: u64,
    alerts: u64,
    /// (service, fingerprint, startsAt) of every alert sent.
    fired: Vec<(String, String, String)>,
}

impl App {
    pub async fn start() -> App {
        App::start_with(AppOptions::default()).await
    }

    /// The state directory `serve` uses (before [`App::start_with`] it does not exist yet).
    pub fn state_dir(root: &Path) -> PathBuf {
        root.join("state")
    }

    pub async fn start_with(options: AppOptions) -> App {
        let state = tempfile::tempdir().unwrap();
        App::start_in(state, options).await
    }

    /// Starts on an existing temporary directory (a test may seed `state/` first).
    pub async fn start_in(state: tempfile::TempDir, options: AppOptions) -> App {
        // Shown only for a failing test; benchmarks set HEALBOT_QUIET to keep their output clean.
        if std::env::var_os("HEALBOT_QUIET").is_none() {
            let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        }
        let fake = FakeGithub::start().await;
        seed_repo_at(
            &fake,
            options.repo_config.as_deref(),
            &options.extra_files,
            options.seeded_at,
        );

        let mut logs = options.logs.clone();
        if !logs.iter().any(|(s, _)| s == "payment-service") {
            logs.push(("payment-service".to_string(), LOG.to_string()));
        }
        let mut log_files = BTreeMap::new();
        for (service, text) in &logs {
            let path = state.path().join(format!("{service}.log"));
            std::fs::write(&path, text).unwrap();
            log_files.insert(service.clone(), vec![path]);
        }
        let config = BotConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            state_dir: App::state_dir(state.path()),
            webhook_secrets: vec![Secret::new(SECRET)],
            github: Some(GithubApp {
                app_id: APP_ID,
                private_key_file: test_key_path(),
                api_url: fake.url(),
            }),
            redis_url: options.redis_url.clone(),
            audit_on_redis: options.audit_on_redis,
            takeover_after: std::time::Duration::from_secs(30),
            policies_dir: options.policies_dir.clone(),
            templates_dir: None,
            sources: Sources {
                logs: LogsSource::Files(log_files),
                canary_wait: Duration::ZERO,
                repositories: vec![REPO.to_string()],
                catalog: Some(
                    options
                        .catalog
                        .clone()
                        .unwrap_or_else(|| PathBuf::from(CATALOG)),
                ),
                ..Sources::default()
            },
            notify: options.notify.clone().unwrap_or_default(),
            validation: options.validation.clone().unwrap_or_default(),
            health_url_hosts: options.health_url_hosts.clone(),
            registry_token_file: options.registry_token_file.clone(),
            inbound: InboundTokens {
                alertmanager: vec![Secret::new(INBOUND_TOKEN)],
                argo: vec![Secret::new(INBOUND_TOKEN)],
            },
            ..BotConfig::new(App::state_dir(state.path()), vec![Secret::new(SECRET)])
        };
        let production = Arc::new(ScriptedProduction::default());
        let clock = Arc::new(PinnedClock::starting_at(
            options.clock_start.unwrap_or_else(pinned_start),
        ));
        let app = Arc::new(
            build::assemble(&config, production.clone(), clock.clone())
                .await
                .unwrap()
                .expect("credentials are configured"),
        );
        if options.audit_on_redis {
            // Shared mode: operations are driven from the work queue this starts reading.
            app.resume().await;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let options = ServeOptions {
            handler: Some(app.clone() as Arc<dyn DeliveryHandler>),
            log: None,
            claims: None,
        };
        let server = serve_on(listener, config, options).await.unwrap();
        App {
            fake,
            clock,
            server,
            app,
            production,
            state,
            deliveries: 0,
            alerts: 0,
            fired: Vec::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.addr)
    }

    /// Waits until the worker handled every delivery sent and no operation is being driven.
    pub async fn settle(&self) {
        for _ in 0..500 {
            if self.server.metrics.get(healbot::server::Outcome::Processed) >= self.deliveries {
                self.app.settled().await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("deliveries were not processed");
    }

    /// A firing alert on payment-service, handled to the end.
    pub async fn alert(&mut self) {
        self.alert_on("payment-service").await;
        self.settle().await;
    }

    /// Posts a new firing alert on `service` (a new fingerprint each time) without waiting.
    pub async fn alert_on(&mut self, service: &str) {
        self.alerts += 1;
        let n = self.alerts;
        let fingerprint = if n == 1 {
            "5f1e2d3c4b5a6978".to_string()
        } else {
            format!("{n:04x}{:012x}", service.len())
        };
        let starts = format!("2026-11-28T02:{:02}:00Z", n - 1);
        self.fired
            .push((service.to_string(), fingerprint.clone(), starts.clone()));
        self.post_alerts(service, "firing", &[(fingerprint, starts)])
            .await;
    }

    /// Alertmanager's "resolved" for every alert fired on `service`, handled to the end.
    pub async fn resolve_alerts_on(&mut self, service: &str) {
        let alerts: Vec<(String, String)> = self
            .fired
            .iter()
            .filter(|(s, _, _)| s == service)
            .map(|(_, f, t)| (f.clone(), t.clone()))
            .collect();
        self.post_alerts(service, "resolved", &alerts).await;
        self.settle().await;
    }

    async fn post_alerts(&mut self, service: &str, status: &str, alerts: &[(String, String)]) {
        let ends = if status == "resolved" {
            "2026-11-28T03:00:00Z"
        } else {
            "0001-01-01T00:00:00Z"
        };
        let alerts: Vec<Value> = alerts
            .iter()
            .map(|(fingerprint, starts)| {
                json!({
                    "status": status,
                    "labels": {"alertname": "HighErrorRate", "service": service, "severity": "critical"},
                    "annotations": {"summary": "5xx ratio 16% for 2 minutes"},
                    "startsAt": starts,
                    "endsAt": ends,
                    "generatorURL": "http://prometheus:9090/graph",
                    "fingerprint": fingerprint
                })
            })
            .collect();
        let body = json!({
            "version": "4",
            "groupKey": format!("{{}}:{{service=\"{service}\"}}"),
            "truncatedAlerts": 0,
            "status": status,
            "receiver": "healbot",
            "groupLabels": {"service": service},
            "commonLabels": {"service": service, "severity": "critical"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": alerts
        });
        let resp = healbot::http_client::client()
            .post(self.url("/webhooks/alertmanager"))
            .bearer_auth(INBOUND_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
        self.deliveries += 1;
    }

    /// Alice approves PR `pr` at its head with review `id`, delivered as GitHub would.
    pub async fn approve(&mut self, pr: u64, id: u64) {
        let head = self.head(pr).await;
        self.deliver(
            "pull_request_review",
            &format!("approve-{pr}-{id}"),
            &review(pr, "alice", "approved", &head, id),
        )
        .await;
    }

    /// Expects the answer to an approval and a rollout that goes all the way.
    pub fn expect_full_rollout(&self) {
        self.fake.expect_comments(&FULL_ROLLOUT);
    }

    /// Every operation, oldest first.
    pub async fn operations(&self) -> Vec<healbot::operation::Operation> {
        let mut ops = self.app.orchestrator().journal.operations().await;
        ops.sort_by_key(|op| op.history.first().map(|h| h.0));
        ops
    }

    /// Every operation's state, oldest first.
    pub async fn states(&self) -> Vec<OpState> {
        self.operations()
            .await
            .into_iter()
            .map(|op| op.state)
            .collect()
    }

    /// Sends a signed GitHub delivery; `id` repeats a delivery when reused.
    pub async fn deliver(&mut self, event: &str, id: &str, body: &Value) -> u16 {
        let bytes = serde_json::to_vec(body).unwrap();
        self.deliver_bytes(event, id, bytes).await.0
    }

    /// [`App::deliver`] for a body as bytes (escapes or a cut a serializer never writes); the
    /// reply's status and JSON.
    pub async fn deliver_bytes(&mut self, event: &str, id: &str, bytes: Vec<u8>) -> (u16, Value) {
        let resp = healbot::http_client::client()
            .post(self.url("/webhooks/github"))
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", id)
            .header("X-Hub-Signature-256", sign(SECRET.as_bytes(), &bytes))
            .header("content-type", "application/json")
            .body(bytes)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let reply: Value = resp.json().await.unwrap_or(Value::Null);
        if reply["status"] == "queued" {
            self.deliveries += 1;
        }
        self.settle().await;
        (status, reply)
    }

    pub async fn head(&self, pr: u64) -> String {
        let forge = &self.app.orchestrator().forge;
        let pr = forge
            .pull_request(&RepoRef(REPO.into()), PrNumber(pr))
            .await
            .unwrap();
        pr.head_sha.0
    }

    pub async fn state_of_only_operation(&self) -> OpState {
        let ops = self.app.orchestrator().journal.operations().await;
        assert_eq!(ops.len(), 1, "one operation expected");
        ops[0].state
    }

    pub async fn audit_actions(&self) -> Vec<(String, String)> {
        let store = self.app.orchestrator().journal.store();
        store
            .entries()
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.actor.clone(), e.action.clone()))
            .collect()
    }
}

pub fn fixture(path: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{path}.payload.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn person(login: &str) -> Value {
    json!({"login": login, "id": 1000 + login.len(), "type": "User"})
}

/// payment-service's `.github/healbot.yml` as most App tests want it: `service_lines` (each
/// indented four spaces and ended by a newline) go into its service entry, `tail` after the
/// approvers (a `policy:` section, say).
pub fn payment_config(service_lines: &str, tail: &str) -> String {
    format!(
        "services:
  - name: payment-service
    language: python
    paths: [\".\"]
    manifests: [\"deploy/rollout.yaml\"]
{service_lines}validation:
  command: \"python3 -m unittest discover -s tests -q\"
  timeout_seconds: 60
approvers:
  permission: write
{tail}"
    )
}

pub fn with_repo(mut body: Value) -> Value {
    body["repository"]["full_name"] = json!(REPO);
    body["repository"]["name"] = json!("payment-service");
    body["repository"]["default_branch"] = json!("main");
    body["installation"] = json!({"id": crate::support::github::INSTALLATION_ID});
    body
}

pub fn review(pr: u64, user: &str, state: &str, commit: &str, id: u64) -> Value {
    let mut body = with_repo(fixture("pull_request_review/submitted"));
    body["review"]["id"] = json!(id);
    body["review"]["state"] = json!(state);
    body["review"]["commit_id"] = json!(commit);
    body["review"]["user"] = person(user);
    body["pull_request"]["number"] = json!(pr);
    body["pull_request"]["head"]["sha"] = json!(commit);
    body["sender"] = person(user);
    body
}

/// The webhook for a comment `user` wrote on the PR (the fake keeps it, as GitHub would).
pub fn comment(fake: &FakeGithub, pr: u64, user: &str, text: &str) -> Value {
    let id = fake.add_comment(REPO, pr, user, text);
    let mut body = with_repo(fixture("issue_comment/created"));
    body["issue"]["number"] = json!(pr);
    body["issue"]["pull_request"] =
        json!({"url": format!("https://api.github.com/repos/{REPO}/pulls/{pr}")});
    body["comment"]["id"] = json!(id);
    body["comment"]["body"] = json!(text);
    body["comment"]["user"] = person(user);
    body["sender"] = person(user);
    body
}

pub fn pull_request(action: &str, pr: u64, user: &str, head: &str, merge: Option<&str>) -> Value {
    let mut body = with_repo(fixture(&format!("pull_request/{action}")));
    body["number"] = json!(pr);
    body["pull_request"]["number"] = json!(pr);
    body["pull_request"]["head"]["sha"] = json!(head);
    body["pull_request"]["base"]["ref"] = json!("main");
    body["pull_request"]["merged"] = json!(merge.is_some());
    body["pull_request"]["merge_commit_sha"] = json!(merge);
    body["sender"] = person(user);
    body
}
