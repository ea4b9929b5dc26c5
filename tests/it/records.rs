//! A side effect healbot recorded but can no longer read (written by an older version, say)
//! stops the operation: it fails with a reason naming the record, and the effect is not done a
//! second time. Reading such a record as "not done" would merge or deploy again.

use crate::support::app::{App, REPO};
use healbot::operation::OpState;
use serde_json::json;

#[tokio::test]
async fn an_unreadable_merge_record_fails_the_operation_and_merges_nothing() {
    let mut t = App::start().await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    let op = t.operations().await.remove(0);
    assert_eq!(op.state, OpState::AwaitingReview);
    let key = format!("{}/merge", op.id);
    // An `effect.done` entry as the fold reads it, whose result is no commit.
    t.app
        .orchestrator()
        .journal
        .note(
            &op.id,
            "healbot",
            "effect.done",
            json!({"key": key, "result": {"sha": 7}}),
        )
        .await
        .unwrap();
    let main_before = t.fake.branch(REPO, "main").unwrap();

    t.production.heal();
    t.approve(1, 1).await;

    let op = t.operations().await.remove(0);
    let reason = &op.history.last().unwrap().2;
    assert_eq!(op.state, OpState::Failed, "{:#?}", op.history);
    assert!(reason.contains(&format!("effect `{key}`")), "{reason}");
    assert!(reason.contains("invalid type: map"), "{reason}");
    assert_eq!(
        t.fake.branch(REPO, "main").unwrap(),
        main_before,
        "nothing was merged"
    );
    assert_eq!(t.fake.pr_numbers(REPO), vec![1], "no other PR");
    let actions = t.audit_actions().await;
    assert!(actions.iter().any(|(_, a)| a == "notify.sent"));
}
