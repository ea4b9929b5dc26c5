//! Integration tests: gitops. Every manifest healbot writes, edited or generated, must pass the
//! real Argo Rollouts CRD schemas with unknown fields rejected; the edits must touch only the
//! lines they mean to; and the git helpers must work on a real repository.

#[path = "../../src/gitops/crd.rs"]
pub(crate) mod crd;

use crd::{CrdError, CrdSchema};
use healbot::gitops::{
    analysis_template, analysis_template_name, export_tree, log_paths, resolve, rollout_with_steps,
    tag, AnalysisThresholds, CanaryStep, RolloutManifest, RolloutSpec,
};
use std::path::PathBuf;
use std::sync::LazyLock;

const ROLLOUT_FILE: &str = "deploy/rollout.yaml";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load_crd(name: &str) -> CrdSchema {
    let path = root().join("testdata/spec/argo-rollouts").join(name);
    CrdSchema::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

static ROLLOUT_CRD: LazyLock<CrdSchema> = LazyLock::new(|| load_crd("rollout-crd.yaml"));
static ANALYSIS_CRD: LazyLock<CrdSchema> = LazyLock::new(|| load_crd("analysis-template-crd.yaml"));

fn payment_rollout() -> String {
    let path = root()
        .join("testdata/services/payment-service")
        .join(ROLLOUT_FILE);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_valid(schema: &CrdSchema, manifest: &str) {
    if let Err(e) = schema.validate_yaml(manifest) {
        panic!("{} manifest rejected: {e}\n---\n{manifest}", schema.kind());
    }
}

fn violations(schema: &CrdSchema, manifest: &str) -> String {
    match schema.validate_yaml(manifest) {
        Err(e @ CrdError::Invalid { .. }) => e.to_string(),
        other => panic!("expected schema violations, got {other:?}"),
    }
}

#[test]
fn the_payment_service_rollout_validates() {
    assert_valid(&ROLLOUT_CRD, &payment_rollout());
}

/// The steps of `text`'s Rollout as (kind, value) pairs: `setWeight 10`, `pause {}`,
/// `pause 5m`, `analysis`.
fn steps_of(text: &str) -> Vec<String> {
    let docs: Vec<serde_json::Value> = serde_norway::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).expect("YAML"))
        .collect();
    let rollout = docs
        .iter()
        .find(|d| d["kind"] == "Rollout")
        .expect("a Rollout");
    rollout["spec"]["strategy"]["canary"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            if let Some(w) = s.get("setWeight") {
                format!("setWeight {w}")
            } else if let Some(p) = s.get("pause") {
                match p.get("duration") {
                    Some(d) => format!("pause {}", d.as_str().unwrap_or_default()),
                    None => "pause {}".to_string(),
                }
            } else {
                "analysis".to_string()
            }
        })
        .collect()
}

/// Drives `original` through healbot's canary (10, 50, 100, then a rollback to `stable`),
/// validating every state against the Rollout CRD, and returns the states' steps.
fn every_state(original: &str, file: &str, canary: &str, stable: &str) -> Vec<Vec<String>> {
    assert_valid(&ROLLOUT_CRD, original);
    let mut states = vec![steps_of(original)];
    let mut text = original.to_string();
    for weight in [10, 50, 100] {
        text = RolloutManifest::parse(&text, file)
            .and_then(|m| m.with_canary_step(canary, weight))
            .unwrap_or_else(|e| panic!("{weight}%: {e}"));
        assert_valid(&ROLLOUT_CRD, &text);
        let step = RolloutManifest::parse(&text, file).expect("reparses");
        assert_eq!(step.canary_weight(), Some(weight));
        assert_eq!(step.image_tag(), Some(canary));
        states.push(steps_of(&text));
    }
    let rolled_back = RolloutManifest::parse(&text, file)
        .and_then(|m| m.with_canary_step(stable, 0))
        .expect("rollback");
    assert_valid(&ROLLOUT_CRD, &rolled_back);
    states.push(steps_of(&rolled_back));
    states
}

