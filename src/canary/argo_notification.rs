//! Argo Rollouts notifications, as healbot receives them at `POST /webhooks/argo` in
//! Argo-managed mode. Argo's notification engine sends whatever body a webhook template
//! renders, so healbot defines the body (below; the ConfigMap that renders it is
//! `testdata/argo/notifications-cm.yaml`) and reads it leniently: Go templates render numbers as
//! numbers or strings, absent values as `null`, `""` or `<no value>`. Parsing is pure; what to
//! do with an event (mirror it, write Git back on abort) is the orchestrator's.
//!
//! The body, one JSON object (unknown fields are ignored):
//!
//! | field | type | from the Rollout | required |
//! |---|---|---|---|
//! | `trigger` | string | the trigger's name, e.g. `on-rollout-aborted` (`on-` optional) | yes |
//! | `rollout` | string | `metadata.name` (`name` is accepted too) | yes |
//! | `namespace` | string | `metadata.namespace` | yes |
//! | `revision` | integer | annotation `rollout.argoproj.io/revision` | no |
//! | `step` | integer | `status.currentStepIndex` | for step-completed |
//! | `weight` | integer 0–100 | `status.canary.weights.canary.weight` (traffic routing only) | no |
//! | `phase` | string | `status.phase` (Healthy, Progressing, Paused, Degraded) | no |
//! | `message` | string | `status.message` (why it paused or aborted) | no |
//! | `analysisRun` | string | the failed AnalysisRun's name | no |

use serde_json::{Map, Value};

/// What happened to a Rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutEvent {
    /// A canary step finished. `step` is the 1-based number of the finished step, which is
    /// Argo's `currentStepIndex` once it has moved past it; `weight` is the canary's traffic
    /// share when Argo routes traffic.
    StepCompleted { step: u32, weight: Option<u32> },
    /// The Rollout's pod template changed: a new revision started.
    Updated,
    /// Paused at a `pause` step or by a person.
    Paused { reason: Option<String> },
    /// Argo aborted and went back to the stable revision; Git still says the new one.
    Aborted { reason: String },
    /// The new revision is fully promoted.
    Completed,
    /// An analysis run failed (Argo aborts the Rollout next).
    AnalysisFailed { analysis_run: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutPhase {
    Healthy,
    Progressing,
    Paused,
    Degraded,
    /// A phase this version does not know, kept as sent.
    Other(String),
}

/// One notification: which Rollout, what happened, and the status that came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutNotification {
    pub trigger: String,
    pub rollout: String,
    pub namespace: String,
    pub revision: Option<u64>,
    pub phase: Option<RolloutPhase>,
    pub message: Option<String>,
    pub event: RolloutEvent,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArgoError {
    #[error("argo notification is not a JSON object: {0}")]
    NotAnObject(String),
    #[error("argo notification: field `{field}` is missing")]
    Missing { field: &'static str },
    #[error("argo notification: field `{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// A trigger healbot does not act on; the server answers 202 and ignores it.
    #[error("argo notification: field `trigger`: unknown trigger {0:?}")]
    UnknownTrigger(String),
}

/// Parses a webhook body.
pub fn parse(body: &[u8]) -> Result<RolloutNotification, ArgoError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ArgoError::NotAnObject(e.to_string()))?;
    from_value(&value)
}

