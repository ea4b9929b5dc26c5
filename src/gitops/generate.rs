//! Manifests healbot writes itself (not users' files): an `AnalysisTemplate` with the
//! Prometheus provider, and a whole Rollout with `setWeight`/`pause`/`analysis` steps for
//! Argo-managed mode. Built from typed structs, so field order and quoting are serde's concern.

use super::GitopsError;
use serde::Serialize;
use std::collections::BTreeMap;

pub const API_VERSION: &str = "argoproj.io/v1alpha1";

/// Limits an `AnalysisTemplate` judges a canary by, and how often it measures.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisThresholds {
    /// Highest acceptable share of 5xx responses (0.02 = 2%).
    pub max_error_rate: f64,
    /// Highest acceptable p99 latency in seconds.
    pub max_p99_latency_seconds: f64,
    /// Time between measurements (`1m`).
    pub interval: String,
    /// Measurements per analysis run.
    pub count: u32,
    /// Failed measurements tolerated before the run fails.
    pub failure_limit: u32,
    /// Inconclusive measurements (no traffic) tolerated before the run pauses for a person.
    pub inconclusive_limit: u32,
    /// PromQL rate window (`2m`).
    pub window: String,
    /// The Prometheus label that carries the pods' `rollouts-pod-template-hash` (what a
    /// `labelmap` of Kubernetes pod labels makes of it). The queries select the canary's pods
    /// by it, so the stable pods' healthy traffic cannot dilute a failing canary.
    pub canary_label: String,
}

impl Default for AnalysisThresholds {
    fn default() -> Self {
        AnalysisThresholds {
            max_error_rate: 0.02,
            max_p99_latency_seconds: 0.5,
            interval: "1m".to_string(),
            count: 5,
            failure_limit: 1,
            inconclusive_limit: 2,
            window: "2m".to_string(),
            canary_label: "rollouts_pod_template_hash".to_string(),
        }
    }
}

/// The AnalysisTemplate argument that names the canary's pod template hash. Every analysis
/// healbot writes into a Rollout passes it with `valueFrom.podTemplateHashValue: Latest`
/// (docs/features/specification.md, the `analysis.args` block), so Argo fills in the hash of
/// the ReplicaSet being rolled out.
pub const CANARY_HASH_ARG: &str = "canary-hash";

/// Name of the AnalysisTemplate healbot writes for `service`.
pub fn analysis_template_name(service: &str) -> String {
    format!("{service}-healbot-canary")
}

/// An `AnalysisTemplate` measuring the canary's error rate and p99 latency from Prometheus,
/// over the usual HTTP metrics (`http_requests_total` with `service` and `code` labels, and the
/// `http_request_duration_seconds` histogram), restricted to the canary's pods by their pod
/// template hash ([`CANARY_HASH_ARG`], [`AnalysisThresholds::canary_label`]). A measurement with no traffic (NaN or no
/// series) meets neither condition, so Argo counts it inconclusive instead of failing the
/// canary on empty data.
pub fn analysis_template(
    service: &str,
    prometheus_address: &str,
    thresholds: &AnalysisThresholds,
) -> Result<String, GitopsError> {
    check_name(service)?;
    if !(prometheus_address.starts_with("http://") || prometheus_address.starts_with("https://")) {
        return Err(invalid_input(
            "prometheus address",
            prometheus_address,
            "must be an http(s) URL",
        ));
    }
    for (field, value) in [
        ("max error rate", thresholds.max_error_rate),
        ("max p99 latency", thresholds.max_p99_latency_seconds),
    ] {
        if !value.is_finite() || value < 0.0 {
            return Err(invalid_input(
                field,
                &value.to_string(),
                "must be a finite, non-negative number",
            ));
        }
    }
    let window = &thresholds.window;
    let label = &thresholds.canary_label;
    let label_ok = label
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !label_ok {
        return Err(invalid_input(
            "canary label",
            label,
            "must be a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)",
        ));
    }
    let selector =
        format!(r#"service="{{{{args.service-name}}}}",{label}="{{{{args.{CANARY_HASH_ARG}}}}}""#);
    let error_rate = format!(
        r#"sum(rate(http_requests_total{{{selector},code=~"5.."}}[{window}])) / sum(rate(http_requests_total{{{selector}}}[{window}]))"#
    );
    let p99 = format!(
        "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{{selector}}}[{window}])))"
    );
    let metric = |name: &str, query: String, max: f64| Metric {
        name: name.to_string(),
        interval: thresholds.interval.clone(),
        count: thresholds.count,
        success_condition: format!("len(result) > 0 && result[0] <= {max}"),
        failure_condition: format!("len(result) > 0 && result[0] > {max}"),
        failure_limit: thresholds.failure_limit,
        inconclusive_limit: thresholds.inconclusive_limit,
        provider: Provider {
            prometheus: Prometheus {
                address: prometheus_address.to_string(),
                query,
            },
        },
    };
    let template = Manifest {
        api_version: API_VERSION,
        kind: "AnalysisTemplate",
        metadata: Metadata::named(&analysis_template_name(service), service),
        spec: AnalysisSpec {
            args: vec![
                Arg::new("service-name", service),
                Arg::given(CANARY_HASH_ARG),
            ],
            metrics: vec![
                metric("error-rate", error_rate, thresholds.max_error_rate),
                metric("latency-p99", p99, thresholds.max_p99_latency_seconds),
            ],
        },
    };
    Ok(format!(
        "# Written by healbot: canary analysis for {service}.\n{}",
        to_yaml(&template)?
    ))
}

/// What a generated Rollout runs, for Argo-managed mode.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutSpec {
    pub name: String,
    pub image: String,
    pub replicas: u32,
    pub container_port: Option<u16>,
    pub stable_service: Option<String>,
    pub canary_service: Option<String>,
    pub steps: Vec<CanaryStep>,
}

