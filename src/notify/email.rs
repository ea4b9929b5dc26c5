//! Email over SMTP (lettre): plain text with the same subject every channel uses. The SMTP URL
//! may carry credentials (`smtp://user:pass@host:587?tls=required`, `smtps://…`, or plain
//! `smtp://host:25`), so it is shown only by host.

use super::router::DEFAULT_TIMEOUT;
use super::templates::{redact_url, Message};
use super::{Notification, Notifier, NotifyError};
use async_trait::async_trait;
use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::fmt;
use std::time::Duration;

#[derive(Clone)]
pub struct EmailNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    shown: String,
}

impl fmt::Debug for EmailNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailNotifier")
            .field("smtp", &self.shown)
            .field("from", &self.from.to_string())
            .field("to", &self.to.len())
            .finish()
    }
}

fn fail(reason: String) -> NotifyError {
    NotifyError::Delivery {
        channel: "email".into(),
        reason,
    }
}

impl EmailNotifier {
    pub fn new(smtp_url: &str, from: &str, to: &[&str]) -> Result<Self, NotifyError> {
        Self::with_timeout(smtp_url, from, to, DEFAULT_TIMEOUT)
    }

    pub fn with_timeout(
        smtp_url: &str,
        from: &str,
        to: &[&str],
        timeout: Duration,
    ) -> Result<Self, NotifyError> {
        let shown = redact_url(smtp_url);
        // lettre's parse error is not quoted: it could echo the password.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|_| fail(format!("smtp URL {shown} is not valid")))?
            .timeout(Some(timeout))
            .build();
        let from: Mailbox = from
            .parse()
            .map_err(|e| fail(format!("from address {from:?}: {e}")))?;
        if to.is_empty() {
            return Err(fail("no recipients (to is empty)".into()));
        }
        let to = to
            .iter()
            .map(|a| {
                a.parse::<Mailbox>()
                    .map_err(|e| fail(format!("to address {a:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            transport,
            from,
            to,
            shown,
        })
    }

    /// The email for `m`: subject and plain-text body from the templates.
    pub fn message(&self, m: &Message) -> Result<lettre::Message, NotifyError> {
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .subject(m.subject())
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .body(m.plain_text())
            .map_err(|e| fail(format!("building the message: {e}")))
    }
}

#[async_trait]
impl Notifier for EmailNotifier {
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let email = self.message(&Message::from_notification(n))?;
        self.transport.send(email).await.map(|_| ()).map_err(|e| {
            // lettre's error text holds the server's reply or the I/O error, never the URL.
            let what = if e.is_timeout() {
                "did not answer in time".to_string()
            } else {
                e.to_string()
            };
            fail(format!("{}: {what}", self.shown))
        })
    }
}
