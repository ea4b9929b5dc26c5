//! `policies/protected-paths.yaml`: files healbot never edits, whatever a template or a revert
//! would do: CI, secrets, ownership rules, migrations. A fix that touches one is blocked.

use super::glob::Glob;
use super::yaml::FieldError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectedPathsPolicy {
    pub paths: Vec<Glob>,
}

impl ProtectedPathsPolicy {
    /// The first pattern that protects `path`, if any.
    pub(crate) fn protecting(&self, path: &str) -> Option<&Glob> {
        self.paths.iter().find(|g| g.matches(path))
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        for (i, glob) in self.paths.iter().enumerate() {
            if self.paths[..i].contains(glob) {
                return Err(FieldError::new(
                    format!("paths[{i}]"),
                    format!("duplicate pattern {:?}", glob.as_str()),
                ));
            }
        }
        Ok(())
    }
}
