//! Integration tests: `healbot demo --prometheus URL` against a real Prometheus (Debian's
//! `prometheus`, installed by scripts/test) that scrapes the demo's exporter every second, so
//! that detection, the canary judge and the error budget read PromQL over what it scraped.

use crate::support::prometheus::Prometheus;
use healbot::forge::{LocalForge, PrState, RepoRef};
use healbot::signals::prometheus::PrometheusClient;
use std::process::Command;
use std::time::Duration;

use crate::support::output_text as text;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

#[tokio::test]
async fn payment_null_reads_its_metrics_from_a_real_prometheus() {
    let exporter = format!("127.0.0.1:{}", free_port());
    let prometheus = Prometheus::start(exporter.parse().expect("address")).await;
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(["demo", "--workdir", dir.path().to_str().expect("utf-8")])
        .args(["--requests", "200", "--canary-wait", "1"])
        .args([
            "--prometheus",
            &prometheus.url,
            "--exporter-listen",
            &exporter,
        ])
        .env_remove("HEALBOT_FAILPOINT")
        .output()
        .expect("run healbot");
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("metrics: Prometheus at {}", prometheus.url)),
        "{stdout}"
    );
    assert!(stdout.contains("pattern null_dereference"), "{stdout}");
    assert!(stdout.contains(": Completed"), "{stdout}");

    let forge = LocalForge::open(dir.path()).expect("open forge");
    let prs = forge
        .list_prs(&RepoRef("payment-service".into()))
        .expect("list PRs");
    assert_eq!(prs.len(), 1, "one PR");
    assert_eq!(prs[0].state, PrState::Merged);
    let verify = Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(["audit", "verify"])
        .arg(dir.path().join("audit.jsonl"))
        .output()
        .expect("run healbot audit verify");
    assert!(verify.status.success(), "{}", text(&verify));

    // Prometheus holds the traffic the demo judged: both tracks of payment-service.
    let client = PrometheusClient::new(&prometheus.url, Duration::from_secs(5)).unwrap();
    for track in ["stable", "canary"] {
        let q = format!(r#"sum(http_requests_total{{service="payment-service",track="{track}"}})"#);
        let n = client.query(&q, None).await.unwrap().first_value();
        assert!(n.is_some_and(|n| n > 0.0), "{track}: {n:?}");
    }
    let q = r#"sum(http_requests_total{service="payment-service",code="500"})"#;
    let errors = client.query(q, None).await.unwrap().first_value();
    assert!(errors.is_some_and(|n| n > 0.0), "errors: {errors:?}");
}

#[test]
fn an_unreachable_prometheus_stops_the_demo_before_anything_is_set_up() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path().join("demo");
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(["demo", "--workdir", workdir.to_str().expect("utf-8")])
        .args(["--prometheus", &url, "--exporter-listen", "127.0.0.1:0"])
        .output()
        .expect("run healbot");
    assert!(!out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("Prometheus at {url} is not reachable")),
        "{stderr}"
    );
    assert!(!workdir.exists(), "nothing is set up");
}
