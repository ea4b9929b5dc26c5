//! The policy set: every file under `policies/` parsed strictly and checked, loaded from a
//! directory (production, `healbot policy check`) or compiled into the binary (the demo runs from
//! anywhere on the same defaults). An error names the file and the field, so `policy check`
//! can answer in one line.

use super::conflicts::ConflictsPolicy;
use super::detection::DetectionPolicy;
use super::escalation::EscalationPolicy;
use super::freeze::FreezePolicy;
use super::gates::GatesPolicy;
use super::locks::LocksPolicy;
use super::protected_paths::ProtectedPathsPolicy;
use super::risk::RiskPolicy;
use super::yaml::{parse_strict, FieldError};
use crate::canary::{ConfigError, JudgeConfig};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicySet {
    pub risk: RiskPolicy,
    pub gates: GatesPolicy,
    pub detection: DetectionPolicy,
    pub locks: LocksPolicy,
    pub escalation: EscalationPolicy,
    pub protected_paths: ProtectedPathsPolicy,
    pub freeze: FreezePolicy,
    /// The canary judge's configuration (`canary.yaml`).
    pub canary: JudgeConfig,
    pub conflicts: ConflictsPolicy,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{file}: missing (a policy set needs all of {})", POLICY_FILES.join(", "))]
    Missing { file: String },
    #[error("{dir}: not a directory of policy files")]
    NotADirectory { dir: String },
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {error}")]
    Invalid { file: String, error: FieldError },
}

impl PolicyError {
    /// The file the error is about.
    pub fn file(&self) -> &str {
        match self {
            PolicyError::Missing { file }
            | PolicyError::Read { file, .. }
            | PolicyError::Invalid { file, .. } => file,
            PolicyError::NotADirectory { dir } => dir,
        }
    }

    /// The field path inside the file, when the error is about one field.
    pub fn field(&self) -> Option<&str> {
        match self {
            PolicyError::Invalid { error, .. } if !error.field.is_empty() => Some(&error.field),
            _ => None,
        }
    }
}

/// The files of a policy set, in the order they are loaded and reported.
pub const POLICY_FILES: [&str; 9] = [
    "risk.yaml",
    "gates.yaml",
    "detection.yaml",
    "locks.yaml",
    "escalation.yaml",
    "protected-paths.yaml",
    "freeze.yaml",
    "canary.yaml",
    "conflicts.yaml",
];

/// The repository's `policies/`, compiled in; same order as [`POLICY_FILES`].
const EMBEDDED: [&str; 9] = [
    include_str!("../../policies/risk.yaml"),
    include_str!("../../policies/gates.yaml"),
    include_str!("../../policies/detection.yaml"),
    include_str!("../../policies/locks.yaml"),
    include_str!("../../policies/escalation.yaml"),
    include_str!("../../policies/protected-paths.yaml"),
    include_str!("../../policies/freeze.yaml"),
    include_str!("../../policies/canary.yaml"),
    include_str!("../../policies/conflicts.yaml"),
];

