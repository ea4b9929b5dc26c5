//! Integration tests: the real notifiers against receivers served on loopback (a minimal
//! HTTP/1.1 server for the webhooks, a minimal SMTP server for email), and routing by severity.

use healbot::config::escalation::{Channel, EscalationPolicy};
use healbot::model::Severity;
use healbot::notify::email::EmailNotifier;
use healbot::notify::pagerduty::PagerDutyNotifier;
use healbot::notify::router::RoutingNotifier;
use healbot::notify::slack::SlackNotifier;
use healbot::notify::teams::TeamsNotifier;
use healbot::notify::{Notification, NotificationKind, Notifier};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const SLACK_SECRET: &str = "T000/B000/SLACKSECRET";
const TEAMS_SECRET: &str = "workflows/TEAMSSECRET";
const ROUTING_KEY: &str = "PDROUTINGKEYSECRET";

#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    json: Value,
}

/// An HTTP receiver that records each request and answers every one with `status` and `body`
/// (or never answers, when `status` is 0).
struct HttpReceiver {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl HttpReceiver {
    async fn start(status: u16, body: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let mut reader = BufReader::new(stream);
                    let mut line = String::new();
                    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let method = parts.next().unwrap_or_default().to_string();
                    let path = parts.next().unwrap_or_default().to_string();
                    let mut length = 0usize;
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut raw = vec![0; length];
                    if reader.read_exact(&mut raw).await.is_err() {
                        return;
                    }
                    let json = serde_json::from_slice(&raw).unwrap_or(Value::Null);
                    seen.lock().unwrap().push(Request { method, path, json });
                    if status == 0 {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        return;
                    }
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = reader.get_mut().write_all(response.as_bytes()).await;
                });
            }
        });
        Self { port, requests }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

/// A captured email: the MAIL/RCPT lines and the DATA.
type Mail = (Vec<String>, String);

/// An SMTP receiver that speaks just enough (220, EHLO, MAIL, RCPT, DATA, QUIT) to capture
/// each message's envelope and data.
struct SmtpReceiver {
    port: u16,
    messages: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpReceiver {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&messages);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let mut s = BufReader::new(stream);
                    let _ = s.get_mut().write_all(b"220 localhost ESMTP test\r\n").await;
                    let mut envelope = Vec::new();
                    loop {
                        let mut line = String::new();
                        if s.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" | "HELO" => {
                                b"250-localhost\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
                            }
                            "AUTH" => b"235 authenticated\r\n",
                            "MAIL" | "RCPT" => {
                                envelope.push(line.trim_end().to_string());
                                b"250 OK\r\n"
                            }
                            "DATA" => {
                                let _ = s.get_mut().write_all(b"354 go ahead\r\n").await;
                                let mut data = String::new();
                                loop {
                                    let mut l = String::new();
                                    if s.read_line(&mut l).await.unwrap_or(0) == 0 {
                                        return;
                                    }
                                    if l == ".\r\n" {
                                        break;
                                    }
                                    data.push_str(&l);
                                }
                                seen.lock()
                                    .unwrap()
                                    .push((std::mem::take(&mut envelope), data));
                                b"250 queued\r\n"
                            }
                            "QUIT" => {
                                let _ = s.get_mut().write_all(b"221 bye\r\n").await;
                                return;
                            }
                            _ => b"250 OK\r\n",
                        };
                        let _ = s.get_mut().write_all(reply).await;
                    }
                });
            }
        });
        Self { port, messages }
    }

    fn url(&self) -> String {
        format!("smtp://healbot:SMTPPASSWORD@127.0.0.1:{}", self.port)
    }

    fn messages(&self) -> Vec<Mail> {
        self.messages.lock().unwrap().clone()
    }
}

fn notification(kind: NotificationKind, severity: Severity) -> Notification {
    Notification {
        kind,
        severity,
        operation_id: "op-42".into(),
        title: "Canary error rate above 2%".into(),
        body: "Rolled back. Fix PR: https://github.com/acme/shop/pull/17".into(),
    }
}

