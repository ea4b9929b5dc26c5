//! `policies/freeze.yaml`: change-freeze windows (a launch, the end of the year, Friday
//! afternoons) during which healbot does not ship on its own. Both lists may be empty.

use super::cron_window::CronWindow;
use super::window::WeeklyWindow;
use super::yaml::FieldError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezePolicy {
    /// One-off windows with a start and an end.
    #[serde(default)]
    pub windows: Vec<FreezeWindow>,
    /// Windows that come back every week.
    #[serde(default)]
    pub recurring: Vec<RecurringFreeze>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeWindow {
    pub name: String,
    /// RFC 3339, e.g. `2025-12-20T00:00:00Z`; the window is `[start, end)`.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[serde(default)]
    pub action: FreezeAction,
    /// Services the freeze applies to; empty means all.
    #[serde(default)]
    pub services: Vec<String>,
}

/// A freeze that comes back: every week (`every:`) or on a cron schedule (`cron:`), one of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurringFreeze {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<WeeklyWindow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<CronWindow>,
    #[serde(default)]
    pub action: FreezeAction,
    #[serde(default)]
    pub services: Vec<String>,
}

/// `block` stops the operation; `pause` lets a person decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FreezeAction {
    Pause,
    #[default]
    Block,
}

/// A freeze in force for a service at a moment.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveFreeze {
    pub name: String,
    pub action: FreezeAction,
    /// When it was described (`until 2026-01-02T00:00:00Z`, `17:00–24:00 fri (+00:00)`).
    pub span: String,
}

impl RecurringFreeze {
    fn contains(&self, at: DateTime<Utc>) -> bool {
        self.every.as_ref().is_some_and(|w| w.contains(at))
            || self.cron.as_ref().is_some_and(|c| c.contains(at))
    }

    fn span(&self) -> String {
        match (&self.every, &self.cron) {
            (Some(w), _) => w.to_string(),
            (None, Some(c)) => c.to_string(),
            (None, None) => String::new(),
        }
    }
}

fn applies(services: &[String], service: &str) -> bool {
    services.is_empty() || services.iter().any(|s| s == service)
}

impl FreezePolicy {
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty() && self.recurring.is_empty()
    }

    /// The strictest freeze in force for `service` at `at`.
    pub fn active(&self, service: &str, at: DateTime<Utc>) -> Option<ActiveFreeze> {
        let one_off = self
            .windows
            .iter()
            .filter(|w| applies(&w.services, service) && w.start <= at && at < w.end)
            .map(|w| ActiveFreeze {
                name: w.name.clone(),
                action: w.action,
                span: format!("until {}", w.end.to_rfc3339()),
            });
        let weekly = self
            .recurring
            .iter()
            .filter(|r| applies(&r.services, service) && r.contains(at))
            .map(|r| ActiveFreeze {
                name: r.name.clone(),
                action: r.action,
                span: r.span(),
            });
        one_off.chain(weekly).max_by_key(|f| f.action)
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        for (i, w) in self.windows.iter().enumerate() {
            if w.name.trim().is_empty() {
                return Err(FieldError::new(
                    format!("windows[{i}].name"),
                    "must not be empty",
                ));
            }
            if w.end <= w.start {
                return Err(FieldError::new(
                    format!("windows[{i}].end"),
                    format!(
                        "must be after start ({}), got {}",
                        w.start.to_rfc3339(),
                        w.end.to_rfc3339()
                    ),
                ));
            }
        }
        for (i, r) in self.recurring.iter().enumerate() {
            if r.name.trim().is_empty() {
                return Err(FieldError::new(
                    format!("recurring[{i}].name"),
                    "must not be empty",
                ));
            }
            match (&r.every, &r.cron) {
                (Some(every), None) => every.validate(&format!("recurring[{i}].every"))?,
                (None, Some(cron)) => cron.validate(&format!("recurring[{i}].cron"))?,
                _ => {
                    return Err(FieldError::new(
                        format!("recurring[{i}]"),
                        "give exactly one of `every` (weekly) or `cron` (schedule and duration)",
                    ))
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::parse_strict;
    use chrono::TimeZone;

    const TEXT: &str = r#"
windows:
  - name: year-end
    start: 2025-12-20T00:00:00Z
    end: 2026-01-02T00:00:00Z
  - name: checkout-launch
    start: 2025-12-01T00:00:00Z
    end: 2025-12-31T00:00:00Z
    action: pause
    services: [order-service]
recurring:
  - name: friday-afternoon
    action: pause
    every: {utc_offset: "Z", days: [fri], start: "16:00", end: "24:00"}
  - name: month-start-close
    cron: {schedule: "0 9 1 * *", duration: 12h, time_zone: Europe/Berlin}
    services: [ledger]
"#;

    #[test]
    fn strictest_active_window_wins_and_scopes_apply() {
        let p: FreezePolicy = parse_strict(TEXT).unwrap();
        p.validate().unwrap();
        let dec_25 = Utc.with_ymd_and_hms(2025, 12, 25, 12, 0, 0).unwrap();
        assert_eq!(
            p.active("order-service", dec_25).unwrap().action,
            FreezeAction::Block
        );
        let dec_10 = Utc.with_ymd_and_hms(2025, 12, 10, 12, 0, 0).unwrap();
        assert_eq!(
            p.active("order-service", dec_10).unwrap().name,
            "checkout-launch"
        );
        assert!(p.active("payment-service", dec_10).is_none());
        // Friday 2025-12-12 17:00 UTC.
        let friday = Utc.with_ymd_and_hms(2025, 12, 12, 17, 0, 0).unwrap();
        assert_eq!(
            p.active("payment-service", friday).unwrap().name,
            "friday-afternoon"
        );
    }

    #[test]
    fn a_cron_freeze_follows_its_zone() {
        let p: FreezePolicy = parse_strict(TEXT).unwrap();
        p.validate().unwrap();
        // 2026-07-01, 10:00 in Berlin (08:00 UTC): the month's first day.
        let at = Utc.with_ymd_and_hms(2026, 7, 1, 8, 0, 0).unwrap();
        let freeze = p.active("ledger", at).unwrap();
        assert_eq!(freeze.name, "month-start-close");
        assert!(freeze.span.contains("Europe/Berlin"), "{}", freeze.span);
        // 08:30 in Berlin (06:30 UTC) is before it opens; the next day it is over.
        let at = Utc.with_ymd_and_hms(2026, 7, 1, 6, 30, 0).unwrap();
        assert!(p.active("ledger", at).is_none());
        let at = Utc.with_ymd_and_hms(2026, 7, 2, 8, 0, 0).unwrap();
        assert!(p.active("ledger", at).is_none());
    }

    #[test]
    fn a_recurring_freeze_needs_exactly_one_schedule() {
        let text = "recurring:\n  - name: x\n";
        let p: FreezePolicy = parse_strict(text).unwrap();
        assert_eq!(p.validate().unwrap_err().field, "recurring[0]");
    }

    #[test]
    fn inverted_window_names_its_end() {
        let text = "windows:\n  - name: x\n    start: 2025-01-02T00:00:00Z\n    end: 2025-01-01T00:00:00Z\n";
        let p: FreezePolicy = parse_strict(text).unwrap();
        assert_eq!(p.validate().unwrap_err().field, "windows[0].end");
    }
}
