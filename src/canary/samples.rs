//! Samples documents, as `healbot canary judge --baseline FILE --canary FILE` reads them: a JSON
//! object mapping metric names to arrays of numbers, read leniently (numbers as strings, `null`
//! and `"NaN"` as NaN) and rejected with the field at fault otherwise.

use crate::model::MetricSamples;
use thiserror::Error;

/// A samples document that is not a JSON object of arrays of numbers.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SamplesError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("expected a JSON object mapping metric names to arrays of numbers, found {0}")]
    NotObject(&'static str),
    #[error("field \"{field}\": expected an array of numbers, found {found}")]
    NotArray { field: String, found: &'static str },
    #[error("field \"{field}\"[{index}]: expected a number, found {found}")]
    NotNumber {
        field: String,
        index: usize,
        found: String,
    },
}

/// Parses `{"metric": [1.0, 2.0, …], …}`. Lenient where exporters differ: `null` and the
/// strings Prometheus uses (`"NaN"`, `"+Inf"`, `"0.25"`) are accepted; anything else is an
/// error naming the field and index.
pub fn parse_samples(json: &str) -> Result<MetricSamples, SamplesError> {
    use serde_json::Value;
    let value: Value = serde_json::from_str(json).map_err(|e| SamplesError::Json(e.to_string()))?;
    let Value::Object(map) = value else {
        return Err(SamplesError::NotObject(json_kind(&value)));
    };
    let mut samples = MetricSamples::new();
    for (field, v) in map {
        let Value::Array(items) = v else {
            return Err(SamplesError::NotArray {
                found: json_kind(&v),
                field,
            });
        };
        let mut values = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let parsed = match item {
                Value::Number(n) => n.as_f64(),
                Value::Null => Some(f64::NAN),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            match parsed {
                Some(x) => values.push(x),
                None => {
                    let mut found = item.to_string();
                    if found.len() > 40 {
                        found = format!("{} {}", json_kind(item), "(too long to show)");
                    }
                    return Err(SamplesError::NotNumber {
                        field,
                        index,
                        found,
                    });
                }
            }
        }
        samples.insert(field, values);
    }
    Ok(samples)
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
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

    #[test]
    fn samples_parse_leniently_and_errors_name_the_field() {
        let s = parse_samples(r#"{"a": [1, 2.5, null, "NaN", "0.25"], "b": []}"#).expect("valid");
        assert_eq!(s["a"].len(), 5);
        assert!(s["a"][2].is_nan() && s["a"][3].is_nan());
        assert_eq!(s["a"][4], 0.25);
        assert!(s["b"].is_empty());

        assert_eq!(
            parse_samples(r#"{"a": [1, "abc"]}"#),
            Err(SamplesError::NotNumber {
                field: "a".into(),
                index: 1,
                found: "\"abc\"".into()
            })
        );
        assert_eq!(
            parse_samples(r#"{"a": 3}"#),
            Err(SamplesError::NotArray {
                field: "a".into(),
                found: "a number"
            })
        );
        assert_eq!(
            parse_samples("[1, 2]"),
            Err(SamplesError::NotObject("an array"))
        );
        assert!(matches!(parse_samples("{"), Err(SamplesError::Json(_))));
    }
}