fn policy() -> EscalationPolicy {
    serde_norway::from_str(
        "waiting_for_person:\n  - after_minutes: 15\n    notify: [slack]\n\
         routing:\n  low: [log]\n  medium: [log, slack]\n  high: [slack, teams, pagerduty]\n  \
         critical: [slack, teams, pagerduty, email]\n",
    )
    .unwrap()
}

#[tokio::test]
async fn slack_posts_text_and_blocks() {
    let rx = HttpReceiver::start(200, "ok").await;
    let slack = SlackNotifier::new(&rx.url(&format!("services/{SLACK_SECRET}"))).unwrap();
    slack
        .notify(&notification(NotificationKind::Escalation, Severity::High))
        .await
        .unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, format!("/services/{SLACK_SECRET}"));
    let j = &reqs[0].json;
    assert!(j["text"].as_str().unwrap().contains("op-42"));
    assert_eq!(j["blocks"][0]["type"], "header");
    assert_eq!(j["blocks"][0]["text"]["text"], "Canary error rate above 2%");
    assert_eq!(j["blocks"][1]["text"]["type"], "mrkdwn");
    let section = j["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(section.contains("<https://github.com/acme/shop/pull/17|pull request>"));
}

#[tokio::test]
async fn pagerduty_trigger_then_resolve_share_the_dedup_key() {
    let rx = HttpReceiver::start(202, r#"{"status":"success","message":"Event processed"}"#).await;
    let pd = PagerDutyNotifier::new(&rx.url("v2/enqueue"), ROUTING_KEY).unwrap();
    pd.notify(&notification(
        NotificationKind::Escalation,
        Severity::Critical,
    ))
    .await
    .unwrap();
    pd.acknowledge("op-42").await.unwrap();
    pd.notify(&notification(
        NotificationKind::Resolved,
        Severity::Critical,
    ))
    .await
    .unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs.iter().all(|r| r.path == "/v2/enqueue"));
    let actions: Vec<_> = reqs
        .iter()
        .map(|r| r.json["event_action"].clone())
        .collect();
    assert_eq!(actions, ["trigger", "acknowledge", "resolve"]);
    for r in &reqs {
        assert_eq!(r.json["routing_key"], ROUTING_KEY);
        assert_eq!(r.json["dedup_key"], "healbot/op-42");
    }
    let p = &reqs[0].json["payload"];
    assert_eq!(p["severity"], "critical");
    assert_eq!(p["source"], "healbot");
    assert!(p["summary"].as_str().unwrap().contains("Canary error rate"));
    assert_eq!(p["custom_details"]["operation_id"], "op-42");
    assert_eq!(
        p["custom_details"]["pull_request"],
        "https://github.com/acme/shop/pull/17"
    );
}

#[tokio::test]
async fn teams_posts_an_adaptive_card() {
    let rx = HttpReceiver::start(202, "").await;
    let teams = TeamsNotifier::new(&rx.url(TEAMS_SECRET)).unwrap();
    teams
        .notify(&notification(NotificationKind::Info, Severity::Medium))
        .await
        .unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1);
    let j = &reqs[0].json;
    assert_eq!(j["type"], "message");
    let a = &j["attachments"][0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(a["content"]["type"], "AdaptiveCard");
    assert_eq!(
        a["content"]["body"][0]["text"],
        "Canary error rate above 2%"
    );
    let facts = a["content"]["body"][1]["facts"].as_array().unwrap();
    assert!(facts
        .iter()
        .any(|f| f["title"] == "Operation" && f["value"] == "op-42"));
    assert_eq!(
        a["content"]["actions"][0]["url"],
        "https://github.com/acme/shop/pull/17"
    );
}