/// Issue 15 §8: each state below 100% holds the canary at its weight with a `pause: {}`, and
/// the last state is one Argo completes on its own (no pause without a duration, every weight
/// 100), so the new ReplicaSet becomes stable; every state passes the CRD.
#[test]
fn every_canary_state_validates_and_the_last_one_completes() {
    let original = payment_rollout();
    let states = every_state(&original, ROLLOUT_FILE, "9b1f3c7", "v1.4.2");
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        states,
        [
            s(&["setWeight 0", "pause {}"]),
            s(&["setWeight 10", "pause {}"]),
            s(&["setWeight 50", "pause {}"]),
            s(&["setWeight 100"]),
            s(&["setWeight 0", "pause {}"]),
        ]
    );
    // From the last state, the rollback writes back the file the person wrote, byte for byte.
    let mut text = original.clone();
    for (tag, weight) in [("9b1f3c7", 10), ("9b1f3c7", 100), ("v1.4.2", 0)] {
        text = RolloutManifest::parse(&text, ROLLOUT_FILE)
            .and_then(|m| m.with_canary_step(tag, weight))
            .unwrap();
    }
    assert_eq!(text, original);

    let checkout = std::fs::read_to_string(root().join("testdata/manifests/checkout-rollout.yaml"))
        .expect("read checkout-rollout.yaml");
    let states = every_state(&checkout, "checkout-rollout.yaml", "c0ffee1", "2024.06.1");
    assert_eq!(
        states,
        [
            s(&["setWeight 0", "pause 5m", "setWeight 0", "pause {}"]),
            s(&[
                "setWeight 10",
                "pause {}",
                "pause 5m",
                "setWeight 0",
                "pause {}"
            ]),
            s(&[
                "setWeight 50",
                "pause {}",
                "pause 5m",
                "setWeight 0",
                "pause {}"
            ]),
            s(&["setWeight 100", "pause 5m", "setWeight 100"]),
            s(&["setWeight 0", "pause {}", "pause 5m", "setWeight 100"]),
        ]
    );

    let generated = rollout_with_steps(&payment_spec()).expect("generates");
    let states = every_state(&generated, "generated.yaml", "9b1f3c7", "v1.4.2");
    assert_eq!(
        states.last().unwrap(),
        &s(&[
            "setWeight 0",
            "pause {}",
            "pause 2m",
            "analysis",
            "setWeight 100",
            "analysis",
            "setWeight 100"
        ])
    );
    assert!(
        !states[3].contains(&"pause {}".to_string()),
        "{:?}",
        states[3]
    );
}

#[test]
fn a_rollout_with_background_analysis_validates() {
    let manifest = RolloutManifest::parse(&payment_rollout(), ROLLOUT_FILE).expect("parses");
    let text = manifest
        .with_background_analysis(
            &analysis_template_name("payment-service"),
            &[("service-name", "payment-service")],
        )
        .expect("inserts analysis");
    assert_valid(&ROLLOUT_CRD, &text);
    assert!(
        text.contains("# healbot drives the canary from Git"),
        "comments survive"
    );
}

#[test]
fn the_generated_analysis_template_validates() {
    let text = analysis_template(
        "payment-service",
        "http://prometheus.monitoring:9090",
        &AnalysisThresholds::default(),
    )
    .expect("generates");
    assert_valid(&ANALYSIS_CRD, &text);
    assert_golden("payment-service-analysis-template.generated.yaml", &text);
    assert!(
        text.contains("successCondition: len(result) > 0 && result[0] <= 0.02"),
        "{text}"
    );
    assert!(text.contains("result[0] <= 0.5"), "{text}");
    // Every query reads the canary's pods only, by the pod template hash Argo passes in.
    let queries: Vec<&str> = text.lines().filter(|l| l.contains("query:")).collect();
    assert_eq!(queries.len(), 2);
    for q in queries {
        let selectors = q.matches("{service=").count();
        let scoped = q
            .matches(r#"rollouts_pod_template_hash="{{args.canary-hash}}""#)
            .count();
        assert!(selectors > 0 && scoped == selectors, "{q}");
    }
    let bad_label = AnalysisThresholds {
        canary_label: "pod-template-hash".into(),
        ..AnalysisThresholds::default()
    };
    let err = analysis_template("payment-service", "http://p:9090", &bad_label)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pod-template-hash") && err.contains("Prometheus label"),
        "{err}"
    );
    assert!(analysis_template(
        "Payment_Service",
        "http://p:9090",
        &AnalysisThresholds::default()
    )
    .is_err());
    assert!(
        analysis_template("payment-service", "p:9090", &AnalysisThresholds::default()).is_err()
    );
}