/// One canary step of a generated Rollout.
#[derive(Debug, Clone, PartialEq)]
pub enum CanaryStep {
    SetWeight(u32),
    /// A pause; `None` waits for a person (or healbot) to promote.
    Pause(Option<String>),
    /// An inline analysis run of a template, with `(name, value)` args.
    Analysis {
        template: String,
        args: Vec<(String, String)>,
    },
}

impl CanaryStep {
    /// healbot's usual canary: 10% → analysis → 50% → analysis → 100%.
    pub fn default_steps(service: &str) -> Vec<CanaryStep> {
        let analysis = CanaryStep::Analysis {
            template: analysis_template_name(service),
            args: vec![("service-name".to_string(), service.to_string())],
        };
        vec![
            CanaryStep::SetWeight(10),
            analysis.clone(),
            CanaryStep::SetWeight(50),
            analysis,
            CanaryStep::SetWeight(100),
        ]
    }
}

/// A whole Rollout with the given canary steps.
pub fn rollout_with_steps(spec: &RolloutSpec) -> Result<String, GitopsError> {
    check_name(&spec.name)?;
    let full = spec
        .steps
        .iter()
        .position(|s| *s == CanaryStep::SetWeight(100));
    if let Some(i) = full {
        if let Some(j) = (i..spec.steps.len()).find(|&j| spec.steps[j] == CanaryStep::Pause(None)) {
            return Err(invalid_input(
                "canary steps",
                &format!("step {j}: pause without duration after setWeight 100 (step {i})"),
                "Argo would hold the Rollout at full weight, unpromoted, until someone promotes \
                 it; end with `setWeight: 100` or give the pause a duration",
            ));
        }
    }
    let steps = spec
        .steps
        .iter()
        .map(Step::from)
        .collect::<Result<Vec<_>, _>>()?;
    let labels = BTreeMap::from([("app".to_string(), spec.name.clone())]);
    let rollout = Manifest {
        api_version: API_VERSION,
        kind: "Rollout",
        metadata: Metadata::named(&spec.name, &spec.name),
        spec: RolloutBody {
            replicas: spec.replicas,
            selector: Selector {
                match_labels: labels.clone(),
            },
            template: PodTemplate {
                metadata: PodMetadata { labels },
                spec: PodSpec {
                    containers: vec![Container {
                        name: spec.name.clone(),
                        image: spec.image.clone(),
                        ports: spec
                            .container_port
                            .map(|p| vec![Port { container_port: p }])
                            .unwrap_or_default(),
                    }],
                },
            },
            strategy: Strategy {
                canary: Canary {
                    stable_service: spec.stable_service.clone(),
                    canary_service: spec.canary_service.clone(),
                    steps,
                },
            },
        },
    };
    Ok(format!(
        "# Written by healbot: Rollout for {}.\n{}",
        spec.name,
        to_yaml(&rollout)?
    ))
}

fn check_name(name: &str) -> Result<(), GitopsError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(invalid_input(
            "name",
            name,
            "must be a DNS-1123 label (a-z, 0-9, '-')",
        ))
    }
}