#[tokio::test]
async fn email_goes_over_smtp_with_subject_and_text() {
    let rx = SmtpReceiver::start().await;
    let email = EmailNotifier::new(
        &rx.url(),
        "healbot <healbot@example.com>",
        &["oncall@example.com", "lead@example.com"],
    )
    .unwrap();
    email
        .notify(&notification(
            NotificationKind::Escalation,
            Severity::Critical,
        ))
        .await
        .unwrap();
    let msgs = rx.messages();
    assert_eq!(msgs.len(), 1);
    let (envelope, data) = &msgs[0];
    // Long headers are folded onto continuation lines.
    let data = data.replace("\r\n ", " ");
    assert!(envelope[0].contains("MAIL FROM:<healbot@example.com>"));
    assert_eq!(envelope.len(), 3, "{envelope:?}");
    assert!(
        data.contains(
            "Subject: [healbot] critical needs a person: Canary error rate above 2% (op-42)"
        ),
        "{data}"
    );
    assert!(data.contains("Content-Type: text/plain"));
    assert!(data.contains("Operation: op-42"));
    assert!(data.contains("Pull request: https://github.com/acme/shop/pull/17"));
}

struct Receivers {
    slack: HttpReceiver,
    teams: HttpReceiver,
    pd: HttpReceiver,
    smtp: SmtpReceiver,
}

