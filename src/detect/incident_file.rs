//! Incidents recorded as JSON files (`testdata/incidents/`), so that a past incident can be
//! replayed through the pipeline. A bad file is refused with the file and the field named.

use super::Incident;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum IncidentFileError {
    #[error("incident file {file}: cannot read it")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("incident file {file}: field `{field}`: {reason}")]
    Field {
        file: String,
        field: String,
        reason: String,
    },
}

/// Reads and checks one incident.
pub fn load(path: &Path) -> Result<Incident, IncidentFileError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| IncidentFileError::Read {
        file: file.clone(),
        source,
    })?;
    parse(&text, &file)
}

pub fn parse(text: &str, file: &str) -> Result<Incident, IncidentFileError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let incident: Incident =
        serde_path_to_error::deserialize(de).map_err(|e| IncidentFileError::Field {
            file: file.to_string(),
            field: match e.path().to_string().as_str() {
                "." => "(document)".to_string(),
                p => p.to_string(),
            },
            reason: e.inner().to_string(),
        })?;
    let field_err = |field: &str, reason: &str| IncidentFileError::Field {
        file: file.to_string(),
        field: field.to_string(),
        reason: reason.to_string(),
    };
    if incident.id.0.trim().is_empty()
        || !incident
            .id
            .0
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(field_err(
            "id",
            "must be non-empty ASCII letters, digits, '-', '_' or '.' (it names a git branch)",
        ));
    }
    if incident.service.trim().is_empty() {
        return Err(field_err("service", "must not be empty"));
    }
    if incident.signals.is_empty() {
        return Err(field_err("signals", "must hold at least one signal"));
    }
    Ok(incident)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_bad_field() {
        let text = r#"{"id":"inc-1","service":"s","severity":"urgent","title":"t","detected_at":1,"signals":[],"pattern":null}"#;
        let err = parse(text, "x.json").unwrap_err().to_string();
        assert!(err.contains("x.json") && err.contains("severity"), "{err}");
    }

    #[test]
    fn names_a_missing_field() {
        let err = parse(r#"{"id":"inc-1"}"#, "y.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("y.json") && err.contains("service"), "{err}");
    }

    #[test]
    fn branch_unsafe_id_is_refused() {
        let text = r#"{"id":"../x","service":"s","severity":"high","title":"t","detected_at":1,"signals":[{"kind":"alert","service":"s","name":"n","fingerprint":"f","summary":"x"}],"pattern":null}"#;
        assert!(parse(text, "z.json")
            .unwrap_err()
            .to_string()
            .contains("`id`"));
    }
}
