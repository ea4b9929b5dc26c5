//! Strict YAML parsing shared by every config file healbot reads (policies, the repository's
//! `.github/healbot.yml`, the dependency catalog): one error shape that names the field path, so
//! a person can find the bad line without reading code.

use serde::de::DeserializeOwned;
use std::fmt;

/// A problem with one field of a YAML document: `weights.timing: must be in [0, 1], got 1.5`.
/// The file name is added by whoever knows it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct FieldError {
    /// Dotted path to the field (`services[2].depends_on[0]`); empty for the whole document.
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Parses `text` into `T`, reporting the path of the first field that does not fit.
/// The types passed here use `deny_unknown_fields`, so a typo is an error, not a silent default.
pub fn parse_strict<T: DeserializeOwned>(text: &str) -> Result<T, FieldError> {
    if text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    }) {
        return Err(FieldError::new("", "the document is empty"));
    }
    let deserializer = serde_norway::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let message = without_path_prefix(&e.into_inner().to_string(), &field);
        FieldError { field, message }
    })
}

/// serde_norway prefixes its messages with the path it knew (the field, or its parent for an
/// unknown field); the error already carries the full path, so keep it once.
fn without_path_prefix(message: &str, field: &str) -> String {
    if let Some((prefix, rest)) = message.split_once(": ") {
        let is_path = prefix == "."
            || prefix == field
            || field.starts_with(&format!("{prefix}."))
            || field.starts_with(&format!("{prefix}["));
        if is_path && !prefix.contains(' ') {
            return rest.to_string();
        }
    }
    message.to_string()
}

/// Checks that `value` is a finite number in `[low, high]`.
pub(crate) fn check_range(field: &str, value: f64, low: f64, high: f64) -> Result<(), FieldError> {
    if value.is_finite() && value >= low && value <= high {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("must be in [{low}, {high}], got {value}"),
        ))
    }
}

/// Checks a share or probability: a finite number in `[0, 1]`.
pub(crate) fn check_unit(field: &str, value: f64) -> Result<(), FieldError> {
    check_range(field, value, 0.0, 1.0)
}

/// Checks that a count or duration is at least `low`.
pub(crate) fn check_at_least(field: &str, value: u64, low: u64) -> Result<(), FieldError> {
    if value >= low {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("must be at least {low}, got {value}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
        #[serde(default)]
        list: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        value: f64,
    }

    #[test]
    fn wrong_type_names_the_nested_field_once() {
        let err = parse_strict::<Outer>("inner:\n  value: high\n").unwrap_err();
        assert_eq!(err.field, "inner.value");
        assert!(!err.message.starts_with("inner.value"), "{}", err.message);
        assert!(err.message.contains("invalid type"), "{}", err.message);
    }

    #[test]
    fn unknown_field_is_an_error_naming_it() {
        let err = parse_strict::<Outer>("inner:\n  value: 1\n  valeu: 2\n").unwrap_err();
        assert_eq!(err.field, "inner.valeu");
        assert!(
            err.message.starts_with("unknown field `valeu`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn sequence_items_are_indexed() {
        let err = parse_strict::<Outer>("inner: {value: 1}\nlist:\n  - value: 1\n  - value: x\n")
            .unwrap_err();
        assert_eq!(err.field, "list[1].value");
    }

    #[test]
    fn missing_field_and_empty_document() {
        let err = parse_strict::<Outer>("list: []\n").unwrap_err();
        assert!(err.message.contains("missing field `inner`"), "{err}");
        let err = parse_strict::<Outer>("# only a comment\n").unwrap_err();
        assert_eq!(err.to_string(), "the document is empty");
    }

    #[test]
    fn ranges() {
        assert!(check_unit("a", 0.5).is_ok());
        assert_eq!(
            check_unit("weights.timing", 1.5).unwrap_err().to_string(),
            "weights.timing: must be in [0, 1], got 1.5"
        );
        assert!(check_unit("a", f64::NAN).is_err());
        assert!(check_at_least("a", 0, 1).is_err());
    }
}
