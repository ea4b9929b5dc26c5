//! Rollout manifests in a separate GitOps repository (`rollout: {repo, branch, path}` in the
//! service's `.github/healbot.yml`): the canary's commits land there and the service repository
//! keeps only the fix; where the App is not installed on the deploy repository, the PR says so,
//! the operation waits for a person, and `/healthz` names the repository.

use crate::support::app::{App, AppOptions, FULL_ROLLOUT, REPO, SERVICE_DIR};
use healbot::operation::OpState;
use serde_json::Value;
use std::path::Path;

pub(crate) const DEPLOY: &str = "acme/deploy";
pub(crate) const MANIFEST: &str = "apps/payment/rollout.yaml";

/// The sample service's config with its manifests in acme/deploy@release.
pub(crate) fn repo_config() -> String {
    let text = std::fs::read_to_string(Path::new(SERVICE_DIR).join(".github/healbot.yml")).unwrap();
    let with = text.replace(
        "    manifests: [\"deploy/rollout.yaml\"]\n",
        &format!(
            "    manifests: [\"deploy/rollout.yaml\"]\n    rollout: {{repo: {DEPLOY}, branch: \
             release, path: {MANIFEST}}}\n"
        ),
    );
    assert_ne!(with, text, "the sample config names its manifest");
    with
}

pub(crate) fn rollout_yaml() -> String {
    std::fs::read_to_string(Path::new(SERVICE_DIR).join("deploy/rollout.yaml")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_commits_go_to_the_deploy_repository_branch() {
    let mut t = App::start_with(AppOptions {
        repo_config: Some(repo_config()),
        ..AppOptions::default()
    })
    .await;
    let seeded = t
        .fake
        .add_repo(DEPLOY, "main", &[("README.md", "deploy\n")]);
    // Argo CD deploys from `release`, not the default branch.
    t.fake.create_branch(DEPLOY, "release", &seeded);
    t.fake.push(
        DEPLOY,
        "release",
        &[(MANIFEST, &rollout_yaml())],
        "payment\n",
    );
    let own_manifest = t.fake.file(REPO, "main", "deploy/rollout.yaml");

    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    t.production.heal();
    t.approve(1, 9101).await;
    assert_eq!(t.state_of_only_operation().await, OpState::Completed);
    t.fake.expect_comments(&FULL_ROLLOUT);

    let deployed = t.fake.file(DEPLOY, "release", MANIFEST).expect("manifest");
    assert!(deployed.contains("setWeight: 100"), "{deployed}");
    assert_eq!(
        t.fake.file(DEPLOY, "main", MANIFEST),
        None,
        "the default branch is left alone"
    );
    assert_eq!(
        t.fake.file(REPO, "main", "deploy/rollout.yaml"),
        own_manifest,
        "the service repository's own manifest is not the one deployed"
    );
    let health: Value = healbot::http_client::client()
        .get(t.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["problems"], serde_json::json!([]), "{health}");
    t.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_repository_without_the_app_stops_before_review() {
    let mut t = App::start_with(AppOptions {
        repo_config: Some(repo_config()),
        ..AppOptions::default()
    })
    .await;
    // acme/deploy exists nowhere the App is installed.
    t.alert().await;
    t.fake.expect_comments(&[
        "This fix cannot be deployed yet: the healbot App is not installed on acme/deploy",
    ]);
    assert_eq!(t.state_of_only_operation().await, OpState::Escalated);
    let health: Value = healbot::http_client::client()
        .get(t.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let problems = health["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1, "{health}");
    assert!(
        problems[0]
            .as_str()
            .unwrap()
            .contains("not installed on acme/deploy"),
        "{health}"
    );
    t.fake.assert_clean();
}
