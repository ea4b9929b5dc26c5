//! Alertmanager's webhook (v4, and Grafana's variant that says version "1" and adds fields)
//! turned into incidents. Parsing is lenient where senders differ; [`AlertGrouper`] makes sure
//! an alert that fires again, or a second alert on the same service, joins the open incident
//! instead of paging a second time.

use crate::incident::{Incident, IncidentId, Severity, Signal};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub type Labels = BTreeMap<String, String>;

/// One webhook delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookMessage {
    /// "4" from Alertmanager, "1" from Grafana; numbers are accepted too.
    #[serde(default, deserialize_with = "string_or_number")]
    pub version: String,
    #[serde(default)]
    pub group_key: String,
    #[serde(default)]
    pub truncated_alerts: u64,
    #[serde(default)]
    pub status: AlertStatus,
    #[serde(default)]
    pub receiver: String,
    #[serde(default)]
    pub group_labels: Labels,
    #[serde(default)]
    pub common_labels: Labels,
    #[serde(default)]
    pub common_annotations: Labels,
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    pub alerts: Vec<Alert>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub status: AlertStatus,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub annotations: Labels,
    #[serde(default, deserialize_with = "optional_time")]
    pub starts_at: Option<DateTime<Utc>>,
    /// `None` for a firing alert (Alertmanager sends the zero time `0001-01-01T00:00:00Z`).
    #[serde(default, deserialize_with = "optional_time")]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    /// Alertmanager always sends it; computed from the labels when a sender does not.
    #[serde(default)]
    pub fingerprint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    #[default]
    #[serde(alias = "Firing", alias = "FIRING", alias = "alerting")]
    Firing,
    #[serde(alias = "Resolved", alias = "RESOLVED", alias = "ok")]
    Resolved,
}

#[derive(Debug, thiserror::Error)]
pub enum AlertmanagerError {
    #[error("alertmanager webhook: {field}: {message}")]
    Invalid { field: String, message: String },
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    })
}

fn optional_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    if text.is_empty() || text.starts_with("0001-01-01") {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(&text)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|e| serde::de::Error::custom(format!("{text:?} is not an RFC 3339 time: {e}")))
}

/// Parses one delivery; the error names the field (`alerts[2].startsAt`).
pub fn parse_webhook(body: &[u8]) -> Result<WebhookMessage, AlertmanagerError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let mut message: WebhookMessage =
        serde_path_to_error::deserialize(de).map_err(|e| AlertmanagerError::Invalid {
            field: match e.path().to_string() {
                p if p == "." => "body".to_string(),
                p => p,
            },
            message: e.inner().to_string(),
        })?;
    for alert in &mut message.alerts {
        if alert.fingerprint.is_empty() {
            alert.fingerprint = label_fingerprint(&alert.labels);
        }
    }
    Ok(message)
}

/// A stable id from the sorted labels, for senders that leave `fingerprint` out.
pub fn label_fingerprint(labels: &Labels) -> String {
    let mut hash = Sha256::new();
    for (k, v) in labels {
        hash.update(k.as_bytes());
        hash.update([0xff]);
        hash.update(v.as_bytes());
        hash.update([0xfe]);
    }
    hex::encode(&hash.finalize()[..8])
}

/// Labels that name the service, in the order they are tried.
const SERVICE_LABELS: [&str; 5] = ["service", "service_name", "app", "job", "container"];

impl Alert {
    /// The alert's label, else the group's common label.
    fn label<'a>(&'a self, common: &'a Labels, key: &str) -> Option<&'a str> {
        self.labels
            .get(key)
            .or_else(|| common.get(key))
            .map(String::as_str)
    }

    pub fn service<'a>(&'a self, common: &'a Labels) -> Option<&'a str> {
        SERVICE_LABELS
            .iter()
            .find_map(|k| self.label(common, k).filter(|s| !s.is_empty()))
    }

    pub fn name(&self) -> &str {
        self.labels
            .get("alertname")
            .map_or("unnamed alert", String::as_str)
    }

    fn summary(&self, common: &Labels) -> String {
        ["summary", "description", "message"]
            .iter()
            .find_map(|k| self.annotations.get(*k).or_else(|| common.get(*k)))
            .cloned()
            .unwrap_or_default()
    }
}

/// Severity from the `severity` label; unknown or missing is medium.
pub fn severity_of(label: Option<&str>) -> Severity {
    match label.map(str::to_ascii_lowercase).as_deref() {
        Some("critical" | "page" | "p1" | "emergency" | "fatal") => Severity::Critical,
        Some("high" | "error" | "major" | "p2") => Severity::High,
        Some("low" | "info" | "informational" | "none" | "minor" | "p4" | "p5") => Severity::Low,
        _ => Severity::Medium,
    }
}

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
                let mut id = IncidentId(format!("alert-{service}-{short}-{detected_at}"));
                if self.get(&id).is_some() {
                    // The same alert fires again after its incident resolved.
                    id = IncidentId(format!("{}-{}", id.0, self.incidents.len() + 1));
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

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/testdata/signals/alertmanager/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn parses_an_alertmanager_v4_payload() {
        let m = parse_webhook(&fixture("firing.json")).unwrap();
        assert_eq!(m.version, "4");
        assert_eq!(m.status, AlertStatus::Firing);
        assert_eq!(m.receiver, "healbot");
        assert_eq!(m.truncated_alerts, 0);
        assert_eq!(m.alerts.len(), 2);
        assert_eq!(m.external_url, "http://alertmanager:9093");
        let a = &m.alerts[0];
        assert_eq!(a.ends_at, None);
        assert_eq!(a.starts_at.map(|t| t.timestamp()), Some(1_764_280_800));
        assert_eq!(a.fingerprint, "a1b2c3d4e5f60718");
        assert_eq!(a.service(&m.common_labels), Some("checkout"));
    }

    #[test]
    fn parses_grafanas_variant() {
        let m = parse_webhook(&fixture("grafana.json")).unwrap();
        assert_eq!(m.version, "1");
        assert_eq!(m.alerts[0].service(&m.common_labels), Some("payments"));
        assert!(!m.alerts[0].fingerprint.is_empty());
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_webhook(br#"{"alerts":[{"status":"firing","startsAt":"yesterday"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("alerts[0].startsAt"), "{e}");
        let e = parse_webhook(br#"{"version":"4"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `alerts`"), "{e}");
        let e = parse_webhook(br#"{"alerts":[{"status":"maybe"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("alerts[0].status"), "{e}");
        let e = parse_webhook(b"not json").unwrap_err().to_string();
        assert!(e.starts_with("alertmanager webhook: body:"), "{e}");
    }

    #[test]
    fn missing_fingerprint_is_computed_from_labels() {
        let body = br#"{"alerts":[{"status":"firing","labels":{"service":"a","alertname":"X"}}]}"#;
        let a = parse_webhook(body).unwrap();
        let b = parse_webhook(body).unwrap();
        assert_eq!(a.alerts[0].fingerprint, b.alerts[0].fingerprint);
        assert_eq!(a.alerts[0].fingerprint.len(), 16);
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

    #[test]
    fn severity_labels_map_to_severities() {
        assert_eq!(severity_of(Some("critical")), Severity::Critical);
        assert_eq!(severity_of(Some("Warning")), Severity::Medium);
        assert_eq!(severity_of(Some("info")), Severity::Low);
        assert_eq!(severity_of(Some("error")), Severity::High);
        assert_eq!(severity_of(None), Severity::Medium);
    }
}
