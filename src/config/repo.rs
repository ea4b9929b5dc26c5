//! A service repository's `.github/healbot.yml`: which services live where, how a fix is
//! validated, who may approve it, and how the repository tightens the global policy (never
//! loosens it). Parsed as strictly as the policies, with the same error shape.

use super::glob::Glob;
use super::policy::PolicySet;
use super::yaml::{check_range, check_unit, parse_strict, FieldError};
use crate::model::Permission;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;

/// Where the file lives in a repository.
pub(crate) const REPO_CONFIG_PATH: &str = ".github/healbot.yml";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    pub services: Vec<RepoService>,
    pub validation: ValidationConfig,
    pub approvers: ApproversConfig,
    /// Tightenings of the global policy for this repository.
    #[serde(default)]
    pub policy: Option<RepoPolicy>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoService {
    /// The name in the dependency catalog and in alerts.
    pub name: String,
    pub language: Language,
    /// Source directories, relative to the repository root (`.` is the whole repository).
    pub paths: Vec<String>,
    /// Argo Rollout manifests healbot commits canary steps to.
    #[serde(default)]
    pub manifests: Vec<String>,
    /// Checked after the rollout reaches 100%: anything but a 2xx rolls the fix back.
    #[serde(default)]
    pub health_url: Option<String>,
    /// Who runs the canary steps after the merge (`healbot` or `argo`), or, for manifests kept
    /// in a separate GitOps repository, where they are:
    /// `{repo: acme/deploy, branch: main, path: apps/payment/rollout.yaml, mode: healbot}`.
    #[serde(default)]
    pub rollout: RolloutConfig,
    /// The services it calls, by their names in the catalog: merged into the dependency graph.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// The Kubernetes namespace the Rollout runs in, when its manifest does not say
    /// (`rollout: argo`: Argo's notifications must name it). Default: the manifest's
    /// `metadata.namespace`, else `default`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The image CI builds for a commit, as a template: `ghcr.io/acme/payment:{sha}` or
    /// `…:{short_sha}`. healbot writes it into the Rollout and waits until the registry has it
    /// before the first canary step. Without it: the manifest's repository, tagged with the
    /// merge commit's short sha, unchecked.
    #[serde(default)]
    pub image: Option<String>,
}

/// Who moves the canary: healbot, committing each weight and judging between steps, or Argo
/// Rollouts, running the steps of the Rollout's own strategy while healbot commits only the new
/// image and follows Argo's notifications (`/webhooks/argo`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RolloutMode {
    #[default]
    Healbot,
    Argo,
}

/// `rollout:` as written: a mode alone (the manifests are the service's `manifests`, in its own
/// repository), or the manifest's place in a GitOps repository with the mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum RolloutConfig {
    Mode(RolloutMode),
    Elsewhere(RolloutTarget),
}

impl Default for RolloutConfig {
    fn default() -> RolloutConfig {
        RolloutConfig::Mode(RolloutMode::Healbot)
    }
}

impl RolloutConfig {
    pub fn mode(&self) -> RolloutMode {
        match self {
            RolloutConfig::Mode(m) => *m,
            RolloutConfig::Elsewhere(t) => t.mode,
        }
    }

    /// The manifest in a separate repository, if it lives in one.
    pub fn target(&self) -> Option<&RolloutTarget> {
        match self {
            RolloutConfig::Mode(_) => None,
            RolloutConfig::Elsewhere(t) => Some(t),
        }
    }
}

/// A Rollout manifest kept in another repository (the one Argo CD watches).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutTarget {
    /// `owner/name`; the App must be installed on it.
    pub repo: String,
    /// The branch Argo CD deploys from; the repository's default branch when left out.
    #[serde(default)]
    pub branch: Option<String>,
    /// The Rollout manifest, relative to that repository's root.
    pub path: String,
    #[serde(default)]
    pub mode: RolloutMode,
}

