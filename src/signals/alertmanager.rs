//! Alertmanager's webhook (v4, and Grafana's variant that says version "1" and adds fields),
//! parsed leniently where senders differ. Grouping the alerts into incidents is detection's
//! (`detect::grouping`).

use crate::model::Severity;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

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
pub(crate) enum AlertmanagerError {
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
pub(crate) fn parse_webhook(body: &[u8]) -> Result<WebhookMessage, AlertmanagerError> {
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
pub(crate) fn label_fingerprint(labels: &Labels) -> String {
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
pub(crate) const SERVICE_LABELS: [&str; 5] = ["service", "service_name", "app", "job", "container"];

impl Alert {
    /// The alert's label, else the group's common label.
    pub fn label<'a>(&'a self, common: &'a Labels, key: &str) -> Option<&'a str> {
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

    pub fn summary(&self, common: &Labels) -> String {
        ["summary", "description", "message"]
            .iter()
            .find_map(|k| self.annotations.get(*k).or_else(|| common.get(*k)))
            .cloned()
            .unwrap_or_default()
    }
}

/// Severity from the `severity` label; unknown or missing is medium.
pub(crate) fn severity_of(label: Option<&str>) -> Severity {
    match label.map(str::to_ascii_lowercase).as_deref() {
        Some("critical" | "page" | "p1" | "emergency" | "fatal") => Severity::Critical,
        Some("high" | "error" | "major" | "p2") => Severity::High,
        Some("low" | "info" | "informational" | "none" | "minor" | "p4" | "p5") => Severity::Low,
        _ => Severity::Medium,
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
    fn severity_labels_map_to_severities() {
        assert_eq!(severity_of(Some("critical")), Severity::Critical);
        assert_eq!(severity_of(Some("Warning")), Severity::Medium);
        assert_eq!(severity_of(Some("info")), Severity::Low);
        assert_eq!(severity_of(Some("error")), Severity::High);
        assert_eq!(severity_of(None), Severity::Medium);
    }
}
