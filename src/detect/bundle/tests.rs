//! Bundles folded into incidents: sections, confidence, deploys and the errors that name a field.

use super::*;
use crate::detect::pattern::ErrorPattern;
use crate::detect::{Severity, Signal};

const SAMPLE: &str = include_str!("../../../testdata/incidents/payment-bundle.yaml");
const NOW: i64 = 1_800_000_000;

fn build(text: &str) -> Result<Incident, BundleError> {
    incident(&parse(text)?, NOW)
}

const ALERT: &str = r#"
alertmanager:
  alerts:
    - status: firing
      labels: { alertname: PaymentErrors, service: payment-service, severity: critical }
      annotations: { summary: payments fail }
      startsAt: "2026-11-27T22:06:39Z"
"#;

const LOGS: &str = r#"
logs:
  payment-service:
    - "2026-11-27 22:06:39,002 ERROR Unhandled exception on POST /pay"
    - "Traceback (most recent call last):"
    - "  File \"/app/receipts.py\", line 9, in send_receipt"
    - "    local, domain = address.split(\"@\", 1)"
    - "AttributeError: 'NoneType' object has no attribute 'split'"
"#;

const TRACES: &str = r#"
traces:
  data:
    - traceID: t1
      processes:
        p1: { serviceName: order-service }
        p2: { serviceName: payment-service }
      spans:
        - { traceID: t1, spanID: a, operationName: POST /orders, processID: p1, startTime: 1, duration: 10, tags: [ { key: error, type: bool, value: true } ] }
        - { traceID: t1, spanID: b, operationName: POST /pay, processID: p2, startTime: 2, duration: 5, references: [ { refType: CHILD_OF, traceID: t1, spanID: a } ], tags: [ { key: error, type: bool, value: true } ] }
"#;

const METRICS: &str = r#"
metrics:
  payment-service: { requests: 600, error_rate: 0.3 }
"#;

#[test]
fn the_sample_bundle_is_one_payment_incident() {
    let inc = build(SAMPLE).unwrap();
    assert_eq!(inc.id.0, "inc-bundle-payment-1");
    assert_eq!(inc.service, "payment-service");
    assert_eq!(inc.severity, Severity::High);
    assert!(
        inc.title.starts_with("payment-service: PaymentErrors"),
        "{}",
        inc.title
    );
    let p = inc.pattern.as_ref().unwrap();
    assert_eq!(p.pattern, ErrorPattern::NullDereference);
    let trace = inc.stacktrace().unwrap();
    assert!(
        trace.contains("/app/receipts.py") && trace.contains("AttributeError"),
        "{trace}"
    );
    let kinds = count_by_kind(&inc.signals);
    assert_eq!(
        kinds.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        KINDS.to_vec(),
        "{kinds:?}"
    );
    assert_eq!(inc.confidence, Some(0.9375));
    // Old incident files and new ones share the format.
    let back: Incident = serde_json::from_str(&serde_json::to_string(&inc).unwrap()).unwrap();
    assert_eq!(back, inc);
}

#[test]
fn alert_section_gives_service_severity_and_title() {
    let inc = build(ALERT).unwrap();
    assert_eq!(inc.service, "payment-service");
    assert_eq!(inc.severity, Severity::Critical);
    assert_eq!(inc.title, "payment-service: PaymentErrors — payments fail");
    assert_eq!(inc.detected_at, 1_795_817_199);
    assert_eq!(inc.confidence, Some(0.5));
}

#[test]
fn log_section_joins_the_traceback_and_classifies_it() {
    let inc = build(LOGS).unwrap();
    assert_eq!(inc.service, "payment-service");
    assert_eq!(inc.signals.len(), 1);
    assert!(
        matches!(&inc.signals[0], Signal::ErrorLog { stacktrace: Some(t), .. } if t.lines().count() == 5)
    );
    assert_eq!(inc.pattern.unwrap().pattern, ErrorPattern::NullDereference);
    assert_eq!(inc.detected_at, NOW);
}

