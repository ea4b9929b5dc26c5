//! The GitHub App end to end: `healbot serve`'s routes and worker with the real app handler,
//! against the stateful fake GitHub. An Alertmanager alert opens the incident; signed webhooks
//! built from GitHub's own payloads carry reviews, `/heal` comments and merges. Every comment
//! the bot posts must be expected by the test, and the PR body and comments are snapshots.

use crate::support::app::{
    comment, fixture, person, pull_request, review, with_repo, App, AppOptions, FIXTURES, REPO,
};
use crate::support::github::FakeGithub;
use healbot::forge::{PrNumber, RepoRef};
use healbot::operation::OpState;
use healbot::orchestrator::artifacts;
use serde_json::{json, Value};

/// Hashes, shas, times and durations vary from run to run; snapshots see placeholders.
fn normalize(text: &str) -> String {
    let hex = regex::Regex::new(r"\b[0-9a-f]{7,64}\b").unwrap();
    let time = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?").unwrap();
    let secs = regex::Regex::new(r"\d+\.\d+ s\b").unwrap();
    let seq = regex::Regex::new(r"seq \d+").unwrap();
    let local = regex::Regex::new(r"http://127\.0\.0\.1:\d+").unwrap();
    let text = local.replace_all(text, "https://github.example");
    let text = time.replace_all(&text, "[time]");
    let text = hex.replace_all(&text, "[hex]");
    let text = secs.replace_all(&text, "[n] s");
    seq.replace_all(&text, "seq [n]").into_owned()
}

fn snapshot_comments(fake: &FakeGithub) -> String {
    fake.bot_comments()
        .iter()
        .map(|c| normalize(c))
        .collect::<Vec<_>>()
        .join("\n\n----------------------------------------\n\n")
}

/// The risk's timing factor follows the app's clock, never the wall clock: the same alert
/// scores 1.0 for timing on a Monday at 10:00 UTC (peak hours) and 0.3 on the harness's
/// Sunday at 03:00, whatever the hour the test runs at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risk_timing_follows_the_app_clock_not_the_wall_clock() {
    use chrono::TimeZone;
    let peak = chrono::Utc.with_ymd_and_hms(2030, 1, 7, 10, 0, 0).unwrap();
    let off_peak = crate::support::app::pinned_start();
    for (start, timing) in [(peak, 1.0), (off_peak, 0.3)] {
        let mut t = App::start_with(AppOptions {
            clock_start: Some(start),
            ..AppOptions::default()
        })
        .await;
        t.alert().await;
        t.fake.expect_comments(&["The fix is ready for review"]);
        let ops = t.operations().await;
        let plan = ops[0].artifact(&artifacts::PLAN).unwrap().unwrap();
        let factor = plan.risk.factors.iter().find(|f| f.name == "timing");
        assert_eq!(
            factor.map(|f| f.value),
            Some(timing),
            "at {start}: {plan:?}"
        );
        t.fake.assert_clean();
    }
}