impl<'de> Deserialize<'de> for RolloutConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RolloutConfig, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RolloutConfig;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`healbot`, `argo`, or {repo, branch, path, mode}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RolloutConfig, E> {
                match v {
                    "healbot" => Ok(RolloutConfig::Mode(RolloutMode::Healbot)),
                    "argo" => Ok(RolloutConfig::Mode(RolloutMode::Argo)),
                    other => Err(E::custom(format!(
                        "unknown rollout {other:?}: expected `healbot`, `argo`, or \
                         {{repo, branch, path, mode}}"
                    ))),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RolloutConfig, A::Error> {
                RolloutTarget::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RolloutConfig::Elsewhere)
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Python,
    Rust,
    Go,
    Java,
    Kotlin,
    Javascript,
    Typescript,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationConfig {
    /// Run in the patched worktree; a fix whose command fails is not proposed.
    pub command: String,
    pub timeout_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproversConfig {
    /// The least repository permission a reviewer needs for an approval or `/heal` to count.
    pub permission: Permission,
    /// If not empty, only these people count, whatever their permission: numeric GitHub user
    /// ids (which cannot be renamed or re-registered; prefer them) or logins.
    #[serde(default)]
    pub allow: Vec<Approver>,
    /// What a push to healbot's PR branch by anyone else does to the operation.
    #[serde(default)]
    pub on_push: OnPush,
}

/// One entry of `approvers.allow`: a GitHub user id (`583231`) or a login (`alice`). `serve`
/// pins a login to the user id that held it when the config was first read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Approver {
    Id(u64),
    Login(String),
}

impl std::fmt::Display for Approver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Approver::Id(id) => write!(f, "user id {id}"),
            Approver::Login(login) => f.write_str(login),
        }
    }
}

/// An approval holds only for the commit healbot validated. When someone else pushes to the
/// fix branch, the operation is cancelled (the default: the PR is a person's change now), or
/// the pushed head goes through the repository's check again and, if it passes, waits for an
/// approval by someone who did not push.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnPush {
    #[default]
    Cancel,
    Revalidate,
}

/// Knobs a repository may turn, each only in the safe direction.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoPolicy {
    /// May only be raised.
    #[serde(default)]
    pub min_confidence: Option<f64>,
    /// May only be lowered.
    #[serde(default)]
    pub max_blast_radius: Option<f64>,
    /// May only be lowered.
    #[serde(default)]
    pub manual_review_above: Option<f64>,
    /// May only be lowered.
    #[serde(default)]
    pub canary_above: Option<f64>,
    /// May only be raised.
    #[serde(default)]
    pub cooldown_minutes: Option<u32>,
    /// Approvals a MANUAL_REVIEW fix needs; may only be raised.
    #[serde(default)]
    pub manual_review_approvals: Option<u32>,
    /// `false` forbids DIRECT for this repository; `true` cannot allow what the global policy
    /// forbids.
    #[serde(default)]
    pub direct_allowed: Option<bool>,
    /// Added to the global protected paths.
    #[serde(default)]
    pub protected_paths: Vec<Glob>,
}

#[derive(Debug, thiserror::Error)]
pub enum RepoConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {error}")]
    Invalid { file: String, error: FieldError },
}

/// Longest time a validation command may be given; longer ones hold the lock too long.
pub(crate) const MAX_VALIDATION_SECONDS: u64 = 3600;

