//! `otlp:` in healbot.yaml: `healbot serve` exports its own spans over OTLP/HTTP. A wiremock
//! collector receives the protobuf export; the `delivery` span of a signed webhook is in it,
//! with the delivery id, the configured service name and the header from the headers file.

use healbot::server::signature::sign;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every span in every export the collector received: (service.name, span name, attributes).
async fn exported(collector: &MockServer) -> Vec<(String, String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    for request in collector.received_requests().await.unwrap() {
        let export = ExportTraceServiceRequest::decode(request.body.as_slice())
            .expect("the export is an OTLP protobuf ExportTraceServiceRequest");
        for resource_spans in export.resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                .map(|v| match v {
                    AnyValue::StringValue(s) => s.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    let attributes = span
                        .attributes
                        .iter()
                        .map(|kv| {
                            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                                Some(AnyValue::StringValue(s)) => s.clone(),
                                other => format!("{other:?}"),
                            };
                            (kv.key.clone(), value)
                        })
                        .collect();
                    out.push((service.clone(), span.name, attributes));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn serve_exports_the_delivery_span_to_the_configured_collector() {
    let collector = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .and(header("content-type", "application/x-protobuf"))
        .and(header("authorization", "Bearer ingest-t0ken"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&collector)
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), "s3cret").unwrap();
    std::fs::write(
        dir.path().join("otlp-headers"),
        "# the collector's ingest token\nAuthorization: Bearer ingest-t0ken\n",
    )
    .unwrap();
    let port = free_port();
    let config = dir.path().join("healbot.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:{port}\nstate_dir: state\nwebhook_secret_files: [secret]\n\
             otlp: {{endpoint: '{}', headers_file: otlp-headers, service_name: healbot-it}}\n",
            collector.uri()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let _serve = Serve(
        Command::new(env!("CARGO_BIN_EXE_healbot"))
            .args(["serve", "--config"])
            .arg(&config)
            .env_remove("HEALBOT_WEBHOOK_SECRET")
            // The SDK's standard knob: export every 100 ms instead of every 5 s.
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start healbot serve"),
    );
    let client = healbot::http_client::client();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not start: {}",
            std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let body = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#.to_vec();
    let accepted = client
        .post(format!("{base}/webhooks/github"))
        .header("X-GitHub-Event", "ping")
        .header("X-GitHub-Delivery", "otlp-delivery-1")
        .header("X-Hub-Signature-256", sign(b"s3cret", &body))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(accepted.status().is_success(), "{}", accepted.status());

    let started = Instant::now();
    let delivery = loop {
        let spans = exported(&collector).await;
        if let Some(span) = spans.iter().find(|(_, name, _)| name == "delivery") {
            break span.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no delivery span exported; got {spans:?}\n{}",
            std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (service, _, attributes) = delivery;
    assert_eq!(service, "healbot-it");
    assert!(
        attributes
            .iter()
            .any(|(k, v)| k == "delivery_id" && v == "otlp-delivery-1"),
        "{attributes:?}"
    );
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(
        !log.contains("ingest-t0ken"),
        "the header value reached the log:\n{log}"
    );
}

#[test]
fn healbot_yaml_names_a_bad_otlp_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), "s3cret").unwrap();
    std::fs::write(dir.path().join("headers"), "Authorization Bearer x\n").unwrap();
    let load = |otlp: &str| {
        let path = dir.path().join("healbot.yaml");
        std::fs::write(
            &path,
            format!("state_dir: state\nwebhook_secret_files: [secret]\notlp: {otlp}\n"),
        )
        .unwrap();
        healbot::config::bot::BotConfig::load(&path, None).map_err(|e| e.to_string())
    };
    let ok = load("{endpoint: 'http://collector:4318'}").unwrap();
    assert_eq!(
        ok.otlp.unwrap().traces_url,
        "http://collector:4318/v1/traces"
    );
    let err = load("{endpoint: 'collector:4317'}").unwrap_err();
    assert!(err.contains("otlp.endpoint"), "{err}");
    let err = load("{endpoint: 'http://c:4318', headers_file: headers}").unwrap_err();
    assert!(
        err.contains("otlp.headers_file") && err.contains("line 1"),
        "{err}"
    );
    let err = load("{endpoint: 'http://c:4318', protocol: grpc}").unwrap_err();
    assert!(err.contains("protocol"), "{err}");
}
