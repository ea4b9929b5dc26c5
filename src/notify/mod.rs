//! Telling people. A notification goes out when healbot needs a person (escalation, a paused
//! operation) and when it finishes; routing by severity comes from policy. The embedded
//! default writes log lines and keeps what it sent, so the demo can print it.

pub mod channels;
pub mod email;
pub mod pagerduty;
pub mod router;
pub mod slack;
pub mod teams;
pub mod templates;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A person must act.
    Escalation,
    /// Informational progress.
    Info,
    /// The incident is resolved.
    Resolved,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub kind: NotificationKind,
    pub severity: crate::model::Severity,
    pub operation_id: String,
    pub title: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("notifier {channel}: {reason}")]
    Delivery { channel: String, reason: String },
}

#[async_trait]
pub trait Notifier: Send + Sync {
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError>;

    /// Sends `n` to the given channels (an escalation step's list). A notifier that is one
    /// channel itself ignores the list.
    async fn notify_channels(
        &self,
        channels: &[crate::config::Channel],
        n: &Notification,
    ) -> Result<(), NotifyError> {
        let _ = channels;
        self.notify(n).await
    }
}

/// The embedded notifier: a tracing line per notification, kept in memory for the timeline.
#[derive(Default)]
pub struct LogNotifier {
    sent: Mutex<Vec<Notification>>,
}

impl LogNotifier {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn sent(&self) -> Vec<Notification> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl Notifier for LogNotifier {
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        tracing::info!(kind = ?n.kind, operation = %n.operation_id, title = %n.title, "notification");
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(n.clone());
        Ok(())
    }
}