impl RepoConfig {
    pub fn load(path: &Path) -> Result<RepoConfig, RepoConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| RepoConfigError::Read {
            file: file.clone(),
            source,
        })?;
        RepoConfig::parse(&text, &file)
    }

    /// `file` names the source in errors.
    pub fn parse(text: &str, file: &str) -> Result<RepoConfig, RepoConfigError> {
        let invalid = |error| RepoConfigError::Invalid {
            file: file.to_string(),
            error,
        };
        let config: RepoConfig = parse_strict(text).map_err(invalid)?;
        config.validate().map_err(invalid)?;
        Ok(config)
    }

    pub fn service(&self, name: &str) -> Option<&RepoService> {
        self.services.iter().find(|s| s.name == name)
    }

    #[cfg(test)]
    /// The service whose source path contains `path` most specifically.
    pub fn service_for_path(&self, path: &str) -> Option<&RepoService> {
        let path = path.trim_start_matches("./");
        self.services
            .iter()
            .flat_map(|s| s.paths.iter().map(move |p| (s, p.trim_end_matches('/'))))
            .filter(|(_, dir)| *dir == "." || path == *dir || path.starts_with(&format!("{dir}/")))
            .max_by_key(|(_, dir)| if *dir == "." { 0 } else { dir.len() + 1 })
            .map(|(s, _)| s)
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        if self.services.is_empty() {
            return Err(FieldError::new(
                "services",
                "must list at least one service",
            ));
        }
        let mut names = HashSet::new();
        for (i, s) in self.services.iter().enumerate() {
            if s.name.trim().is_empty() {
                return Err(FieldError::new(
                    format!("services[{i}].name"),
                    "must not be empty",
                ));
            }
            if !names.insert(s.name.as_str()) {
                return Err(FieldError::new(
                    format!("services[{i}].name"),
                    format!("duplicate service {:?}", s.name),
                ));
            }
            if s.paths.is_empty() {
                return Err(FieldError::new(
                    format!("services[{i}].paths"),
                    "must list at least one path (\".\" for the whole repository)",
                ));
            }
            for (j, p) in s.paths.iter().enumerate() {
                check_relative(&format!("services[{i}].paths[{j}]"), p)?;
            }
            for (j, p) in s.manifests.iter().enumerate() {
                check_relative(&format!("services[{i}].manifests[{j}]"), p)?;
            }
            if let Some(t) = s.rollout.target() {
                let mut parts = t.repo.split('/');
                let owner_name = matches!(
                    (parts.next(), parts.next(), parts.next()),
                    (Some(o), Some(n), None) if !o.is_empty() && !n.is_empty()
                );
                if !owner_name {
                    return Err(FieldError::new(
                        format!("services[{i}].rollout.repo"),
                        format!("not of the form owner/name: {:?}", t.repo),
                    ));
                }
                if t.branch.as_deref().is_some_and(|b| b.trim().is_empty()) {
                    return Err(FieldError::new(
                        format!("services[{i}].rollout.branch"),
                        "must not be empty (leave it out for the default branch)",
                    ));
                }
                check_relative(&format!("services[{i}].rollout.path"), &t.path)?;
            }
            if let Some(image) = &s.image {
                if !(image.contains("{sha}") || image.contains("{short_sha}")) {
                    return Err(FieldError::new(
                        format!("services[{i}].image"),
                        format!(
                            "{image:?} names no commit: put {{sha}} or {{short_sha}} in the tag"
                        ),
                    ));
                }
            }
            if let Some(url) = &s.health_url {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(FieldError::new(
                        format!("services[{i}].health_url"),
                        format!("not an http(s) URL: {url:?}"),
                    ));
                }
            }
        }
        if self.validation.command.trim().is_empty() {
            return Err(FieldError::new("validation.command", "must not be empty"));
        }
        check_range(
            "validation.timeout_seconds",
            self.validation.timeout_seconds as f64,
            1.0,
            MAX_VALIDATION_SECONDS as f64,
        )?;
        if self.approvers.permission < Permission::Write {
            return Err(FieldError::new(
                "approvers.permission",
                format!(
                    "must be write, maintain or admin (got {:?}): an approval merges into \
                     production, and anyone who can read the repository would have it",
                    self.approvers.permission
                ),
            ));
        }
        for (i, entry) in self.approvers.allow.iter().enumerate() {
            let Approver::Login(login) = entry else {
                continue;
            };
            if !is_github_login(login) {
                return Err(FieldError::new(
                    format!("approvers.allow[{i}]"),
                    format!("not a GitHub login: {login:?}"),
                ));
            }
        }
        if let Some(policy) = &self.policy {
            for (field, value) in [
                ("policy.min_confidence", policy.min_confidence),
                ("policy.max_blast_radius", policy.max_blast_radius),
                ("policy.manual_review_above", policy.manual_review_above),
                ("policy.canary_above", policy.canary_above),
            ] {
                if let Some(v) = value {
                    check_unit(field, v)?;
                }
            }
        }
        Ok(())
    }
}

impl RepoPolicy {
    /// `base` with this repository's tightenings; loosening any knob is an error naming it.
    pub(crate) fn apply_to(&self, base: &PolicySet) -> Result<PolicySet, FieldError> {
        let mut set = base.clone();
        let s = &mut set.risk.strategy;
        if let Some(v) = self.min_confidence {
            s.min_confidence = tighten("policy.min_confidence", s.min_confidence, v, Dir::Up)?;
        }
        if let Some(v) = self.max_blast_radius {
            s.max_blast_radius =
                tighten("policy.max_blast_radius", s.max_blast_radius, v, Dir::Down)?;
        }
        if let Some(v) = self.manual_review_above {
            s.manual_review_above = tighten(
                "policy.manual_review_above",
                s.manual_review_above,
                v,
                Dir::Down,
            )?;
        }
        if let Some(v) = self.canary_above {
            s.canary_above = tighten("policy.canary_above", s.canary_above, v, Dir::Down)?;
        }
        if s.canary_above >= s.manual_review_above {
            return Err(FieldError::new(
                "policy.canary_above",
                format!(
                    "must stay below manual_review_above ({}), got {}",
                    s.manual_review_above, s.canary_above
                ),
            ));
        }
        if let Some(v) = self.manual_review_approvals {
            s.manual_review_approvals = tighten(
                "policy.manual_review_approvals",
                f64::from(s.manual_review_approvals),
                f64::from(v),
                Dir::Up,
            )? as u32;
        }
        if let Some(allowed) = self.direct_allowed {
            if allowed && !s.direct_allowed {
                return Err(FieldError::new(
                    "policy.direct_allowed",
                    "the global policy forbids DIRECT; a repository may not allow it",
                ));
            }
            s.direct_allowed = allowed;
        }
        if let Some(v) = self.cooldown_minutes {
            let c = &mut set.gates.cooldown.min_minutes_since_deploy;
            *c = tighten(
                "policy.cooldown_minutes",
                f64::from(*c),
                f64::from(v),
                Dir::Up,
            )? as u32;
        }
        for glob in &self.protected_paths {
            if !set.protected_paths.paths.contains(glob) {
                set.protected_paths.paths.push(glob.clone());
            }
        }
        Ok(set)
    }
}

