//! PagerDuty Events API v2. One alert per operation: every event carries the dedup key
//! `healbot/<operation_id>`, so a later resolve closes the alert the trigger opened and repeated
//! triggers add to it instead of paging again. The routing key is a secret and never appears
//! in errors or Debug output.

use super::router::{HttpEndpoint, DEFAULT_TIMEOUT};
use super::templates::{kind_label, Message};
use super::{Notification, NotificationKind, Notifier, NotifyError};
use crate::model::Severity;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAction {
    Trigger,
    Acknowledge,
    Resolve,
}

impl EventAction {
    pub fn as_str(self) -> &'static str {
        match self {
            EventAction::Trigger => "trigger",
            EventAction::Acknowledge => "acknowledge",
            EventAction::Resolve => "resolve",
        }
    }

    /// Resolved closes the alert; anything else opens it or adds to the open one.
    pub(crate) fn for_kind(kind: NotificationKind) -> Self {
        match kind {
            NotificationKind::Resolved => EventAction::Resolve,
            NotificationKind::Escalation | NotificationKind::Info => EventAction::Trigger,
        }
    }
}

/// healbot's severity as PagerDuty's (`critical`, `error`, `warning`, `info`).
pub(crate) fn pagerduty_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "info",
    }
}

pub fn dedup_key(operation_id: &str) -> String {
    format!("healbot/{operation_id}")
}

#[derive(Clone)]
pub struct PagerDutyNotifier {
    endpoint: HttpEndpoint,
    routing_key: String,
    source: String,
}

impl fmt::Debug for PagerDutyNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PagerDutyNotifier")
            .field("endpoint", &self.endpoint)
            .field("routing_key", &"[redacted]")
            .field("source", &self.source)
            .finish()
    }
}

impl PagerDutyNotifier {
    /// `events_url` is `DEFAULT_EVENTS_URL` in production.
    pub fn new(events_url: &str, routing_key: &str) -> Result<Self, NotifyError> {
        Self::with_timeout(events_url, routing_key, DEFAULT_TIMEOUT)
    }

    pub fn with_timeout(
        events_url: &str,
        routing_key: &str,
        timeout: Duration,
    ) -> Result<Self, NotifyError> {
        if routing_key.trim().is_empty() {
            return Err(NotifyError::Delivery {
                channel: "pagerduty".into(),
                reason: "routing_key is empty".into(),
            });
        }
        Ok(Self {
            endpoint: HttpEndpoint::new("pagerduty", events_url, timeout)?,
            routing_key: routing_key.to_string(),
            source: "healbot".into(),
        })
    }

    /// The event body. A resolve or acknowledge needs only the key; a trigger carries the payload.
    pub fn event(&self, m: &Message, action: EventAction) -> Value {
        let mut event = json!({
            "routing_key": self.routing_key,
            "event_action": action.as_str(),
            "dedup_key": dedup_key(&m.operation_id),
        });
        if action == EventAction::Trigger {
            event["payload"] = json!({
                "summary": m.pagerduty_summary(),
                "source": self.source,
                "severity": pagerduty_severity(m.severity),
                "component": "healbot",
                "custom_details": {
                    "operation_id": m.operation_id,
                    "kind": kind_label(m.kind),
                    "title": m.title,
                    "body": m.body,
                    "pull_request": m.pr_url,
                }
            });
            event["client"] = json!("healbot");
            if let Some(url) = &m.pr_url {
                event["links"] = json!([{"href": url, "text": "Fix pull request"}]);
            }
        }
        event
    }

    /// Acknowledges the operation's alert (a person has taken it over).
    pub async fn acknowledge(&self, operation_id: &str) -> Result<(), NotifyError> {
        let body = json!({
            "routing_key": self.routing_key,
            "event_action": EventAction::Acknowledge.as_str(),
            "dedup_key": dedup_key(operation_id),
        });
        self.post(&body).await
    }

    async fn post(&self, body: &Value) -> Result<(), NotifyError> {
        self.endpoint
            .post_json("pagerduty", body, &[&self.routing_key])
            .await
    }
}

#[async_trait]
impl Notifier for PagerDutyNotifier {
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let m = Message::from_notification(n);
        self.post(&self.event(&m, EventAction::for_kind(n.kind)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::notify::DEFAULT_EVENTS_URL;

    fn notifier() -> PagerDutyNotifier {
        PagerDutyNotifier::new(DEFAULT_EVENTS_URL, "R0UTINGKEY").unwrap()
    }

    fn message(kind: NotificationKind) -> Message {
        Message::from_notification(&Notification {
            kind,
            severity: Severity::Critical,
            operation_id: "op-1".into(),
            title: "t".into(),
            body: "PR: https://github.com/a/b/pull/3".into(),
        })
    }

    #[test]
    fn trigger_carries_payload_and_links() {
        let e = notifier().event(&message(NotificationKind::Escalation), EventAction::Trigger);
        assert_eq!(e["event_action"], "trigger");
        assert_eq!(e["dedup_key"], "healbot/op-1");
        assert_eq!(e["payload"]["severity"], "critical");
        assert_eq!(e["payload"]["source"], "healbot");
        assert_eq!(e["links"][0]["href"], "https://github.com/a/b/pull/3");
    }

    #[test]
    fn resolve_reuses_the_key_without_payload() {
        let m = message(NotificationKind::Resolved);
        let e = notifier().event(&m, EventAction::for_kind(m.kind));
        assert_eq!(e["event_action"], "resolve");
        assert_eq!(e["dedup_key"], "healbot/op-1");
        assert!(e.get("payload").is_none());
    }

    #[test]
    fn debug_hides_the_routing_key() {
        assert!(!format!("{:?}", notifier()).contains("R0UTINGKEY"));
        assert!(PagerDutyNotifier::new(DEFAULT_EVENTS_URL, " ").is_err());
    }
}
