//! The GitHub App end to end: `healbot serve`'s routes and worker with the real app handler,
//! against the stateful fake GitHub. An Alertmanager alert opens the incident; signed webhooks
//! built from GitHub's own payloads carry reviews, `/heal` comments and merges. Every comment
//! the bot posts must be expected by the test, and the PR body and comments are snapshots.

use crate::support::github::{test_key_path, FakeGithub, APP_ID};
use async_trait::async_trait;
use healbot::config::bot::{BotConfig, GithubApp, Secret};
use healbot::config::sources::{LogsSource, Sources};
use healbot::coord::OpState;
use healbot::forge::{PrNumber, RepoRef};
use healbot::server::app::{build, AppHandler};
use healbot::server::signature::sign;
use healbot::server::{serve_on, DeliveryHandler, ServeOptions, ServerHandle};
use healbot::signals::{CanaryObservation, MetricsSource, ServiceHealth, SignalError};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "app-test-secret";
const REPO: &str = "acme/payment-service";
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/fixtures/github-webhooks"
);
const SERVICE_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/testdata/services/payment-service"
);

/// The traceback the payment service logs, as the demo's traffic produces it.
const LOG: &str = "2026-11-28 02:00:00,100 INFO POST /pay 200 12ms
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

/// Production as the test scripts it: payment-service fails until `fixed`, its callers
/// suffer with it, and the canary looks like the baseline.
#[derive(Default)]
struct ScriptedProduction {
    fixed: AtomicBool,
}

fn health(service: &str, error_rate: f64) -> ServiceHealth {
    ServiceHealth {
        service: service.into(),
        requests: 1200,
        error_rate,
        latency_p95_ms: 80.0,
        latency_p99_ms: 120.0,
        cpu_utilization: 0.4,
        memory_utilization: 0.5,
    }
}

#[async_trait]
impl MetricsSource for ScriptedProduction {
    async fn health(&self) -> Result<Vec<ServiceHealth>, SignalError> {
        let broken = !self.fixed.load(Ordering::SeqCst);
        let rate = |r: f64| if broken { r } else { 0.001 };
        Ok(vec![
            health("payment-service", rate(0.16)),
            health("order-service", rate(0.17)),
            health("user-service", rate(0.12)),
            health("postgres_primary", 0.001),
            health("api-gateway", rate(0.05)),
        ])
    }

    async fn canary_samples(&self, _service: &str) -> Result<CanaryObservation, SignalError> {
        let series = |base: f64| -> Vec<f64> {
            (0..30)
                .map(|i| base * (1.0 + (i % 5) as f64 * 0.01))
                .collect()
        };
        let samples = || {
            BTreeMap::from([
                ("error_rate".to_string(), series(0.001)),
                ("latency_ms".to_string(), series(80.0)),
            ])
        };
        Ok(CanaryObservation {
            weight: 10,
            baseline: samples(),
            canary: samples(),
        })
    }

    async fn slo_window_error_rate(
        &self,
        _service: &str,
        _window: Duration,
    ) -> Result<Option<f64>, SignalError> {
        Ok(Some(0.0005))
    }
}

