//! `healbot.yaml`'s `notify:` through the GitHub App: an escalated operation pages Slack and
//! PagerDuty (receivers served on loopback), and the secrets those channels carry never reach
//! the audit log.

use crate::support::app::{App, AppOptions};
use crate::support::prometheus::{serve_http, Handler, Seen};
use healbot::config::notify::{NotifyConfig, NotifyFile};
use healbot::config::yaml::parse_strict;
use healbot::operation::OpState;
use serde_json::Value;
use std::sync::{Arc, Mutex};

const SLACK_TOKEN: &str = "T0NOTIFY/B0APP/SLACKWEBHOOKTOKEN";
const ROUTING_KEY: &str = "PDROUTINGKEYNOTIFYAPP";

async fn receiver() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let handler: Handler = Arc::new(|_: &Seen| {
        (
            202,
            "application/json".to_string(),
            "{\"status\":\"success\"}".to_string(),
        )
    });
    let (addr, seen) = serve_http(handler).await;
    (format!("http://{addr}"), seen)
}

fn bodies(seen: &Mutex<Vec<Seen>>) -> Vec<(String, Value)> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|s| {
            let json = serde_json::from_str(&s.body).unwrap_or(Value::Null);
            (s.target.clone(), json)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_pages_slack_and_pagerduty_without_leaking_secrets() {
    let (slack_url, slack_seen) = receiver().await;
    let (pd_url, pd_seen) = receiver().await;
    let webhook_url = format!("{slack_url}/services/{SLACK_TOKEN}");
    let secrets = tempfile::tempdir().unwrap();
    std::fs::write(secrets.path().join("slack-webhook"), &webhook_url).unwrap();
    std::fs::write(secrets.path().join("pd-key"), format!("{ROUTING_KEY}\n")).unwrap();
    let file: NotifyFile = parse_strict(&format!(
        "slack: {{webhook_url_file: slack-webhook}}\n\
         pagerduty: {{routing_key_file: pd-key, api_url: '{pd_url}/v2/enqueue'}}\n"
    ))
    .unwrap();
    let notify = NotifyConfig::from_file(Some(file), secrets.path(), &|_| None).unwrap();

    let mut t = App::start_with(AppOptions {
        notify: Some(notify),
        ..AppOptions::default()
    })
    .await;
    // An exhausted error budget blocks the fix and escalates the critical incident.
    t.production.edit(|s| s.slo_error_rate = Some(0.02));
    t.alert().await;
    assert_eq!(t.states().await, [OpState::Escalated]);

    let slack = bodies(&slack_seen);
    assert!(!slack.is_empty(), "slack received nothing");
    assert!(slack
        .iter()
        .all(|(target, _)| target == &format!("/services/{SLACK_TOKEN}")));
    assert!(
        slack.iter().any(|(_, b)| b["text"].is_string()
            && b["blocks"][0]["type"] == "header"
            && b.to_string().contains("needs a person")),
        "{slack:?}"
    );

    let pagerduty = bodies(&pd_seen);
    assert!(!pagerduty.is_empty(), "pagerduty received nothing");
    assert!(pagerduty.iter().all(|(target, _)| target == "/v2/enqueue"));
    let trigger = pagerduty
        .iter()
        .map(|(_, b)| b)
        .find(|b| b["event_action"] == "trigger" && b["payload"]["severity"] == "critical")
        .unwrap_or_else(|| panic!("no critical trigger: {pagerduty:?}"));
    assert_eq!(trigger["routing_key"], ROUTING_KEY);
    assert!(trigger["dedup_key"]
        .as_str()
        .is_some_and(|k| k.starts_with("healbot/")));
    assert!(trigger["payload"]["summary"].is_string());
    assert_eq!(trigger["payload"]["source"], "healbot");

    let audit =
        std::fs::read_to_string(App::state_dir(t.state.path()).join("audit.jsonl")).unwrap();
    assert!(audit.contains("notify.sent"), "the escalation is audited");
    for secret in [
        webhook_url.as_str(),
        SLACK_TOKEN,
        "SLACKWEBHOOKTOKEN",
        ROUTING_KEY,
    ] {
        assert!(
            audit.lines().all(|l| !l.contains(secret)),
            "{secret} is in the audit log"
        );
    }
    t.fake.assert_clean();
}
