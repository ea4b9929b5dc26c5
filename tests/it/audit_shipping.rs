//! The Elasticsearch shipper against a wiremock Elasticsearch: entries go out through `_bulk`
//! as `create` with `_id` = seq, in order, each once per cursor; a conflict (shipped before)
//! counts as shipped, any other refusal names the entry; healbot.yaml configures it.

use healbot::audit::elasticsearch::{EsShipper, EsTarget};
use healbot::audit::{AuditStore, MemoryAuditStore, NewEntry};
use healbot::config::bot::Secret;
use std::time::Duration;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn append(store: &MemoryAuditStore, n: u64) {
    store
        .append(NewEntry {
            operation_id: "op-1".into(),
            correlation_id: "inc-1".into(),
            actor: "healbot".into(),
            action: format!("step.{n}"),
            detail: serde_json::json!({ "n": n }),
        })
        .await
        .unwrap();
}

fn created(ids: &[u64]) -> serde_json::Value {
    let items: Vec<_> = ids
        .iter()
        .map(|id| serde_json::json!({"create": {"_id": id.to_string(), "status": 201}}))
        .collect();
    serde_json::json!({"errors": false, "items": items})
}

/// The `_id`s of the `create` actions of every `_bulk` request received, per request.
async fn bulk_ids(es: &MockServer) -> Vec<Vec<String>> {
    es.received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let body = String::from_utf8(r.body.clone()).unwrap();
            let lines: Vec<serde_json::Value> = body
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(lines.len() % 2, 0, "{body}");
            lines
                .chunks(2)
                .map(|pair| {
                    assert_eq!(pair[0]["create"]["_index"], "healbot-audit", "{body}");
                    assert_eq!(
                        pair[1]["seq"].to_string(),
                        pair[0]["create"]["_id"].as_str().unwrap()
                    );
                    assert_eq!(pair[1]["@timestamp"], pair[1]["ts"], "{body}");
                    pair[0]["create"]["_id"].as_str().unwrap().to_string()
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn entries_are_shipped_once_in_order_and_conflicts_count_as_shipped() {
    let es = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/_bulk"))
        .and(header("authorization", "ApiKey es-key"))
        .and(header("content-type", "application/x-ndjson"))
        .respond_with(ResponseTemplate::new(200).set_body_json(created(&[1, 2, 3])))
        .up_to_n_times(1)
        .mount(&es)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let target = EsTarget {
        url: es.uri(),
        index: "healbot-audit".into(),
        api_key: Some(Secret::new("es-key")),
        every: Duration::from_secs(10),
    };
    let cursor = dir.path().join("cursor");
    let shipper = EsShipper::new(target.clone(), cursor.clone()).unwrap();
    let store = MemoryAuditStore::new();
    for n in 1..=3 {
        append(&store, n).await;
    }
    assert_eq!(shipper.ship(&store).await.unwrap(), 3);
    assert_eq!(shipper.ship(&store).await.unwrap(), 0, "nothing new");
    assert_eq!(std::fs::read_to_string(&cursor).unwrap().trim(), "3");

    // Entry 4 is new; 3 was shipped by another replica as well: a conflict, not an error.
    Mock::given(method("POST"))
        .and(path("/_bulk"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "errors": true,
            "items": [{"create": {"_id": "4", "status": 409,
                       "error": {"type": "version_conflict_engine_exception", "reason": "exists"}}}]
        })))
        .up_to_n_times(1)
        .mount(&es)
        .await;
    append(&store, 4).await;
    // A shipper started afresh reads the cursor: only entry 4 goes out.
    let again = EsShipper::new(target.clone(), cursor.clone()).unwrap();
    assert_eq!(again.ship(&store).await.unwrap(), 1);
    assert_eq!(bulk_ids(&es).await, [vec!["1", "2", "3"], vec!["4"]]);

    // A refusal other than a conflict stops at that entry and keeps the cursor before it.
    Mock::given(method("POST"))
        .and(path("/_bulk"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "errors": true,
            "items": [{"create": {"_id": "5", "status": 400,
                       "error": {"type": "mapper_parsing_exception", "reason": "failed to parse field [detail]"}}}]
        })))
        .mount(&es)
        .await;
    append(&store, 5).await;
    let err = again.ship(&store).await.unwrap_err().to_string();
    assert!(
        err.contains("seq 5") && err.contains("failed to parse field"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&cursor).unwrap().trim(), "4");
    assert!(!err.contains("es-key"), "{err}");
}

#[test]
fn healbot_yaml_configures_the_shipper_and_names_a_bad_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), "webhook-secret").unwrap();
    std::fs::write(dir.path().join("es-key"), "k3y\n").unwrap();
    let write = |extra: &str| {
        let path = dir.path().join("healbot.yaml");
        std::fs::write(
            &path,
            format!("state_dir: state\nwebhook_secret_files: [secret]\n{extra}"),
        )
        .unwrap();
        healbot::config::bot::BotConfig::load(&path, None)
    };
    let config = write(
        "audit_elasticsearch: {url: 'http://es:9200/', index: trail, api_key_file: es-key, every_seconds: 5}\n",
    )
    .unwrap();
    let es = config.audit_elasticsearch.unwrap();
    assert_eq!(es.url, "http://es:9200");
    assert_eq!(es.index, "trail");
    assert_eq!(es.api_key.unwrap().expose_str(), "k3y");
    assert_eq!(es.every, Duration::from_secs(5));
    let err = write("audit_elasticsearch: {url: 'http://es:9200', index: Trail}\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("audit_elasticsearch.index"), "{err}");
    let err = write("audit_elasticsearch: {url: es:9200}\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("audit_elasticsearch.url"), "{err}");
}
