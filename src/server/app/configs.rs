//! The app's view of each repository's `.github/healbot.yml`: looked up in the orchestrator's
//! cache (forgotten on a push to the default branch), the repository that declares an alerted
//! service, and the `healbot/config` check run that validates the file on a PR that edits it,
//! so a broken config is caught before it merges.

use crate::config::repo::{RepoConfig, REPO_CONFIG_PATH};
use crate::config::PolicySet;
use crate::forge::github::{CheckConclusion, CheckRunSpec, GithubForge};
use crate::forge::{CommitSha, Forge, ForgeError, RepoRef};
use crate::orchestrator::repo_configs::ConfigLookupError;
use crate::orchestrator::Orchestrator;
use std::sync::Arc;

/// The name of the check run on PRs that edit `.github/healbot.yml`.
pub const CONFIG_CHECK: &str = "healbot/config";

pub(crate) struct RepoConfigs {
    forge: Arc<GithubForge>,
    /// The orchestrator's cache: the pipeline and the app read each file once between them.
    orchestrator: Arc<Orchestrator>,
}

impl RepoConfigs {
    pub(crate) fn new(forge: Arc<GithubForge>, orchestrator: Arc<Orchestrator>) -> RepoConfigs {
        RepoConfigs {
            forge,
            orchestrator,
        }
    }

    /// The config on the default branch; `None` when the repository has none (healbot then
    /// leaves it alone).
    pub(crate) async fn get(
        &self,
        repo: &RepoRef,
    ) -> Result<Option<Arc<RepoConfig>>, ConfigLookupError> {
        self.orchestrator
            .repo_configs
            .get(self.orchestrator.forge.as_ref(), repo)
            .await
    }

    /// Drops the cached config of `repo`: its default branch moved.
    pub(crate) fn forget(&self, repo: &RepoRef) {
        self.orchestrator.repo_configs.forget(repo);
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
        config
            .approvers
            .allow
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push_str(&format!(
        "\nValidation: `{}` (timeout {} s). Approvers: {approvers}.\n",
        config.validation.command, config.validation.timeout_seconds
    ));
    out
}