/// Failure matrix row 1 (high error rate), run by `failure_matrix`.
pub(crate) async fn alert_to_pr_review_merge_and_canary() {
    let mut t = App::start().await;
    t.alert().await;

    // The incident became a PR with its check run and labels, and healbot asked for review.
    assert_eq!(t.fake.pr_numbers(REPO), vec![1]);
    assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);
    let labels = t.fake.pr_labels(1);
    assert!(labels.contains(&"healbot".to_string()), "{labels:?}");
    assert!(labels.iter().any(|l| l.starts_with("risk:")), "{labels:?}");
    let checks = t.fake.check_runs();
    assert_eq!(checks.len(), 1, "{checks:#?}");
    assert_eq!(checks[0]["name"], "healbot/safety-gates");
    assert_eq!(checks[0]["conclusion"], "success");
    let actions: Vec<&str> = checks[0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["approve", "rollback"]);
    t.fake.expect_comments(&["The fix is ready for review"]);
    let forge = t.app.orchestrator().forge.clone();
    let pr = forge
        .pull_request(&RepoRef(REPO.into()), PrNumber(1))
        .await
        .unwrap();
    insta::assert_snapshot!("app_pr_body", normalize(&pr.body));
    let head = pr.head_sha.0.clone();

    // A reader may not pause; the refusal is answered and audited, and 👀 says it was seen.
    let pause = comment(&t.fake, 1, "mallory", "/heal pause");
    let status = t.deliver("issue_comment", "d-1", &pause).await;
    assert_eq!(status, 202);
    t.fake
        .expect_comments(&["@mallory: not done: `/heal pause` needs write permission"]);
    let pause_id = pause["comment"]["id"].as_u64().unwrap();
    assert!(t.fake.reactions().contains(&(pause_id, "eyes".to_string())));
    assert!(t
        .audit_actions()
        .await
        .contains(&("mallory".to_string(), "override.refused".to_string())));
    assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);

    // A command inside a code block or a quote is not a command.
    let quoted = comment(
        &t.fake,
        1,
        "alice",
        "Try this:\n```\n/heal approve\n```\n> /heal rollback\n",
    );
    t.deliver("issue_comment", "d-2", &quoted).await;
    t.fake.expect_comments(&[]);
    let quoted_id = quoted["comment"]["id"].as_u64().unwrap();
    assert!(!t.fake.reactions().iter().any(|(id, _)| *id == quoted_id));

    // `/heal status` is answered once, and a replay of the same delivery is not run again.
    let status = comment(&t.fake, 1, "mallory", "/heal status");
    t.deliver("issue_comment", "d-3", &status).await;
    t.fake.expect_comments(&["AwaitingReview"]);
    assert_eq!(t.deliver("issue_comment", "d-3", &status).await, 200);
    t.fake.expect_comments(&[]);

    // An unknown verb gets the list of commands.
    t.deliver(
        "issue_comment",
        "d-4",
        &comment(&t.fake, 1, "alice", "/heal shipit"),
    )
    .await;
    t.fake
        .expect_comments(&["I don't know the command `shipit`"]);

    // A reader's approval does not count.
    t.deliver(
        "pull_request_review",
        "d-5",
        &review(1, "mallory", "approved", &head, 7001),
    )
    .await;
    t.fake
        .expect_comments(&["@mallory: not done: an approving review needs write permission"]);
    assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);

    // An approval of the head merges, and the canary runs to 100% and verifies.
    t.production.heal();
    t.deliver(
        "pull_request_review",
        "d-8",
        &review(1, "alice", "approved", &head, 7003),
    )
    .await;
    let merge = t.fake.branch(REPO, "main").unwrap();
    // GitHub then sends the merge; healbot already knows it and does nothing twice.
    t.deliver(
        "pull_request",
        "d-9",
        &pull_request("closed", 1, "alice", &head, Some(&merge)),
    )
    .await;
    assert_eq!(
        t.state_of_only_operation().await,
        OpState::Completed,
        "{:#?}",
        t.fake.bot_comments()
    );
    let main_log: Vec<String> = {
        let mut out = Vec::new();
        let mut at = t.fake.branch(REPO, "main");
        while let Some(sha) = at {
            out.push(t.fake.commit_message(&sha).unwrap());
            at = t.fake.commit_parents(&sha).first().cloned();
        }
        out
    };
    let steps: Vec<&String> = main_log.iter().filter(|m| m.contains("canary")).collect();
    assert_eq!(steps.len(), 3, "one commit per canary step: {main_log:#?}");
    insta::assert_snapshot!("app_comments", snapshot_comments(&t.fake));
    t.fake.expect_comments(&[
        "approved",
        "now takes 10% of traffic",
        "Canary at 10%: **Pass**",
        "now takes 50% of traffic",
        "Canary at 50%: **Pass**",
        "now takes 100% of traffic",
        "Verification at 100%",
    ]);
    t.fake.assert_clean();
    drop(t.state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_requested_pauses_dismissal_resumes_and_closing_cancels() {
    let mut t = App::start().await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    let head = t.head(1).await;
    t.deliver(
        "pull_request_review",
        "c-1",
        &review(1, "alice", "changes_requested", &head, 8001),
    )
    .await;
    t.fake.expect_comments(&["@alice paused the operation"]);
    assert_eq!(
        t.state_of_only_operation().await,
        OpState::PausedForHumanReview
    );
    let mut dismissed = review(1, "alice", "dismissed", &head, 8001);
    dismissed["action"] = json!("dismissed");
    t.deliver("pull_request_review", "c-2", &dismissed).await;
    t.fake
        .expect_comments(&["@alice resumed the operation at AwaitingReview"]);
    assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);

    t.deliver(
        "pull_request",
        "c-3",
        &pull_request("closed", 1, "alice", &head, None),
    )
    .await;
    assert_eq!(t.state_of_only_operation().await, OpState::Cancelled);
    let actions = t.audit_actions().await;
    assert!(actions.contains(&("alice".to_string(), "pr.closed".to_string())));
    assert!(
        actions.iter().any(|(_, a)| a == "lock.released"),
        "{actions:#?}"
    );
    t.fake.assert_clean();
}

/// The check run's buttons are a second override channel: a reader's click is refused, a
/// writer's Approve merges and starts the canary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_run_approve_button_merges() {
    let mut t = App::start().await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    let head = t.head(1).await;
    let check_id = t.fake.check_runs()[0]["id"].as_u64().unwrap();
    let press = |user: &str| {
        let mut body = with_repo(fixture("check_run/requested_action"));
        body["check_run"]["id"] = json!(check_id);
        body["check_run"]["name"] = json!("healbot/safety-gates");
        body["check_run"]["head_sha"] = json!(head);
        body["check_run"]["pull_requests"][0]["number"] = json!(1);
        body["requested_action"]["identifier"] = json!("approve");
        body["sender"] = person(user);
        body
    };
    t.deliver("check_run", "b-1", &press("mallory")).await;
    t.fake
        .expect_comments(&["@mallory: not done: `/heal approve` needs write permission"]);
    assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);
    t.production.heal();
    t.deliver("check_run", "b-2", &press("alice")).await;
    assert_eq!(t.state_of_only_operation().await, OpState::Completed);
    t.expect_full_rollout();
    t.fake.assert_clean();
}

