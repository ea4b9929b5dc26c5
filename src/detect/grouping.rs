//! Alert grouping: Alertmanager's alerts become incidents, by fingerprint and then by service,
//! so a group Alertmanager sends again opens nothing new and every alert of one service joins
//! its open incident. Pure: the caller persists the events and passes `now`. The webhook body
//! itself is parsed by `signals::alertmanager`.

use super::{Incident, Signal};
use crate::model::IncidentId;
use crate::signals::alertmanager::{
    severity_of, Alert, AlertStatus, Labels, WebhookMessage, SERVICE_LABELS,
};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// An incident with what the grouper tracks about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupedIncident {
    pub incident: Incident,
    /// Fingerprints still firing.
    pub firing: BTreeSet<String>,
    /// Set when every alert of the incident has resolved (unix seconds).
    pub resolved_at: Option<i64>,
}

impl GroupedIncident {
    pub fn resolved(&self) -> bool {
        self.resolved_at.is_some()
    }
}

/// What one alert of a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupEvent {
    Opened(IncidentId),
    /// A new alert joined an open incident on the same service.
    Joined(IncidentId),
    /// The alert was already on the incident; nothing new is opened.
    Repeat(IncidentId),
    /// One alert resolved; others of the incident still fire.
    AlertResolved(IncidentId),
    /// The last firing alert of the incident resolved.
    Resolved(IncidentId),
    /// A resolved alert for no open incident, or an alert without a service label.
    Ignored {
        fingerprint: String,
        reason: String,
    },
}

/// Groups alerts into incidents: by fingerprint, then by service. Pure: the caller persists
/// the events and passes `now`.
#[derive(Debug, Default)]
pub struct AlertGrouper {
    incidents: Vec<GroupedIncident>,
    /// Fingerprint → incident index, for open incidents.
    by_fingerprint: HashMap<String, usize>,
    /// Service → its open incident.
    open_by_service: HashMap<String, usize>,
}

impl AlertGrouper {
    pub fn new() -> AlertGrouper {
        AlertGrouper::default()
    }

    pub fn incidents(&self) -> &[GroupedIncident] {
        &self.incidents
    }

    pub fn get(&self, id: &IncidentId) -> Option<&GroupedIncident> {
        self.incidents.iter().find(|g| &g.incident.id == id)
    }

    pub fn ingest(&mut self, message: &WebhookMessage, now: i64) -> Vec<GroupEvent> {
        message
            .alerts
            .iter()
            .map(|a| self.ingest_alert(a, &message.common_labels, &message.common_annotations, now))
            .collect()
    }

    fn ingest_alert(
        &mut self,
        alert: &Alert,
        common: &Labels,
        common_annotations: &Labels,
        now: i64,
    ) -> GroupEvent {
        let fingerprint = alert.fingerprint.clone();
        let Some(service) = alert.service(common).map(str::to_string) else {
            return GroupEvent::Ignored {
                fingerprint,
                reason: format!("no service label (tried {})", SERVICE_LABELS.join(", ")),
            };
        };
        let known = self
            .by_fingerprint
            .get(&fingerprint)
            .or_else(|| self.open_by_service.get(&service))
            .copied();
        match (alert.status, known) {
            (AlertStatus::Resolved, None) => GroupEvent::Ignored {
                fingerprint,
                reason: "resolved alert with no open incident".into(),
            },
            (AlertStatus::Resolved, Some(i)) => {
                let at = alert.ends_at.map_or(now, |t| t.timestamp());
                let g = &mut self.incidents[i];
                g.firing.remove(&fingerprint);
                self.by_fingerprint.remove(&fingerprint);
                let id = g.incident.id.clone();
                if g.firing.is_empty() {
                    g.resolved_at = Some(at);
                    self.open_by_service.retain(|_, v| *v != i);
                    self.by_fingerprint.retain(|_, v| *v != i);
                    GroupEvent::Resolved(id)
                } else {
                    GroupEvent::AlertResolved(id)
                }
            }
            (AlertStatus::Firing, Some(i)) => {
                let g = &mut self.incidents[i];
                let id = g.incident.id.clone();
                let seen = g.incident.signals.iter().any(
                    |s| matches!(s, Signal::Alert { fingerprint: f, .. } if *f == fingerprint),
                );
                g.firing.insert(fingerprint.clone());
                self.by_fingerprint.insert(fingerprint, i);
                if seen {
                    return GroupEvent::Repeat(id);
                }
                g.incident
                    .signals
                    .push(signal(alert, &service, common_annotations));
                let severity = severity_of(alert.label(common, "severity"));
                g.incident.severity = g.incident.severity.max(severity);
                GroupEvent::Joined(id)
            }
            (AlertStatus::Firing, None) => {
                let detected_at = alert.starts_at.map_or(now, |t| t.timestamp());
                let short = fingerprint.get(..12).unwrap_or(&fingerprint);
                let mut id = IncidentId::new(&format!("alert-{service}-{short}-{detected_at}"));
                if self.get(&id).is_some() {
                    // The same alert fires again after its incident resolved.
                    id = IncidentId::new(&format!("{}-{}", id.0, self.incidents.len() + 1));
                }
                let summary = alert.summary(common_annotations);
                let title = if summary.is_empty() {
                    format!("{service}: {}", alert.name())
                } else {
                    format!("{service}: {} — {summary}", alert.name())
                };
                let incident = Incident {
                    id: id.clone(),
                    service: service.clone(),
                    severity: severity_of(alert.label(common, "severity")),
                    title,
                    detected_at,
                    signals: vec![signal(alert, &service, common_annotations)],
                    pattern: None,
                    confidence: None,
                };
                let i = self.incidents.len();
                self.incidents.push(GroupedIncident {
                    incident,
                    firing: BTreeSet::from([fingerprint.clone()]),
                    resolved_at: None,
                });
                self.by_fingerprint.insert(fingerprint, i);
                self.open_by_service.insert(service, i);
                GroupEvent::Opened(id)
            }
        }
    }
}

