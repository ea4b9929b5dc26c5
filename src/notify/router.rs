//! Routing by severity: one notification goes to every channel the escalation policy lists for
//! its severity, concurrently, and one broken channel never silences the others. A log line is
//! always written too, so nothing healbot said is lost when every remote channel is down.
//!
//! It also holds `HttpEndpoint`, the JSON-over-HTTP transport the webhook channels share, so
//! timeouts and secret-free errors are decided once.

use super::templates::redact_url;
use super::{LogNotifier, Notification, Notifier, NotifyError};
use crate::config::escalation::{Channel, EscalationPolicy};
use async_trait::async_trait;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How long a webhook call may take before the channel counts as failed.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest part of an error response body quoted in an error.
const EXCERPT_MAX: usize = 200;

/// Sends each notification to the channels its severity is routed to.
pub struct RoutingNotifier {
    policy: EscalationPolicy,
    channels: HashMap<Channel, Arc<dyn Notifier>>,
    log: Arc<LogNotifier>,
}

/// The channels that failed (each with its reason) and those that delivered.
#[derive(Debug, thiserror::Error)]
#[error("notification failed on {}: {}", channel_list(failed.iter().map(|(c, _)| *c)), reasons(failed))]
pub struct RoutingError {
    pub failed: Vec<(Channel, NotifyError)>,
    pub delivered: Vec<Channel>,
}

impl RoutingNotifier {
    pub fn new(policy: EscalationPolicy) -> Self {
        Self::with_log(policy, Arc::new(LogNotifier::new()))
    }

    /// Shares a `LogNotifier` whose record someone else reads (the timeline).
    pub(crate) fn with_log(policy: EscalationPolicy, log: Arc<LogNotifier>) -> Self {
        Self {
            policy,
            channels: HashMap::new(),
            log,
        }
    }

    /// Configures a channel; a later call for the same channel replaces it.
    pub fn with_channel(mut self, channel: Channel, notifier: Arc<dyn Notifier>) -> Self {
        self.channels.insert(channel, notifier);
        self
    }

    pub fn log(&self) -> &Arc<LogNotifier> {
        &self.log
    }

    /// Channels the policy names (routing or escalation steps) that have no notifier; a
    /// server should refuse to start with any, or those notifications only reach the log.
    pub fn unconfigured(&self) -> Vec<Channel> {
        let r = &self.policy.routing;
        let named = [&r.low, &r.medium, &r.high, &r.critical]
            .into_iter()
            .flatten()
            .chain(
                self.policy
                    .waiting_for_person
                    .iter()
                    .flat_map(|s| &s.notify),
            );
        let mut missing: Vec<Channel> = Vec::new();
        for c in named {
            if *c != Channel::Log && !self.channels.contains_key(c) && !missing.contains(c) {
                missing.push(*c);
            }
        }
        missing
    }

    /// Sends `n` to the channels routed for its severity; returns those that delivered.
    pub async fn send(&self, n: &Notification) -> Result<Vec<Channel>, RoutingError> {
        let channels = self.policy.channels_for(n.severity).to_vec();
        self.send_to(&channels, n).await
    }

    /// Sends `n` to the given channels (an escalation step's list), all of them even when
    /// some fail. The log always gets it, listed or not.
    pub(crate) async fn send_to(
        &self,
        channels: &[Channel],
        n: &Notification,
    ) -> Result<Vec<Channel>, RoutingError> {
        // The log cannot fail, and goes first so a hung channel never delays the record.
        let _ = self.log.notify(n).await;
        let mut delivered = Vec::new();
        let mut failed = Vec::new();
        let mut tasks = tokio::task::JoinSet::new();
        let mut seen = Vec::new();
        for &channel in channels {
            if channel == Channel::Log {
                if !delivered.contains(&Channel::Log) {
                    delivered.push(Channel::Log);
                }
                continue;
            }
            if seen.contains(&channel) {
                continue;
            }
            seen.push(channel);
            match self.channels.get(&channel) {
                Some(notifier) => {
                    let notifier = Arc::clone(notifier);
                    let n = n.clone();
                    tasks.spawn(async move { (channel, notifier.notify(&n).await) });
                }
                None => failed.push((
                    channel,
                    NotifyError::Delivery {
                        channel: channel.to_string(),
                        reason: "not configured".into(),
                    },
                )),
            }
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((channel, Ok(()))) => delivered.push(channel),
                Ok((channel, Err(e))) => failed.push((channel, e)),
                // A panicking notifier loses its channel name with the task; find it by elimination.
                Err(_) => {
                    if let Some(c) = seen
                        .iter()
                        .find(|c| !delivered.contains(c) && !failed.iter().any(|(f, _)| f == *c))
                        .copied()
                    {
                        failed.push((
                            c,
                            NotifyError::Delivery {
                                channel: c.to_string(),
                                reason: "notifier panicked".into(),
                            },
                        ));
                    }
                }
            }
        }
        for (channel, e) in &failed {
            super::stats::NOTIFY_FAILURES.failed(&channel.to_string());
            tracing::warn!(%channel, error = %e, operation = %n.operation_id, "notification failed");
        }
        if failed.is_empty() {
            Ok(delivered)
        } else {
            failed.sort_by_key(|(c, _)| c.to_string());
            Err(RoutingError { failed, delivered })
        }
    }
}

