//! Which settings in a YAML file a config fix may raise, and for which error pattern. Config
//! files name their knobs in many ways (Helm values, Kubernetes manifests, HikariCP,
//! SQLAlchemy), so a setting is recognised by its key and the keys above it.

use crate::gitops::yaml_edit::{YamlDoc, YamlEditError};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kinds of setting a config fix raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigKind {
    Timeout,
    Retries,
    PoolSize,
    MemoryLimit,
    CpuLimit,
    Replicas,
    CircuitBreaker,
}

impl ConfigKind {
    /// Stable id, used as the patch's template id (`config.memory-limit`).
    pub fn id(self) -> &'static str {
        match self {
            ConfigKind::Timeout => "config.timeout",
            ConfigKind::Retries => "config.retries",
            ConfigKind::PoolSize => "config.pool-size",
            ConfigKind::MemoryLimit => "config.memory-limit",
            ConfigKind::CpuLimit => "config.cpu-limit",
            ConfigKind::Replicas => "config.replicas",
            ConfigKind::CircuitBreaker => "config.circuit-breaker",
        }
    }

    /// The policy bound that caps this kind, as named in `config-bounds.yaml`.
    pub(crate) fn bound_name(self, percent: bool) -> &'static str {
        match self {
            ConfigKind::Timeout => "timeout.max_seconds",
            ConfigKind::Retries => "retries.max",
            ConfigKind::PoolSize => "pool_size.max",
            ConfigKind::MemoryLimit => "memory_limit.max",
            ConfigKind::CpuLimit => "cpu_limit.max",
            ConfigKind::Replicas => "replicas.max",
            ConfigKind::CircuitBreaker if percent => "circuit_breaker.max_percent",
            ConfigKind::CircuitBreaker => "circuit_breaker.max_failures",
        }
    }
}

impl fmt::Display for ConfigKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.id().trim_start_matches("config."))
    }
}

/// The kinds worth raising for an error pattern, most likely fix first. Empty for patterns a
/// config change does not fix.
pub fn kinds_for(pattern: &str) -> &'static [ConfigKind] {
    use ConfigKind::*;
    match pattern {
        "oom_killed" => &[MemoryLimit],
        "connection_pool_exhausted" => &[PoolSize],
        "timeout" => &[Timeout, Retries],
        "high_latency" => &[Replicas, CpuLimit, Timeout],
        "transient_connection" => &[Retries, CircuitBreaker],
        _ => &[],
    }
}

/// Whether a config change can fix this error pattern.
pub fn is_config_pattern(pattern: &str) -> bool {
    !kinds_for(pattern).is_empty()
}

/// One setting found in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigTarget {
    pub kind: ConfigKind,
    /// 0-based document of a multi-document file.
    pub document: usize,
    /// A `YamlDoc` path (`spec.template.spec.containers[0].resources.limits.memory`).
    pub path: String,
    /// The value as read.
    pub value: String,
}

/// The kind of the scalar at `path` (segments `keys`), if it is a setting we raise.
fn classify(keys: &[&str]) -> Option<ConfigKind> {
    let last = keys.last()?.to_ascii_lowercase();
    let parent = keys
        .len()
        .checked_sub(2)
        .map(|i| keys[i].to_ascii_lowercase());
    let above = keys[..keys.len() - 1].join(".").to_ascii_lowercase();
    if parent.as_deref() == Some("limits") && above.contains("resources") {
        return match last.as_str() {
            "memory" => Some(ConfigKind::MemoryLimit),
            "cpu" => Some(ConfigKind::CpuLimit),
            _ => None,
        };
    }
    if matches!(last.as_str(), "replicas" | "replicacount") {
        return Some(ConfigKind::Replicas);
    }
    let breaker = ["circuit", "breaker", "outlierdetection"]
        .iter()
        .any(|w| above.contains(w) || last.contains(w));
    if breaker && (last.contains("threshold") || last.contains("consecutive")) {
        return Some(ConfigKind::CircuitBreaker);
    }
    // An idle or keep-alive timeout does not bound a request; a probe's timeout is not the
    // service's.
    if last.contains("timeout")
        && !["idle", "keepalive", "keep_alive"]
            .iter()
            .any(|w| last.contains(w))
        && !above.contains("probe")
    {
        return Some(ConfigKind::Timeout);
    }
    if (last.contains("retries") || last.contains("retry") || last == "max_attempts")
        && !["backoff", "delay", "interval", "wait", "enabled"]
            .iter()
            .any(|w| last.contains(w))
    {
        return Some(ConfigKind::Retries);
    }
    let pool = last.contains("pool") && (last.contains("size") || last.contains("max"));
    if (pool || matches!(last.as_str(), "max_connections" | "maxconnections"))
        && !last.contains("min")
    {
        return Some(ConfigKind::PoolSize);
    }
    None
}