fn service_files() -> Vec<(String, String)> {
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

struct App {
    fake: FakeGithub,
    server: ServerHandle,
    app: Arc<AppHandler>,
    production: Arc<ScriptedProduction>,
    state: tempfile::TempDir,
    deliveries: u64,
}

impl App {
    async fn start() -> App {
        // Shown only for a failing test.
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        let fake = FakeGithub::start().await;
        let files = service_files();
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        fake.add_repo(REPO, "main", &refs);
        fake.set_permission(REPO, "alice", "write");
        fake.set_permission(REPO, "mallory", "read");

        let state = tempfile::tempdir().unwrap();
        let log = state.path().join("payment.log");
        std::fs::write(&log, LOG).unwrap();
        let config = BotConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            state_dir: state.path().join("state"),
            webhook_secrets: vec![Secret::new(SECRET)],
            github: Some(GithubApp {
                app_id: APP_ID,
                private_key_file: test_key_path(),
                api_url: fake.url(),
            }),
            redis_url: None,
            policies_dir: None,
            sources: Sources {
                logs: LogsSource::Files(BTreeMap::from([(
                    "payment-service".to_string(),
                    vec![log],
                )])),
                canary_wait: Duration::ZERO,
                repositories: vec![REPO.to_string()],
                ..Sources::default()
            },
        };
        let production = Arc::new(ScriptedProduction::default());
        let app = Arc::new(
            build::assemble(&config, production.clone())
                .await
                .unwrap()
                .expect("credentials are configured"),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let options = ServeOptions {
            handler: Some(app.clone() as Arc<dyn DeliveryHandler>),
            log: None,
        };
        let server = serve_on(listener, config, options).await.unwrap();
        App {
            fake,
            server,
            app,
            production,
            state,
            deliveries: 0,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.addr)
    }

    /// Waits until the worker handled every delivery sent and no operation is being driven.
    async fn settle(&self) {
        for _ in 0..500 {
            if self.server.metrics.get(healbot::server::Outcome::Processed) >= self.deliveries {
                self.app.settled().await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("deliveries were not processed");
    }

    async fn alert(&mut self) {
        let body = json!({
            "version": "4",
            "groupKey": "{}:{service=\"payment-service\"}",
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "healbot",
            "groupLabels": {"service": "payment-service"},
            "commonLabels": {"service": "payment-service", "severity": "critical"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": [{
                "status": "firing",
                "labels": {"alertname": "HighErrorRate", "service": "payment-service", "severity": "critical"},
                "annotations": {"summary": "5xx ratio 16% for 2 minutes"},
                "startsAt": "2026-11-28T02:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": "5f1e2d3c4b5a6978"
            }]
        });
        let resp = reqwest::Client::new()
            .post(self.url("/webhooks/alertmanager"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
        self.deliveries += 1;
        self.settle().await;
    }

    /// Sends a signed GitHub delivery; `id` repeats a delivery when reused.
    async fn deliver(&mut self, event: &str, id: &str, body: &Value) -> u16 {
        let bytes = serde_json::to_vec(body).unwrap();
        let resp = reqwest::Client::new()
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
        status
    }

    async fn head(&self, pr: u64) -> String {
        let forge = &self.app.orchestrator().forge;
        let pr = forge
            .pull_request(&RepoRef(REPO.into()), PrNumber(pr))
            .await
            .unwrap();
        pr.head_sha.0
    }

    async fn state_of_only_operation(&self) -> OpState {
        let ops = self.app.orchestrator().journal.operations().await;
        assert_eq!(ops.len(), 1, "one operation expected");
        ops[0].state
    }

    async fn audit_actions(&self) -> Vec<(String, String)> {
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

fn fixture(path: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{path}.payload.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn person(login: &str) -> Value {
    json!({"login": login, "id": 1000 + login.len(), "type": "User"})
}

fn with_repo(mut body: Value) -> Value {
    body["repository"]["full_name"] = json!(REPO);
    body["repository"]["name"] = json!("payment-service");
    body["repository"]["default_branch"] = json!("main");
    body["installation"] = json!({"id": crate::support::github::INSTALLATION_ID});
    body
}

fn review(pr: u64, user: &str, state: &str, commit: &str, id: u64) -> Value {
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
fn comment(fake: &FakeGithub, pr: u64, user: &str, text: &str) -> Value {
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

fn pull_request(action: &str, pr: u64, user: &str, head: &str, merge: Option<&str>) -> Value {
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

/// Hashes, shas, times and durations vary from run to run; snapshots see placeholders.
fn normalize(text: &str) -> String {
    let hex = regex::Regex::new(r"\b[0-9a-f]{7,64}\b").unwrap();
    let time = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?").unwrap();
    let secs = regex::Regex::new(r"\d+\.\d+ s\b").unwrap();
    let seq = regex::Regex::new(r"seq \d+").unwrap();
    let local = regex::Regex::new(r"http://127\.0\.0\.1:\d+").unwrap();
    let text = local.replace_all(text, "https://github.example");
    let text = time.replace_all(&text, "[time]");
    let text = hex.replace_all(&text, "[hex]");
    let text = secs.replace_all(&text, "[n] s");
    seq.replace_all(&text, "seq [n]").into_owned()
}

fn snapshot_comments(fake: &FakeGithub) -> String {
    fake.bot_comments()
        .iter()
        .map(|c| normalize(c))
        .collect::<Vec<_>>()
        .join("\n\n----------------------------------------\n\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_to_pr_review_merge_and_canary() {
    let mut t = App::start().await;
    t.alert().await;

    // The incident became a PR with its check run and labels, and healbot asked for review.
    assert_eq!(t.fake.pr_numbers(REPO), vec![1]);
    assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);
    let labels = t.fake.pr_labels(1);
    assert!(labels.contains(&"healbot".to_string()), "{labels:?}");
    assert!(labels.iter().any(|l| l.starts_with("risk:")), "{labels:?}");
    let checks = t.fake.check_runs();
    assert_eq!(checks.len(), 1, "{checks:#?}");
    assert_eq!(checks[0]["name"], "healbot/safety-gates");
    assert_eq!(checks[0]["conclusion"], "success");
    let actions: Vec<&str> = checks[0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["approve", "rollback"]);
    t.fake.expect_comments(&["The fix is ready for review"]);
    let forge = t.app.orchestrator().forge.clone();
    let pr = forge
        .pull_request(&RepoRef(REPO.into()), PrNumber(1))
        .await
        .unwrap();
    insta::assert_snapshot!("app_pr_body", normalize(&pr.body));
    let head = pr.head_sha.0.clone();

    // A reader may not pause; the refusal is answered and audited, and 👀 says it was seen.
    let pause = comment(&t.fake, 1, "mallory", "/heal pause");
    let status = t.deliver("issue_comment", "d-1", &pause).await;
    assert_eq!(status, 202);
    t.fake
        .expect_comments(&["@mallory: not done: `/heal pause` needs write permission"]);
    let pause_id = pause["comment"]["id"].as_u64().unwrap();
    assert!(t.fake.reactions().contains(&(pause_id, "eyes".to_string())));
    assert!(t
        .audit_actions()
        .await
        .contains(&("mallory".to_string(), "override.refused".to_string())));
    assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);

    // A command inside a code block or a quote is not a command.
    let quoted = comment(
        &t.fake,
        1,
        "alice",
        "Try this:\n```\n/heal approve\n```\n> /heal rollback\n",
    );
    t.deliver("issue_comment", "d-2", &quoted).await;
    t.fake.expect_comments(&[]);
    let quoted_id = quoted["comment"]["id"].as_u64().unwrap();
    assert!(!t.fake.reactions().iter().any(|(id, _)| *id == quoted_id));

    // `/heal status` is answered once, and a replay of the same delivery is not run again.
    let status = comment(&t.fake, 1, "mallory", "/heal status");
    t.deliver("issue_comment", "d-3", &status).await;
    t.fake.expect_comments(&["AwaitingReview"]);
    assert_eq!(t.deliver("issue_comment", "d-3", &status).await, 200);
    t.fake.expect_comments(&[]);

    // An unknown verb gets the list of commands.
    t.deliver(
        "issue_comment",
        "d-4",
        &comment(&t.fake, 1, "alice", "/heal shipit"),
    )
    .await;
    t.fake
        .expect_comments(&["I don't know the command `shipit`"]);

    // A reader's approval does not count.
    t.deliver(
        "pull_request_review",
        "d-5",
        &review(1, "mallory", "approved", &head, 7001),
    )
    .await;
    t.fake
        .expect_comments(&["@mallory: not done: an approving review needs write permission"]);
    assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);

    // A push to the PR voids an approval given on the commit before it.
    let branch =
        "healbot/".to_string() + &t.app.orchestrator().journal.operations().await[0].correlation_id;
    let fixed = std::fs::read_to_string(format!("{SERVICE_DIR}/tests/test_payment.py")).unwrap();
    let pushed = t.fake.push(
        REPO,
        &branch,
        &[("tests/test_payment.py", &format!("{fixed}\n# reviewed\n"))],
        "tests: note the review\n",
    );
    t.deliver(
        "pull_request",
        "d-6",
        &pull_request("synchronize", 1, "alice", &pushed, None),
    )
    .await;
    assert!(t
        .audit_actions()
        .await
        .contains(&("alice".to_string(), "pr.head_moved".to_string())));
    t.deliver(
        "pull_request_review",
        "d-7",
        &review(1, "alice", "approved", &head, 7002),
    )
    .await;
    t.fake.expect_comments(&["approve again"]);
    assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);

    // An approval of the head merges, and the canary runs to 100% and verifies.
    assert_eq!(t.head(1).await, pushed);
    t.production.fixed.store(true, Ordering::SeqCst);
    t.deliver(
        "pull_request_review",
        "d-8",
        &review(1, "alice", "approved", &pushed, 7003),
    )
    .await;
    let merge = t.fake.branch(REPO, "main").unwrap();
    // GitHub then sends the merge; healbot already knows it and does nothing twice.
    t.deliver(
        "pull_request",
        "d-9",
        &pull_request("closed", 1, "alice", &pushed, Some(&merge)),
    )
    .await;
    assert_eq!(
        t.state_of_only_operation().await,
        OpState::Completed,
        "{:#?}",
        t.fake.bot_comments()
    );
    let main_log: Vec<String> = {
        let mut out = Vec::new();
        let mut at = t.fake.branch(REPO, "main");
        while let Some(sha) = at {
            out.push(t.fake.commit_message(&sha).unwrap());
            at = t.fake.commit_parents(&sha).first().cloned();
        }
        out
    };
    let steps: Vec<&String> = main_log.iter().filter(|m| m.contains("canary")).collect();
    assert_eq!(steps.len(), 3, "one commit per canary step: {main_log:#?}");
    insta::assert_snapshot!("app_comments", snapshot_comments(&t.fake));
    t.fake.expect_comments(&[
        "approved",
        "now takes 10% of traffic",
        "Canary at 10%: **Pass**",
        "now takes 50% of traffic",
        "Canary at 50%: **Pass**",
        "now takes 100% of traffic",
        "Verification at 100%",
    ]);
    t.fake.assert_clean();
    drop(t.state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_requested_pauses_dismissal_resumes_and_closing_cancels() {
    let mut t = App::start().await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    let head = t.head(1).await;
    t.deliver(
        "pull_request_review",
        "c-1",
        &review(1, "alice", "changes_requested", &head, 8001),
    )
    .await;
    t.fake.expect_comments(&["@alice paused the operation"]);
    assert_eq!(
        t.state_of_only_operation().await,
        OpState::PausedForHumanReview
    );
    let mut dismissed = review(1, "alice", "dismissed", &head, 8001);
    dismissed["action"] = json!("dismissed");
    t.deliver("pull_request_review", "c-2", &dismissed).await;
    t.fake
        .expect_comments(&["@alice resumed the operation at AwaitingReview"]);
    assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);

    t.deliver(
        "pull_request",
        "c-3",
        &pull_request("closed", 1, "alice", &head, None),
    )
    .await;
    assert_eq!(t.state_of_only_operation().await, OpState::Cancelled);
    let actions = t.audit_actions().await;
    assert!(actions.contains(&("alice".to_string(), "pr.closed".to_string())));
    assert!(
        actions.iter().any(|(_, a)| a == "lock.released"),
        "{actions:#?}"
    );
    t.fake.assert_clean();
}

/// The check run's buttons are a second override channel: a reader's click is refused, a
/// writer's Approve merges and starts the canary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_run_approve_button_merges() {
    let mut t = App::start().await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    let head = t.head(1).await;
    let check_id = t.fake.check_runs()[0]["id"].as_u64().unwrap();
    let press = |user: &str| {
        let mut body = with_repo(fixture("check_run/requested_action"));
        body["check_run"]["id"] = json!(check_id);
        body["check_run"]["name"] = json!("healbot/safety-gates");
        body["check_run"]["head_sha"] = json!(head);
        body["check_run"]["pull_requests"][0]["number"] = json!(1);
        body["requested_action"]["identifier"] = json!("approve");
        body["sender"] = person(user);
        body
    };
    t.deliver("check_run", "b-1", &press("mallory")).await;
    t.fake
        .expect_comments(&["@mallory: not done: `/heal approve` needs write permission"]);
    assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);
    t.production.fixed.store(true, Ordering::SeqCst);
    t.deliver("check_run", "b-2", &press("alice")).await;
    assert_eq!(t.state_of_only_operation().await, OpState::Completed);
    t.fake.expect_comments(&[
        "@alice approved",
        "10% of traffic",
        "Canary at 10%: **Pass**",
        "50% of traffic",
        "Canary at 50%: **Pass**",
        "100% of traffic",
        "Verification at 100%",
    ]);
    t.fake.assert_clean();
}

/// Every payload GitHub documents is taken in when signed and refused when not, and the app
/// handles each without a bot comment or a call outside GitHub's schemas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_is_handled_by_the_app() {
    let mut t = App::start().await;
    let mut n = 0;
    for dir in std::fs::read_dir(FIXTURES).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let event = dir.file_name().unwrap().to_string_lossy().to_string();
        for file in std::fs::read_dir(&dir).unwrap() {
            let body: Value =
                serde_json::from_slice(&std::fs::read(file.unwrap().path()).unwrap()).unwrap();
            n += 1;
            let unsigned = reqwest::Client::new()
                .post(t.url("/webhooks/github"))
                .header("X-GitHub-Event", &event)
                .header("X-GitHub-Delivery", format!("unsigned-{n}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(unsigned.status(), 401, "{event}");
            let status = t.deliver(&event, &format!("fixture-{n}"), &body).await;
            assert!(status == 202 || status == 200, "{event}: {status}");
        }
    }
    assert!(n >= 15, "fixtures missing");
    let installations =
        std::fs::read_to_string(t.state.path().join("state/installations.json")).unwrap();
    assert!(installations.contains("repositories"), "{installations}");
    assert!(t.app.orchestrator().journal.operations().await.is_empty());
    t.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pr_that_edits_the_repo_config_gets_a_validation_check() {
    let mut t = App::start().await;
    let broken = "services: []\nvalidation: {command: x, timeout_seconds: 5}\napprovers: {permission: write}\n";
    let base = t.fake.branch(REPO, "main").unwrap();
    let head = t.fake.push(
        REPO,
        "main",
        &[(".github/healbot.yml", broken)],
        "break the config\n",
    );
    let mut body = pull_request("opened", 7, "alice", &head, None);
    body["pull_request"]["base"]["sha"] = json!(base);
    t.deliver("pull_request", "v-1", &body).await;
    let checks = t.fake.check_runs();
    assert_eq!(checks.len(), 1, "{checks:#?}");
    assert_eq!(checks[0]["name"], "healbot/config");
    assert_eq!(checks[0]["conclusion"], "failure");
    let summary = checks[0]["output"]["summary"].as_str().unwrap();
    assert!(summary.contains("services"), "{summary}");
    t.fake.assert_clean();
}
