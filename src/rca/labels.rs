//! Prometheus series to `<service>_<metric>` columns: which service a series belongs to is a
//! matter of labels (`service`, `app`, a mesh's workload, or a pod whose name carries its
//! Deployment's), and a team says which through a label map in healbot.yaml. Pod names lose
//! their ReplicaSet hash and pod suffix (`checkout-7d9f8b6c4-x2k9q` → `checkout`) or their
//! StatefulSet ordinal (`orders-db-0` → `orders-db`).

use super::table::MetricTable;
use crate::signals::prometheus::Series;
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// What `healbot rca --prometheus` asks for when healbot.yaml's `rca.queries` does not say:
/// cAdvisor's container CPU, memory and network by pod, and Istio's request rate, server
/// error rate and 90th percentile latency by workload. Rates already: no column is a counter.
pub(crate) const DEFAULT_QUERIES: &[(&str, &str)] = &[
    (
        "cpu",
        r#"sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{container!="",container!="POD"}[1m]))"#,
    ),
    (
        "mem",
        r#"sum by (namespace, pod) (container_memory_working_set_bytes{container!="",container!="POD"})"#,
    ),
    (
        "net_rx",
        r#"sum by (namespace, pod) (rate(container_network_receive_bytes_total[1m]))"#,
    ),
    (
        "net_tx",
        r#"sum by (namespace, pod) (rate(container_network_transmit_bytes_total[1m]))"#,
    ),
    (
        "requests_rate",
        r#"sum by (destination_workload) (rate(istio_requests_total{reporter="destination"}[1m]))"#,
    ),
    (
        "error_rate",
        r#"sum by (destination_workload) (rate(istio_requests_total{reporter="destination",response_code=~"5.."}[1m]))"#,
    ),
    (
        "latency-90",
        r#"histogram_quantile(0.9, sum by (destination_workload, le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[1m])))"#,
    ),
];

/// One rule: read `label`; if `pattern` is set, the service is its `service` group (or the
/// whole match).
#[derive(Debug, Clone)]
pub struct LabelRule {
    pub label: String,
    pub pattern: Option<Regex>,
}

/// Rules tried in order; the first that yields a name wins.
#[derive(Debug, Clone)]
pub struct LabelMap(pub Vec<LabelRule>);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum LabelMapError {
    #[error("label_map[{index}].pattern: {message}")]
    Pattern { index: usize, message: String },
}

impl Default for LabelMap {
    /// `service`, `app`, `app_kubernetes_io_name`, the meshes' workload labels, then `pod`.
    fn default() -> LabelMap {
        LabelMap(
            [
                "service",
                "app",
                "app_kubernetes_io_name",
                "destination_workload",
                "deployment",
                "container",
                "pod",
            ]
            .iter()
            .map(|l| LabelRule {
                label: l.to_string(),
                pattern: None,
            })
            .collect(),
        )
    }
}

