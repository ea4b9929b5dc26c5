//! `propose` over the payment demo: localization → template → patch.

use super::*;
use crate::localize::localize_detailed;
use std::path::{Path, PathBuf};

fn service() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/services/payment-service")
}

fn payment_localization() -> Localization {
    let trace = include_str!("../../testdata/traces/payment-null.txt");
    localize_detailed(&service(), trace, 5).unwrap()
}

#[test]
fn the_demo_gets_a_none_guard_at_the_caller() {
    let templates = embedded_templates().unwrap();
    let patch = propose(
        &service(),
        &payment_localization(),
        "null_dereference",
        &templates,
        None,
    )
    .unwrap();
    assert_eq!(patch.template_id, "python.none-guard");
    assert_eq!(patch.file, "payment_processor.py");
    assert!(
        patch.diff.contains("+    if user.email is not None:"),
        "{}",
        patch.diff
    );
    check_syntax(&patch.file, &patch.patched).unwrap();
}

#[test]
fn prefer_forces_a_template_whatever_its_patterns() {
    let templates = embedded_templates().unwrap();
    let loc = payment_localization();
    let patch = propose(
        &service(),
        &loc,
        "null_dereference",
        &templates,
        Some("python.retry-backoff"),
    )
    .unwrap();
    assert_eq!(patch.template_id, "python.retry-backoff");
    assert_eq!(patch.file, "payment_processor.py");
    let err = propose(
        &service(),
        &loc,
        "null_dereference",
        &templates,
        Some("python.nope"),
    )
    .unwrap_err();
    assert!(matches!(err, FixError::UnknownTemplate(_)), "{err}");
}

#[test]
fn no_template_or_no_match_is_an_error_with_the_attempts() {
    let templates = embedded_templates().unwrap();
    let loc = payment_localization();
    let err = propose(&service(), &loc, "oom_killed", &templates, None).unwrap_err();
    assert!(matches!(err, FixError::NoTemplateFor(_)), "{err}");
    // A KeyError template finds no subscript on the demo's lines.
    let err = propose(&service(), &loc, "key_error", &templates, None).unwrap_err();
    let FixError::NoMatch { attempts } = &err else {
        panic!("{err}")
    };
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(
        attempts[0].starts_with("payment_processor.py:26"),
        "{attempts:?}"
    );
}

#[test]
fn higher_confidence_wins_when_several_templates_fit() {
    let templates = embedded_templates().unwrap();
    let trace = include_str!("../../testdata/traces/inventory-connection-refused.txt");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/traces/inventory-service");
    let loc = localize_detailed(&repo, trace, 5).unwrap();
    // `timeout` is fixed by requests-timeout (0.75) and retry-backoff (0.6).
    let patch = propose(&repo, &loc, "timeout", &templates, None).unwrap();
    assert_eq!(patch.template_id, "python.requests-timeout");
    assert!(patch.diff.contains("timeout=10"), "{}", patch.diff);
    let patch = propose(&repo, &loc, "transient_connection", &templates, None).unwrap();
    assert_eq!(patch.template_id, "python.retry-backoff");
    assert_eq!(patch.file, "inventory/client.py");
}
