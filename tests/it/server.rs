//! `healbot serve` over real HTTP on loopback: signatures, the delivery log's dedupe across a
//! restart, status codes for bad input, and the worker handing events to the handler.

use async_trait::async_trait;
use healbot::config::bot::{BotConfig, GithubApp, InboundTokens, Secret};
use healbot::server::signature::sign;
use healbot::server::{
    serve_on, DeliveryHandler, GithubDelivery, HandlerError, ServeOptions, ServerHandle,
};
use reqwest::StatusCode;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "test-webhook-secret";
const INBOUND_TOKEN: &str = "test-inbound-token";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/github-webhooks");

fn config(state: &Path) -> BotConfig {
    BotConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        inbound: InboundTokens {
            alertmanager: vec![Secret::new(INBOUND_TOKEN)],
            argo: vec![Secret::new(INBOUND_TOKEN)],
        },
        ..BotConfig::new(
            state.to_path_buf(),
            vec![Secret::new("old-secret"), Secret::new(SECRET)],
        )
    }
}

async fn start(state: &Path, options: ServeOptions) -> ServerHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_on(listener, config(state), options).await.unwrap()
}

/// (event, file name, body) for every fixture.
fn fixtures() -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(FIXTURES).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let event = dir.file_name().unwrap().to_string_lossy().to_string();
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            out.push((event.clone(), name, std::fs::read(&path).unwrap()));
        }
    }
    out.sort();
    assert!(out.len() >= 15, "fixtures missing under {FIXTURES}");
    out
}

struct Post<'a> {
    event: &'a str,
    id: &'a str,
    body: Vec<u8>,
    signature: Option<String>,
}

impl<'a> Post<'a> {
    fn signed(event: &'a str, id: &'a str, body: Vec<u8>) -> Post<'a> {
        let signature = Some(sign(SECRET.as_bytes(), &body));
        Post {
            event,
            id,
            body,
            signature,
        }
    }
}