enum Dir {
    Up,
    Down,
}

fn tighten(field: &str, current: f64, wanted: f64, dir: Dir) -> Result<f64, FieldError> {
    let ok = match dir {
        Dir::Up => wanted >= current,
        Dir::Down => wanted <= current,
    };
    if ok {
        Ok(wanted)
    } else {
        let way = match dir {
            Dir::Up => "raised",
            Dir::Down => "lowered",
        };
        Err(FieldError::new(
            field,
            format!("may only be {way} from the global policy ({current}), got {wanted}"),
        ))
    }
}

fn check_relative(field: &str, path: &str) -> Result<(), FieldError> {
    let bad = path.trim().is_empty()
        || path.starts_with('/')
        || path.contains('\\')
        || path.split('/').any(|seg| seg == "..");
    if bad {
        Err(FieldError::new(
            field,
            format!("must be a path inside the repository (relative, no `..`), got {path:?}"),
        ))
    } else {
        Ok(())
    }
}

fn is_github_login(login: &str) -> bool {
    (1..=39).contains(&login.len())
        && !login.starts_with('-')
        && login.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/services/payment-service/.github/healbot.yml");
        std::fs::read_to_string(path).unwrap()
    }

    fn error(text: &str) -> String {
        RepoConfig::parse(text, ".github/healbot.yml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn payment_service_config_parses() {
        let c = RepoConfig::parse(&sample(), "healbot.yml").unwrap();
        let s = c.service("payment-service").unwrap();
        assert_eq!(s.language, Language::Python);
        assert_eq!(s.manifests, ["deploy/rollout.yaml"]);
        assert_eq!(c.validation.timeout_seconds, 60);
        assert_eq!(c.approvers.permission, Permission::Write);
        assert_eq!(
            c.service_for_path("payment_processor.py")
                .map(|s| s.name.as_str()),
            Some("payment-service")
        );
    }

    #[test]
    fn an_approver_permission_below_write_is_refused() {
        for weak in ["read", "triage"] {
            let e = error(&sample().replace("permission: write", &format!("permission: {weak}")));
            assert!(
                e.contains("approvers.permission: must be write, maintain or admin"),
                "{e}"
            );
        }
        let ok = sample().replace("permission: write", "permission: maintain");
        assert!(RepoConfig::parse(&ok, "x").is_ok());
    }

    #[test]
    fn a_push_cancels_unless_the_repository_asks_for_revalidation() {
        let c = RepoConfig::parse(&sample(), "x").unwrap();
        assert_eq!(c.approvers.on_push, OnPush::Cancel);
        let text = sample().replace("allow: []", "allow: []\n  on_push: revalidate");
        let c = RepoConfig::parse(&text, "x").unwrap();
        assert_eq!(c.approvers.on_push, OnPush::Revalidate);
    }

    #[test]
    fn approvers_may_be_user_ids_or_logins() {
        let text = sample().replace("allow: []", "allow: [583231, alice]");
        let c = RepoConfig::parse(&text, "x").unwrap();
        assert_eq!(
            c.approvers.allow,
            [Approver::Id(583231), Approver::Login("alice".into())]
        );
    }

    #[test]
    fn errors_name_file_and_field() {
        let e = error(&sample().replace("language: python", "language: cobol"));
        assert!(
            e.starts_with(".github/healbot.yml: services[0].language: unknown variant `cobol`"),
            "{e}"
        );
        let e = error(&sample().replace("timeout_seconds: 60", "timeout_seconds: 0"));
        assert!(
            e.contains("validation.timeout_seconds: must be in [1, 3600], got 0"),
            "{e}"
        );
        let e = error(&sample().replace(
            "manifests: [\"deploy/rollout.yaml\"]",
            "manifests: [\"../x\"]",
        ));
        assert!(e.contains("services[0].manifests[0]"), "{e}");
        let e = error(&sample().replace("permission: write", "permission: write\n  alow: []"));
        assert!(e.contains("approvers.alow: unknown field `alow`"), "{e}");
        let e = error(&sample().replace("allow: []", "allow: [\"not a login\"]"));
        assert!(e.contains("approvers.allow[0]"), "{e}");
    }

    #[test]
    fn rollout_is_a_mode_or_a_manifest_in_another_repository() {
        let with = |rollout: &str| {
            sample().replace(
                "manifests: [\"deploy/rollout.yaml\"]",
                &format!("manifests: [\"deploy/rollout.yaml\"]\n    rollout: {rollout}"),
            )
        };
        let c = RepoConfig::parse(&with("argo"), "x").unwrap();
        let s = c.service("payment-service").unwrap();
        assert_eq!(
            (s.rollout.mode(), s.rollout.target()),
            (RolloutMode::Argo, None)
        );
        let c = RepoConfig::parse(
            &with("{repo: acme/deploy, branch: main, path: apps/payment/rollout.yaml}"),
            "x",
        )
        .unwrap();
        let s = c.service("payment-service").unwrap();
        assert_eq!(s.rollout.mode(), RolloutMode::Healbot);
        let t = s.rollout.target().unwrap();
        assert_eq!(
            (t.repo.as_str(), t.branch.as_deref(), t.path.as_str()),
            ("acme/deploy", Some("main"), "apps/payment/rollout.yaml")
        );
        for (bad, field) in [
            ("argoo", "services[0].rollout: unknown rollout \"argoo\""),
            (
                "{repo: deploy, path: a.yaml}",
                "services[0].rollout.repo: not of the form",
            ),
            (
                "{repo: acme/deploy, path: ../a.yaml}",
                "services[0].rollout.path",
            ),
            (
                "{repo: acme/deploy, path: a.yaml, brnch: x}",
                "unknown field `brnch`",
            ),
        ] {
            let e = error(&with(bad));
            assert!(e.contains(field), "{bad}: {e}");
        }
    }

    #[test]
    fn longest_service_path_wins() {
        let text = r#"
services:
  - {name: api, language: go, paths: ["."]}
  - {name: worker, language: go, paths: ["cmd/worker/"]}
validation: {command: go test ./..., timeout_seconds: 60}
approvers: {permission: write}
"#;
        let c = RepoConfig::parse(text, "x").unwrap();
        assert_eq!(
            c.service_for_path("cmd/worker/main.go").unwrap().name,
            "worker"
        );
        assert_eq!(c.service_for_path("cmd/workers.go").unwrap().name, "api");
    }

    #[test]
    fn repo_policy_tightens_and_refuses_to_loosen() {
        let base = PolicySet::embedded();
        let tight = RepoPolicy {
            min_confidence: Some(0.9),
            max_blast_radius: Some(0.1),
            cooldown_minutes: Some(60),
            protected_paths: vec![Glob::new("billing/**").unwrap()],
            ..RepoPolicy::default()
        };
        let set = tight.apply_to(&base).unwrap();
        assert_eq!(set.risk.strategy.min_confidence, 0.9);
        assert_eq!(set.gates.cooldown.min_minutes_since_deploy, 60);
        assert!(set.protected_paths.protecting("billing/rates.py").is_some());

        let loose = RepoPolicy {
            min_confidence: Some(0.5),
            ..RepoPolicy::default()
        };
        let e = loose.apply_to(&base).unwrap_err();
        assert_eq!(e.field, "policy.min_confidence");
        let loose = RepoPolicy {
            manual_review_above: Some(0.9),
            ..RepoPolicy::default()
        };
        assert_eq!(
            loose.apply_to(&base).unwrap_err().field,
            "policy.manual_review_above"
        );
    }

    #[test]
    fn repo_policy_may_raise_approvals_and_forbid_direct_but_not_the_reverse() {
        let base = PolicySet::embedded();
        let tight = RepoPolicy {
            manual_review_approvals: Some(3),
            direct_allowed: Some(false),
            ..RepoPolicy::default()
        };
        let set = tight.apply_to(&base).unwrap();
        assert_eq!(set.risk.strategy.manual_review_approvals, 3);
        assert!(!set.risk.strategy.direct_allowed);

        let fewer = RepoPolicy {
            manual_review_approvals: Some(1),
            ..RepoPolicy::default()
        };
        assert_eq!(
            fewer.apply_to(&base).unwrap_err().field,
            "policy.manual_review_approvals"
        );
        let allow = RepoPolicy {
            direct_allowed: Some(true),
            ..RepoPolicy::default()
        };
        let forbidding = allow.apply_to(&set).unwrap_err();
        assert_eq!(forbidding.field, "policy.direct_allowed");
    }
}
