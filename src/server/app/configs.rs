//! Each repository's `.github/healbot.yml`, read from its default branch once and kept until a
//! push to that branch changes it, and the `healbot/config` check run that validates the file
//! on a PR that edits it, so a broken config is caught before it merges.

use crate::config::repo::{RepoConfig, REPO_CONFIG_PATH};
use crate::config::PolicySet;
use crate::forge::github::{CheckConclusion, CheckRunSpec, GithubForge};
use crate::forge::{CommitSha, Forge, ForgeError, RepoRef};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The name of the check run on PRs that edit `.github/healbot.yml`.
pub const CONFIG_CHECK: &str = "healbot/config";

/// Why a repository's config cannot be used; shown to people as it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigLookupError {
    #[error(transparent)]
    Forge(#[from] ForgeError),
    #[error("{0}")]
    Invalid(String),
}

pub(crate) struct RepoConfigs {
    forge: Arc<GithubForge>,
    cache: Mutex<HashMap<RepoRef, Arc<RepoConfig>>>,
}

impl RepoConfigs {
    pub(crate) fn new(forge: Arc<GithubForge>) -> RepoConfigs {
        RepoConfigs {
            forge,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, repo: &RepoRef) -> Option<Arc<RepoConfig>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(repo).cloned()
    }

    /// The config on the default branch; `None` when the repository has none (healbot then
    /// leaves it alone). A broken file is not cached, so its fix is picked up at once.
    pub(crate) async fn get(
        &self,
        repo: &RepoRef,
    ) -> Result<Option<Arc<RepoConfig>>, ConfigLookupError> {
        if let Some(config) = self.cached(repo) {
            return Ok(Some(config));
        }
        let branch = self.forge.default_branch(repo).await?;
        let Some(text) = self
            .forge
            .read_file(repo, &branch, REPO_CONFIG_PATH)
            .await?
        else {
            return Ok(None);
        };
        let config = RepoConfig::parse(&text, &format!("{}:{REPO_CONFIG_PATH}", repo.0))
            .map_err(|e| ConfigLookupError::Invalid(e.to_string()))?;
        let config = Arc::new(config);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.insert(repo.clone(), config.clone());
        Ok(Some(config))
    }

    /// Drops the cached config of `repo`: its default branch moved.
    pub(crate) fn forget(&self, repo: &RepoRef) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.remove(repo);
    }

    /// The repository among `repos` whose config declares `service`.
    pub(crate) async fn repo_for_service(
        &self,
        repos: &[RepoRef],
        service: &str,
    ) -> Option<RepoRef> {
        for repo in repos {
            match self.get(repo).await {
                Ok(Some(config)) if config.service(service).is_some() => return Some(repo.clone()),
                Ok(_) => {}
                Err(e) => tracing::warn!(repo = %repo.0, error = %e, "repository config unusable"),
            }
        }
        None
    }

    /// On a PR whose head changes `.github/healbot.yml` against its base, a check run says
    /// whether the new file is valid and names the bad field if not. Returns whether it ran.
    pub(crate) async fn check_pr(
        &self,
        repo: &RepoRef,
        base: &str,
        head: &CommitSha,
        policies: &PolicySet,
    ) -> Result<bool, ForgeError> {
        let new = self
            .forge
            .read_file(repo, &head.0, REPO_CONFIG_PATH)
            .await?;
        let old = self.forge.read_file(repo, base, REPO_CONFIG_PATH).await?;
        if new == old {
            return Ok(false);
        }
        let (conclusion, title, summary) = match new {
            None => (
                CheckConclusion::Neutral,
                format!("{REPO_CONFIG_PATH} removed"),
                "Once this merges, healbot stops acting on this repository.".to_string(),
            ),
            Some(text) => match RepoConfig::parse(&text, REPO_CONFIG_PATH).and_then(|c| {
                // A repository may tighten the global policies, never loosen them.
                match &c.policy {
                    Some(p) => p.apply_to(policies).map(|_| c).map_err(|error| {
                        crate::config::RepoConfigError::Invalid {
                            file: REPO_CONFIG_PATH.to_string(),
                            error,
                        }
                    }),
                    None => Ok(c),
                }
            }) {
                Ok(config) => (
                    CheckConclusion::Success,
                    format!("{REPO_CONFIG_PATH} is valid"),
                    describe(&config),
                ),
                Err(e) => (
                    CheckConclusion::Failure,
                    format!("{REPO_CONFIG_PATH} is not valid"),
                    format!("```\n{e}\n```\n\nhealbot keeps using the config on the default branch until this is fixed."),
                ),
            },
        };
        let spec = CheckRunSpec {
            name: CONFIG_CHECK.into(),
            head_sha: head.clone(),
            title,
            summary,
            conclusion: Some(conclusion),
            actions: Vec::new(),
        };
        self.forge.create_check_run(repo, &spec).await?;
        Ok(true)
    }
}

/// What a valid config means, in a few lines.
fn describe(config: &RepoConfig) -> String {
    let mut out = String::from("| Service | Language | Paths | Manifests |\n|---|---|---|---|\n");
    for s in &config.services {
        out.push_str(&format!(
            "| {} | {:?} | {} | {} |\n",
            s.name,
            s.language,
            s.paths.join(", "),
            s.manifests.join(", ")
        ));
    }
    let approvers = if config.approvers.allow.is_empty() {
        format!(
            "anyone with {:?} permission or more",
            config.approvers.permission
        )
    } else {
        config.approvers.allow.join(", ")
    };
    out.push_str(&format!(
        "\nValidation: `{}` (timeout {} s). Approvers: {approvers}.\n",
        config.validation.command, config.validation.timeout_seconds
    ));
    out
}