fn payment_spec() -> RolloutSpec {
    let mut steps = CanaryStep::default_steps("payment-service");
    steps.insert(1, CanaryStep::Pause(Some("2m".to_string())));
    RolloutSpec {
        name: "payment-service".to_string(),
        image: "registry.example.com/shop/payment-service:v1.4.2".to_string(),
        replicas: 4,
        container_port: Some(8080),
        stable_service: Some("payment-service-stable".to_string()),
        canary_service: Some("payment-service-canary".to_string()),
        steps,
    }
}

/// Compares a generated manifest with its reviewed copy under `testdata/manifests/`; set
/// `HEALBOT_BLESS=1` to rewrite the copy after an intended change.
fn assert_golden(name: &str, text: &str) {
    let path = root().join("testdata/manifests").join(name);
    if std::env::var_os("HEALBOT_BLESS").is_some() {
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    let golden =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        text,
        golden,
        "{} differs from the generator (HEALBOT_BLESS=1 rewrites it)",
        path.display()
    );
}

#[test]
fn the_generated_rollout_validates() {
    let spec = payment_spec();
    let text = rollout_with_steps(&spec).expect("generates");
    assert_valid(&ROLLOUT_CRD, &text);
    assert_golden("payment-service-rollout.generated.yaml", &text);
    // healbot can drive what it generated, too.
    let manifest = RolloutManifest::parse(&text, "generated.yaml").expect("parses");
    assert_eq!(manifest.canary_weight(), Some(10));
    assert_valid(
        &ROLLOUT_CRD,
        &manifest
            .with_image_and_weight("9b1f3c7", 50)
            .expect("edits"),
    );
    let bad = RolloutSpec {
        steps: vec![CanaryStep::SetWeight(150)],
        ..spec.clone()
    };
    assert!(rollout_with_steps(&bad).is_err());
    // A pause with no duration after full weight would never complete: refused, saying why.
    let mut stalls = spec.steps.clone();
    stalls.push(CanaryStep::Pause(None));
    let err = rollout_with_steps(&RolloutSpec {
        steps: stalls,
        ..spec
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("pause without duration after setWeight 100"),
        "{err}"
    );
}

/// A hand-written file: a Service and a Rollout in one file, indentless lists, a quoted image
/// with a registry port, two `setWeight` steps (only the first moves), a sidecar container.
#[test]
fn a_multi_document_hand_written_rollout_is_edited_in_place() {
    let path = root().join("testdata/manifests/checkout-rollout.yaml");
    let original = std::fs::read_to_string(&path).expect("read checkout-rollout.yaml");
    assert_valid(&ROLLOUT_CRD, &original);
    let manifest = RolloutManifest::parse(&original, "checkout-rollout.yaml").expect("parses");
    assert_eq!(manifest.name(), "checkout");
    assert_eq!(manifest.image_tag(), Some("2024.06.1"));
    let text = manifest
        .with_image_and_weight("c0ffee1", 50)
        .expect("edits");
    assert_valid(&ROLLOUT_CRD, &text);
    let changed: Vec<(&str, &str)> = original
        .lines()
        .zip(text.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed,
        [
            (
                "        image: \"registry.example.com:5000/shop/checkout:2024.06.1\"",
                "        image: \"registry.example.com:5000/shop/checkout:c0ffee1\""
            ),
            ("      - setWeight: 0", "      - setWeight: 50"),
        ]
    );
    let err = violations(&ROLLOUT_CRD, &text.replace("duration: 5m", "duraton: 5m"));
    assert!(
        err.contains("/spec/strategy/canary/steps/1/pause") && err.contains("duraton"),
        "{err}"
    );
}

#[test]
fn typos_are_rejected_with_their_path() {
    let original = payment_rollout();
    let pauze = original.replace("- pause: {}", "- pauze: {}");
    let err = violations(&ROLLOUT_CRD, &pauze);
    assert!(
        err.contains("/spec/strategy/canary/steps/1") && err.contains("pauze"),
        "{err}"
    );

    let wieght = original.replace("setWeight: 0", "setWieght: 0");
    let err = violations(&ROLLOUT_CRD, &wieght);
    assert!(
        err.contains("/spec/strategy/canary/steps/0") && err.contains("setWieght"),
        "{err}"
    );

    let container = original.replace("image: registry", "imagee: registry");
    let err = violations(&ROLLOUT_CRD, &container);
    assert!(
        err.contains("/spec/template/spec/containers/0") && err.contains("imagee"),
        "{err}"
    );

    let weight_type = original.replace("setWeight: 0", "setWeight: ten");
    let err = violations(&ROLLOUT_CRD, &weight_type);
    assert!(
        err.contains("/spec/strategy/canary/steps/0/setWeight"),
        "{err}"
    );

    let template = analysis_template(
        "payment-service",
        "http://p:9090",
        &AnalysisThresholds::default(),
    )
    .expect("generates")
    .replace("successCondition", "succesCondition");
    let err = violations(&ANALYSIS_CRD, &template);
    assert!(
        err.contains("/spec/metrics/0") && err.contains("succesCondition"),
        "{err}"
    );

    let wrong_kind = ROLLOUT_CRD.validate_yaml(&template);
    assert!(
        matches!(wrong_kind, Err(CrdError::Kind { .. })),
        "{wrong_kind:?}"
    );
}

#[test]
fn int_or_string_fields_take_both() {
    let text = payment_rollout().replace(
        "      canaryService: payment-service-canary\n",
        "      canaryService: payment-service-canary\n      maxSurge: \"25%\"\n      maxUnavailable: 1\n",
    );
    assert_valid(&ROLLOUT_CRD, &text);
    let err = violations(
        &ROLLOUT_CRD,
        &text.replace("maxUnavailable: 1", "maxUnavailable: [1]"),
    );
    assert!(
        err.contains("/spec/strategy/canary/maxUnavailable"),
        "{err}"
    );
}

/// The GitOps flow on a real repository: one commit per canary step, found again by
/// `log_paths`, with the released revision tagged and the old tree exported.
#[test]
fn canary_steps_are_commits_on_the_manifest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = git2::Repository::init(dir.path()).expect("init");
    let rollout_path = dir.path().join(ROLLOUT_FILE);
    std::fs::create_dir_all(rollout_path.parent().expect("has parent")).expect("mkdir");
    std::fs::write(&rollout_path, payment_rollout()).expect("write");
    std::fs::write(dir.path().join("app.py"), "print('v1')\n").expect("write");
    let base = commit_all(&repo, "payment-service v1.4.2");
    tag(dir.path(), "v1.4.2", &base).expect("tag");

    let mut text = payment_rollout();
    for weight in [10, 50, 100] {
        let manifest = RolloutManifest::parse(&text, ROLLOUT_FILE).expect("parses");
        text = manifest
            .with_image_and_weight("9b1f3c7", weight)
            .expect("edit");
        std::fs::write(&rollout_path, &text).expect("write");
        commit_all(
            &repo,
            &format!("canary payment-service 9b1f3c7 at {weight}%"),
        );
    }
    let log = log_paths(dir.path(), "HEAD", ROLLOUT_FILE, 10).expect("log");
    let summaries: Vec<&str> = log.iter().map(|c| c.summary.as_str()).collect();
    assert_eq!(
        summaries,
        [
            "canary payment-service 9b1f3c7 at 100%",
            "canary payment-service 9b1f3c7 at 50%",
            "canary payment-service 9b1f3c7 at 10%",
            "payment-service v1.4.2",
        ]
    );
    assert_eq!(resolve(dir.path(), "v1.4.2").expect("resolve"), base);

    let old = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        export_tree(dir.path(), "v1.4.2", old.path()).expect("export"),
        2
    );
    let exported = std::fs::read_to_string(old.path().join(ROLLOUT_FILE)).expect("read");
    assert_eq!(exported, payment_rollout());
}

fn commit_all(repo: &git2::Repository, message: &str) -> String {
    let sig = git2::Signature::now("healbot", "healbot@example.com").expect("signature");
    let mut index = repo.index().expect("index");
    index
        .add_all(["."], git2::IndexAddOption::DEFAULT, None)
        .expect("add");
    index.write().expect("write index");
    let tree = repo
        .find_tree(index.write_tree().expect("tree"))
        .expect("find tree");
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    let oid = repo
        .commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .expect("commit");
    oid.to_string()
}
