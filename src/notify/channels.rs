//! Builds the notifiers `healbot.yaml`'s `notify:` section configures, and the router that
//! sends each notification to the channels the escalation policy names. `config` parses and
//! checks the section; turning it into clients is this module's, so `config` stays a leaf
//! that knows no notifier.

use super::email::EmailNotifier;
use super::pagerduty::PagerDutyNotifier;
use super::router::RoutingNotifier;
use super::slack::SlackNotifier;
use super::teams::TeamsNotifier;
use super::{Notifier, NotifyError};
use crate::config::bot::Secret;
use crate::config::escalation::{Channel, EscalationPolicy};
use crate::config::notify::NotifyConfig;
use std::sync::Arc;

/// A notifier per configured channel.
pub(crate) type ChannelNotifiers = Vec<(Channel, Arc<dyn Notifier>)>;

fn expose(secret: &Secret) -> &str {
    secret.expose_str()
}

/// A notifier per channel `config` sets up, for [`RoutingNotifier::with_channel`].
pub fn notifiers(config: &NotifyConfig) -> Result<ChannelNotifiers, NotifyError> {
    let mut out: ChannelNotifiers = Vec::new();
    if let Some(s) = &config.slack {
        out.push((
            Channel::Slack,
            Arc::new(SlackNotifier::new(expose(&s.webhook_url))?),
        ));
    }
    if let Some(t) = &config.teams {
        out.push((
            Channel::Teams,
            Arc::new(TeamsNotifier::new(expose(&t.webhook_url))?),
        ));
    }
    if let Some(p) = &config.pagerduty {
        out.push((
            Channel::Pagerduty,
            Arc::new(PagerDutyNotifier::new(&p.api_url, expose(&p.routing_key))?),
        ));
    }
    if let Some(e) = &config.email {
        let to: Vec<&str> = e.to.iter().map(String::as_str).collect();
        let url = e.smtp_url();
        out.push((
            Channel::Email,
            Arc::new(EmailNotifier::new(expose(&url), &e.from, &to)?),
        ));
    }
    Ok(out)
}

/// Routes by `escalation` to the channels `config` sets up. Every notification is also a log
/// line; one routed to a channel without configuration reaches only the log (with a warning
/// each time), so this says so once at startup too.
pub fn router(
    config: &NotifyConfig,
    escalation: &EscalationPolicy,
) -> Result<RoutingNotifier, NotifyError> {
    let mut router = RoutingNotifier::new(escalation.clone());
    for (channel, notifier) in notifiers(config)? {
        router = router.with_channel(channel, notifier);
    }
    let missing = router.unconfigured();
    if !missing.is_empty() {
        let missing: Vec<String> = missing.iter().map(ToString::to_string).collect();
        tracing::warn!(
            channels = %missing.join(", "),
            "the escalation policy routes to channels healbot.yaml's notify: does not configure; \
             their notifications reach only the log"
        );
    }
    Ok(router)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::notify::{EmailChannel, PagerDutyChannel, SmtpTls, WebhookChannel};

    fn every_channel() -> NotifyConfig {
        let hook = |url: &str| WebhookChannel {
            webhook_url: Secret::new(url),
        };
        NotifyConfig {
            slack: Some(hook("https://hooks.slack.com/services/T0/B0/SLACKTOKEN")),
            teams: Some(hook("https://example.webhook.office.com/webhookb2/x")),
            pagerduty: Some(PagerDutyChannel {
                routing_key: Secret::new("R0UTINGKEY"),
                api_url: "http://127.0.0.1:9/v2/enqueue".into(),
            }),
            email: Some(EmailChannel {
                smtp_host: "smtp.example.com".into(),
                smtp_port: 587,
                tls: SmtpTls::Starttls,
                from: "healbot@example.com".into(),
                to: vec!["oncall@example.com".into()],
                username: Some("healbot".into()),
                password: Some(Secret::new("hunter2")),
            }),
        }
    }

    #[test]
    fn a_notifier_for_each_configured_channel_and_none_for_the_rest() {
        assert_eq!(notifiers(&every_channel()).unwrap().len(), 4);
        let mut some = every_channel();
        some.teams = None;
        let built = notifiers(&some).unwrap();
        let channels: Vec<Channel> = built.iter().map(|(c, _)| *c).collect();
        assert_eq!(
            channels,
            [Channel::Slack, Channel::Pagerduty, Channel::Email]
        );
        assert!(notifiers(&NotifyConfig::default()).unwrap().is_empty());
    }

    #[test]
    fn the_router_knows_which_policy_channels_are_not_configured() {
        let policy = crate::config::PolicySet::embedded().escalation;
        let router = router(&NotifyConfig::default(), &policy).unwrap();
        assert!(!router.unconfigured().is_empty());
        let router = router_with_all(&policy);
        assert!(
            router.unconfigured().is_empty(),
            "{:?}",
            router.unconfigured()
        );
    }

    fn router_with_all(policy: &EscalationPolicy) -> RoutingNotifier {
        router(&every_channel(), policy).unwrap()
    }
}
