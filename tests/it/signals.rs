//! Integration tests: the real signal sources against a real Prometheus and loopback servers
//! that answer as Loki and Elasticsearch document, and `healbot rca` on a generated fault and
//! on Prometheus series.

use crate::support::prometheus::{
    exporter, serve_http, ExporterState, Handler, Prometheus, Traffic,
};
use healbot::signals::elasticsearch::ElasticsearchLogs;
use healbot::signals::loki::LokiLogs;
use healbot::signals::prometheus::{
    MetricQueries, PrometheusClient, PrometheusError, PrometheusMetrics,
};
use healbot::signals::{LogSource, MetricsSource};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/testdata/signals/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

fn traffic(ok: u64, errors: u64, buckets: [u64; 3]) -> Traffic {
    Traffic {
        ok_per_scrape: ok,
        errors_per_scrape: errors,
        buckets,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_health_and_canary_from_a_real_server() {
    let state = Arc::new(Mutex::new(ExporterState::default()));
    {
        let mut s = state.lock().unwrap();
        s.traffic.insert(
            ("checkout".into(), "stable".into()),
            traffic(95, 5, [90, 8, 2]),
        );
        s.traffic.insert(
            ("checkout".into(), "canary".into()),
            traffic(80, 20, [50, 30, 20]),
        );
    }
    let target = exporter(state.clone()).await;
    let prometheus = Prometheus::start(target).await;
    let client = PrometheusClient::new(&prometheus.url, Duration::from_secs(5)).unwrap();
    let policy: healbot::config::detection::DetectionPolicy =
        serde_norway::from_str(&fixture("../../policies/detection.yaml")).unwrap();
    let mut metrics = PrometheusMetrics::new(client.clone(), MetricQueries::from_policy(&policy));
    metrics.canary_window = Duration::from_secs(20);
    metrics.canary_step = Duration::from_secs(1);

    // Rates need two scrapes in the window.
    let deadline = Instant::now() + Duration::from_secs(40);
    let health = loop {
        let health = metrics.health().await.unwrap();
        if health
            .first()
            .is_some_and(|h| h.error_rate > 0.0 && h.latency_p95_ms > 0.0)
        {
            break health;
        }
        assert!(
            Instant::now() < deadline,
            "no rate from prometheus after 40 s: {health:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(health.len(), 1);
    let h = &health[0];
    assert_eq!(h.service, "checkout");
    // Stable and canary together: 25 errors in 200 requests per scrape.
    assert!((h.error_rate - 0.125).abs() < 1e-3, "{h:?}");
    // 190th of 200 lies in the (0.5, 2.5] bucket holding 178..200.
    let p95 = (0.5 + 2.0 * (190.0 - 178.0) / 22.0) * 1000.0;
    assert!((h.latency_p95_ms - p95).abs() < 1.0, "{h:?} vs {p95}");
    assert!(h.requests > 0);

    let canary = metrics.canary_samples("checkout").await.unwrap();
    let (c, b) = (&canary.canary["error_rate"], &canary.baseline["error_rate"]);
    assert!(!c.is_empty() && !b.is_empty(), "{canary:?}");
    assert!(c.iter().all(|x| (x - 0.2).abs() < 1e-3), "{c:?}");
    assert!(b.iter().all(|x| (x - 0.05).abs() < 1e-3), "{b:?}");
    assert!(!canary.canary["latency_ms"].is_empty());

    let slo = metrics
        .slo_window_error_rate("checkout", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert!((slo - 0.125).abs() < 0.01, "{slo}");
    assert_eq!(
        metrics
            .slo_window_error_rate("nobody", Duration::from_secs(60))
            .await
            .unwrap(),
        None
    );

    // The test changes the traffic: the canary heals, the instant query follows.
    let before = client
        .query("sum(http_requests_total)", None)
        .await
        .unwrap();
    assert!(before.first_value().unwrap() > 0.0);

    let e = client.query("sum(rate(", None).await.unwrap_err();
    assert!(
        matches!(&e, PrometheusError::Api { status: 400, error_type, .. } if error_type == "bad_data"),
        "{e}"
    );
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let range = client
        .query_range(
            "sum(http_requests_total)",
            end - 10.0,
            end,
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert!(matches!(
        range,
        healbot::signals::prometheus::QueryResult::Matrix(_)
    ));
}

#[tokio::test]
async fn prometheus_timeouts_and_refusals_are_typed() {
    // Accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let client =
        PrometheusClient::new(&format!("http://{addr}"), Duration::from_millis(300)).unwrap();
    let e = client.query("up", None).await.unwrap_err();
    assert!(matches!(e, PrometheusError::Timeout { .. }), "{e}");

    let handler: Handler = Arc::new(|_| (502, "text/html".into(), "<h1>Bad Gateway</h1>".into()));
    let (addr, _) = serve_http(handler).await;
    let client = PrometheusClient::new(&format!("http://{addr}"), Duration::from_secs(2)).unwrap();
    let e = client.query("up", None).await.unwrap_err().to_string();
    assert!(e.contains("502") && e.contains("not JSON"), "{e}");
}

#[tokio::test]
async fn loki_lines_are_joined_into_traces() {
    let body = fixture("logs/loki-query-range.json");
    let handler: Handler = Arc::new(move |_| (200, "application/json".into(), body.clone()));
    let (addr, seen) = serve_http(handler).await;
    let loki = LokiLogs::new(&format!("http://{addr}"), Duration::from_secs(2)).unwrap();
    let errors = loki.error_logs("carts").await.unwrap();
    let target = seen.lock().unwrap()[0].target.clone();
    assert!(
        target.starts_with("/loki/api/v1/query_range?query=%7Bservice%3D%22carts%22%7D"),
        "{target}"
    );
    assert!(target.contains("direction=forward"), "{target}");
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert_eq!(errors[0].message, "Unhandled exception on GET /cart/42");
    assert_eq!(errors[0].count, 2);
    assert!(errors[0]
        .stacktrace
        .as_deref()
        .unwrap()
        .contains("RuntimeError: cart lookup failed"));
    assert_eq!(errors[1].message, "upstream pricing timed out after 2s");
}

#[tokio::test]
async fn loki_errors_say_what_failed() {
    let handler: Handler = Arc::new(|_| {
        (
            400,
            "text/plain".into(),
            "parse error at line 1, col 2: syntax error".into(),
        )
    });
    let (addr, _) = serve_http(handler).await;
    let loki = LokiLogs::new(&format!("http://{addr}"), Duration::from_secs(2)).unwrap();
    let e = loki.error_logs("carts").await.unwrap_err().to_string();
    assert!(e.contains("HTTP 400") && e.contains("syntax error"), "{e}");
}

#[tokio::test]
async fn elasticsearch_hits_become_error_lines() {
    let body = fixture("logs/es-search.json");
    let handler: Handler = Arc::new(move |_| (200, "application/json".into(), body.clone()));
    let (addr, seen) = serve_http(handler).await;
    let es = ElasticsearchLogs::new(
        &format!("http://{addr}"),
        "logs-orders",
        Duration::from_secs(2),
    )
    .unwrap();
    let errors = es.error_logs("orders").await.unwrap();
    let request = seen.lock().unwrap()[0].clone();
    assert_eq!(request.method, "POST");
    assert_eq!(request.target, "/logs-orders/_search");
    assert!(
        request.body.contains(r#""service.name":"orders""#),
        "{}",
        request.body
    );
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].message, "order failed");
    assert_eq!(errors[0].count, 2);
    assert!(errors[0]
        .stacktrace
        .as_deref()
        .unwrap()
        .contains("Caused by:"));

    let handler: Handler = Arc::new(|_| {
        (404, "application/json".into(), r#"{"error":{"type":"index_not_found_exception","reason":"no such index [logs-x]"},"status":404}"#.into())
    });
    let (addr, _) = serve_http(handler).await;
    let es = ElasticsearchLogs::new(&format!("http://{addr}"), "logs-x", Duration::from_secs(2))
        .unwrap();
    let e = es.error_logs("orders").await.unwrap_err().to_string();
    assert!(e.contains("no such index [logs-x]"), "{e}");
}

#[test]
fn rca_command_ranks_the_injected_fault_first() {
    // A generated Sock Shop run (testdata/rca/README.md): memory fault in user-db.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rca");
    let rca = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_healbot"))
            .args(["rca", "--format", "json", "--metrics"])
            .arg(dir.join("sock-shop-memory.csv"))
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let catalog = dir.join("sock-shop.yaml");
    let catalog = catalog.to_str().unwrap();
    for extra in [
        &["--anomaly-start", "1700400528"][..],
        &[],
        &["--graph", catalog],
        &["--graph", catalog, "--anomaly-start", "1700400528"],
    ] {
        let ranking = rca(extra);
        let first = &ranking[0];
        assert_eq!(first["service"], "user-db", "{extra:?}: {ranking:#}");
        assert_eq!(first["metric"], "mem", "{extra:?}");
        assert!(first["score"].is_number());
        // Each line says what each signal contributed and when the anomaly started.
        let evidence = &first["evidence"];
        assert!(evidence["metrics"]["contribution"].is_number(), "{first:#}");
        assert_eq!(evidence["metrics"]["columns"][0]["column"], "user-db_mem");
        assert_eq!(evidence["graph"].is_number(), extra.contains(&"--graph"));
        // Given, it is the first sample at or after it; found, it is near (the database's
        // memory climbs for a while before it is unmistakable).
        let start = first["anomaly_start"].as_f64().unwrap();
        let given = extra.contains(&"--anomaly-start");
        assert!(
            if given {
                start == 1700400528.0
            } else {
                (start - 1700400528.0).abs() <= 120.0
            },
            "{extra:?}: start {start}"
        );
    }

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(["rca", "--metrics", "/nonexistent.csv"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.csv"));
}

/// `healbot rca --prometheus`: a real Prometheus scrapes per-pod CPU counters; one pod's
/// Deployment starts burning CPU; the label map names the pods' owners and the ranking puts
/// that Deployment first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rca_reads_prometheus_through_the_label_map() {
    use crate::support::prometheus::Seen;
    // (scrapes so far, unix time the hog started)
    let state: Arc<Mutex<(u64, Option<f64>)>> = Arc::default();
    let exporter_state = state.clone();
    let handler: Handler = Arc::new(move |req: &Seen| {
        if !req.target.starts_with("/metrics") {
            return (404, "text/plain".into(), String::new());
        }
        let mut s = exporter_state.lock().unwrap();
        s.0 += 1;
        let n = s.0 as f64;
        // cart's pods use 0.1 CPU seconds a scrape until the 8th scrape, then 1.0 each.
        let hog_after = 8.0;
        if n > hog_after && s.1.is_none() {
            s.1 = Some(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs_f64(),
            );
        }
        let cart = 0.1 * n.min(hog_after) + 1.0 * (n - hog_after).max(0.0);
        let orders = 0.1 * n;
        let body = format!(
            "# TYPE container_cpu_usage_seconds_total counter\n\
             container_cpu_usage_seconds_total{{namespace=\"shop\",pod=\"cart-5b7c9d8f6d-aaaaa\",container=\"cart\"}} {cart}\n\
             container_cpu_usage_seconds_total{{namespace=\"shop\",pod=\"orders-7d9f8b6c4-x2k9q\",container=\"orders\"}} {orders}\n\
             container_cpu_usage_seconds_total{{namespace=\"shop\",pod=\"\",container=\"\"}} 1\n"
        );
        (200, "text/plain; version=0.0.4".into(), body)
    });
    let (addr, _) = serve_http(handler).await;
    let prometheus = Prometheus::start(addr).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let started = loop {
        let s = *state.lock().unwrap();
        if let (n, Some(at)) = s {
            if n >= 16 {
                break at;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the exporter was not scraped 16 times"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), "s3cret").unwrap();
    let config = dir.path().join("healbot.yaml");
    std::fs::write(
        &config,
        "state_dir: state\nwebhook_secret_files: [secret]\n\
         rca:\n  label_map: [{label: pod}]\n  queries:\n    cpu_seconds_total: container_cpu_usage_seconds_total\n",
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args([
            "rca",
            "--format",
            "json",
            "--step",
            "1",
            "--prometheus",
            &prometheus.url,
        ])
        .args(["--from", &format!("{}", (started - 8.0).floor())])
        .args(["--to", &format!("{}", now.floor())])
        .args(["--anomaly-start", &format!("{}", started.ceil() + 1.0)])
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ranking: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ranking[0]["service"], "cart", "{ranking:#}");
    assert_eq!(ranking[0]["metric"], "cpu_seconds_total");
    assert_eq!(
        ranking[0]["evidence"]["metrics"]["columns"][0]["rate"],
        true
    );
    assert_eq!(ranking[1]["service"], "orders");
    // The series without a pod matched no rule and is said to be left out.
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 series matched no rule"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
