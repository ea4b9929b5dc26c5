//! The image before the canary (issue 15 §4): a service whose `.github/healbot.yml` names its
//! image as a template gets that image in its Rollout, and the first canary step waits until
//! the registry has it (OCI `HEAD /v2/<name>/manifests/<tag>` through the token flow), or
//! pauses for a person when it does not appear in time.

use crate::support::app::{payment_config, policies_with, App, AppOptions, REPO};
use crate::support::registry::{FakeRegistry, REGISTRY_PASSWORD};
use healbot::operation::OpState;
use std::time::Duration;

fn config(registry: &str) -> String {
    payment_config(
        &format!("    image: {registry}/acme/payment-service:{{sha}}\n"),
        "",
    )
}

async fn start(registry: &FakeRegistry, wait_seconds: u64) -> App {
    let dir = tempfile::tempdir().unwrap();
    let policies = policies_with(
        dir.path(),
        &[(
            "escalation.yaml",
            "image_wait_seconds: 900",
            &format!("image_wait_seconds: {wait_seconds}"),
        )],
    );
    let token = dir.path().join("registry-token");
    std::fs::write(&token, format!("{REGISTRY_PASSWORD}\n")).unwrap();
    App::start_in(
        dir,
        AppOptions {
            policies_dir: Some(policies),
            repo_config: Some(config(&registry.host())),
            registry_token_file: Some(token),
            ..AppOptions::default()
        },
    )
    .await
}

fn manifest_on_main(t: &App) -> String {
    let main_sha = t.fake.branch(REPO, "main").unwrap();
    t.fake.file(REPO, &main_sha, "deploy/rollout.yaml").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canary_waits_for_the_image_ci_pushes_late() {
    let registry = FakeRegistry::start().await;
    let mut t = start(&registry, 20).await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    t.production.heal();
    // CI pushes the merged commit's image 1.5 s after the merge.
    registry.publish_after("acme/payment-service", Duration::from_millis(1500));
    t.approve(1, 1).await;
    t.expect_full_rollout();
    assert_eq!(t.states().await, [OpState::Completed]);

    // The Rollout names the templated image of the merge commit.
    let ops = t.operations().await;
    let merged: String =
        serde_json::from_value(ops[0].effects[&format!("{}/merge", ops[0].id)].clone()).unwrap();
    let image = format!("{}/acme/payment-service:{merged}", registry.host());
    let manifest = manifest_on_main(&t);
    assert!(manifest.contains(&format!("image: {image}")), "{manifest}");
    assert!(ops[0]
        .effects
        .keys()
        .any(|k| k.ends_with(&format!("/image-ready/{image}"))));

    // The registry was asked the spec's way: anonymously first, 401, a token, then with it;
    // and asked again until the image was there.
    let seen = registry.seen();
    let manifest_path = format!("/v2/acme/payment-service/manifests/{merged}");
    let heads: Vec<_> = seen.iter().filter(|s| s.1 == manifest_path).collect();
    assert!(heads.iter().all(|s| s.0 == "HEAD"), "{seen:?}");
    assert!(!heads[0].3, "the first request carries no credentials");
    assert!(seen.iter().any(|s| s.1 == "/token" && s.3));
    assert!(heads.len() >= 4, "polled until present: {seen:?}");
    for kind in [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ] {
        assert!(heads[0].2.contains(kind), "{}", heads[0].2);
    }
    t.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_that_never_appears_pauses_for_a_person_before_any_canary() {
    let registry = FakeRegistry::start().await;
    let mut t = start(&registry, 1).await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    let before = manifest_on_main(&t);
    t.production.heal();
    t.approve(1, 1).await;
    t.fake
        .expect_comments(&["approved", "No canary yet: the image"]);
    assert_eq!(t.states().await, [OpState::PausedForHumanReview]);
    assert_eq!(manifest_on_main(&t), before, "no canary step was committed");
    let actions = t.audit_actions().await;
    assert!(actions.iter().any(|(_, a)| a == "image.missing"));
    assert!(actions.iter().filter(|(_, a)| a == "notify.sent").count() >= 2);
    t.fake.assert_clean();
}
