//! Blue-green services (issue 15 §5): a Rollout with Argo's `blueGreen` strategy gets a
//! preview (the new ReplicaSet behind `previewService`), a promotion once the preview passed
//! (`autoPromotionEnabled: true`, which Argo acts on by promoting), and an abort (the stable
//! image back) when it fails. Every state healbot commits is validated against the Rollout
//! CRD. Driven through signed webhooks against the fake GitHub.

use crate::support::app::{App, AppOptions, REPO};
use healbot::gitops::BlueGreenRollout;
use healbot::operation::OpState;
use std::path::PathBuf;

const MANIFEST: &str = "deploy/rollout-bluegreen.yaml";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

async fn start() -> App {
    let manifest =
        std::fs::read_to_string(root().join("testdata/manifests/payment-bluegreen-rollout.yaml"))
            .unwrap();
    let config = format!(
        "services:
  - name: payment-service
    language: python
    paths: [\".\"]
    manifests: [\"{MANIFEST}\"]
validation:
  command: \"python3 -m unittest discover -s tests -q\"
  timeout_seconds: 60
approvers:
  permission: write
"
    );
    App::start_with(AppOptions {
        repo_config: Some(config),
        extra_files: vec![(MANIFEST.to_string(), manifest)],
        ..AppOptions::default()
    })
    .await
}

/// Every version of the manifest on main, oldest first.
fn manifest_history(t: &App) -> Vec<String> {
    let mut sha = t.fake.branch(REPO, "main").unwrap();
    let mut out: Vec<String> = Vec::new();
    loop {
        if let Some(text) = t.fake.file(REPO, &sha, MANIFEST) {
            if out.last() != Some(&text) {
                out.push(text);
            }
        }
        match t.fake.commit_parents(&sha).first() {
            Some(p) => sha = p.clone(),
            None => break,
        }
    }
    out.reverse();
    out.dedup();
    out
}

/// (image tag, autoPromotionEnabled) of each state, each validated against the Rollout CRD.
fn states(t: &App) -> Vec<(String, Option<bool>)> {
    let schema = crate::gitops::crd::CrdSchema::load(
        &root().join("testdata/spec/argo-rollouts/rollout-crd.yaml"),
    )
    .unwrap();
    manifest_history(t)
        .iter()
        .map(|text| {
            if let Err(e) = schema.validate_yaml(text) {
                panic!("Rollout rejected by the CRD: {e}\n---\n{text}");
            }
            let r = BlueGreenRollout::parse(text, MANIFEST).unwrap();
            (r.image_tag().unwrap().to_string(), r.auto_promotion())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blue_green_service_is_previewed_then_promoted() {
    let mut t = start().await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    t.production.heal();
    t.approve(1, 1).await;
    t.fake.expect_comments(&[
        "approved",
        "Blue-green preview: ",
        "Blue-green preview: **Pass**",
        "Blue-green promotion: ",
        "Verification at 100%",
    ]);
    assert_eq!(t.states().await, [OpState::Completed]);
    let states = states(&t);
    let fix = &states[1].0;
    assert_eq!(
        states,
        [
            ("v1.4.2".to_string(), Some(false)),
            (fix.clone(), Some(false)),
            (fix.clone(), Some(true)),
        ],
        "stable, preview, promoted"
    );
    assert_ne!(fix, "v1.4.2");
    t.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_preview_is_aborted_before_any_promotion() {
    let mut t = start().await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    t.production.edit(|s| s.canary_error_rate = 0.05);
    t.approve(1, 1).await;
    t.fake.expect_comments(&[
        "approved",
        "Blue-green preview: ",
        "Blue-green preview: **Fail**",
        "Rolled back: `v1.4.2` is stable again",
    ]);
    assert_eq!(t.states().await, [OpState::RolledBack]);
    let states = states(&t);
    assert_eq!(states.len(), 3, "{states:?}");
    assert_eq!(states[2], ("v1.4.2".to_string(), Some(false)), "aborted");
    assert!(
        states.iter().all(|(_, auto)| *auto == Some(false)),
        "never promoted: {states:?}"
    );
    t.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_that_fails_verification_goes_back_to_the_stable_image() {
    let mut t = start().await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    // The preview looks like the stable version, but production does not recover.
    t.approve(1, 1).await;
    let comments = t.fake.bot_comments();
    assert!(
        comments
            .iter()
            .any(|c| c.contains("Blue-green promotion: ")),
        "{comments:#?}"
    );
    assert!(
        comments
            .last()
            .unwrap()
            .contains("Rolled back: `v1.4.2` is stable again"),
        "{comments:#?}"
    );
    assert_eq!(t.states().await, [OpState::RolledBack]);
    let states = states(&t);
    let fix = &states[1].0;
    assert_eq!(
        states,
        [
            ("v1.4.2".to_string(), Some(false)),
            (fix.clone(), Some(false)),
            (fix.clone(), Some(true)),
            ("v1.4.2".to_string(), Some(false)),
        ],
        "stable, preview, promoted, aborted"
    );
}
