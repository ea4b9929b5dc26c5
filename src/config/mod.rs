//! Configuration: the policies under `policies/` and each repository's `.github/healbot.yml`.
//! Every file is parsed strictly (unknown fields are errors) and checked for ranges, and every
//! error names the file and the field, because a wrong safety threshold must never pass quietly.

pub mod bot;
pub mod conflicts;
pub mod cron_window;
pub mod detection;
pub mod escalation;
pub mod freeze;
pub mod gates;
pub mod glob;
pub mod locks;
pub mod notify;
pub mod otlp;
pub mod policy;
pub mod protected_paths;
pub mod rca;
pub mod repo;
pub mod risk;
pub mod secrets;
pub mod sources;
pub mod topology;
pub mod validation;
pub mod window;
pub mod yaml;

pub use conflicts::{ConflictAction, ConflictsPolicy};
pub use detection::{DetectedMetric, DetectionPolicy, DetectionRule};
pub use escalation::{Channel, EscalationPolicy};
pub use freeze::{FreezeAction, FreezePolicy};
pub use gates::GatesPolicy;
pub use glob::Glob;
pub use locks::LocksPolicy;
pub use policy::{PolicyError, PolicySet, POLICY_FILES};
pub use protected_paths::ProtectedPathsPolicy;
pub use repo::{RepoConfig, RepoConfigError, RepoPolicy};
pub use risk::RiskPolicy;
pub use yaml::FieldError;
