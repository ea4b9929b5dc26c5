//! Three `healbot serve` processes sharing one redis-server (delivery claims, the work queue,
//! leases and one audit chain), one fake GitHub and a real Prometheus that scrapes healthy
//! traffic. 1,000 signed deliveries, some sent twice to different replicas, arrive while an
//! incident goes from alert to canary; the replica driving the canary is killed with SIGKILL,
//! and another one finishes the operation. Nothing is done twice and the chain verifies.

use crate::locks::RedisServer;
use crate::support::app::{fixture, review, seed_repo, CATALOG, LOG, REPO, SECRET};
use crate::support::github::{test_key_path, FakeGithub, APP_ID};
use crate::support::prometheus::Prometheus;
use healbot::audit::redis::RedisAuditStore;
use healbot::audit::AuditStore;
use healbot::demo::exporter::Exporter;
use healbot::operation::state::fold_all;
use healbot::operation::OpState;
use healbot::server::delivery_log::LogLine;
use healbot::server::signature::sign;
use healbot::signals::prometheus::PrometheusClient;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DELIVERIES: usize = 1_000;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// One `healbot serve` process.
struct Replica {
    name: String,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

struct Cluster {
    root: tempfile::TempDir,
    redis: String,
    github: String,
    prometheus: String,
}

impl Cluster {
    fn config(&self, name: &str, port: u16) -> PathBuf {
        let dir = self.root.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("webhook-secret"), SECRET).unwrap();
        std::fs::write(dir.join("alertmanager-token"), "alertmanager-token\n").unwrap();
        let log = self.root.path().join("payment-service.log");
        let yaml = format!(
            "listen: 127.0.0.1:{port}
state_dir: state
webhook_secret_files: [webhook-secret]
inbound: {{alertmanager_token_files: [alertmanager-token]}}
github:
  app_id: {APP_ID}
  private_key_file: {key}
  api_url: {github}
redis_url: {redis}
audit_on_redis: true
takeover_after_seconds: 3
prometheus:
  url: {prometheus}
  step_seconds: 1
logs:
  files:
    payment-service: [{log}]
canary_wait_seconds: 2
repositories: [{REPO}]
catalog: {CATALOG}
",
            key = test_key_path().display(),
            github = self.github,
            redis = self.redis,
            prometheus = self.prometheus,
            log = log.display(),
        );
        let path = dir.join("healbot.yaml");
        std::fs::write(&path, yaml).unwrap();
        path
    }

    fn start(&self, name: &str) -> Replica {
        let port = free_port();
        let config = self.config(name, port);
        let mut replica = Replica {
            name: name.to_string(),
            dir: config.parent().unwrap().to_path_buf(),
            port,
            child: None,
        };
        replica.spawn(&config);
        replica
    }
}

