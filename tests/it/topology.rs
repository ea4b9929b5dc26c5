//! The dependency graph from live sources: Jaeger (api_v3), Tempo and Hypertrace through the
//! test HTTP server fed with their documented response shapes, a real Prometheus scraping an
//! exporter of Istio- and Linkerd-shaped request counters, and `healbot graph refresh|show`
//! putting them together from healbot.yaml.

use crate::support::prometheus::{serve_http, Handler, Prometheus, Seen};
use healbot::signals::hypertrace::HypertraceTraces;
use healbot::signals::jaeger::JaegerTraces;
use healbot::signals::tempo::TempoTraces;
use healbot::signals::trace_source::{TraceSource, Window};
use healbot::topology::mesh::{self, Mesh};
use healbot::topology::spans::from_spans;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn fixture(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/signals/traces")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

const WINDOW: Window = Window {
    from: 1_699_999_000.0,
    to: 1_700_000_100.0,
};

fn shop_edges(spans: &[healbot::signals::traces::Span]) -> Vec<(String, String)> {
    let g = from_spans(spans);
    g.edges
        .iter()
        .map(|e| (e.caller.clone(), e.callee.clone()))
        .collect()
}

fn shop() -> Vec<(String, String)> {
    [
        ("checkout", "payments"),
        ("checkout", "postgres"),
        ("frontend", "checkout"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

/// A Jaeger query service: the shop's services; traces for `frontend`, a 404 (nothing found)
/// for the others, as api_v3 answers an empty search.
fn jaeger_handler() -> Handler {
    Arc::new(|req: &Seen| {
        let json = "application/json".to_string();
        if req.target == "/api/v3/services" {
            (200, json, fixture("jaeger-api-v3/shop-services.json"))
        } else if req
            .target
            .starts_with("/api/v3/traces?query.serviceName=frontend&")
        {
            (200, json, fixture("jaeger-api-v3/shop-traces.json"))
        } else if req.target.starts_with("/api/v3/traces?") {
            (
                404,
                json,
                r#"{"error":{"httpCode":404,"message":"trace not found"}}"#.into(),
            )
        } else {
            (
                500,
                "text/plain".into(),
                format!("unexpected {}", req.target),
            )
        }
    })
}

#[tokio::test]
async fn jaeger_api_v3_gives_spans_and_the_graph() {
    let (addr, seen) = serve_http(jaeger_handler()).await;
    let jaeger = JaegerTraces::new(&format!("http://{addr}"), Duration::from_secs(5)).unwrap();
    let spans = jaeger.spans(WINDOW).await.unwrap();
    assert_eq!(spans.len(), 8);
    assert_eq!(shop_edges(&spans), shop());
    assert_eq!(spans.iter().filter(|s| s.error).count(), 3);
    let search = seen
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.target.contains("serviceName=frontend"))
        .cloned()
        .unwrap();
    // RFC 3339 times, as the api_v3 gateway parses them.
    assert!(
        search
            .target
            .contains("query.startTimeMin=2023-11-14T21%3A56%3A40.000000000Z"),
        "{}",
        search.target
    );

    // Jaeger's own golden bodies parse too (a resource without service.name is OTel's default).
    let golden: Handler = Arc::new(|req: &Seen| {
        let body = if req.target == "/api/v3/services" {
            fixture("jaeger-api-v3/GetServices.json")
        } else {
            fixture("jaeger-api-v3/FindTraces.json")
        };
        (200, "application/json".into(), body)
    });
    let (addr, _) = serve_http(golden).await;
    let jaeger = JaegerTraces::new(&format!("http://{addr}"), Duration::from_secs(5)).unwrap();
    assert_eq!(jaeger.services().await.unwrap(), ["foo"]);
    let spans = jaeger.spans(WINDOW).await.unwrap();
    assert_eq!(spans.len(), 1);
    assert!(spans[0].error);
    assert_eq!(spans[0].service, "unknown_service");

    // A server error is named with its status and body.
    let broken: Handler = Arc::new(|_: &Seen| (503, "text/plain".into(), "overloaded".into()));
    let (addr, _) = serve_http(broken).await;
    let jaeger = JaegerTraces::new(&format!("http://{addr}"), Duration::from_secs(5)).unwrap();
    let e = jaeger.spans(WINDOW).await.unwrap_err().to_string();
    assert!(e.contains("HTTP 503: overloaded"), "{e}");
}

#[tokio::test]
async fn tempo_search_then_each_trace_base64_ids_and_batches() {
    let handler: Handler = Arc::new(|req: &Seen| {
        let json = "application/json".to_string();
        if req.target.starts_with("/api/search?") {
            (200, json, fixture("tempo/search.json"))
        } else if let Some(id) = req.target.strip_prefix("/api/traces/") {
            match std::fs::metadata(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join(format!("testdata/signals/traces/tempo/trace-{id}.json")),
            ) {
                Ok(_) => (200, json, fixture(&format!("tempo/trace-{id}.json"))),
                // Tempo's answer for an unknown trace: 404 with an empty body.
                Err(_) => (404, "text/plain".into(), String::new()),
            }
        } else {
            (
                500,
                "text/plain".into(),
                format!("unexpected {}", req.target),
            )
        }
    });
    let (addr, seen) = serve_http(handler).await;
    let tempo = TempoTraces::new(&format!("http://{addr}"), Duration::from_secs(5)).unwrap();
    let spans = tempo.spans(WINDOW).await.unwrap();
    assert_eq!(spans.len(), 8);
    assert_eq!(shop_edges(&spans), shop());
    assert_eq!(spans.iter().filter(|s| s.error).count(), 3);
    let requests = seen.lock().unwrap();
    assert!(
        requests[0]
            .target
            .contains("start=1699999000&end=1700000100"),
        "{}",
        requests[0].target
    );
    // The short id was padded to 32 hex digits.
    assert!(requests
        .iter()
        .any(|r| r.target == "/api/traces/000000000000000000000000deadbeef"));
}

#[tokio::test]
async fn hypertrace_graphql_spans_edges_and_errors() {
    let handler: Handler = Arc::new(|req: &Seen| {
        let json = "application/json".to_string();
        if req.method != "POST" || req.target != "/graphql" {
            return (404, json, String::new());
        }
        let body: serde_json::Value = serde_json::from_str(&req.body).unwrap_or_default();
        let query = body["query"].as_str().unwrap_or_default();
        if query.contains("spans(") {
            assert!(body["variables"]["between"]["startTime"].is_string());
            (200, json, fixture("hypertrace/spans.json"))
        } else if query.contains("entities(") {
            (200, json, fixture("hypertrace/edges.json"))
        } else {
            (200, json, fixture("hypertrace/error.json"))
        }
    });
    let (addr, _) = serve_http(handler).await;
    let hypertrace = HypertraceTraces::new(
        &format!("http://{addr}"),
        Some("acme".into()),
        Duration::from_secs(5),
    )
    .unwrap();
    let spans = hypertrace.spans(WINDOW).await.unwrap();
    assert_eq!(spans.len(), 8);
    assert_eq!(shop_edges(&spans), shop());
    assert_eq!(spans.iter().filter(|s| s.error).count(), 3);
    assert_eq!(spans[0].end_ns - spans[0].start_ns, 90_000_000);
    let edges = hypertrace.edges(WINDOW).await.unwrap();
    let pairs: Vec<(&str, &str)> = edges
        .iter()
        .map(|e| (e.caller.as_str(), e.callee.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("frontend", "checkout"),
            ("checkout", "payments"),
            ("checkout", "postgres")
        ]
    );
    assert_eq!(edges[2].calls, Some(240.0));
}

/// Istio- and Linkerd-shaped request counters that grow on every scrape.
async fn mesh_exporter() -> std::net::SocketAddr {
    let scrapes = Arc::new(Mutex::new(0u64));
    let handler: Handler = Arc::new(move |req: &Seen| {
        if !req.target.starts_with("/metrics") {
            return (404, "text/plain".into(), String::new());
        }
        let mut n = scrapes.lock().unwrap();
        *n += 1;
        let c = *n * 10;
        let istio = |src: &str, dst: &str, reporter: &str| {
            format!(
                "istio_requests_total{{reporter=\"{reporter}\",source_workload=\"{src}\",source_workload_namespace=\"shop\",destination_workload=\"{dst}\",destination_workload_namespace=\"shop\",response_code=\"200\"}} {c}\n"
            )
        };
        let linkerd = |src: &str, dst: &str, direction: &str| {
            format!(
                "request_total{{direction=\"{direction}\",deployment=\"{src}\",namespace=\"shop\",dst_deployment=\"{dst}\",dst_namespace=\"shop\",tls=\"true\"}} {c}\n"
            )
        };
        let mut out =
            String::from("# TYPE istio_requests_total counter\n# TYPE request_total counter\n");
        out += &istio("frontend", "checkout", "destination");
        out += &istio("checkout", "payments", "destination");
        // The same call counted by the caller's proxy, and a caller from outside the mesh.
        out += &istio("frontend", "checkout", "source");
        out += &istio("unknown", "frontend", "destination");
        out += &linkerd("web", "api", "outbound");
        out += &linkerd("api", "db", "outbound");
        // Inbound series name only the pod that received.
        out += &linkerd("api", "", "inbound");
        (200, "text/plain; version=0.0.4".into(), out)
    });
    serve_http(handler).await.0
}

// Several workers: the test servers keep answering while a worker waits on `healbot graph`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesh_metrics_in_a_real_prometheus_give_the_edges() {
    let exporter = mesh_exporter().await;
    let prometheus = Prometheus::start(exporter).await;
    let client = healbot::signals::prometheus::PrometheusClient::new(
        &prometheus.url,
        Duration::from_secs(5),
    )
    .unwrap();
    // Wait for two scrapes, so that increase() has something to say.
    let deadline = Instant::now() + Duration::from_secs(30);
    let istio = loop {
        let edges = mesh::edges(&client, Mesh::Istio, 60).await.unwrap();
        if edges.len() == 2 || Instant::now() > deadline {
            break edges;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let pairs: Vec<(&str, &str)> = istio
        .iter()
        .map(|e| (e.caller.as_str(), e.callee.as_str()))
        .collect();
    assert_eq!(pairs, [("checkout", "payments"), ("frontend", "checkout")]);
    let linkerd = mesh::edges(&client, Mesh::Linkerd, 60).await.unwrap();
    let pairs: Vec<(&str, &str)> = linkerd
        .iter()
        .map(|e| (e.caller.as_str(), e.callee.as_str()))
        .collect();
    assert_eq!(pairs, [("api", "db"), ("web", "api")]);

    // `healbot graph refresh` puts the catalog, the mesh and Jaeger together from healbot.yaml.
    let (jaeger, _) = serve_http(jaeger_handler()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("catalog.yaml"),
        "services:\n  - {name: frontend, depends_on: [search]}\n  - name: search\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("secret"), "s3cret").unwrap();
    let config = dir.path().join("healbot.yaml");
    std::fs::write(
        &config,
        format!(
            "state_dir: state\nwebhook_secret_files: [secret]\ncatalog: catalog.yaml\n\
             prometheus: {{url: \"{}\"}}\ntraces: {{jaeger_url: \"http://{jaeger}\", lookback_seconds: 86400000}}\n\
             topology: {{mesh: istio, mesh_window_seconds: 60}}\n",
            prometheus.url
        ),
    )
    .unwrap();
    let graph = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_healbot"))
            .arg("graph")
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, stdout, stderr) = graph(&["refresh", "--format", "json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let snapshot: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let edge = |a: &str, b: &str| -> Vec<String> {
        snapshot["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["caller"] == a && e["callee"] == b)
            .map(|e| serde_json::from_value(e["sources"].clone()).unwrap())
            .unwrap_or_default()
    };
    assert_eq!(edge("frontend", "search"), ["catalog"]);
    assert_eq!(edge("frontend", "checkout"), ["istio", "jaeger"]);
    assert_eq!(edge("checkout", "postgres"), ["jaeger"]);
    let state: PathBuf = dir.path().join("state/topology.json");
    assert!(state.is_file());
    let (code, mermaid, _) = graph(&["show", "--format", "mermaid"]);
    assert_eq!(code, Some(0));
    assert!(
        mermaid.starts_with("graph LR\n") && mermaid.contains("-->"),
        "{mermaid}"
    );
    let (_, dot, _) = graph(&["show", "--format", "dot"]);
    assert!(
        dot.contains("\"frontend\" -> \"checkout\" [label=\"istio,jaeger\"];"),
        "{dot}"
    );

    // A source that fails is named, and the others still give the graph (exit 1).
    drop(prometheus);
    let (code, stdout, stderr) = graph(&["refresh"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stderr.contains("warning: prometheus"), "{stderr}");
    assert!(
        stdout.contains("frontend -> checkout  (jaeger)"),
        "{stdout}"
    );
}
