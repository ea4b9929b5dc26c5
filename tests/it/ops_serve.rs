//! The runbook's `healbot ops` acts beside a running server: the chain and the work queue are on
//! Redis, the CLI writes the person's act to the chain and puts the operation on the queue, and
//! the server (the test app) takes it from there — a promoted canary goes on to the end, a
//! rollback to a named revision restores that image.

use crate::locks::RedisServer;
use crate::replicas::assert_chain_verifies_on_redis;
use crate::support::app::{App, AppOptions, CATALOG, REPO, SECRET};
use crate::support::github::{test_key_path, APP_ID};
use healbot::operation::OpState;
use std::path::{Path, PathBuf};
use std::process::Output;

/// healbot.yaml for the CLI: the test app's GitHub, its chain and queue on `redis`.
fn cli_config(t: &App, redis: &RedisServer, dir: &Path) -> PathBuf {
    std::fs::write(dir.join("secret"), SECRET).unwrap();
    let config = dir.join("healbot.yaml");
    std::fs::write(
        &config,
        format!(
            "state_dir: state
webhook_secret_files: [secret]
github: {{app_id: {APP_ID}, private_key_file: {key}, api_url: {api}}}
prometheus: {{url: http://127.0.0.1:9}}
redis_url: {redis}
audit_on_redis: true
repositories: [{REPO}]
catalog: {CATALOG}
",
            key = test_key_path().display(),
            api = t.fake.url(),
            redis = redis.url(),
        ),
    )
    .unwrap();
    config
}

fn ops(config: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_healbot"))
        .arg("ops")
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("HEALBOT_STATE")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The shared app after an alert and an approval, its canary paused at 10% because the judge
/// had too few samples to tell; the canary has enough samples from here on.
async fn canary_waiting_for_a_person(redis: &RedisServer) -> App {
    let mut t = App::start_with(AppOptions {
        redis_url: Some(redis.url()),
        audit_on_redis: true,
        ..AppOptions::default()
    })
    .await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    t.production.heal();
    t.production.edit(|s| s.canary_samples = 3);
    t.approve(1, 1).await;
    t.settle().await;
    assert_eq!(t.states().await, [OpState::PausedForHumanReview]);
    t.fake.expect_comments(&[
        "approved",
        "10% of traffic",
        "Canary at 10%: **Inconclusive**",
    ]);
    t.production.edit(|s| s.canary_samples = 30);
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_promoted_from_the_cli_is_carried_on_by_the_server() {
    let redis = RedisServer::start();
    let t = canary_waiting_for_a_person(&redis).await;
    let id = t.operations().await[0].id.0.clone();
    let dir = tempfile::tempdir().unwrap();
    let config = cli_config(&t, &redis, dir.path());

    // Why it waits, read from the chain on Redis.
    let listed = ops(&config, &["list", "--reasons", "--format", "json"]);
    assert!(listed.status.success(), "{listed:?}");
    let rows: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
    let waiting = &rows[0]["waiting"];
    assert_eq!(rows[0]["id"], id.as_str(), "{rows}");
    assert_eq!(waiting["paused_from"], "Deploying(10%)", "{rows}");
    assert_eq!(waiting["by"], "healbot", "{rows}");
    assert!(
        waiting["reason"].as_str().unwrap().contains("Inconclusive"),
        "{rows}"
    );
    assert!(
        waiting["next"][0]
            .as_str()
            .unwrap()
            .starts_with("healbot ops promote"),
        "{rows}"
    );

    let promoted = ops(&config, &["promote", &id, "--as", "alice"]);
    assert!(promoted.status.success(), "{promoted:?}");
    assert!(
        stdout(&promoted).contains("queued for the running healbot server"),
        "{}",
        stdout(&promoted)
    );
    // The server takes it from the queue and carries the canary on.
    t.settle().await;
    t.app.orchestrator().journal.sync().await.unwrap();
    assert_eq!(t.states().await, [OpState::Completed]);
    t.fake.expect_comments(&[
        "@alice promoted the canary past 10%",
        "50% of traffic",
        "Canary at 50%: **Pass**",
        "100% of traffic",
        "Verification at 100%",
    ]);
    let actions = t.audit_actions().await;
    assert!(actions.contains(&("alice".into(), "canary.promoted".into())));

    // Nothing left to promote: a clear refusal, nothing written.
    let again = ops(&config, &["promote", &id, "--as", "alice"]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("cannot promote") && err.contains("Completed"),
        "{err}"
    );
    let unknown = ops(&config, &["force-complete", "op-nope", "--reason", "x"]);
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no operation op-nope"),
        "{unknown:?}"
    );
    assert_chain_verifies_on_redis(&redis.url());
    t.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_to_a_named_revision_is_carried_out_by_the_server() {
    let redis = RedisServer::start();
    let t = canary_waiting_for_a_person(&redis).await;
    let id = t.operations().await[0].id.0.clone();
    let dir = tempfile::tempdir().unwrap();
    let config = cli_config(&t, &redis, dir.path());

    let bad = ops(
        &config,
        &["rollback", &id, "--to", "v1 beta", "--as", "alice"],
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("\"v1 beta\" is not an image tag"), "{err}");

    let out = ops(
        &config,
        &["rollback", &id, "--to", "v1.4.0", "--as", "alice"],
    );
    assert!(out.status.success(), "{out:?}");
    t.settle().await;
    t.app.orchestrator().journal.sync().await.unwrap();
    assert_eq!(t.states().await, [OpState::RolledBack]);
    let manifest = t.fake.file(REPO, "main", "deploy/rollout.yaml").unwrap();
    assert!(manifest.contains(":v1.4.0"), "{manifest}");
    let actions = t.audit_actions().await;
    assert!(actions.contains(&("alice".into(), "operation.rollback_requested".into())));
    let op = &t.operations().await[0];
    assert!(
        op.history
            .iter()
            .any(|(_, s, r)| *s == OpState::RollingBack && r.contains("rollback to v1.4.0")),
        "{:?}",
        op.history
    );
    assert_chain_verifies_on_redis(&redis.url());
}
