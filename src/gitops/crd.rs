//! Test support: validates a manifest against a real CustomResourceDefinition's schema, with
//! unknown fields rejected. The API server prunes unknown fields silently, so a typo such as
//! `pauze: {}` would pass the CRD as written; here every object schema that lists `properties`
//! and neither allows extra ones nor preserves unknown fields gets `additionalProperties: false`.
//!
//! Self-contained (no `crate::` paths): unit tests use it as `gitops::crd`, and
//! `tests/it/gitops.rs` includes this same file by path, since dev-dependencies are not
//! available to the shipped library.

use serde_json::{json, Value};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a usable CRD: {reason}")]
    Crd { path: String, reason: String },
    #[error("manifest is not YAML: {0}")]
    ManifestYaml(String),
    #[error("manifest has `{found}`, the CRD is for `{expected}`")]
    Kind { found: String, expected: String },
    #[error("manifest fails the {kind} schema:\n{}", violations.join("\n"))]
    Invalid {
        kind: String,
        violations: Vec<String>,
    },
}

/// A CRD's first version schema, tightened, ready to validate manifests.
pub struct CrdSchema {
    kind: String,
    api_version: String,
    validator: jsonschema::Validator,
}

impl CrdSchema {
    pub fn load(path: &Path) -> Result<Self, CrdError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CrdError::Read {
            path: shown.clone(),
            source,
        })?;
        let crd_error = |reason: &str| CrdError::Crd {
            path: shown.clone(),
            reason: reason.to_string(),
        };
        let crd: Value = serde_norway::from_str(&text).map_err(|e| crd_error(&e.to_string()))?;
        let field = |pointer: &str| {
            crd.pointer(pointer)
                .ok_or_else(|| crd_error(&format!("no {pointer}")))
        };
        let kind = field("/spec/names/kind")?
            .as_str()
            .unwrap_or_default()
            .to_string();
        let group = field("/spec/group")?.as_str().unwrap_or_default();
        let version = field("/spec/versions/0/name")?.as_str().unwrap_or_default();
        let mut schema = field("/spec/versions/0/schema/openAPIV3Schema")?.clone();
        tighten(&mut schema);
        // OpenAPI v3 schemas are a draft-4 dialect.
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .build(&schema)
            .map_err(|e| crd_error(&e.to_string()))?;
        Ok(CrdSchema {
            api_version: format!("{group}/{version}"),
            kind,
            validator,
        })
    }

    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Validates every document of `manifest` whose `kind` is the CRD's (other documents, such
    /// as a Service next to a Rollout, are skipped; none at all is an error). The error lists
    /// every violation with its JSON pointer (`/spec/strategy/canary/steps/1: …`).
    pub fn validate_yaml(&self, manifest: &str) -> Result<(), CrdError> {
        let mut kinds = Vec::new();
        let mut violations = Vec::new();
        for document in serde_norway::Deserializer::from_str(manifest) {
            let value: Value = serde::Deserialize::deserialize(document)
                .map_err(|e| CrdError::ManifestYaml(e.to_string()))?;
            let kind = value["kind"].as_str().unwrap_or("?");
            let api_version = value["apiVersion"].as_str().unwrap_or("?");
            kinds.push(format!("{api_version}/{kind}"));
            if kind != self.kind {
                continue;
            }
            if api_version != self.api_version {
                return Err(self.kind_error(&kinds));
            }
            violations.extend(self.validator.iter_errors(&value).map(|e| {
                let at = e.instance_path().to_string();
                format!("{}: {e}", if at.is_empty() { "/" } else { &at })
            }));
        }
        if !kinds
            .iter()
            .any(|k| *k == format!("{}/{}", self.api_version, self.kind))
        {
            return Err(self.kind_error(&kinds));
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(CrdError::Invalid {
                kind: self.kind.clone(),
                violations,
            })
        }
    }

    fn kind_error(&self, found: &[String]) -> CrdError {
        CrdError::Kind {
            found: found.join(", "),
            expected: format!("{}/{}", self.api_version, self.kind),
        }
    }
}

/// Rewrites the Kubernetes structural-schema extensions as plain JSON Schema: closed objects,
/// and `x-kubernetes-int-or-string` as "integer or string".
fn tighten(schema: &mut Value) {
    let Value::Object(map) = schema else {
        return;
    };
    if map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        map.remove("anyOf");
        map.insert("type".to_string(), json!(["integer", "string"]));
    }
    let preserves = map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if map.contains_key("properties") && !map.contains_key("additionalProperties") && !preserves {
        map.insert("additionalProperties".to_string(), Value::Bool(false));
    }
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        props.values_mut().for_each(tighten);
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(sub) = map.get_mut(key) {
            tighten_any(sub);
        }
    }
    for key in ["anyOf", "allOf", "oneOf"] {
        if let Some(Value::Array(subs)) = map.get_mut(key) {
            subs.iter_mut().for_each(tighten);
        }
    }
}

/// `items` may be one schema or a list of them; `additionalProperties` a schema or a bool.
fn tighten_any(sub: &mut Value) {
    match sub {
        Value::Array(subs) => subs.iter_mut().for_each(tighten),
        Value::Object(_) => tighten(sub),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_objects_and_widens_int_or_string() {
        let mut schema = json!({
            "type": "object",
            "properties": {
                "a": {"type": "object", "properties": {"b": {"type": "string"}}},
                "open": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {}},
                "map": {"type": "object", "additionalProperties": {"type": "object", "properties": {"c": {}}}},
                "n": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": true}
            }
        });
        tighten(&mut schema);
        assert_eq!(schema["additionalProperties"], json!(false));
        assert_eq!(
            schema["properties"]["a"]["additionalProperties"],
            json!(false)
        );
        assert!(schema["properties"]["open"]
            .get("additionalProperties")
            .is_none());
        assert_eq!(
            schema["properties"]["map"]["additionalProperties"]["additionalProperties"],
            json!(false)
        );
        assert_eq!(
            schema["properties"]["n"]["type"],
            json!(["integer", "string"])
        );
        assert!(schema["properties"]["n"].get("anyOf").is_none());
    }
}
