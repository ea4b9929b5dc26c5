//! The strategy the risk score picks changes what `serve` does (issue 15 §5): MANUAL_REVIEW
//! waits for the configured number of distinct approvers (and a code owner where CODEOWNERS
//! owns a changed file), DIRECT goes to 100% in one step unless policy forbids it, and the PR
//! says which strategy and why. Driven through signed webhooks against the fake GitHub.

use crate::support::app::{comment, payment_config, policies_with, App, AppOptions, REPO};
use healbot::forge::{PrNumber, RepoRef};
use healbot::operation::OpState;

/// The payment service's config with `policy` as its `policy:` section.
fn config(policy: &str) -> String {
    payment_config("", &format!("policy:\n{policy}\n"))
}

/// The fix's risk is 0.59: a repository that sends risk over 0.5 to a person gets MANUAL_REVIEW.
async fn manual_review(extra_files: Vec<(String, String)>) -> App {
    let t = App::start_with(AppOptions {
        repo_config: Some(config("  manual_review_above: 0.5")),
        extra_files,
        ..AppOptions::default()
    })
    .await;
    t.fake.set_permission(REPO, "bob", "write");
    t.fake.set_permission(REPO, "carol", "write");
    t
}

async fn pr_body(t: &App) -> String {
    let forge = t.app.orchestrator().forge.clone();
    let pr = forge
        .pull_request(&RepoRef(REPO.into()), PrNumber(1))
        .await
        .unwrap();
    pr.body
}

fn manifest_commits(t: &App) -> Vec<String> {
    let mut sha = t.fake.branch(REPO, "main").unwrap();
    let mut out = Vec::new();
    loop {
        let message = t.fake.commit_message(&sha).unwrap_or_default();
        if message.starts_with("deploy(") {
            out.push(message.lines().next().unwrap().to_string());
        }
        match t.fake.commit_parents(&sha).first() {
            Some(p) => sha = p.clone(),
            None => break,
        }
    }
    out.reverse();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_review_stays_open_on_one_approver_and_merges_on_the_second() {
    let mut t = manual_review(Vec::new()).await;
    t.alert().await;
    t.fake
        .expect_comments(&["It needs 2 approvals from distinct people"]);
    let body = pr_body(&t).await;
    assert!(body.contains("## Strategy: MANUAL_REVIEW"), "{body}");
    assert!(body.contains("risk 0.59 > 0.5 → MANUAL_REVIEW"), "{body}");
    assert!(body.contains("merged only after 2 approvals"), "{body}");
    t.production.heal();

    // Alice approves by review, then again by command: one person, one approval.
    t.approve(1, 1).await;
    let again = comment(&t.fake, 1, "alice", "/heal approve");
    t.deliver("issue_comment", "alice-again", &again).await;
    t.fake.expect_comments(&[
        "not merged yet: 1 of 2 approvals",
        "not merged yet: 1 of 2 approvals",
    ]);
    assert_eq!(t.states().await, [OpState::AwaitingReview]);
    assert!(
        t.fake.merge_calls().is_empty(),
        "one person never merges it"
    );

    // Bob's `/heal approve` is the second person: merged, and the canary runs.
    let bob = comment(&t.fake, 1, "bob", "/heal approve");
    t.deliver("issue_comment", "bob-approves", &bob).await;
    t.expect_full_rollout();
    assert_eq!(t.states().await, [OpState::Completed]);
    assert_eq!(t.fake.merge_calls().len(), 1);
    t.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_review_of_an_owned_file_waits_for_its_code_owner() {
    let owners = "* @alice\npayment_processor.py @carol\n".to_string();
    let mut t = manual_review(vec![(".github/CODEOWNERS".into(), owners)]).await;
    t.alert().await;
    t.fake.expect_comments(&["It needs 2 approvals"]);
    assert!(pr_body(&t)
        .await
        .contains("a code owner of `payment_processor.py` (@carol)"));
    t.production.heal();
    t.approve(1, 1).await;
    let bob = comment(&t.fake, 1, "bob", "/heal approve");
    t.deliver("issue_comment", "bob-approves", &bob).await;
    t.fake.expect_comments(&[
        "not merged yet: 1 of 2 approvals",
        "not merged yet: an approval by a code owner of `payment_processor.py` (@carol",
    ]);
    assert!(t.fake.merge_calls().is_empty(), "two people, no owner");
    let carol = comment(&t.fake, 1, "carol", "/heal approve");
    t.deliver("issue_comment", "carol-approves", &carol).await;
    t.expect_full_rollout();
    assert_eq!(t.states().await, [OpState::Completed]);
    t.fake.assert_clean();
}

/// Risk 0.59 is DIRECT when the canary starts above 0.6.
async fn low_risk(repo_policy: &str) -> App {
    let dir = tempfile::tempdir().unwrap();
    let policies = policies_with(
        dir.path(),
        &[("risk.yaml", "canary_above: 0.4", "canary_above: 0.6")],
    );
    App::start_in(
        dir,
        AppOptions {
            policies_dir: Some(policies),
            repo_config: Some(config(repo_policy)),
            ..AppOptions::default()
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_goes_to_full_traffic_in_one_step_and_is_verified() {
    let mut t = low_risk("  cooldown_minutes: 10").await;
    t.alert().await;
    t.fake
        .expect_comments(&["Approve it (review, or `/heal approve`)"]);
    let body = pr_body(&t).await;
    assert!(body.contains("## Strategy: DIRECT"), "{body}");
    assert!(body.contains("out in one step to 100%"), "{body}");
    t.production.heal();
    t.approve(1, 1).await;
    t.fake
        .expect_comments(&["approved", "100% of traffic", "Verification at 100%"]);
    assert_eq!(t.states().await, [OpState::Completed]);
    let deploys = manifest_commits(&t);
    assert_eq!(deploys.len(), 1, "{deploys:?}");
    assert!(deploys[0].ends_with("at 100%"), "{deploys:?}");
    t.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_forbidden_by_the_repository_policy_gets_the_canary() {
    let mut t = low_risk("  direct_allowed: false").await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    let body = pr_body(&t).await;
    assert!(body.contains("## Strategy: CANARY"), "{body}");
    assert!(body.contains("DIRECT is forbidden by policy"), "{body}");
    t.production.heal();
    t.approve(1, 1).await;
    t.expect_full_rollout();
    assert_eq!(t.states().await, [OpState::Completed]);
    let deploys = manifest_commits(&t);
    assert_eq!(deploys.len(), 3, "{deploys:?}");
    assert!(deploys[0].ends_with("at 10%"), "{deploys:?}");
    t.fake.assert_clean();
}
