//! A person's permission on a repository. The forge reports it (GitHub's collaborator API) and a
//! repository's `.github/healbot.yml` names the least one an approver needs; one type, so the
//! two compare directly.

use serde::{Deserialize, Serialize};
use std::fmt;

/// In increasing order. `None` is what the forge says of a stranger; a configuration cannot
/// ask for it (it is not deserialized).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    #[serde(skip_deserializing)]
    None,
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

impl Permission {
    /// GitHub's names, old (`pull`, `push`) and new.
    pub fn parse(name: &str) -> Option<Permission> {
        Some(match name {
            "none" => Permission::None,
            "read" | "pull" => Permission::Read,
            "triage" => Permission::Triage,
            "write" | "push" => Permission::Write,
            "maintain" => Permission::Maintain,
            "admin" => Permission::Admin,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Permission::None => "none",
            Permission::Read => "read",
            Permission::Triage => "triage",
            Permission::Write => "write",
            Permission::Maintain => "maintain",
            Permission::Admin => "admin",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_cannot_ask_for_none_but_the_forge_can_report_it() {
        let p: Permission = serde_norway::from_str("maintain").unwrap();
        assert_eq!(p, Permission::Maintain);
        assert!(serde_norway::from_str::<Permission>("none").is_err());
        assert_eq!(Permission::parse("none"), Some(Permission::None));
        assert_eq!(Permission::parse("push"), Some(Permission::Write));
        assert!(Permission::None < Permission::Read && Permission::Maintain < Permission::Admin);
    }
}