impl Replica {
    fn spawn(&mut self, config: &Path) {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("serve.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_healbot"))
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env("HEALBOT_REPLICA", &self.name)
            .env_remove("HEALBOT_FAILPOINT")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start healbot serve");
        self.child = Some(child);
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn ready(&self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if healbot::http_client::client()
                .get(self.url("/healthz"))
                .send()
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} did not start:\n{}", self.name, self.log());
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default()
    }

    /// From the replica's delivery log: the ids it took to handle, those it handled, and
    /// those it recorded as needing nothing (comments without a command: never claimed, so
    /// each replica that gets one records it).
    fn deliveries(&self) -> (Vec<String>, BTreeSet<String>, BTreeSet<String>) {
        let text = healbot::server::delivery_log::log_text(&self.dir.join("state"));
        let (mut taken, mut done, mut ignored) = (Vec::new(), BTreeSet::new(), BTreeSet::new());
        for line in text.lines() {
            match serde_json::from_str::<LogLine>(line) {
                Ok(LogLine::Received {
                    id, ignored: true, ..
                }) => {
                    ignored.insert(id);
                }
                Ok(LogLine::Received { id, .. }) => taken.push(id),
                Ok(LogLine::Done { id }) => {
                    done.insert(id);
                }
                Err(e) => panic!("{}: bad delivery log line {line:?}: {e}", self.name),
            }
        }
        (taken, done, ignored)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn post(url: String, event: &str, id: &str, body: &[u8]) -> u16 {
    healbot::http_client::client()
        .post(url)
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", id)
        .header("X-Hub-Signature-256", sign(SECRET.as_bytes(), body))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Healthy traffic on both tracks of every service, a few hundred requests a second.
pub(crate) fn traffic(exporter: Arc<Exporter>) {
    tokio::spawn(async move {
        let mut n: u64 = 0;
        loop {
            for _ in 0..20 {
                n += 1;
                for track in ["stable", "canary"] {
                    let ok = n % 1000 != 0;
                    let seconds = 0.06 + (n % 7) as f64 * 0.005;
                    exporter.observe("payment-service", track, ok, seconds);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}

/// Filler deliveries: comments without a command on a PR that is not healbot's, and pings.
fn filler(i: usize) -> (&'static str, Vec<u8>) {
    if i % 5 == 0 {
        (
            "ping",
            serde_json::to_vec(&fixture("ping/with-app_id")).unwrap(),
        )
    } else {
        let mut body = fixture("issue_comment/created");
        body["repository"]["full_name"] = Value::from(REPO);
        body["issue"]["number"] = Value::from(900 + (i % 50) as u64);
        body["comment"]["body"] = Value::from(format!("looks fine to me ({i})"));
        ("issue_comment", serde_json::to_vec(&body).unwrap())
    }
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The replica holding the work queue entry in flight.
async fn driver_of_pending(redis: &str) -> Option<String> {
    let client = redis::Client::open(redis).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let pending: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg("healbot:work")
        .arg("drivers")
        .arg("-")
        .arg("+")
        .arg(10)
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    pending
        .into_iter()
        .next()
        .map(|(_, consumer, _, _)| consumer)
}

/// The only operation is in its canary: the first step is committed (the transition into
/// `Deploying` may not be written yet) and the rollout has not ended.
async fn assert_mid_canary(redis: &str) {
    let chain = RedisAuditStore::open(redis, "main", None).unwrap();
    let ops = fold_all(&chain.entries().await.unwrap()).unwrap();
    let op = ops.values().next().expect("an operation");
    let committed = op.effects.keys().any(|k| k.ends_with("/canary/10"));
    assert!(
        committed && matches!(op.state, OpState::Merged | OpState::Deploying(_)),
        "killed outside the canary: {:?}, effects {:?}",
        op.state,
        op.effects.keys().collect::<Vec<_>>()
    );
}

/// The work queue and the chain's last actions, for a failure message.
async fn queue_state(redis: &str) -> String {
    let client = redis::Client::open(redis).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: redis::Value = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("healbot:work")
        .query_async(&mut conn)
        .await
        .unwrap_or(redis::Value::Nil);
    let entries: redis::Value = redis::cmd("XRANGE")
        .arg("healbot:work")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap_or(redis::Value::Nil);
    let chain = RedisAuditStore::open(redis, "main", None).unwrap();
    let tail: Vec<String> = chain
        .entries()
        .await
        .unwrap_or_default()
        .iter()
        .rev()
        .take(8)
        .map(|e| format!("{} {} {}", e.seq, e.action, e.detail))
        .collect();
    format!("{info:?}\n{entries:?}\n{tail:#?}")
}

fn main_history(fake: &FakeGithub) -> Vec<String> {
    let mut out = Vec::new();
    let mut sha = fake.branch(REPO, "main");
    while let Some(s) = sha {
        out.push(fake.commit_message(&s).unwrap_or_default());
        sha = fake.commit_parents(&s).into_iter().next();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_canary_is_taken_over_and_nothing_happens_twice() {
    let redis = RedisServer::start();
    let fake = FakeGithub::start().await;
    seed_repo(&fake, None);
    let exporter_addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let exporter = Arc::new(Exporter::new());
    exporter.register("payment-service", "stable");
    exporter.register("payment-service", "canary");
    exporter.serve(&exporter_addr.to_string()).await.unwrap();
    traffic(exporter.clone());
    let prometheus = Prometheus::start(exporter_addr).await;
    // The canary judge wants a dozen one-second samples of each track: let Prometheus
    // scrape that much history first.
    let client = PrometheusClient::new(&prometheus.url, Duration::from_secs(5)).unwrap();
    let scraped = Instant::now();
    loop {
        let q = r#"min(count_over_time(http_requests_total{service="payment-service"}[1m]))"#;
        let samples = client
            .query(q, None)
            .await
            .ok()
            .and_then(|r| r.first_value());
        if samples.is_some_and(|n| n >= 16.0) {
            break;
        }
        assert!(
            scraped.elapsed() < Duration::from_secs(60),
            "no traffic scraped"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let cluster = Cluster {
        root: tempfile::tempdir().unwrap(),
        redis: redis.url(),
        github: fake.url(),
        prometheus: prometheus.url.clone(),
    };
    std::fs::write(cluster.root.path().join("payment-service.log"), LOG).unwrap();
    let mut replicas: Vec<Replica> = ["r0", "r1", "r2"]
        .iter()
        .map(|n| cluster.start(n))
        .collect();
    for r in &replicas {
        r.ready().await;
    }

    // The incident: an alert on r0 opens the operation; some replica takes it to a PR.
    let alert = serde_json::json!({
        "version": "4", "groupKey": "{}:{service=\"payment-service\"}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "healbot",
        "groupLabels": {"service": "payment-service"},
        "commonLabels": {"service": "payment-service", "severity": "critical"},
        "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "HighErrorRate", "service": "payment-service", "severity": "critical"},
            "annotations": {"summary": "5xx ratio 16% for 2 minutes"},
            "startsAt": "2026-11-28T02:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph", "fingerprint": "5f1e2d3c4b5a6978"
        }]
    });
    let sent = healbot::http_client::client()
        .post(replicas[0].url("/webhooks/alertmanager"))
        .bearer_auth("alertmanager-token")
        .json(&alert)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    let logs = |replicas: &[Replica]| {
        replicas
            .iter()
            .map(|r| format!("== {}\n{}", r.name, r.log()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let opened = Instant::now();
    while fake.pr_numbers(REPO).is_empty() {
        assert!(
            opened.elapsed() < Duration::from_secs(60),
            "no PR opened:\n{}",
            logs(&replicas)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // 1,000 deliveries over the three replicas, every fourth one sent again to another
    // replica; the approval of the PR is one of them, sent to r1.
    let pr = fake.pr_numbers(REPO)[0];
    let mut sends: Vec<(usize, String, &'static str, Vec<u8>)> = Vec::new();
    let mut distinct = BTreeSet::new();
    // The approval and the pings: comments without a command need nothing from the app.
    let mut to_handle = BTreeSet::new();
    let mut i = 0;
    while sends.len() < DELIVERIES {
        let id = format!("crash-{i}");
        let (event, body) = if i == 100 {
            let head = fake.pr_head_sha(pr).expect("the fix branch");
            let body = review(pr, "alice", "approved", &head, 1);
            ("pull_request_review", serde_json::to_vec(&body).unwrap())
        } else {
            filler(i)
        };
        let target = if i == 100 { 1 } else { i % 3 };
        sends.push((target, id.clone(), event, body.clone()));
        if i % 4 == 0 && sends.len() < DELIVERIES {
            sends.push(((target + 1) % 3, id.clone(), event, body));
        }
        if event != "issue_comment" {
            to_handle.insert(id.clone());
        }
        distinct.insert(id);
        i += 1;
    }
    let mut killed: Option<usize> = None;
    for chunk in sends.chunks(16) {
        let posts: Vec<_> = chunk
            .iter()
            .map(|(target, id, event, body)| {
                // Once a replica is gone, the load balancer sends its share to the next one.
                let target = match killed {
                    Some(k) if k == *target => (k + 1) % replicas.len(),
                    _ => *target,
                };
                let url = replicas[target].url("/webhooks/github");
                let (id, event, body) = (id.clone(), *event, body.clone());
                tokio::spawn(async move { (target, post(url, event, &id, &body).await) })
            })
            .collect();
        for posted in posts {
            let (target, status) = posted.await.unwrap();
            assert!(
                status == 200 || status == 202,
                "replica r{target} answered {status}"
            );
        }
        // Kill whichever replica is driving the canary, once it is in flight.
        if killed.is_none()
            && fake
                .bot_comments()
                .iter()
                .any(|c| c.contains("10% of traffic"))
        {
            if let Some(driver) = driver_of_pending(&redis.url()).await {
                let index = replicas.iter().position(|r| r.name == driver).unwrap();
                replicas[index].kill();
                killed = Some(index);
                assert_mid_canary(&redis.url()).await;
            }
        }
    }
    // The canary may not have started while deliveries were still arriving.
    if killed.is_none() {
        let started = Instant::now();
        while !fake
            .bot_comments()
            .iter()
            .any(|c| c.contains("10% of traffic"))
        {
            if started.elapsed() > Duration::from_secs(60) {
                panic!(
                    "the canary did not start: {:#?}\nqueue: {}\n{}",
                    fake.bot_comments(),
                    queue_state(&redis.url()).await,
                    logs(&replicas)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let driver = driver_of_pending(&redis.url())
            .await
            .expect("a replica drives the canary");
        let index = replicas.iter().position(|r| r.name == driver).unwrap();
        replicas[index].kill();
        killed = Some(index);
        assert_mid_canary(&redis.url()).await;
    }
    let killed = killed.unwrap();

    // Another replica takes the work over and finishes the rollout.
    let done = Instant::now();
    while !fake
        .bot_comments()
        .iter()
        .any(|c| c.contains("Verification at 100%"))
    {
        assert!(
            done.elapsed() < Duration::from_secs(90),
            "the operation was not finished after r{killed} died:\n{:#?}\n{}",
            fake.bot_comments(),
            logs(&replicas)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The verification comment is mirrored before the transition is appended: wait for the
    // operation to end before reading its state.
    let chain = RedisAuditStore::open(&redis.url(), "main", None).unwrap();
    let ended = Instant::now();
    let states: Vec<OpState> = loop {
        let ops = fold_all(&chain.entries().await.unwrap()).unwrap();
        let states: Vec<OpState> = ops.values().map(|op| op.state).collect();
        if states.iter().all(|s| s.is_terminal()) || ended.elapsed() > Duration::from_secs(30) {
            break states;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(states, [OpState::Completed], "{}", logs(&replicas));

    // The killed replica comes back and finishes the deliveries it had recorded.
    let config = replicas[killed].dir.join("healbot.yaml");
    replicas[killed].spawn(&config);
    replicas[killed].ready().await;
    let mut received: BTreeMap<String, usize> = BTreeMap::new();
    let mut recorded = BTreeSet::new();
    wait_for("every delivery to be done", Duration::from_secs(30), || {
        received.clear();
        recorded.clear();
        let mut all_done = true;
        for r in &replicas {
            let (ids, done, ignored) = r.deliveries();
            for id in ids {
                all_done &= done.contains(&id);
                recorded.insert(id.clone());
                *received.entry(id).or_default() += 1;
            }
            recorded.extend(ignored);
        }
        all_done
    })
    .await;
    // Nothing lost: every delivery is in some replica's log.
    let lost: Vec<&String> = distinct
        .iter()
        .filter(|id| !recorded.contains(*id))
        .collect();
    assert!(lost.is_empty(), "deliveries lost: {lost:?}");
    // Exactly once: each delivery to handle was taken by one replica, however often it was
    // sent (the approval and the pings).
    let ours: BTreeMap<&String, &usize> = received
        .iter()
        .filter(|(id, _)| id.starts_with("crash-"))
        .collect();
    let taken: BTreeSet<&String> = ours.keys().copied().collect();
    assert_eq!(
        taken,
        to_handle.iter().collect(),
        "deliveries to handle lost or never taken"
    );
    assert!(
        ours.values().all(|&&n| n == 1),
        "a delivery was taken twice: {:?}",
        ours.iter().filter(|(_, &&n)| n > 1).collect::<Vec<_>>()
    );

    // One PR, one branch, each canary step committed and announced once.
    assert_eq!(fake.pr_numbers(REPO).len(), 1);
    let comments = fake.bot_comments();
    for step in [
        "10% of traffic",
        "50% of traffic",
        "100% of traffic",
        "Verification at 100%",
    ] {
        let n = comments.iter().filter(|c| c.contains(step)).count();
        assert_eq!(n, 1, "{step:?} posted {n} times: {comments:#?}");
    }
    let history = main_history(&fake);
    for weight in ["10%", "50%", "100%"] {
        let n = history
            .iter()
            .filter(|m| m.contains("canary") && m.contains(weight))
            .count();
        assert_eq!(n, 1, "{weight} committed {n} times: {history:#?}");
    }
    let branches = fake
        .seen()
        .iter()
        .filter(|s| s.method == "POST" && s.path.ends_with("/git/refs"))
        .count();
    assert_eq!(branches, 1, "branches created");

    // The shared chain verifies, and so does every replica's mirror of it.
    crate::replicas::assert_chain_verifies_on_redis(&redis.url());
    for r in &replicas {
        if r.name == replicas[killed].name {
            continue;
        }
        let report = healbot::audit::verify_file(&r.dir.join("state/audit.jsonl")).unwrap();
        assert!(report.broken.is_none(), "{}: {report:?}", r.name);
    }
}