pub fn from_value(value: &Value) -> Result<RolloutNotification, ArgoError> {
    let obj = value
        .as_object()
        .ok_or_else(|| ArgoError::NotAnObject(format!("got {}", type_name(value))))?;
    let trigger = required_str(obj, "trigger", &["trigger"])?;
    let rollout = required_str(obj, "rollout", &["rollout", "name"])?;
    let namespace = required_str(obj, "namespace", &["namespace"])?;
    let revision = opt_u64(obj, "revision")?;
    let phase = opt_str(obj, "phase")?.map(|p| parse_phase(&p));
    let message = opt_str(obj, "message")?;
    let name = trigger.strip_prefix("on-").unwrap_or(&trigger);
    let event = match name {
        "rollout-step-completed" => {
            let step = opt_u64(obj, "step")?.ok_or(ArgoError::Missing { field: "step" })?;
            let step = u32::try_from(step).map_err(|_| ArgoError::Invalid {
                field: "step",
                reason: format!("{step} is out of range"),
            })?;
            let weight = match opt_u64(obj, "weight")? {
                Some(w) if w > 100 => {
                    return Err(ArgoError::Invalid {
                        field: "weight",
                        reason: format!("{w} is above 100"),
                    })
                }
                Some(w) => Some(w as u32),
                None => None,
            };
            RolloutEvent::StepCompleted { step, weight }
        }
        "rollout-updated" => RolloutEvent::Updated,
        "rollout-paused" => RolloutEvent::Paused {
            reason: message.clone(),
        },
        "rollout-aborted" => RolloutEvent::Aborted {
            reason: message
                .clone()
                .unwrap_or_else(|| "aborted (Argo gave no message)".into()),
        },
        "rollout-completed" => RolloutEvent::Completed,
        "analysis-run-failed" => RolloutEvent::AnalysisFailed {
            analysis_run: opt_str(obj, "analysisRun")?,
        },
        _ => return Err(ArgoError::UnknownTrigger(trigger)),
    };
    Ok(RolloutNotification {
        trigger,
        rollout,
        namespace,
        revision,
        phase,
        message,
        event,
    })
}

fn parse_phase(p: &str) -> RolloutPhase {
    match p {
        "Healthy" => RolloutPhase::Healthy,
        "Progressing" => RolloutPhase::Progressing,
        "Paused" => RolloutPhase::Paused,
        "Degraded" => RolloutPhase::Degraded,
        other => RolloutPhase::Other(other.to_string()),
    }
}

/// What a Go template renders for a value it did not find.
fn is_absent(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => {
            let s = s.trim();
            s.is_empty() || s == "<no value>" || s == "<nil>"
        }
        _ => false,
    }
}

fn opt_str(obj: &Map<String, Value>, field: &'static str) -> Result<Option<String>, ArgoError> {
    match obj.get(field) {
        None => Ok(None),
        Some(v) if is_absent(v) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(v) => Err(ArgoError::Invalid {
            field,
            reason: format!("expected a string, got {}", type_name(v)),
        }),
    }
}

