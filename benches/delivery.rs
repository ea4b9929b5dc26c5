//! From the merge to production (issue 7): how long healbot takes from GitHub's "PR merged"
//! webhook to the first canary step committed on the GitOps path, through the real server,
//! worker, app handler and orchestrator against the fake GitHub on loopback. The setup (alert,
//! analysis, PR) is not timed. `cargo bench --bench delivery -- --test` runs it once.

#[path = "../tests/support/mod.rs"]
#[allow(dead_code)]
mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use healbot::forge::{PrNumber, RepoRef};
use healbot::server::signature::sign;
use std::time::{Duration, Instant};
use support::app::{pull_request, App, REPO, SECRET};

/// Sets up an operation waiting for review, merges its PR as a person would on GitHub, then
/// times the merge webhook until the first canary commit is on main.
async fn once() -> Duration {
    let mut t = App::start().await;
    t.alert().await;
    let head = t.head(1).await;
    let forge = t.app.orchestrator().forge.clone();
    let merge = forge
        .merge(
            &RepoRef(REPO.into()),
            PrNumber(1),
            &healbot::forge::CommitSha(head.clone()),
        )
        .await
        .expect("merge");
    t.production.heal();
    let body = serde_json::to_vec(&pull_request("closed", 1, "alice", &head, Some(&merge.0)))
        .expect("json");
    let client = healbot::http_client::client();
    let started = Instant::now();
    let resp = client
        .post(t.url("/webhooks/github"))
        .header("X-GitHub-Event", "pull_request")
        .header("X-GitHub-Delivery", "bench-merge")
        .header("X-Hub-Signature-256", sign(SECRET.as_bytes(), &body))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 202);
    loop {
        let main = t.fake.branch(REPO, "main").expect("main");
        if main != merge.0 {
            let message = t.fake.commit_message(&main).unwrap_or_default();
            assert!(message.contains("canary"), "{message}");
            break;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let elapsed = started.elapsed();
    t.deliveries += 1;
    t.settle().await;
    elapsed
}

fn merge_to_first_canary_commit(c: &mut Criterion) {
    std::env::set_var("HEALBOT_QUIET", "1");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("delivery");
    group.sample_size(10);
    group.bench_function("merge_webhook_to_first_canary_commit", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += once().await;
                }
                total
            })
        })
    });
    group.finish();
}

criterion_group!(benches, merge_to_first_canary_commit);
criterion_main!(benches);