/// Every payload GitHub documents is taken in when signed and refused when not, and the app
/// handles each without a bot comment or a call outside GitHub's schemas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_is_handled_by_the_app() {
    let mut t = App::start().await;
    let mut n = 0;
    for dir in std::fs::read_dir(FIXTURES).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let event = dir.file_name().unwrap().to_string_lossy().to_string();
        for file in std::fs::read_dir(&dir).unwrap() {
            let body: Value =
                serde_json::from_slice(&std::fs::read(file.unwrap().path()).unwrap()).unwrap();
            n += 1;
            let unsigned = healbot::http_client::client()
                .post(t.url("/webhooks/github"))
                .header("X-GitHub-Event", &event)
                .header("X-GitHub-Delivery", format!("unsigned-{n}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(unsigned.status(), 401, "{event}");
            let status = t.deliver(&event, &format!("fixture-{n}"), &body).await;
            assert!(status == 202 || status == 200, "{event}: {status}");
        }
    }
    assert!(n >= 15, "fixtures missing");
    let installations =
        std::fs::read_to_string(t.state.path().join("state/installations.json")).unwrap();
    assert!(installations.contains("repositories"), "{installations}");
    assert!(t.app.orchestrator().journal.operations().await.is_empty());
    t.fake.assert_clean();
}

/// A `/heal` line is a command however JSON or Markdown spells it; a comment without one is
/// passed over on its bytes, before any parse (issue 18): even cut short it is ignored, not
/// refused, while a cut comment that may hold a command is parsed and refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_count_in_any_spelling_and_other_comments_are_passed_over_unparsed() {
    let mut t = App::start().await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    let written = |body: &Value| String::from_utf8(serde_json::to_vec(body).unwrap()).unwrap();

    let status = written(&comment(&t.fake, 1, "mallory", "/heal status"));
    let escaped = status.replace("/heal status", "\\u002fHEAL status");
    assert_ne!(escaped, status);
    let (code, reply) = t
        .deliver_bytes("issue_comment", "e-1", escaped.into())
        .await;
    assert_eq!((code, reply["status"].as_str()), (202, Some("queued")));
    t.fake.expect_comments(&["AwaitingReview"]);
    // What Markdown renders to a command is one too (an entity for the slash).
    let entity = comment(&t.fake, 1, "mallory", "&#47;heal status");
    assert_eq!(t.deliver("issue_comment", "e-1b", &entity).await, 202);
    t.fake.expect_comments(&["AwaitingReview"]);

    let prose = written(&comment(&t.fake, 1, "alice", "looks good to me"));
    let cut = prose.as_bytes()[..prose.len() / 2].to_vec();
    let (code, reply) = t.deliver_bytes("issue_comment", "e-2", cut).await;
    assert_eq!((code, reply["status"].as_str()), (202, Some("ignored")));
    let log = healbot::server::delivery_log::log_text(&App::state_dir(t.state.path()));
    let line = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["id"] == "e-2")
        .expect("e-2 is in the delivery log");
    assert_eq!(
        (&line["action"], &line["body"]),
        (&json!("created"), &Value::Null)
    );

    let approve = written(&comment(&t.fake, 1, "alice", "/heal approve"));
    let cut = approve.as_bytes()[..approve.len() / 2].to_vec();
    let (code, _) = t.deliver_bytes("issue_comment", "e-3", cut).await;
    assert_eq!(code, 400);
    t.fake.expect_comments(&[]);
    assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);
    t.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pr_that_edits_the_repo_config_gets_a_validation_check() {
    let mut t = App::start().await;
    let broken = "services: []\nvalidation: {command: x, timeout_seconds: 5}\napprovers: {permission: write}\n";
    let base = t.fake.branch(REPO, "main").unwrap();
    let head = t.fake.push(
        REPO,
        "main",
        &[(".github/healbot.yml", broken)],
        "break the config\n",
    );
    let mut body = pull_request("opened", 7, "alice", &head, None);
    body["pull_request"]["base"]["sha"] = json!(base);
    t.deliver("pull_request", "v-1", &body).await;
    let checks = t.fake.check_runs();
    assert_eq!(checks.len(), 1, "{checks:#?}");
    assert_eq!(checks[0]["name"], "healbot/config");
    assert_eq!(checks[0]["conclusion"], "failure");
    let summary = checks[0]["output"]["summary"].as_str().unwrap();
    assert!(summary.contains("services"), "{summary}");
    t.fake.assert_clean();
}