/// Every setting of a kind in `kinds` in every document of the YAML `text` of `file`, in kind
/// order, then file order.
pub fn find_targets(
    file: &str,
    text: &str,
    kinds: &[ConfigKind],
) -> Result<Vec<ConfigTarget>, YamlEditError> {
    let mut found = Vec::new();
    let mut doc = YamlDoc::parse(text, file)?;
    for document in 0..doc.document_count() {
        doc.select_document(document)?;
        let mut keys = Vec::new();
        walk(&doc, "", &mut keys, document, &mut found)?;
    }
    let mut out = Vec::new();
    for kind in kinds {
        out.extend(found.iter().filter(|t| t.kind == *kind).cloned());
    }
    Ok(out)
}

/// Depth-first over mappings and sequences; keys that the path syntax cannot name are skipped.
fn walk(
    doc: &YamlDoc,
    path: &str,
    keys: &mut Vec<String>,
    document: usize,
    out: &mut Vec<ConfigTarget>,
) -> Result<(), YamlEditError> {
    if let Ok(children) = doc.keys(path) {
        for key in children {
            if key.is_empty() || key.contains(['.', '[', ']']) {
                continue;
            }
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            keys.push(key);
            walk(doc, &child, keys, document, out)?;
            keys.pop();
        }
    } else if let Ok(n) = doc.seq_len(path) {
        for i in 0..n {
            walk(doc, &format!("{path}[{i}]"), keys, document, out)?;
        }
    } else if let Ok(value) = doc.get(path) {
        let names: Vec<&str> = keys.iter().map(String::as_str).collect();
        if let Some(kind) = classify(&names) {
            out.push(ConfigTarget {
                kind,
                document,
                path: path.to_string(),
                value,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_classified_by_name_and_context() {
        use ConfigKind::*;
        let k = |p: &str| classify(&p.split('.').collect::<Vec<_>>());
        assert_eq!(k("resources.limits.memory"), Some(MemoryLimit));
        assert_eq!(k("resources.requests.memory"), None);
        assert_eq!(k("resources.limits.cpu"), Some(CpuLimit));
        assert_eq!(k("replicaCount"), Some(Replicas));
        assert_eq!(k("hikari.maximumPoolSize"), Some(PoolSize));
        assert_eq!(k("hikari.minimumIdle"), None);
        assert_eq!(k("database.pool_size"), Some(PoolSize));
        assert_eq!(k("hikari.connectionTimeout"), Some(Timeout));
        assert_eq!(k("hikari.idleTimeout"), None);
        assert_eq!(k("livenessProbe.timeoutSeconds"), None);
        assert_eq!(k("http.max_retries"), Some(Retries));
        assert_eq!(k("http.retry_backoff"), None);
        assert_eq!(
            k("circuitBreaker.failureRateThreshold"),
            Some(CircuitBreaker)
        );
        assert_eq!(
            k("outlierDetection.consecutive5xxErrors"),
            Some(CircuitBreaker)
        );
        assert_eq!(k("image.tag"), None);
    }

    #[test]
    fn only_config_patterns_have_kinds() {
        assert!(is_config_pattern("oom_killed"));
        assert!(!is_config_pattern("null_dereference"));
        assert_eq!(
            kinds_for("connection_pool_exhausted"),
            &[ConfigKind::PoolSize]
        );
    }
}