fn signal(alert: &Alert, service: &str, common_annotations: &Labels) -> Signal {
    Signal::Alert {
        service: service.to_string(),
        name: alert.name().to_string(),
        fingerprint: alert.fingerprint.clone(),
        summary: alert.summary(common_annotations),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;
    use crate::signals::alertmanager::parse_webhook;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/testdata/signals/alertmanager/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn groups_repeats_and_records_resolution() {
        let mut g = AlertGrouper::new();
        let firing = parse_webhook(&fixture("firing.json")).unwrap();
        let events = g.ingest(&firing, 100);
        let id = match &events[0] {
            GroupEvent::Opened(id) => id.clone(),
            e => panic!("{e:?}"),
        };
        // The second alert is on the same service: it joins.
        assert_eq!(events[1], GroupEvent::Joined(id.clone()));
        assert_eq!(g.incidents().len(), 1);
        let inc = &g.incidents()[0].incident;
        assert_eq!(inc.service, "checkout");
        assert_eq!(inc.severity, Severity::Critical);
        assert_eq!(inc.signals.len(), 2);
        assert!(
            inc.title.starts_with("checkout: HighErrorRate"),
            "{}",
            inc.title
        );

        // Alertmanager re-sends the group: no second incident.
        let again = g.ingest(&firing, 160);
        assert_eq!(
            again,
            [
                GroupEvent::Repeat(id.clone()),
                GroupEvent::Repeat(id.clone())
            ]
        );
        assert_eq!(g.incidents().len(), 1);

        let resolved = parse_webhook(&fixture("resolved.json")).unwrap();
        let events = g.ingest(&resolved, 400);
        assert_eq!(
            events,
            [
                GroupEvent::AlertResolved(id.clone()),
                GroupEvent::Resolved(id.clone())
            ]
        );
        let grouped = g.get(&id).unwrap();
        assert_eq!(grouped.resolved_at, Some(1_764_281_400));
        assert!(grouped.firing.is_empty());

        // Firing again after resolution is a new incident.
        let events = g.ingest(&firing, 1_000);
        assert!(matches!(&events[0], GroupEvent::Opened(new) if *new != id));
        assert_eq!(g.incidents().len(), 2);
    }

    #[test]
    fn alerts_without_a_service_are_ignored_not_guessed() {
        let m = parse_webhook(br#"{"alerts":[{"status":"firing","labels":{"alertname":"X"}}]}"#)
            .unwrap();
        let events = AlertGrouper::new().ingest(&m, 1);
        assert!(
            matches!(&events[0], GroupEvent::Ignored { reason, .. } if reason.contains("service"))
        );
    }
}