#[test]
fn trace_section_names_each_erring_service_and_the_origin() {
    let inc = build(TRACES).unwrap();
    assert_eq!(inc.service, "payment-service", "the origin, not the caller");
    let spans: Vec<(&str, &str)> = inc
        .signals
        .iter()
        .filter_map(|s| match s {
            Signal::ErrorSpan {
                service, origin, ..
            } => Some((service.as_str(), origin.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        spans,
        [
            ("order-service", "payment-service"),
            ("payment-service", "payment-service")
        ]
    );
}

#[test]
fn metric_section_fires_the_detection_rules() {
    let inc = build(METRICS).unwrap();
    let rules: Vec<&str> = inc
        .signals
        .iter()
        .filter_map(|s| match s {
            Signal::Metric { rule, .. } => Some(rule.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(rules, ["high-error-rate", "critical-error-rate"]);
    assert_eq!(inc.severity, Severity::Critical);
    // Below every rule, or without traffic: nothing to go on.
    let quiet = "metrics:\n  payment-service: { requests: 600, error_rate: 0.001 }\n";
    assert!(build(quiet).unwrap_err().to_string().contains("no signal"));
    let idle = "metrics:\n  payment-service: { requests: 0, error_rate: 0.5 }\n";
    assert!(build(idle).is_err());
}

#[test]
fn a_recent_deploy_is_the_suspect_when_logs_name_no_pattern() {
    let text = format!(
            "{METRICS}deploys:\n  - {{ service: payment-service, revision: abc123, at: {} }}\n  - {{ service: payment-service, revision: old, at: 1 }}\n",
            NOW - 120
        );
    let inc = build(&text).unwrap();
    let p = inc.pattern.unwrap();
    assert_eq!(p.pattern, ErrorPattern::BadDeploy);
    assert!(p.evidence.contains("abc123 120 s"), "{}", p.evidence);
}

#[test]
fn confidence_rises_with_each_agreeing_kind() {
    let mut text = String::from(ALERT);
    let mut last = build(&text).unwrap().confidence.unwrap();
    for section in [METRICS, LOGS, TRACES] {
        text.push_str(section);
        let c = build(&text).unwrap().confidence.unwrap();
        assert!(c > last && c <= 1.0, "{last} → {c} after {section}");
        last = c;
    }
    assert_eq!(last, 0.9375);
}

#[test]
fn kinds_pointing_elsewhere_lower_the_confidence() {
    let other = "metrics:\n  user-service: { requests: 600, error_rate: 0.3 }\n";
    let agreeing = build(&format!("{ALERT}{LOGS}"))
        .unwrap()
        .confidence
        .unwrap();
    let split = build(&format!("{ALERT}{LOGS}{other}")).unwrap();
    assert_eq!(split.service, "payment-service");
    let (c, agree, disagree) = confidence(&split.signals, &split.service);
    assert_eq!(
        (agree, disagree),
        (vec!["alert", "error_log"], vec!["metric"])
    );
    assert!(c < agreeing, "{c} vs {agreeing}");
    assert_eq!(confidence(&split.signals, "nobody").0, 0.0);
}

#[test]
fn a_bad_field_is_named() {
    for (text, field) in [
        (
            "logs:\n  payment-service: 42\n",
            "logs.payment-service: invalid type",
        ),
        (
            "metrics:\n  payment-service: { error_rate: 1.5 }\n",
            "metrics.payment-service.error_rate: must be in [0, 1]",
        ),
        (
            "metrics:\n  payment-service: { errors: 3 }\n",
            "metrics.payment-service",
        ),
        (
            "deploys:\n  - { service: payment-service, revision: a }\n",
            "deploys[0]",
        ),
        (
            "deploys:\n  - { service: '', revision: a, at: 1 }\n",
            "deploys[0].service",
        ),
        ("trace:\n  data: []\n", "unknown field `trace`"),
        ("id: ../x\nlogs: {}\n", "id: must be"),
        (
            "alertmanager:\n  alerts:\n    - { status: firing, startsAt: yesterday }\n",
            "alertmanager.alerts[0].startsAt",
        ),
        (
            "alertmanager:\n  alerts:\n    - { status: firing, labels: { alertname: X } }\n",
            "alertmanager.alerts: no firing alert",
        ),
        ("traces:\n  spans: []\n", "traces: neither OTLP"),
        ("traces:\n  resourceSpans: 3\n", "traces.resourceSpans"),
        ("", "(document)"),
    ] {
        let err = build(text).unwrap_err().to_string();
        assert!(err.contains(field), "{text:?}: {err}");
    }
}

#[test]
fn load_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.yaml");
    std::fs::write(&path, "logs:\n  payment-service: 42\n").unwrap();
    let err = load(&path, NOW).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "incident bundle {}: logs.payment-service",
            path.display()
        )),
        "{err}"
    );
    let err = load(&dir.path().join("none.yaml"), NOW)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot read"), "{err}");
}

#[test]
fn json_bundles_parse_too() {
    let json = r#"{"logs": {"svc": "2026-11-27 22:00:01,002 ERROR boom"}}"#;
    let inc = build(json).unwrap();
    assert_eq!(
        (inc.service.as_str(), inc.title.as_str()),
        ("svc", "svc: boom")
    );
}
