//! Slack through an incoming webhook: the URL is the secret, so it is shown only by host.

use super::router::{HttpEndpoint, DEFAULT_TIMEOUT};
use super::templates::{truncate_chars, Message};
use super::{Notification, Notifier, NotifyError};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::time::Duration;

/// Slack's limits for a header block and a section's text.
const HEADER_MAX: usize = 150;
const SECTION_MAX: usize = 3000;

#[derive(Debug, Clone)]
pub struct SlackNotifier {
    endpoint: HttpEndpoint,
}

impl SlackNotifier {
    pub fn new(webhook_url: &str) -> Result<Self, NotifyError> {
        Self::with_timeout(webhook_url, DEFAULT_TIMEOUT)
    }

    pub fn with_timeout(webhook_url: &str, timeout: Duration) -> Result<Self, NotifyError> {
        Ok(Self {
            endpoint: HttpEndpoint::new("slack", webhook_url, timeout)?,
        })
    }

    /// The webhook body: `text` is the fallback for notifications, `blocks` what is shown.
    pub fn payload(m: &Message) -> Value {
        json!({
            "text": m.subject(),
            "blocks": [
                {
                    "type": "header",
                    "text": {"type": "plain_text", "text": truncate_chars(&m.title, HEADER_MAX)}
                },
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": truncate_chars(&m.slack_mrkdwn(), SECTION_MAX)}
                }
            ]
        })
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let body = Self::payload(&Message::from_notification(n));
        self.endpoint.post_json("slack", &body, &[]).await
    }
}