fn required_str(
    obj: &Map<String, Value>,
    field: &'static str,
    names: &[&'static str],
) -> Result<String, ArgoError> {
    for name in names {
        if let Some(s) = opt_str(obj, name)? {
            return Ok(s);
        }
    }
    Err(ArgoError::Missing { field })
}

/// A whole number sent as a JSON number or as a string (`"3"`).
fn opt_u64(obj: &Map<String, Value>, field: &'static str) -> Result<Option<u64>, ArgoError> {
    let invalid = |v: &Value| ArgoError::Invalid {
        field,
        reason: format!("expected a whole number, got {v}"),
    };
    match obj.get(field) {
        None => Ok(None),
        Some(v) if is_absent(v) => Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(u), _) => Ok(Some(u)),
            // Some renderers emit 2.0 for an integer.
            (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f <= u32::MAX as f64 => {
                Ok(Some(f as u64))
            }
            _ => Err(invalid(&Value::Number(n.clone()))),
        },
        Some(Value::String(s)) => s
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| invalid(&Value::String(s.clone()))),
        Some(v) => Err(invalid(v)),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Result<RolloutNotification, ArgoError> {
        let path = format!("{}/testdata/argo/{name}", env!("CARGO_MANIFEST_DIR"));
        let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        parse(&body)
    }

    #[test]
    fn step_completed_with_numbers_as_strings() {
        let n = fixture("step-completed.json").unwrap();
        assert_eq!(n.rollout, "checkout");
        assert_eq!(n.namespace, "shop");
        assert_eq!(n.revision, Some(7));
        assert_eq!(n.phase, Some(RolloutPhase::Progressing));
        assert_eq!(
            n.event,
            RolloutEvent::StepCompleted {
                step: 2,
                weight: Some(10)
            }
        );
    }

    #[test]
    fn step_completed_without_traffic_routing_has_no_weight() {
        let n = fixture("step-completed-no-weight.json").unwrap();
        assert_eq!(
            n.event,
            RolloutEvent::StepCompleted {
                step: 4,
                weight: None
            }
        );
        assert_eq!(n.revision, None);
    }

    #[test]
    fn aborted_keeps_the_reason() {
        let n = fixture("aborted.json").unwrap();
        assert_eq!(n.phase, Some(RolloutPhase::Degraded));
        match n.event {
            RolloutEvent::Aborted { reason } => assert!(reason.contains("error-rate")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_other_triggers() {
        assert_eq!(
            fixture("paused.json").unwrap().event,
            RolloutEvent::Paused {
                reason: Some("CanaryPauseStep".into())
            }
        );
        assert_eq!(
            fixture("completed.json").unwrap().event,
            RolloutEvent::Completed
        );
        assert_eq!(
            fixture("updated.json").unwrap().event,
            RolloutEvent::Updated
        );
        assert_eq!(
            fixture("analysis-run-failed.json").unwrap().event,
            RolloutEvent::AnalysisFailed {
                analysis_run: Some("checkout-7c9f-7".into())
            }
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            fixture("missing-namespace.json").unwrap_err(),
            ArgoError::Missing { field: "namespace" }
        );
        let bad_step = parse(br#"{"trigger":"on-rollout-step-completed","rollout":"a","namespace":"b","step":"two"}"#)
            .unwrap_err();
        assert!(bad_step.to_string().contains("`step`"), "{bad_step}");
        let no_step = parse(
            br#"{"trigger":"on-rollout-step-completed","rollout":"a","namespace":"b","step":"<no value>"}"#,
        )
        .unwrap_err();
        assert_eq!(no_step, ArgoError::Missing { field: "step" });
        let weight = parse(br#"{"trigger":"rollout-step-completed","rollout":"a","namespace":"b","step":1,"weight":150}"#)
            .unwrap_err();
        assert!(weight.to_string().contains("`weight`"));
        let name =
            parse(br#"{"trigger":"rollout-completed","rollout":7,"namespace":"b"}"#).unwrap_err();
        assert!(name.to_string().contains("`rollout`"));
        assert!(matches!(parse(b"[1]"), Err(ArgoError::NotAnObject(_))));
        assert!(matches!(parse(b"{"), Err(ArgoError::NotAnObject(_))));
    }

    #[test]
    fn unknown_triggers_are_told_apart() {
        let e = parse(br#"{"trigger":"on-scaling-replica-set","rollout":"a","namespace":"b"}"#)
            .unwrap_err();
        assert_eq!(
            e,
            ArgoError::UnknownTrigger("on-scaling-replica-set".into())
        );
    }

    /// Each template in the example ConfigMap, rendered with stand-in values, parses, and
    /// each trigger sends a template that names that trigger.
    #[test]
    fn the_example_configmap_renders_bodies_healbot_parses() {
        let path = format!(
            "{}/testdata/argo/notifications-cm.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let cm: serde_norway::Value = serde_norway::from_str(&text).unwrap();
        let data = cm["data"].as_mapping().unwrap();
        let action = regex::Regex::new(r"\{\{(.*?)\}\}").unwrap();
        let mut triggers = 0;
        for (key, value) in data {
            let key = key.as_str().unwrap();
            let Some(trigger) = key.strip_prefix("trigger.") else {
                continue;
            };
            triggers += 1;
            let sends: serde_norway::Value =
                serde_norway::from_str(value.as_str().unwrap()).unwrap();
            let template_name = sends[0]["send"][0].as_str().unwrap();
            let template = data[format!("template.{template_name}").as_str()]
                .as_str()
                .unwrap_or_else(|| panic!("{key} sends a missing template"));
            let template: serde_norway::Value = serde_norway::from_str(template).unwrap();
            let body = template["webhook"]["healbot"]["body"].as_str().unwrap();
            let rendered = action.replace_all(body, |c: &regex::Captures| {
                let expr = &c[1];
                if expr.contains("metadata.name") {
                    "\"checkout\""
                } else if expr.contains("metadata.namespace") {
                    "\"shop\""
                } else if expr.contains("currentStepIndex") {
                    "2"
                } else if expr.contains("revision") {
                    "\"7\""
                } else {
                    "null"
                }
            });
            let n = parse(rendered.as_bytes()).unwrap_or_else(|e| panic!("{key}: {e}"));
            assert_eq!(n.trigger, trigger);
            assert_eq!((n.rollout.as_str(), n.revision), ("checkout", Some(7)));
        }
        assert_eq!(triggers, 6);
    }
}
