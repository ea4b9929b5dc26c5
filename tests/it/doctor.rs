//! `healbot doctor` and `/readyz` against real dependencies: a redis-server and a Prometheus
//! started by the test, the fake GitHub, and a Redis on a closed port for the failing case.

use crate::locks::RedisServer;
use crate::support::github::{test_key_path, FakeGithub, APP_ID};
use crate::support::prometheus::{exporter, ExporterState, Prometheus, Traffic};
use healbot::config::bot::{BotConfig, GithubApp, Secret};
use healbot::server::{self, ServeOptions};
use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn catalog() -> String {
    format!(
        "{}/testdata/services/payment-service/catalog.yaml",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A healbot.yaml in `dir` naming the fake GitHub, `redis` and `prometheus`.
fn write_config(dir: &Path, github: &str, redis: &str, prometheus: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("secret"), "webhook-secret-value\n").unwrap();
    let text = format!(
        "state_dir: state\n\
         webhook_secret_files: [secret]\n\
         github:\n  app_id: {APP_ID}\n  private_key_file: {key}\n  api_url: {github}\n\
         redis_url: {redis}\n\
         prometheus:\n  url: {prometheus}\n\
         catalog: {catalog}\n",
        key = test_key_path().display(),
        catalog = catalog(),
    );
    let path = dir.join("healbot.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn doctor(config: &Path, json: bool) -> (Option<i32>, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_healbot"));
    cmd.args(["doctor", "--config"]).arg(config);
    if json {
        cmd.args(["--format", "json"]);
    }
    let out = cmd.output().await.expect("run healbot doctor");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

fn rows(json: &str) -> Vec<(String, String, String)> {
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
                c["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn status_of<'a>(rows: &'a [(String, String, String)], check: &str) -> &'a str {
    rows.iter()
        .find(|r| r.0 == check)
        .map(|r| r.1.as_str())
        .unwrap_or_else(|| panic!("no row {check}: {rows:#?}"))
}

async fn prometheus() -> Prometheus {
    let state = Arc::new(Mutex::new(ExporterState::default()));
    state.lock().unwrap().traffic.insert(
        ("payment-service".into(), "stable".into()),
        Traffic {
            ok_per_scrape: 10,
            errors_per_scrape: 0,
            buckets: [10, 0, 0],
        },
    );
    Prometheus::start(exporter(state).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_on_real_redis_prometheus_and_github() {
    let redis = RedisServer::start();
    let prom = prometheus().await;
    let github = FakeGithub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &github.url(), &redis.url(), &prom.url);

    let (code, out) = doctor(&config, true).await;
    let rows = rows(&out);
    assert_eq!(code, Some(0), "{rows:#?}");
    for check in [
        "webhook secrets",
        "state dir",
        "policies",
        "fix templates",
        "catalog",
        "github app",
        "github installations",
        "redis",
        "prometheus",
    ] {
        assert_eq!(status_of(&rows, check), "ok", "{check}: {rows:#?}");
    }
    let redis_row = rows.iter().find(|r| r.0 == "redis").unwrap();
    assert!(
        redis_row.2.contains("PONG") && redis_row.2.contains("Redis "),
        "{redis_row:?}"
    );
    let installations = rows.iter().find(|r| r.0 == "github installations").unwrap();
    assert!(installations.2.starts_with("1:"), "{installations:?}");
    // Every query healbot runs was run, and Prometheus took each of them.
    let queries: Vec<_> = rows
        .iter()
        .filter(|r| r.0.starts_with("prometheus query "))
        .collect();
    assert!(queries.len() >= 9, "{queries:#?}");
    assert!(queries.iter().all(|r| r.1 != "fail"), "{queries:#?}");
    assert_eq!(status_of(&rows, "traces"), "skipped");
    assert_eq!(status_of(&rows, "notify"), "warn");
    // bubblewrap is installed with the tests (scripts/test) and isolates here.
    assert_eq!(status_of(&rows, "sandbox"), "ok");
    assert!(!out.contains("webhook-secret-value"), "{out}");

    // The table: a header and one aligned row per check.
    let (code, table) = doctor(&config, false).await;
    assert_eq!(code, Some(0));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("CHECK"), "{table}");
    assert_eq!(lines.len(), rows.len() + 1, "{table}");
    let column = lines[0].find("STATUS").unwrap();
    for line in &lines[1..] {
        let status = &line[column..];
        assert!(
            ["ok ", "warn ", "fail ", "skipped "]
                .iter()
                .any(|s| status.starts_with(s)),
            "misaligned: {line}"
        );
    }
    github.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_fails_on_a_closed_redis_port_without_printing_its_password() {
    let prom_port = closed_port();
    let github = FakeGithub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let redis = format!("redis://:hunter2@127.0.0.1:{}/0", closed_port());
    let config = write_config(
        dir.path(),
        &github.url(),
        &redis,
        &format!("http://127.0.0.1:{prom_port}"),
    );
    let (code, out) = doctor(&config, true).await;
    let rows = rows(&out);
    assert_eq!(code, Some(1), "{rows:#?}");
    assert_eq!(status_of(&rows, "redis"), "fail");
    assert_eq!(status_of(&rows, "prometheus"), "fail");
    assert_eq!(status_of(&rows, "github app"), "ok");
    assert!(!out.contains("hunter2"), "{out}");
    let (code, table) = doctor(&config, false).await;
    assert_eq!(code, Some(1));
    let redis_line = table.lines().find(|l| l.starts_with("redis ")).unwrap();
    assert!(redis_line.contains(" fail "), "{table}");
    assert!(!table.contains("hunter2"), "{table}");
}

async fn readyz(redis_url: String, github: &FakeGithub) -> (u16, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BotConfig::new(dir.path().join("state"), vec![Secret::new("s")]);
    config.redis_url = Some(redis_url);
    config.github = Some(GithubApp {
        app_id: APP_ID,
        private_key_file: test_key_path(),
        api_url: github.url(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handle = server::serve_on(listener, config, ServeOptions::default())
        .await
        .unwrap();
    let client = healbot::http_client::client();
    let base = format!("http://{}", handle.addr);
    let response = client.get(format!("{base}/readyz")).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Liveness stays cheap and up whatever the dependencies say.
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    handle.shutdown().await.unwrap();
    (status, body, metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_200_with_its_dependencies_up_and_503_with_redis_down() {
    let redis = RedisServer::start();
    let github = FakeGithub::start().await;

    let (status, body, metrics) = readyz(redis.url(), &github).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ready"], true);
    let checks = body["checks"].as_array().unwrap();
    let of = |name: &str| {
        checks
            .iter()
            .find(|c| c["check"] == name)
            .map(|c| c["status"].as_str().unwrap().to_string())
    };
    assert_eq!(of("redis").as_deref(), Some("ok"));
    assert_eq!(of("github app").as_deref(), Some("ok"));
    assert_eq!(of("prometheus").as_deref(), Some("skipped"));
    // The GitHub call /readyz made is on /metrics, with the limit GitHub said was left.
    assert!(
        metrics.contains("healbot_github_api_calls_total{method=\"GET\",status=\"200\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("healbot_github_rate_limit_remaining "),
        "{metrics}"
    );
    assert!(metrics.contains("healbot_build_info{version="), "{metrics}");

    let down = format!("redis://:hunter2@127.0.0.1:{}/0", closed_port());
    let (status, body, _) = readyz(down, &github).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ready"], false);
    assert!(!body.to_string().contains("hunter2"), "{body}");
    github.assert_clean();
}

/// The export targets get a dry run each: Elasticsearch's `GET /` with the API key, and an
/// OTLP export with no spans; a refused key fails its row without showing the key.
#[tokio::test]
async fn doctor_dry_runs_the_audit_shipper_and_the_otlp_collector() {
    use wiremock::matchers::{body_bytes, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let es = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/"))
        .and(header("authorization", "ApiKey good-es-key"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"version": {"number": "8.15.0"}})),
        )
        .mount(&es)
        .await;
    Mock::given(method("GET"))
        .and(path("/"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&es)
        .await;
    let collector = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .and(header("authorization", "Bearer otlp-t0ken"))
        .and(body_bytes(Vec::<u8>::new()))
        .respond_with(ResponseTemplate::new(200))
        .mount(&collector)
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), "webhook-secret-value\n").unwrap();
    std::fs::write(
        dir.path().join("otlp-headers"),
        "Authorization: Bearer otlp-t0ken\n",
    )
    .unwrap();
    let config = |key: &str| {
        std::fs::write(dir.path().join("es-key"), key).unwrap();
        let path = dir.path().join("healbot.yaml");
        std::fs::write(
            &path,
            format!(
                "state_dir: state\nwebhook_secret_files: [secret]\n\
                 audit_elasticsearch: {{url: '{}', api_key_file: es-key}}\n\
                 otlp: {{endpoint: '{}', headers_file: otlp-headers}}\n",
                es.uri(),
                collector.uri()
            ),
        )
        .unwrap();
        path
    };
    let (_, json) = doctor(&config("good-es-key"), true).await;
    let got = rows(&json);
    assert_eq!(
        status_of(&got, "audit shipping (elasticsearch)"),
        "ok",
        "{json}"
    );
    assert_eq!(status_of(&got, "otlp export"), "ok", "{json}");
    assert!(json.contains("Elasticsearch 8.15.0"), "{json}");

    let (code, json) = doctor(&config("stale-es-key"), true).await;
    assert_ne!(code, Some(0), "{json}");
    let got = rows(&json);
    assert_eq!(
        status_of(&got, "audit shipping (elasticsearch)"),
        "fail",
        "{json}"
    );
    assert!(json.contains("API key was refused"), "{json}");
    assert!(
        !json.contains("stale-es-key") && !json.contains("otlp-t0ken"),
        "{json}"
    );
}
