//! `policies/escalation.yaml`: who hears about an incident (routing by severity) and who is
//! called, louder and louder, while an operation waits for a person.

use super::yaml::{check_at_least, FieldError};
use crate::model::Severity;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationPolicy {
    /// Steps in increasing `after_minutes`.
    pub waiting_for_person: Vec<EscalationStep>,
    pub routing: SeverityRouting,
    /// With `rollout: argo`, how long healbot waits for Argo Rollouts to report progress (a
    /// step completed, the rollout updated, paused, completed or aborted) before it stops
    /// waiting and asks a person. Each report starts the clock again.
    #[serde(default = "default_argo_step_timeout_minutes")]
    pub argo_step_timeout_minutes: u32,
    /// With a service `image:` template, how long healbot waits for the registry to have the
    /// merged commit's image before the first canary step; past it a person is asked.
    #[serde(default = "default_image_wait_seconds")]
    pub image_wait_seconds: u64,
    /// Where a canary or rollback commit must go through a pull request (a protected branch),
    /// how long its step PR may take to pass its required checks and merge; past it a person
    /// is asked.
    #[serde(default = "default_step_merge_timeout_seconds")]
    pub step_merge_timeout_seconds: u64,
    /// How long an approved fix PR waits for its required checks to pass before healbot
    /// escalates.
    #[serde(default = "default_required_checks_timeout_seconds")]
    pub required_checks_timeout_seconds: u64,
}

fn default_step_merge_timeout_seconds() -> u64 {
    1800
}

fn default_required_checks_timeout_seconds() -> u64 {
    3600
}

fn default_image_wait_seconds() -> u64 {
    900
}

fn default_argo_step_timeout_minutes() -> u32 {
    10
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationStep {
    pub after_minutes: u32,
    pub notify: Vec<Channel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityRouting {
    pub low: Vec<Channel>,
    pub medium: Vec<Channel>,
    pub high: Vec<Channel>,
    pub critical: Vec<Channel>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// A log line; what the embedded default uses.
    Log,
    Slack,
    Pagerduty,
    Teams,
    Email,
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Channel::Log => "log",
            Channel::Slack => "slack",
            Channel::Pagerduty => "pagerduty",
            Channel::Teams => "teams",
            Channel::Email => "email",
        })
    }
}

impl EscalationPolicy {
    pub(crate) fn channels_for(&self, severity: Severity) -> &[Channel] {
        match severity {
            Severity::Low => &self.routing.low,
            Severity::Medium => &self.routing.medium,
            Severity::High => &self.routing.high,
            Severity::Critical => &self.routing.critical,
        }
    }

    /// The steps that are due once an operation has waited `waited` for a person.
    pub(crate) fn steps_due(&self, waited: Duration) -> impl Iterator<Item = &EscalationStep> {
        let minutes = waited.as_secs() / 60;
        self.waiting_for_person
            .iter()
            .filter(move |s| u64::from(s.after_minutes) <= minutes)
    }

    pub(crate) fn image_wait(&self) -> Duration {
        Duration::from_secs(self.image_wait_seconds)
    }

    pub(crate) fn step_merge_timeout(&self) -> Duration {
        Duration::from_secs(self.step_merge_timeout_seconds)
    }

    pub(crate) fn required_checks_timeout(&self) -> Duration {
        Duration::from_secs(self.required_checks_timeout_seconds)
    }

    /// How long an Argo-managed step may run without a notification.
    pub(crate) fn argo_step_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.argo_step_timeout_minutes) * 60)
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        check_at_least("image_wait_seconds", self.image_wait_seconds, 1)?;
        check_at_least(
            "step_merge_timeout_seconds",
            self.step_merge_timeout_seconds,
            1,
        )?;
        check_at_least(
            "required_checks_timeout_seconds",
            self.required_checks_timeout_seconds,
            1,
        )?;
        check_at_least(
            "argo_step_timeout_minutes",
            u64::from(self.argo_step_timeout_minutes),
            1,
        )?;
        if self.waiting_for_person.is_empty() {
            return Err(FieldError::new(
                "waiting_for_person",
                "must hold at least one step, or a paused operation waits unnoticed",
            ));
        }
        let mut previous = 0;
        for (i, step) in self.waiting_for_person.iter().enumerate() {
            let field = format!("waiting_for_person[{i}].after_minutes");
            check_at_least(&field, u64::from(step.after_minutes), 1)?;
            if step.after_minutes <= previous {
                return Err(FieldError::new(
                    field,
                    format!(
                        "must be after the previous step ({previous} min), got {}",
                        step.after_minutes
                    ),
                ));
            }
            previous = step.after_minutes;
            if step.notify.is_empty() {
                return Err(FieldError::new(
                    format!("waiting_for_person[{i}].notify"),
                    "must name at least one channel",
                ));
            }
        }
        for (name, channels) in [
            ("low", &self.routing.low),
            ("medium", &self.routing.medium),
            ("high", &self.routing.high),
            ("critical", &self.routing.critical),
        ] {
            if channels.is_empty() {
                return Err(FieldError::new(
                    format!("routing.{name}"),
                    "must name at least one channel (use [log] for the quietest)",
                ));
            }
        }
        Ok(())
    }
}