impl PolicySet {
    /// Reads and checks every file of [`POLICY_FILES`] in `dir`. Other files are ignored, so a
    /// directory can also hold policies other parts of healbot read.
    pub fn load(dir: &Path) -> Result<PolicySet, PolicyError> {
        if !dir.is_dir() {
            return Err(PolicyError::NotADirectory {
                dir: dir.display().to_string(),
            });
        }
        let mut texts = Vec::with_capacity(POLICY_FILES.len());
        for name in POLICY_FILES {
            let path = dir.join(name);
            let file = path.display().to_string();
            match std::fs::read_to_string(&path) {
                Ok(text) => texts.push((file, text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(PolicyError::Missing { file })
                }
                Err(source) => return Err(PolicyError::Read { file, source }),
            }
        }
        PolicySet::parse(std::array::from_fn(|i| {
            (texts[i].0.as_str(), texts[i].1.as_str())
        }))
    }

    /// The defaults shipped in the binary (the repository's `policies/`). Checked by a unit
    /// test and by `healbot policy check policies` in CI, so this cannot fail in a release.
    pub fn embedded() -> PolicySet {
        let names: [String; 9] = POLICY_FILES.map(|name| format!("policies/{name} (embedded)"));
        match PolicySet::parse(std::array::from_fn(|i| (names[i].as_str(), EMBEDDED[i]))) {
            Ok(set) => set,
            Err(e) => panic!("the embedded policies are invalid: {e}"),
        }
    }

    /// `sources` holds `(file name for errors, text)` in [`POLICY_FILES`] order.
    fn parse(sources: [(&str, &str); 9]) -> Result<PolicySet, PolicyError> {
        let [risk, gates, detection, locks, escalation, protected, freeze, canary, conflicts] =
            sources;
        Ok(PolicySet {
            risk: parse_one(risk, RiskPolicy::validate)?,
            gates: parse_one(gates, GatesPolicy::validate)?,
            detection: parse_one(detection, DetectionPolicy::validate)?,
            locks: parse_one(locks, LocksPolicy::validate)?,
            escalation: parse_one(escalation, EscalationPolicy::validate)?,
            protected_paths: parse_one(protected, ProtectedPathsPolicy::validate)?,
            freeze: parse_one(freeze, FreezePolicy::validate)?,
            canary: parse_one(canary, validate_canary)?,
            conflicts: parse_one(conflicts, ConflictsPolicy::validate)?,
        })
    }

    /// One line for `healbot policy check`.
    pub fn summary(&self) -> String {
        let s = &self.risk.strategy;
        format!(
            "{} detection rules, 6 gates, {} protected paths, {} freeze windows, \
             {} escalation steps; manual review above risk {}, canary above {}, \
             min confidence {}, max blast radius {}",
            self.detection.rules.len(),
            self.protected_paths.paths.len(),
            self.freeze.windows.len() + self.freeze.recurring.len(),
            self.escalation.waiting_for_person.len(),
            s.manual_review_above,
            s.canary_above,
            s.min_confidence,
            s.max_blast_radius,
        )
    }
}

fn validate_canary(cfg: &JudgeConfig) -> Result<(), FieldError> {
    cfg.validate().map_err(|e| match e {
        ConfigError::Invalid { field, reason } => FieldError {
            field,
            message: reason,
        },
        ConfigError::Parse { field, message, .. } => FieldError {
            field: field.unwrap_or_default(),
            message,
        },
    })
}

fn parse_one<T: DeserializeOwned>(
    (file, text): (&str, &str),
    validate: fn(&T) -> Result<(), FieldError>,
) -> Result<T, PolicyError> {
    let invalid = |error| PolicyError::Invalid {
        file: file.to_string(),
        error,
    };
    let value: T = parse_strict(text).map_err(invalid)?;
    validate(&value).map_err(invalid)?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_policies_are_valid_and_match_the_seed_defaults() {
        let set = PolicySet::embedded();
        let w = &set.risk.weights;
        assert_eq!(
            (w.criticality, w.change_size, w.severity, w.timing),
            (0.4, 0.3, 0.2, 0.1)
        );
        assert_eq!(set.risk.strategy.manual_review_above, 0.7);
        assert_eq!(set.risk.strategy.canary_above, 0.4);
        assert_eq!(set.risk.strategy.min_confidence, 0.7);
        assert_eq!(set.risk.strategy.max_blast_radius, 0.2);
        assert_eq!(set.gates.blast_radius.pause_above, 0.2);
        assert_eq!(set.gates.recent_failures.pause_above, 2);
        let steps: Vec<u32> = set
            .escalation
            .waiting_for_person
            .iter()
            .map(|s| s.after_minutes)
            .collect();
        assert_eq!(steps, [15, 30, 60]);
        assert!(set
            .detection
            .rules
            .iter()
            .any(|r| r.name == "high-error-rate" && r.above == 0.02));
    }

    #[test]
    fn repository_policies_dir_loads_like_the_embedded_one() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        assert_eq!(PolicySet::load(&dir).unwrap(), PolicySet::embedded());
    }

    fn broken(file: &str, from: &str, to: &str) -> PolicyError {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        for name in POLICY_FILES {
            let text = std::fs::read_to_string(src.join(name)).unwrap();
            let text = if name == file {
                assert!(text.contains(from), "{name} has no {from:?}");
                text.replacen(from, to, 1)
            } else {
                text
            };
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        PolicySet::load(dir.path()).unwrap_err()
    }

    #[test]
    fn out_of_range_weight_names_file_and_field() {
        let e = broken("risk.yaml", "timing: 0.1", "timing: 1.5");
        assert!(e.file().ends_with("risk.yaml"));
        assert_eq!(e.field(), Some("weights.timing"));
        assert!(
            e.to_string()
                .ends_with("weights.timing: must be in [0, 1], got 1.5"),
            "{e}"
        );
    }

    #[test]
    fn weights_must_sum_to_one() {
        let e = broken("risk.yaml", "criticality: 0.4", "criticality: 0.5");
        assert_eq!(e.field(), Some("weights"));
        assert!(e.to_string().contains("sum to 1"), "{e}");
    }

    #[test]
    fn unknown_field_is_refused() {
        let e = broken("gates.yaml", "pause_above: 0.20", "pause_abov: 0.20");
        assert_eq!(e.field(), Some("blast_radius.pause_abov"));
        assert!(e.to_string().contains("pause_abov"), "{e}");
    }

    #[test]
    fn inverted_strategy_thresholds_are_refused() {
        let e = broken("risk.yaml", "canary_above: 0.4", "canary_above: 0.8");
        assert_eq!(e.field(), Some("strategy.canary_above"));
    }

    #[test]
    fn bad_hours_lock_order_and_severity_are_refused() {
        let e = broken("risk.yaml", "start: \"08:00\"", "start: \"25:00\"");
        assert_eq!(e.field(), Some("timing.peak_hours.start"));
        let e = broken("locks.yaml", "INCIDENT: 3", "INCIDENT: 5");
        assert_eq!(e.field(), Some("order.INCIDENT"));
        let e = broken("detection.yaml", "severity: high", "severity: urgent");
        assert_eq!(e.field(), Some("rules[0].severity"));
        let e = broken("escalation.yaml", "after_minutes: 30", "after_minutes: 10");
        assert_eq!(e.field(), Some("waiting_for_person[1].after_minutes"));
        let e = broken("protected-paths.yaml", "\".github/**\"", "\"a/[x\"");
        assert_eq!(e.field(), Some("paths[0]"));
    }

    #[test]
    fn missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = PolicySet::load(dir.path()).unwrap_err();
        assert!(matches!(e, PolicyError::Missing { .. }));
        assert!(e.file().ends_with("risk.yaml"), "{e}");
        let e = PolicySet::load(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(e, PolicyError::NotADirectory { .. }));
    }
}