impl LabelMap {
    /// Rules from `(label, pattern)` pairs as healbot.yaml writes them.
    pub(crate) fn from_rules(
        rules: &[(String, Option<String>)],
    ) -> Result<LabelMap, LabelMapError> {
        rules
            .iter()
            .enumerate()
            .map(|(index, (label, pattern))| {
                let pattern = pattern
                    .as_deref()
                    .map(Regex::new)
                    .transpose()
                    .map_err(|e| LabelMapError::Pattern {
                        index,
                        message: e.to_string(),
                    })?;
                Ok(LabelRule {
                    label: label.clone(),
                    pattern,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(LabelMap)
    }

    /// The service a series with these labels belongs to.
    pub fn service(&self, labels: &BTreeMap<String, String>) -> Option<String> {
        self.0.iter().find_map(|rule| {
            let value = labels.get(&rule.label).filter(|v| !v.is_empty())?;
            let name = match &rule.pattern {
                Some(re) => {
                    let c = re.captures(value)?;
                    c.name("service").or_else(|| c.get(0))?.as_str().to_string()
                }
                None if rule.label == "pod" => pod_owner(value),
                None => value.clone(),
            };
            (!name.is_empty()).then_some(name)
        })
    }
}

/// The Deployment or StatefulSet behind a pod name.
pub(crate) fn pod_owner(pod: &str) -> String {
    static DEPLOYMENT: OnceLock<Option<Regex>> = OnceLock::new();
    static STATEFUL: OnceLock<Option<Regex>> = OnceLock::new();
    let deployment =
        DEPLOYMENT.get_or_init(|| Regex::new(r"^(?P<owner>.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$").ok());
    let stateful = STATEFUL.get_or_init(|| Regex::new(r"^(?P<owner>.+)-\d+$").ok());
    for re in [deployment, stateful].into_iter().flatten() {
        if let Some(c) = re.captures(pod) {
            return c["owner"].to_string();
        }
    }
    pod.to_string()
}

/// A table from range-query results, one `(metric name, series)` list per query. Series of
/// the same service and metric are summed (a service's pods); times are the union of the
/// series' sample times, missing samples NaN. Series no rule names a service for are left out
/// and counted in the second value.
pub fn table(queries: &[(String, Vec<Series>)], map: &LabelMap) -> (MetricTable, usize) {
    let mut times: BTreeSet<u64> = BTreeSet::new();
    let mut columns: BTreeMap<String, BTreeMap<u64, f64>> = BTreeMap::new();
    let mut unnamed = 0;
    for (metric, series) in queries {
        for s in series {
            let Some(service) = map.service(&s.labels) else {
                unnamed += 1;
                continue;
            };
            let column = columns.entry(format!("{service}_{metric}")).or_default();
            for sample in &s.samples {
                // Millisecond keys: Prometheus' timestamps are exact to the millisecond.
                let key = (sample.time * 1000.0).round() as u64;
                times.insert(key);
                *column.entry(key).or_insert(0.0) += sample.value;
            }
        }
    }
    let times: Vec<u64> = times.into_iter().collect();
    let (names, values): (Vec<String>, Vec<Vec<f64>>) = columns
        .into_iter()
        .map(|(name, samples)| {
            let row = times
                .iter()
                .map(|t| samples.get(t).copied().unwrap_or(f64::NAN))
                .collect();
            (name, row)
        })
        .unzip();
    (
        MetricTable {
            times: times.iter().map(|&t| t as f64 / 1000.0).collect(),
            columns: names,
            values,
        },
        unnamed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::prometheus::Sample;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pods_name_their_owner() {
        assert_eq!(pod_owner("checkout-7d9f8b6c4-x2k9q"), "checkout");
        assert_eq!(pod_owner("orders-db-0"), "orders-db");
        assert_eq!(pod_owner("standalone"), "standalone");
        let map = LabelMap::default();
        assert_eq!(
            map.service(&labels(&[
                ("pod", "cart-5b7c9d8f6d-abcde"),
                ("namespace", "shop")
            ])),
            Some("cart".into())
        );
        assert_eq!(
            map.service(&labels(&[("app", "cart"), ("pod", "x-1")])),
            Some("cart".into())
        );
        assert_eq!(map.service(&labels(&[("namespace", "shop")])), None);
    }

    #[test]
    fn a_configured_pattern_wins_and_bad_patterns_are_named() {
        let map = LabelMap::from_rules(&[(
            "container_label_io_kubernetes_pod_name".into(),
            Some(r"^(?P<service>[a-z-]+?)-v\d+".into()),
        )])
        .unwrap();
        assert_eq!(
            map.service(&labels(&[(
                "container_label_io_kubernetes_pod_name",
                "orders-v2-abc"
            )])),
            Some("orders".into())
        );
        let e = LabelMap::from_rules(&[("pod".into(), Some("(".into()))]).unwrap_err();
        assert!(e.to_string().starts_with("label_map[0].pattern"), "{e}");
    }

    #[test]
    fn series_become_columns_summed_over_pods() {
        let s = |pod: &str, values: &[(f64, f64)]| Series {
            labels: labels(&[("pod", pod)]),
            samples: values
                .iter()
                .map(|&(time, value)| Sample { time, value })
                .collect(),
        };
        let queries = vec![(
            "cpu".to_string(),
            vec![
                s("cart-5b7c9d8f6d-aaaaa", &[(10.0, 0.5), (20.0, 0.7)]),
                s("cart-5b7c9d8f6d-bbbbb", &[(10.0, 0.25)]),
                s("", &[(10.0, 9.0)]),
            ],
        )];
        let (t, unnamed) = table(&queries, &LabelMap::default());
        assert_eq!(unnamed, 1);
        assert_eq!(t.columns, ["cart_cpu"]);
        assert_eq!(t.times, [10.0, 20.0]);
        assert_eq!(t.values[0], [0.75, 0.7]);
    }
}
