//! Message templates: the one place that decides what a person reads, so Slack, PagerDuty,
//! Teams and email say the same thing (title, severity, operation, body, the PR when known)
//! and a wording change is made once.

use super::{Notification, NotificationKind};
use crate::model::Severity;

/// PagerDuty rejects a summary longer than this.
const PAGERDUTY_SUMMARY_MAX: usize = 1024;

/// What every channel renders, taken from a `Notification` once.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub kind: NotificationKind,
    pub severity: Severity,
    pub operation_id: String,
    pub title: String,
    pub body: String,
    /// The fix PR, when the notification names one.
    pub pr_url: Option<String>,
}

impl Message {
    pub(crate) fn from_notification(n: &Notification) -> Self {
        Self {
            kind: n.kind,
            severity: n.severity,
            operation_id: n.operation_id.clone(),
            title: n.title.clone(),
            body: n.body.clone(),
            pr_url: find_pr_url(&n.body).or_else(|| find_pr_url(&n.title)),
        }
    }

    /// One line: email subject, Slack fallback text, Teams card title.
    pub fn subject(&self) -> String {
        format!(
            "[healbot] {} {}: {} ({})",
            severity_label(self.severity),
            kind_label(self.kind),
            self.title,
            self.operation_id
        )
    }

    /// Plain text for email and logs.
    pub(crate) fn plain_text(&self) -> String {
        let mut out = format!(
            "{}\n\nSeverity: {}\nKind: {}\nOperation: {}\n",
            self.title,
            severity_label(self.severity),
            kind_label(self.kind),
            self.operation_id
        );
        if let Some(url) = &self.pr_url {
            out.push_str(&format!("Pull request: {url}\n"));
        }
        if !self.body.is_empty() {
            out.push('\n');
            out.push_str(&self.body);
            out.push('\n');
        }
        out
    }

    /// Slack mrkdwn for a section block (`<url|text>` links; `&`, `<`, `>` escaped).
    pub(crate) fn slack_mrkdwn(&self) -> String {
        let mut out = format!(
            "*{}* · {} · operation `{}`",
            severity_label(self.severity),
            kind_label(self.kind),
            slack_escape(&self.operation_id)
        );
        if let Some(url) = &self.pr_url {
            out.push_str(&format!(" · <{}|pull request>", slack_escape(url)));
        }
        if !self.body.is_empty() {
            out.push('\n');
            out.push_str(&slack_escape(&self.body));
        }
        out
    }

    /// Facts shown as a table on a Teams card.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let mut facts = vec![
            ("Severity", severity_label(self.severity).to_string()),
            ("Kind", kind_label(self.kind).to_string()),
            ("Operation", self.operation_id.clone()),
        ];
        if let Some(url) = &self.pr_url {
            facts.push(("Pull request", url.clone()));
        }
        facts
    }

    /// PagerDuty's `payload.summary`: the subject, cut to the API's limit.
    pub(crate) fn pagerduty_summary(&self) -> String {
        truncate_chars(&self.subject(), PAGERDUTY_SUMMARY_MAX)
    }
}

pub(crate) fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

pub(crate) fn kind_label(k: NotificationKind) -> &'static str {
    match k {
        NotificationKind::Escalation => "needs a person",
        NotificationKind::Info => "update",
        NotificationKind::Resolved => "resolved",
    }
}

/// The first `http(s)://…/pull/<n>` in `text`.
fn find_pr_url(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '(' | ')' | '"' | '\''))
        .map(|w| w.trim_end_matches(['.', ',', ';', ':', ']']))
        .find(|w| {
            (w.starts_with("https://") || w.starts_with("http://"))
                && w.split('/').collect::<Vec<_>>().windows(2).any(|p| {
                    p[0] == "pull" && !p[1].is_empty() && p[1].bytes().all(|b| b.is_ascii_digit())
                })
        })
        .map(str::to_string)
}

fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// How an endpoint appears in errors and logs: scheme and host only, since webhook URLs carry
/// their secret in the path or query and SMTP URLs in the userinfo.
pub(crate) fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s, r),
        None => return "<endpoint>".to_string(),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() {
        "<endpoint>".to_string()
    } else {
        format!("{scheme}://{host}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(body: &str) -> Notification {
        Notification {
            kind: NotificationKind::Escalation,
            severity: Severity::High,
            operation_id: "op-7".into(),
            title: "Canary failed".into(),
            body: body.into(),
        }
    }

    #[test]
    fn finds_the_pr_link_in_the_body() {
        let m = Message::from_notification(&note(
            "see https://github.com/acme/shop/pull/42. Rolled back.",
        ));
        assert_eq!(
            m.pr_url.as_deref(),
            Some("https://github.com/acme/shop/pull/42")
        );
        assert!(m
            .plain_text()
            .contains("Pull request: https://github.com/acme/shop/pull/42"));
        assert!(m
            .slack_mrkdwn()
            .contains("<https://github.com/acme/shop/pull/42|pull request>"));
        let none = Message::from_notification(&note("see https://example.com/pulls"));
        assert_eq!(none.pr_url, None);
    }

    #[test]
    fn subject_names_severity_kind_and_operation() {
        let m = Message::from_notification(&note(""));
        assert_eq!(
            m.subject(),
            "[healbot] high needs a person: Canary failed (op-7)"
        );
    }

    #[test]
    fn slack_text_is_escaped_and_summary_is_bounded() {
        let mut n = note("a <b> & c");
        n.title = "x".repeat(2000);
        let m = Message::from_notification(&n);
        assert!(m.slack_mrkdwn().ends_with("a &lt;b&gt; &amp; c"));
        assert_eq!(m.pagerduty_summary().chars().count(), 1024);
    }

    #[test]
    fn redaction_keeps_only_scheme_and_host() {
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com"
        );
        assert_eq!(
            redact_url("smtp://user:pw@mail.example.com:587?tls=required"),
            "smtp://mail.example.com:587"
        );
        assert_eq!(redact_url("not a url"), "<endpoint>");
    }
}
