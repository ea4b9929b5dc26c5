//! healbot.yaml's `rca:` section: how Prometheus series become the `<service>_<metric>` columns
//! `healbot rca --prometheus` ranks (a label map, and the queries by metric name).

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RcaFile {
    /// Labels tried in order to name a series' service; a pattern's `service` group (or whole
    /// match) is the name. The defaults (service, app, app_kubernetes_io_name,
    /// destination_workload, deployment, container, pod) otherwise.
    #[serde(default)]
    pub label_map: Vec<LabelRuleFile>,
    /// Metric name → PromQL range query; replaces the built-in queries.
    #[serde(default)]
    pub queries: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LabelRuleFile {
    pub label: String,
    #[serde(default)]
    pub pattern: Option<String>,
}
