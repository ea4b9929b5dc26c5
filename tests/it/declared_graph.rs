//! The service graph comes from the user (issue 15 §9): the catalog merged with the
//! `depends_on:` each repository declares in `.github/healbot.yml`, re-read when a push to the
//! default branch touches that file, without a restart. Driven through signed `push` webhooks
//! against the fake GitHub.

use crate::support::app::{payment_config, with_repo, App, FIXTURES, REPO};
use serde_json::json;

fn config(depends_on: &str) -> String {
    payment_config(&format!("    depends_on: [{depends_on}]\n"), "")
}

/// GitHub's `push` webhook for `sha` on `branch`, whose one commit modified `files`.
fn push(branch: &str, sha: &str, files: &[&str]) -> serde_json::Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/push/payload.json")).unwrap();
    let mut body = with_repo(serde_json::from_str(&text).unwrap());
    body["ref"] = json!(format!("refs/heads/{branch}"));
    body["after"] = json!(sha);
    body["commits"] = json!([{"id": sha, "added": [], "removed": [], "modified": files}]);
    body
}

fn dependencies(t: &App, service: &str) -> Vec<String> {
    let graph = t.app.orchestrator().graph.current();
    let mut deps: Vec<String> = graph
        .dependencies(service)
        .into_iter()
        .map(str::to_string)
        .collect();
    deps.sort();
    deps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_depends_on_reaches_the_graph_without_a_restart() {
    let mut t = App::start().await;
    assert_eq!(dependencies(&t, "payment-service"), ["postgres_primary"]);
    let radius = |t: &App| {
        t.app
            .orchestrator()
            .graph
            .current()
            .blast_radius("fraud-service")
    };
    assert_eq!(radius(&t), 0.0, "unknown before it is declared");

    // The repository declares a new dependency on its default branch.
    let file = ".github/healbot.yml";
    let sha = t.fake.push(
        REPO,
        "main",
        &[(file, &config("postgres_primary, fraud-service"))],
        "payment calls the fraud service",
    );
    t.deliver("push", "push-1", &push("main", &sha, &[file]))
        .await;
    assert_eq!(
        dependencies(&t, "payment-service"),
        ["fraud-service", "postgres_primary"]
    );
    // Everything that reaches payment-service now reaches fraud-service too.
    assert!(radius(&t) > 0.2, "blast radius {}", radius(&t));
    // The catalog's own edges are still there.
    assert!(dependencies(&t, "order-service").contains(&"payment-service".to_string()));

    // A push on another branch, or one that leaves the file alone, changes nothing yet.
    let other = t
        .fake
        .push(REPO, "main", &[(file, &config(""))], "unrelated?");
    t.deliver("push", "push-2", &push("main", &other, &["README.md"]))
        .await;
    t.deliver("push", "push-3", &push("feature", &other, &[file]))
        .await;
    assert!(dependencies(&t, "payment-service").contains(&"fraud-service".to_string()));

    // The dependency removed again: the declared edge goes, the catalog's stays.
    let sha = t.fake.push(
        REPO,
        "main",
        &[(file, &config("postgres_primary"))],
        "no more fraud checks",
    );
    t.deliver("push", "push-4", &push("main", &sha, &[file]))
        .await;
    assert_eq!(dependencies(&t, "payment-service"), ["postgres_primary"]);
    assert_eq!(radius(&t), 0.0);
    t.fake.assert_clean();
}