fn invalid_input(field: &'static str, value: &str, reason: &str) -> GitopsError {
    GitopsError::InvalidValue {
        file: "(generated manifest)".to_string(),
        field,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// The value of `spec.strategy.canary.analysis` that runs `template` from the second step on.
pub(crate) fn background_analysis(
    template: &str,
    args: &[(&str, &str)],
) -> Result<String, GitopsError> {
    to_yaml(&BackgroundAnalysis {
        templates: vec![TemplateRef {
            template_name: template.to_string(),
        }],
        starting_step: 1,
        args: rollout_args(args.iter().map(|(n, v)| Arg::new(n, v))),
    })
}

fn to_yaml<T: Serialize>(value: &T) -> Result<String, GitopsError> {
    serde_norway::to_string(value).map_err(|e| GitopsError::Generate(e.to_string()))
}

// The serialized shapes, in the field order Argo's own examples use.

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest<S> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: S,
}

#[derive(Serialize)]
struct Metadata {
    name: String,
    labels: BTreeMap<String, String>,
}

impl Metadata {
    fn named(name: &str, app: &str) -> Self {
        let labels = BTreeMap::from([
            ("app".to_string(), app.to_string()),
            (
                "app.kubernetes.io/managed-by".to_string(),
                "healbot".to_string(),
            ),
        ]);
        Metadata {
            name: name.to_string(),
            labels,
        }
    }
}

#[derive(Serialize)]
struct AnalysisSpec {
    args: Vec<Arg>,
    metrics: Vec<Metric>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Arg {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_from: Option<ArgFrom>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct ArgFrom {
    pod_template_hash_value: &'static str,
}

impl Arg {
    fn new(name: &str, value: &str) -> Self {
        Arg {
            name: name.to_string(),
            value: Some(value.to_string()),
            value_from: None,
        }
    }

    /// A template argument without a default: the Rollout passes it.
    fn given(name: &str) -> Self {
        Arg {
            name: name.to_string(),
            value: None,
            value_from: None,
        }
    }

    /// The canary's pod template hash, filled in by Argo Rollouts.
    fn canary_hash() -> Self {
        Arg {
            name: CANARY_HASH_ARG.to_string(),
            value: None,
            value_from: Some(ArgFrom {
                pod_template_hash_value: "Latest",
            }),
        }
    }
}

/// `args` as Rollout analysis arguments, with the canary's pod template hash added.
fn rollout_args(args: impl Iterator<Item = Arg>) -> Vec<Arg> {
    args.filter(|a| a.name != CANARY_HASH_ARG)
        .chain(std::iter::once(Arg::canary_hash()))
        .collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Metric {
    name: String,
    interval: String,
    count: u32,
    success_condition: String,
    failure_condition: String,
    failure_limit: u32,
    inconclusive_limit: u32,
    provider: Provider,
}

#[derive(Serialize)]
struct Provider {
    prometheus: Prometheus,
}

#[derive(Serialize)]
struct Prometheus {
    address: String,
    query: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BackgroundAnalysis {
    templates: Vec<TemplateRef>,
    starting_step: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    args: Vec<Arg>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct TemplateRef {
    template_name: String,
}

#[derive(Serialize)]
struct RolloutBody {
    replicas: u32,
    selector: Selector,
    template: PodTemplate,
    strategy: Strategy,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Selector {
    match_labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct PodTemplate {
    metadata: PodMetadata,
    spec: PodSpec,
}

#[derive(Serialize)]
struct PodMetadata {
    labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct PodSpec {
    containers: Vec<Container>,
}

#[derive(Serialize)]
struct Container {
    name: String,
    image: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<Port>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Port {
    container_port: u16,
}

#[derive(Serialize)]
struct Strategy {
    canary: Canary,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Canary {
    #[serde(skip_serializing_if = "Option::is_none")]
    stable_service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    canary_service: Option<String>,
    steps: Vec<Step>,
}

/// One step: exactly one field is set. A struct, not an enum, since serde_norway writes enum
/// variants as YAML tags (`!setWeight 10`) where Argo wants a one-key mapping.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Step {
    #[serde(skip_serializing_if = "Option::is_none")]
    set_weight: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pause: Option<Pause>,
    #[serde(skip_serializing_if = "Option::is_none")]
    analysis: Option<StepAnalysis>,
}

#[derive(Serialize)]
struct Pause {
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<String>,
}

#[derive(Serialize)]
struct StepAnalysis {
    templates: Vec<TemplateRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    args: Vec<Arg>,
}

impl Step {
    fn from(step: &CanaryStep) -> Result<Step, GitopsError> {
        Ok(match step {
            CanaryStep::SetWeight(w) if *w > 100 => {
                return Err(invalid_input(
                    "canary weight",
                    &w.to_string(),
                    "must be 0 to 100",
                ));
            }
            CanaryStep::SetWeight(w) => Step {
                set_weight: Some(*w),
                ..Step::default()
            },
            CanaryStep::Pause(duration) => Step {
                pause: Some(Pause {
                    duration: duration.clone(),
                }),
                ..Step::default()
            },
            CanaryStep::Analysis { template, args } => Step {
                analysis: Some(StepAnalysis {
                    templates: vec![TemplateRef {
                        template_name: template.clone(),
                    }],
                    args: rollout_args(args.iter().map(|(n, v)| Arg::new(n, v))),
                }),
                ..Step::default()
            },
        })
    }
}