#[async_trait]
impl Notifier for RoutingNotifier {
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        self.send(n)
            .await
            .map(|_| ())
            .map_err(|e| NotifyError::Delivery {
                channel: channel_list(e.failed.iter().map(|(c, _)| *c)),
                reason: reasons(&e.failed),
            })
    }

    async fn notify_channels(
        &self,
        channels: &[Channel],
        n: &Notification,
    ) -> Result<(), NotifyError> {
        self.send_to(channels, n)
            .await
            .map(|_| ())
            .map_err(|e| NotifyError::Delivery {
                channel: channel_list(e.failed.iter().map(|(c, _)| *c)),
                reason: reasons(&e.failed),
            })
    }
}

fn channel_list(channels: impl Iterator<Item = Channel>) -> String {
    channels
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn reasons(failed: &[(Channel, NotifyError)]) -> String {
    failed
        .iter()
        .map(|(_, e)| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A URL a channel POSTs JSON to. Debug and errors show it only as scheme and host.
#[derive(Clone)]
pub struct HttpEndpoint {
    url: reqwest::Url,
    shown: String,
    timeout: Duration,
    client: reqwest::Client,
}

impl fmt::Debug for HttpEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpEndpoint")
            .field("url", &self.shown)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl HttpEndpoint {
    /// `channel` only names the channel in errors.
    pub fn new(channel: &str, url: &str, timeout: Duration) -> Result<Self, NotifyError> {
        let fail = |reason: String| NotifyError::Delivery {
            channel: channel.to_string(),
            reason,
        };
        let shown = redact_url(url);
        // The parse error is not quoted: it could echo part of the secret URL.
        let parsed = reqwest::Url::parse(url)
            .map_err(|_| fail(format!("endpoint {shown} is not a valid URL")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(fail(format!("endpoint {shown} must be http or https")));
        }
        let client = crate::http_client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| fail(format!("HTTP client: {}", e.without_url())))?;
        Ok(Self {
            url: parsed,
            shown,
            timeout,
            client,
        })
    }

    /// Scheme and host, for logs.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// POSTs `body`; a non-2xx answer is an error quoting the start of the response, with the
    /// URL and every string in `secrets` removed from it.
    pub async fn post_json(
        &self,
        channel: &str,
        body: &serde_json::Value,
        secrets: &[&str],
    ) -> Result<(), NotifyError> {
        let fail = |reason: String| NotifyError::Delivery {
            channel: channel.to_string(),
            reason,
        };
        let response = self
            .client
            .post(self.url.clone())
            .json(body)
            .send()
            .await
            .map_err(|e| {
                fail(if e.is_timeout() {
                    format!("{} did not answer within {:?}", self.shown, self.timeout)
                } else if e.is_connect() {
                    format!("could not connect to {}", self.shown)
                } else {
                    format!("request to {} failed: {}", self.shown, e.without_url())
                })
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        let mut excerpt: String = text.chars().take(EXCERPT_MAX).collect();
        for secret in secrets
            .iter()
            .copied()
            .chain([self.url.as_str(), self.url.path()])
        {
            if secret.len() > 1 {
                excerpt = excerpt.replace(secret, "[redacted]");
            }
        }
        Err(fail(format!(
            "{} answered {}: {}",
            self.shown,
            status.as_u16(),
            excerpt.trim()
        )))
    }
}
