//! Microsoft Teams through an incoming webhook (a Workflows or connector URL), as an Adaptive
//! Card, the format both accept. The URL is the secret, so it is shown only by host.

use super::router::{HttpEndpoint, DEFAULT_TIMEOUT};
use super::templates::Message;
use super::{Notification, Notifier, NotifyError};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct TeamsNotifier {
    endpoint: HttpEndpoint,
}

impl TeamsNotifier {
    pub fn new(webhook_url: &str) -> Result<Self, NotifyError> {
        Self::with_timeout(webhook_url, DEFAULT_TIMEOUT)
    }

    pub fn with_timeout(webhook_url: &str, timeout: Duration) -> Result<Self, NotifyError> {
        Ok(Self {
            endpoint: HttpEndpoint::new("teams", webhook_url, timeout)?,
        })
    }

    /// A `message` with one Adaptive Card attachment: title, facts, body, and a button to the PR.
    pub fn payload(m: &Message) -> Value {
        let facts: Vec<Value> = m
            .facts()
            .into_iter()
            .map(|(title, value)| json!({"title": title, "value": value}))
            .collect();
        let mut body = vec![
            json!({"type": "TextBlock", "text": m.title, "weight": "Bolder", "size": "Medium", "wrap": true}),
            json!({"type": "FactSet", "facts": facts}),
        ];
        if !m.body.is_empty() {
            body.push(json!({"type": "TextBlock", "text": m.body, "wrap": true}));
        }
        let actions: Vec<Value> = m
            .pr_url
            .iter()
            .map(|url| json!({"type": "Action.OpenUrl", "title": "Open pull request", "url": url}))
            .collect();
        json!({
            "type": "message",
            "summary": m.subject(),
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": body,
                    "actions": actions
                }
            }]
        })
    }
}

#[async_trait]
impl Notifier for TeamsNotifier {
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let body = Self::payload(&Message::from_notification(n));
        self.endpoint.post_json("teams", &body, &[]).await
    }
}