async fn router(slack_status: u16) -> (RoutingNotifier, Receivers) {
    let rx = Receivers {
        slack: HttpReceiver::start(
            slack_status,
            "invalid_token for /services/T000/B000/SLACKSECRET",
        )
        .await,
        teams: HttpReceiver::start(200, "1").await,
        pd: HttpReceiver::start(202, r#"{"status":"success"}"#).await,
        smtp: SmtpReceiver::start().await,
    };
    let timeout = Duration::from_millis(500);
    let r = RoutingNotifier::new(policy())
        .with_channel(
            Channel::Slack,
            Arc::new(
                SlackNotifier::with_timeout(
                    &rx.slack.url(&format!("services/{SLACK_SECRET}")),
                    timeout,
                )
                .unwrap(),
            ),
        )
        .with_channel(
            Channel::Teams,
            Arc::new(TeamsNotifier::with_timeout(&rx.teams.url(TEAMS_SECRET), timeout).unwrap()),
        )
        .with_channel(
            Channel::Pagerduty,
            Arc::new(
                PagerDutyNotifier::with_timeout(&rx.pd.url("v2/enqueue"), ROUTING_KEY, timeout)
                    .unwrap(),
            ),
        )
        .with_channel(
            Channel::Email,
            Arc::new(
                EmailNotifier::with_timeout(
                    &rx.smtp.url(),
                    "healbot@example.com",
                    &["oncall@example.com"],
                    timeout,
                )
                .unwrap(),
            ),
        );
    (r, rx)
}

#[tokio::test]
async fn routes_by_severity_and_always_logs() {
    let (r, rx) = router(200).await;
    assert!(r.unconfigured().is_empty());
    let low = r
        .send(&notification(NotificationKind::Info, Severity::Low))
        .await
        .unwrap();
    assert_eq!(low, [Channel::Log]);
    r.send(&notification(NotificationKind::Info, Severity::Medium))
        .await
        .unwrap();
    assert_eq!(rx.slack.requests().len(), 1);
    assert_eq!(rx.pd.requests().len(), 0);
    let mut critical = r
        .send(&notification(
            NotificationKind::Escalation,
            Severity::Critical,
        ))
        .await
        .unwrap();
    critical.sort_by_key(|c| c.to_string());
    assert_eq!(
        critical,
        [
            Channel::Email,
            Channel::Pagerduty,
            Channel::Slack,
            Channel::Teams
        ]
    );
    assert_eq!(rx.slack.requests().len(), 2);
    assert_eq!(rx.teams.requests().len(), 1);
    assert_eq!(rx.pd.requests().len(), 1);
    assert_eq!(rx.smtp.messages().len(), 1);
    assert_eq!(r.log().sent().len(), 3);
}

#[tokio::test]
async fn one_failing_channel_does_not_stop_the_others_nor_leak_secrets() {
    let (r, rx) = router(403).await;
    let err = r
        .send(&notification(
            NotificationKind::Escalation,
            Severity::Critical,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.failed.len(), 1);
    assert_eq!(err.failed[0].0, Channel::Slack);
    assert_eq!(err.delivered.len(), 3);
    assert_eq!(rx.teams.requests().len(), 1);
    assert_eq!(rx.pd.requests().len(), 1);
    assert_eq!(rx.smtp.messages().len(), 1);
    let text = err.to_string();
    assert!(text.contains("slack"), "{text}");
    assert!(text.contains("403"), "{text}");
    assert!(!text.contains("SLACKSECRET"), "{text}");
    // Through the trait the aggregate still names the channel.
    let via_trait = r
        .notify(&notification(NotificationKind::Escalation, Severity::High))
        .await
        .unwrap_err()
        .to_string();
    assert!(via_trait.contains("slack") && !via_trait.contains("SLACKSECRET"));
}

#[tokio::test]
async fn errors_never_carry_secrets() {
    // PagerDuty rejecting an event and echoing the key back.
    let pd_rx = HttpReceiver::start(
        400,
        r#"{"status":"invalid event","errors":["routing_key PDROUTINGKEYSECRET invalid"]}"#,
    )
    .await;
    let pd = PagerDutyNotifier::new(&pd_rx.url("v2/enqueue"), ROUTING_KEY).unwrap();
    let e = pd
        .notify(&notification(NotificationKind::Escalation, Severity::High))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("400") && !e.contains(ROUTING_KEY), "{e}");

    // Nothing listening.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let slack =
        SlackNotifier::new(&format!("http://127.0.0.1:{port}/services/{SLACK_SECRET}")).unwrap();
    let e = slack
        .notify(&notification(NotificationKind::Info, Severity::High))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(!e.contains("SLACKSECRET"), "{e}");
    let email = EmailNotifier::new(
        &format!("smtp://healbot:SMTPPASSWORD@127.0.0.1:{port}"),
        "healbot@example.com",
        &["oncall@example.com"],
    )
    .unwrap();
    let e = email
        .notify(&notification(NotificationKind::Info, Severity::High))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("notifier email"), "{e}");
    assert!(!e.contains("SMTPPASSWORD"), "{e}");

    // A receiver that never answers: a timeout, quickly.
    let hung = HttpReceiver::start(0, "").await;
    let teams =
        TeamsNotifier::with_timeout(&hung.url(TEAMS_SECRET), Duration::from_millis(300)).unwrap();
    let started = std::time::Instant::now();
    let e = teams
        .notify(&notification(NotificationKind::Info, Severity::High))
        .await
        .unwrap_err()
        .to_string();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(e.contains("did not answer"), "{e}");
    assert!(!e.contains("TEAMSSECRET"), "{e}");

    // Bad endpoints are refused without quoting them.
    let e = SlackNotifier::new("ftp://hooks.example.com/services/SLACKSECRET")
        .unwrap_err()
        .to_string();
    assert!(!e.contains("SLACKSECRET"), "{e}");
}

#[tokio::test]
async fn unconfigured_channels_are_reported() {
    let r = RoutingNotifier::new(policy()).with_channel(
        Channel::Slack,
        Arc::new(SlackNotifier::new("http://127.0.0.1:9/x").unwrap()),
    );
    let mut missing = r.unconfigured();
    missing.sort_by_key(|c| c.to_string());
    assert_eq!(
        missing,
        [Channel::Email, Channel::Pagerduty, Channel::Teams]
    );
    let err = r
        .send(&notification(NotificationKind::Info, Severity::Critical))
        .await
        .unwrap_err();
    assert!(err
        .failed
        .iter()
        .any(|(c, e)| *c == Channel::Teams && e.to_string().contains("not configured")));
    assert_eq!(r.log().sent().len(), 1);
}