async fn post(h: &ServerHandle, p: Post<'_>) -> (StatusCode, Value) {
    let mut req = healbot::http_client::client()
        .post(format!("http://{}/webhooks/github", h.addr))
        .header("X-GitHub-Event", p.event)
        .header("X-GitHub-Delivery", p.id)
        .header("content-type", "application/json")
        .body(p.body);
    if let Some(sig) = p.signature {
        req = req.header("X-Hub-Signature-256", sig);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn get(h: &ServerHandle, path: &str) -> String {
    healbot::http_client::client()
        .get(format!("http://{}{path}", h.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// `healbot_webhook_deliveries_total{source,outcome="…"}` as /metrics shows it, summed over
/// the sources.
async fn counter(h: &ServerHandle, outcome: &str) -> u64 {
    let text = get(h, "/metrics").await;
    let suffix = format!(",outcome=\"{outcome}\"}}");
    let values: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("healbot_webhook_deliveries_total{source=\""))
        .filter_map(|l| l.split_once(' '))
        .filter(|(labels, _)| labels.ends_with(&suffix))
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    assert_eq!(
        values.len(),
        3,
        "one {outcome} counter per source in:\n{text}"
    );
    values.iter().sum()
}

/// Waits for the worker to have processed `n` deliveries.
async fn processed(h: &ServerHandle, n: u64) {
    for _ in 0..200 {
        if counter(h, "processed").await >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("worker did not process {n} deliveries");
}

/// Remembers every delivery id the worker handed over.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

#[async_trait]
impl DeliveryHandler for Recorder {
    async fn handle(&self, d: GithubDelivery) -> Result<(), HandlerError> {
        self.0.lock().unwrap().push(d.id);
        Ok(())
    }
}

#[tokio::test]
async fn every_fixture_is_accepted_signed_and_refused_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), ServeOptions::default()).await;
    for (i, (event, name, body)) in fixtures().into_iter().enumerate() {
        let id = format!("fixture-{i}");
        let what = format!("{event}/{name}");
        let unsigned = Post {
            event: &event,
            id: &id,
            body: body.clone(),
            signature: None,
        };
        assert_eq!(
            post(&h, unsigned).await.0,
            StatusCode::UNAUTHORIZED,
            "{what}"
        );
        let wrong = Post {
            signature: Some(sign(b"not-the-secret", &body)),
            ..Post::signed(&event, &id, body.clone())
        };
        assert_eq!(post(&h, wrong).await.0, StatusCode::UNAUTHORIZED, "{what}");
        let mut tampered = body.clone();
        tampered.push(b' ');
        let tampered = Post {
            signature: Some(sign(SECRET.as_bytes(), &body)),
            ..Post::signed(&event, &id, tampered)
        };
        assert_eq!(
            post(&h, tampered).await.0,
            StatusCode::UNAUTHORIZED,
            "{what}"
        );
        let (status, reply) = post(&h, Post::signed(&event, &id, body)).await;
        assert!(status.is_success(), "{what}: {status} {reply}");
    }
    assert_eq!(counter(&h, "rejected").await, 3 * fixtures().len() as u64);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn replayed_delivery_is_processed_once_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder::default());
    let options = ServeOptions {
        handler: Some(recorder.clone()),
        log: None,
        claims: None,
    };
    let body = std::fs::read(format!("{FIXTURES}/pull_request/opened.payload.json")).unwrap();
    let id = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

    let h = start(dir.path(), options.clone()).await;
    let (status, reply) = post(&h, Post::signed("pull_request", id, body.clone())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    assert_eq!(reply["status"], "queued");
    let (status, reply) = post(&h, Post::signed("pull_request", id, body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["status"], "duplicate");
    processed(&h, 1).await;
    assert_eq!(counter(&h, "duplicate").await, 1);
    h.shutdown().await.unwrap();

    // The dedupe set is rebuilt from the delivery log.
    let h = start(dir.path(), options).await;
    let (status, _) = post(&h, Post::signed("pull_request", id, body.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(counter(&h, "duplicate").await, 1);
    assert_eq!(counter(&h, "processed").await, 0);
    h.shutdown().await.unwrap();
    assert_eq!(*recorder.0.lock().unwrap(), vec![id.to_string()]);

    let log = delivery_log_text(dir.path());
    let first: Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], id);
    assert_eq!(first["event"], "pull_request");
    assert_eq!(first["action"], "opened");
    assert!(first["received_at"].is_string());
    // What healbot reads of the body is kept inline, on the delivery's own line: it reads
    // back to the same event, and the rest of the 28 KB payload is not written.
    let kept = serde_json::to_vec(&first["body"]).unwrap();
    let event = |b: &[u8]| {
        healbot::server::events::GithubEvent::parse_slice("pull_request", b)
            .unwrap()
            .event
            .unwrap()
    };
    assert_eq!(event(&kept), event(&body));
    assert!(kept.len() * 10 < body.len(), "{} bytes kept", kept.len());
    let sent: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        first["body"]["pull_request"]["head"]["sha"],
        sent["pull_request"]["head"]["sha"]
    );
}

/// Every line of the delivery log, sealed segments first.
fn delivery_log_text(state: &Path) -> String {
    healbot::server::delivery_log::log_text(state)
}

#[tokio::test]
async fn bad_bodies_and_unknown_events_get_their_status() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), ServeOptions::default()).await;
    let malformed = Post::signed("pull_request", "m1", b"{\"action\": ".to_vec());
    assert_eq!(post(&h, malformed).await.0, StatusCode::BAD_REQUEST);
    let wrong_shape = Post::signed("pull_request", "m2", br#"{"action":"opened"}"#.to_vec());
    let (status, reply) = post(&h, wrong_shape).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(reply["message"].as_str().unwrap().contains("pull_request"));
    let no_id = Post::signed("ping", "../../etc", b"{}".to_vec());
    assert_eq!(post(&h, no_id).await.0, StatusCode::BAD_REQUEST);

    let (status, reply) = post(&h, Post::signed("star", "u1", b"{}".to_vec())).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(reply["status"], "ignored");
    let edited = std::fs::read(format!("{FIXTURES}/issue_comment/edited.payload.json")).unwrap();
    let (status, reply) = post(&h, Post::signed("issue_comment", "u2", edited)).await;
    assert_eq!(
        (status, reply["status"].clone()),
        (StatusCode::ACCEPTED, "ignored".into())
    );
    assert_eq!(counter(&h, "ignored").await, 2);

    let huge = vec![b' '; healbot::server::MAX_BODY_BYTES + 1];
    let (status, _) = post(&h, Post::signed("ping", "big", huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(counter(&h, "rejected").await, 4);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn random_signed_bytes_never_break_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), ServeOptions::default()).await;
    let events = [
        "pull_request",
        "issue_comment",
        "check_run",
        "installation",
        "ping",
        "x",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let valid = std::fs::read(format!("{FIXTURES}/pull_request/closed.payload.json")).unwrap();
    for i in 0..150 {
        let body: Vec<u8> = match i % 3 {
            // Random bytes.
            0 => (0..next() % 512).map(|_| next() as u8).collect(),
            // A real payload cut short.
            1 => valid[..(next() as usize % valid.len())].to_vec(),
            // A real payload with bytes flipped.
            _ => {
                let mut b = valid.clone();
                for _ in 0..4 {
                    let at = next() as usize % b.len();
                    b[at] = next() as u8;
                }
                b
            }
        };
        let event = events[next() as usize % events.len()];
        let id = format!("fuzz-{i}");
        let (status, _) = post(&h, Post::signed(event, &id, body)).await;
        assert!(!status.is_server_error(), "{event} #{i}: {status}");
    }
    let health: Value = serde_json::from_str(&get(&h, "/healthz").await).unwrap();
    assert_eq!(health["ok"], true);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn healthz_metrics_and_other_webhooks() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), ServeOptions::default()).await;
    let health: Value = serde_json::from_str(&get(&h, "/healthz").await).unwrap();
    assert_eq!(health["ok"], true);
    assert_eq!(health["github_credentials"], "missing");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["queue_depth"].is_u64());
    let metrics = get(&h, "/metrics").await;
    assert!(metrics.contains("# TYPE healbot_webhook_deliveries_total counter"));

    let client = healbot::http_client::client();
    for route in ["alertmanager", "argo"] {
        let url = format!("http://{}/webhooks/{route}", h.addr);
        let ok = client
            .post(&url)
            .bearer_auth(INBOUND_TOKEN)
            .body(r#"{"alerts":[]}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::ACCEPTED, "{route}");
        let bad = client
            .post(&url)
            .bearer_auth(INBOUND_TOKEN)
            .body("{")
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST, "{route}");
    }
    processed(&h, 2).await;
    h.shutdown().await.unwrap();
    let log = delivery_log_text(dir.path());
    assert!(log.contains(r#""source":"alertmanager""#) && log.contains(r#""source":"argo""#));
}

#[tokio::test]
async fn healthz_says_credentials_present_with_an_app_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(&key, "not checked here").unwrap();
    let mut cfg = config(&dir.path().join("state"));
    cfg.github = Some(GithubApp {
        app_id: 1,
        private_key_file: key,
        api_url: "http://127.0.0.1:1".into(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let h = serve_on(listener, cfg, ServeOptions::default())
        .await
        .unwrap();
    let health: Value = serde_json::from_str(&get(&h, "/healthz").await).unwrap();
    assert_eq!(health["github_credentials"], "present");
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn installations_are_tracked_in_the_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), ServeOptions::default()).await;
    for (i, (event, file)) in [
        ("installation", "created.payload.json"),
        ("installation_repositories", "added.payload.json"),
    ]
    .into_iter()
    .enumerate()
    {
        let body = std::fs::read(format!("{FIXTURES}/{event}/{file}")).unwrap();
        let id = format!("inst-{i}");
        assert!(post(&h, Post::signed(event, &id, body))
            .await
            .0
            .is_success());
        processed(&h, i as u64 + 1).await;
    }
    h.shutdown().await.unwrap();
    let text = std::fs::read_to_string(dir.path().join("installations.json")).unwrap();
    let map: Value = serde_json::from_str(&text).unwrap();
    let repos = &map["957387"]["repositories"];
    assert_eq!(
        *repos,
        serde_json::json!(["Codertocat/Hello-World", "Codertocat/Space"]),
        "{text}"
    );
}

/// Without the App's credentials only installations (and pings) are queued: a pull request or
/// a `/heal` comment is one `ignored` line of the log, never handed to the worker.
#[tokio::test]
async fn without_credentials_only_installations_are_queued() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), ServeOptions::default()).await;
    let mut comment: Value = serde_json::from_slice(
        &std::fs::read(format!("{FIXTURES}/issue_comment/created.payload.json")).unwrap(),
    )
    .unwrap();
    comment["comment"]["body"] = Value::from("/heal approve");
    comment["issue"]["pull_request"] = serde_json::json!({"url": "x"});
    let deliveries = [
        (
            "pull_request",
            std::fs::read(format!("{FIXTURES}/pull_request/opened.payload.json")).unwrap(),
        ),
        ("issue_comment", serde_json::to_vec(&comment).unwrap()),
    ];
    for (i, (event, body)) in deliveries.into_iter().enumerate() {
        let (status, reply) = post(&h, Post::signed(event, &format!("plain-{i}"), body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{event}: {reply}");
        assert_eq!(reply["status"], "ignored", "{event}: {reply}");
    }
    let body = std::fs::read(format!("{FIXTURES}/installation/created.payload.json")).unwrap();
    let (_, reply) = post(&h, Post::signed("installation", "inst", body)).await;
    assert_eq!(reply["status"], "queued", "{reply}");
    processed(&h, 1).await;
    assert_eq!(counter(&h, "ignored").await, 2);
    h.shutdown().await.unwrap();
    let log = delivery_log_text(dir.path());
    let ignored = log
        .lines()
        .filter(|l| l.contains(r#""ignored":true"#))
        .count();
    assert_eq!(ignored, 2, "{log}");
}

fn healbot() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_healbot"));
    cmd.env_remove("HEALBOT_WEBHOOK_SECRET");
    cmd
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("healbot.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn serve_without_a_secret_exits_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "listen: 127.0.0.1:0\nstate_dir: state\n");
    let out = healbot()
        .arg("serve")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no webhook secret"), "{stderr}");
}

/// With GitHub credentials, `serve` works on the user's dependency graph or not at all: no
/// catalog, no start, and the message says what to set.
#[test]
fn serve_with_github_credentials_and_no_catalog_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), "s3cret").unwrap();
    let key = crate::support::github::test_key_path();
    let cfg = write_config(
        dir.path(),
        &format!(
            "listen: 127.0.0.1:0\nstate_dir: state\nwebhook_secret_files: [secret]\n\
             github: {{app_id: 1, private_key_file: {}, api_url: http://127.0.0.1:9}}\n\
             prometheus: {{url: http://127.0.0.1:9}}\n",
            key.display()
        ),
    );
    let out = healbot()
        .arg("serve")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no `catalog:`"), "{stderr}");
    assert!(stderr.contains("set `catalog:`"), "{stderr}");
}

#[test]
fn example_config_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/healbot.yaml");
    let cfg = BotConfig::load(&path, Some("example")).unwrap();
    assert!(cfg.github_credentials_present());
    assert_eq!(cfg.listen.port(), 8080);
}
