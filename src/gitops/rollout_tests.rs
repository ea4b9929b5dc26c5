//! Unit tests of `rollout`: reading and editing the payment-service Rollout in place.

use super::*;

const ROLLOUT: &str = include_str!("../../testdata/services/payment-service/deploy/rollout.yaml");
const FILE: &str = "deploy/rollout.yaml";

fn manifest() -> RolloutManifest {
    RolloutManifest::parse(ROLLOUT, FILE).expect("payment-service rollout parses")
}

/// Lines of `new` that differ from `old` (same line count expected).
fn changed_lines<'a>(old: &str, new: &'a str) -> Vec<&'a str> {
    assert_eq!(old.lines().count(), new.lines().count());
    old.lines()
        .zip(new.lines())
        .filter(|(a, b)| a != b)
        .map(|(_, b)| b)
        .collect()
}

#[test]
fn reads_name_image_tag_and_weight() {
    let m = manifest();
    assert_eq!(m.name(), "payment-service");
    assert_eq!(
        m.image(),
        "registry.example.com/shop/payment-service:v1.4.2"
    );
    assert_eq!(m.image_tag(), Some("v1.4.2"));
    assert_eq!(m.canary_weight(), Some(0));
}

#[test]
fn each_step_changes_one_line() {
    let m = manifest();
    for w in [10, 50, 100] {
        let text = m.with_canary_weight(w).unwrap();
        assert_eq!(
            changed_lines(ROLLOUT, &text),
            vec![format!("        - setWeight: {w}")]
        );
        assert_eq!(
            RolloutManifest::parse(&text, FILE).unwrap().canary_weight(),
            Some(w)
        );
    }
    let text = m.with_image_tag("3f9c2ab").unwrap();
    assert_eq!(
        changed_lines(ROLLOUT, &text),
        vec!["          image: registry.example.com/shop/payment-service:3f9c2ab # the stable release"]
    );
}

#[test]
fn new_revision_then_rollback_restores_the_file() {
    let m = manifest();
    let canary = m.with_image_and_weight("3f9c2ab", 10).unwrap();
    assert_eq!(changed_lines(ROLLOUT, &canary).len(), 2);
    let back = RolloutManifest::parse(&canary, FILE)
        .unwrap()
        .with_image_and_weight("v1.4.2", 0)
        .unwrap();
    assert_eq!(back, ROLLOUT);
}

#[test]
fn rejects_bad_values_and_non_rollouts() {
    let m = manifest();
    assert!(matches!(
        m.with_canary_weight(101),
        Err(GitopsError::InvalidValue { .. })
    ));
    assert!(matches!(
        m.with_image_tag("bad tag"),
        Err(GitopsError::InvalidValue { .. })
    ));
    assert!(matches!(
        m.with_image_tag(""),
        Err(GitopsError::InvalidValue { .. })
    ));
    let deployment = ROLLOUT.replace("kind: Rollout", "kind: Deployment");
    let err = RolloutManifest::parse(&deployment, FILE)
        .unwrap_err()
        .to_string();
    assert!(err.contains(FILE) && err.contains("kind: Rollout"), "{err}");
    let old_api = ROLLOUT.replace("argoproj.io/v1alpha1", "argoproj.io/v1beta1");
    assert!(RolloutManifest::parse(&old_api, FILE).is_err());
    let blue_green = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: a}\nspec:\n  strategy:\n    blueGreen: {}\n";
    let err = RolloutManifest::parse(blue_green, FILE)
        .unwrap_err()
        .to_string();
    assert!(err.contains("spec.strategy.canary"), "{err}");
}

#[test]
fn picks_the_container_by_name() {
    let two = ROLLOUT.replace(
        "        - name: payment-service\n",
        "        - name: envoy\n          image: envoyproxy/envoy:v1.30\n        - name: payment-service\n",
    );
    let m = RolloutManifest::parse(&two, FILE).unwrap();
    assert_eq!(m.image_tag(), Some("v1.4.2"));
    let m = m.with_container("envoy").unwrap();
    assert_eq!(m.image(), "envoyproxy/envoy:v1.30");
    let text = m.with_image_tag("v1.31").unwrap();
    assert_eq!(
        changed_lines(&two, &text),
        vec!["          image: envoyproxy/envoy:v1.31"]
    );
    assert!(m.with_container("nope").is_err());
}

