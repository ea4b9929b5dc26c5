//! The app's view of each repository's `.github/healbot.yml`: looked up in the orchestrator's
//! cache (forgotten on a push to the default branch), the repository that declares an alerted
//! service, and the `healbot/config` check run that validates the file on a PR that edits it,
//! so a broken config is caught before it merges. Logins in `approvers.allow` are pinned to
//! their user ids as soon as a config naming them is read.

use super::approver_pins::{ApproverPins, PinError};
use crate::config::repo::{Approver, RepoConfig, REPO_CONFIG_PATH};
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
    pins: ApproverPins,
}

impl RepoConfigs {
    pub(crate) fn new(
        forge: Arc<GithubForge>,
        orchestrator: Arc<Orchestrator>,
        pins: ApproverPins,
    ) -> RepoConfigs {
        RepoConfigs {
            forge,
            orchestrator,
            pins,
        }
    }

    /// The config on the default branch; `None` when the repository has none (healbot then
    /// leaves it alone).
    pub(crate) async fn get(
        &self,
        repo: &RepoRef,
    ) -> Result<Option<Arc<RepoConfig>>, ConfigLookupError> {
        let config = self
            .orchestrator
            .repo_configs
            .get(self.orchestrator.forge.as_ref(), repo)
            .await?;
        if let Some(config) = &config {
            self.pin_logins(repo, config).await;
        }
        Ok(config)
    }

    /// The user id an `approvers.allow` login of `repo` stands for (see `approver_pins`).
    pub(crate) async fn approver_id(
        &self,
        repo: &RepoRef,
        login: &str,
    ) -> Result<Option<u64>, PinError> {
        self.pins.user_id(&self.forge, repo, login).await
    }

    /// Pins every login `config` allows, so the id is the one that held the login when the
    /// config was read, not when someone first uses it. A failure here is retried at use.
    async fn pin_logins(&self, repo: &RepoRef, config: &RepoConfig) -> Vec<(String, Option<u64>)> {
        let mut pinned = Vec::new();
        for entry in &config.approvers.allow {
            let Approver::Login(login) = entry else {
                continue;
            };
            match self.approver_id(repo, login).await {
                Ok(id) => pinned.push((login.clone(), id)),
                Err(e) => {
                    tracing::warn!(repo = %repo.0, login = %login, error = %e,
                        "an approver's login could not be pinned to a user id yet")
                }
            }
        }
        pinned
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
                Ok(config) => {
                    let pinned = self.pin_logins(repo, &config).await;
                    (
                        CheckConclusion::Success,
                        format!("{REPO_CONFIG_PATH} is valid"),
                        describe(&config, &pinned),
                    )
                }
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

/// What a valid config means, in a few lines; `pinned` holds the user id each login stands for.
fn describe(config: &RepoConfig, pinned: &[(String, Option<u64>)]) -> String {
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
            .map(|entry| match entry {
                Approver::Login(login) => match pinned.iter().find(|(l, _)| l == login) {
                    Some((_, Some(id))) => format!("{login} (user id {id})"),
                    Some((_, None)) => format!("{login} (no such GitHub user)"),
                    None => login.clone(),
                },
                Approver::Id(_) => entry.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push_str(&format!(
        "\nValidation: `{}` (timeout {} s). Approvers: {approvers}.\n",
        config.validation.command, config.validation.timeout_seconds
    ));
    out
}
