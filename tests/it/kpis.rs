//! `/metrics` carries the seed's KPIs, computed from the audit log: after one operation that
//! completes and one that the canary rolls back, the counts and the resolution histogram are
//! what the log says, and the text is valid Prometheus exposition.

use crate::support::app::{App, AppOptions};
use healbot::operation::OpState;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The embedded policies without the deploy cooldown, so a second fix may follow the first.
fn no_cooldown(root: &Path) -> PathBuf {
    crate::support::app::policies_with(
        root,
        &[(
            "gates.yaml",
            "min_minutes_since_deploy: 10",
            "min_minutes_since_deploy: 0",
        )],
    )
}

/// Checks the text exposition format line by line and returns sample name{labels} → value.
fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "{name} typed twice"
            );
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').expect("sample and value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let name = match series.split_once('{') {
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').expect("labels end with }");
                // name="value" pairs, values with \\, \" and \n escapes only.
                let mut rest = labels;
                while !rest.is_empty() {
                    let (key, after) = rest.split_once("=\"").expect("label=\"value\"");
                    assert!(
                        key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                        "label name {key:?}"
                    );
                    let mut chars = after.char_indices();
                    let end = loop {
                        match chars.next().expect("closing quote") {
                            (_, '\\') => {
                                let (_, c) = chars.next().expect("escape");
                                assert!(matches!(c, '\\' | '"' | 'n'), "{line}");
                            }
                            (i, '"') => break i,
                            _ => {}
                        }
                    };
                    rest = after[end + 1..]
                        .strip_prefix(',')
                        .unwrap_or(&after[end + 1..]);
                }
                name
            }
            None => series,
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "metric name {name:?}"
        );
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|base| types.get(*base).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "{name} has no # TYPE before it");
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "{series} twice"
        );
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_kpis_of_a_completed_and_a_rolled_back_operation() {
    let dir = tempfile::tempdir().unwrap();
    let options = AppOptions {
        policies_dir: Some(no_cooldown(dir.path())),
        ..AppOptions::default()
    };
    let mut t = App::start_in(dir, options).await;
    t.alert().await;
    t.production.heal();
    t.approve(1, 1).await;
    assert_eq!(t.states().await, [OpState::Completed]);

    // It breaks again; this time the canary is worse than the stable and is rolled back.
    t.resolve_alerts_on("payment-service").await;
    t.production
        .edit(|s| *s.error_rates.get_mut("payment-service").unwrap() = 0.2);
    t.alert_on("payment-service").await;
    t.settle().await;
    t.production.heal();
    t.production.edit(|s| s.canary_error_rate = 0.05);
    t.approve(2, 2).await;
    assert_eq!(
        t.states().await,
        [OpState::Completed, OpState::RolledBack],
        "{:#?}",
        t.operations().await.last().map(|op| &op.history)
    );

    let text = healbot::http_client::client()
        .get(t.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let m = parse_exposition(&text);
    let entries = t
        .app
        .orchestrator()
        .journal
        .store()
        .entries()
        .await
        .unwrap();
    for (series, want) in [
        ("healbot_incidents_detected_total", 2.0),
        ("healbot_operations_started_total", 2.0),
        ("healbot_incidents_auto_resolved_total", 1.0),
        ("healbot_rollbacks_total", 1.0),
        ("healbot_rollbacks_incorrect_total", 0.0),
        ("healbot_operations_paused_total", 0.0),
        ("healbot_conflicts_detected_total", 0.0),
        ("healbot_incident_resolution_seconds_count", 1.0),
        (
            "healbot_incident_resolution_seconds_bucket{le=\"+Inf\"}",
            1.0,
        ),
        ("healbot_lock_wait_seconds_count", 2.0),
        ("healbot_active_locks", 0.0),
        ("healbot_hash_chain_valid", 1.0),
        ("healbot_audit_events_total", entries.len() as f64),
        (
            "healbot_webhook_deliveries_total{source=\"github\",outcome=\"rejected\"}",
            0.0,
        ),
    ] {
        assert_eq!(m.get(series), Some(&want), "{series}\n{text}");
    }
    assert!(m["healbot_incident_resolution_seconds_sum"] > 0.0, "{text}");
    assert!(text.contains("# TYPE healbot_incident_resolution_seconds histogram\n"));
    assert!(text.contains("# TYPE healbot_lock_wait_seconds histogram\n"));
    assert!(text.contains("# TYPE healbot_lock_age_seconds gauge\n"));
    assert!(text.contains("# TYPE healbot_hash_chain_valid gauge\n"));
}