#[test]
fn image_references_split_at_the_right_colon() {
    use super::split_image;
    assert_eq!(
        split_image("reg:5000/app:v1"),
        ("reg:5000/app", Some("v1"), None)
    );
    assert_eq!(split_image("reg:5000/app"), ("reg:5000/app", None, None));
    assert_eq!(
        split_image("app@sha256:ab"),
        ("app", None, Some("sha256:ab"))
    );
    assert_eq!(
        split_image("app:v1@sha256:ab"),
        ("app", Some("v1"), Some("sha256:ab"))
    );
}

#[test]
fn adds_a_background_analysis_keeping_the_rest() {
    let text = manifest()
        .with_background_analysis(
            "payment-service-healbot-canary",
            &[("service-name", "payment-service")],
        )
        .unwrap();
    assert!(
        text.starts_with(ROLLOUT.trim_end()),
        "only appended after the last step"
    );
    let doc = YamlDoc::parse(&text, FILE).unwrap();
    assert_eq!(
        doc.get("spec.strategy.canary.analysis.templates[0].templateName")
            .unwrap(),
        "payment-service-healbot-canary"
    );
    assert_eq!(
        doc.get("spec.strategy.canary.analysis.startingStep")
            .unwrap(),
        "1"
    );
}

/// Whether step `i` of `text` is a `pause` without `duration`.
fn indefinite_pauses(text: &str) -> Vec<usize> {
    RolloutManifest::parse(text, FILE)
        .unwrap()
        .steps_where(|s| s.indefinite_pause)
        .unwrap()
}

#[test]
fn a_canary_step_holds_at_its_weight_and_the_last_step_completes_on_its_own() {
    let m = manifest();
    let mut text = ROLLOUT.to_string();
    for w in [10, 50] {
        text = RolloutManifest::parse(&text, FILE)
            .unwrap()
            .with_canary_step("3f9c2ab", w)
            .unwrap();
        assert_eq!(indefinite_pauses(&text), [1], "held at {w}% by step 1");
    }
    let last = RolloutManifest::parse(&text, FILE)
        .unwrap()
        .with_canary_step("3f9c2ab", 100)
        .unwrap();
    assert!(indefinite_pauses(&last).is_empty(), "{last}");
    assert!(!last.contains("pause"), "{last}");
    assert!(last.contains("        - setWeight: 100\n"), "{last}");
    // The next canary (or a rollback) puts the pause back where it was: the file returns byte
    // for byte to what the person wrote.
    let back = RolloutManifest::parse(&last, FILE)
        .unwrap()
        .with_canary_step("v1.4.2", 0)
        .unwrap();
    assert_eq!(back, ROLLOUT);
    assert_eq!(m.with_canary_step("v1.4.2", 0).unwrap(), ROLLOUT);
}

#[test]
fn the_last_step_raises_every_weight_and_keeps_timed_pauses() {
    let text = include_str!("../../testdata/manifests/checkout-rollout.yaml");
    let m = RolloutManifest::parse(text, "checkout-rollout.yaml").unwrap();
    let last = m.with_canary_step("c0ffee1", 100).unwrap();
    let steps: Vec<&str> = last
        .lines()
        .skip_while(|l| !l.contains("steps:"))
        .skip(1)
        .collect();
    assert_eq!(
        steps,
        [
            "      # the first weight is the one healbot moves",
            "      - setWeight: 100",
            "      - pause: {duration: 5m}",
            "      - setWeight: 100 # a second weight step: healbot leaves it alone",
        ]
    );
}

#[test]
fn an_indefinite_pause_before_the_weight_is_refused() {
    let text = ROLLOUT.replace(
        "        - setWeight: 0\n",
        "        - pause: {}\n        - setWeight: 0\n",
    );
    let err = RolloutManifest::parse(&text, FILE).unwrap_err().to_string();
    assert!(
        err.contains("canary step 0 is a `pause` without `duration` before the first `setWeight`"),
        "{err}"
    );
}
