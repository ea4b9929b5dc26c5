//! Each repository's `.github/healbot.yml`, read from its default branch once and kept until
//! it is forgotten (a push to that branch). The pipeline reads it at several stages and the
//! GitHub App on every command; one cache serves both.

use crate::config::repo::{RepoConfig, REPO_CONFIG_PATH};
use crate::forge::{Forge, ForgeError, RepoRef};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Why a repository's config cannot be used; shown to people as it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigLookupError {
    #[error(transparent)]
    Forge(#[from] ForgeError),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Default)]
pub struct RepoConfigCache {
    configs: Mutex<HashMap<RepoRef, Arc<RepoConfig>>>,
}

impl RepoConfigCache {
    fn cached(&self, repo: &RepoRef) -> Option<Arc<RepoConfig>> {
        let configs = self.configs.lock().unwrap_or_else(|p| p.into_inner());
        configs.get(repo).cloned()
    }

    /// The config on the default branch; `None` when the repository has none. A broken file
    /// is not cached, so its fix is picked up at once.
    pub async fn get(
        &self,
        forge: &dyn Forge,
        repo: &RepoRef,
    ) -> Result<Option<Arc<RepoConfig>>, ConfigLookupError> {
        if let Some(config) = self.cached(repo) {
            return Ok(Some(config));
        }
        let branch = forge.default_branch(repo).await?;
        let Some(text) = forge.read_file(repo, &branch, REPO_CONFIG_PATH).await? else {
            return Ok(None);
        };
        let config = RepoConfig::parse(&text, &format!("{}:{REPO_CONFIG_PATH}", repo.0))
            .map_err(|e| ConfigLookupError::Invalid(e.to_string()))?;
        let config = Arc::new(config);
        let mut configs = self.configs.lock().unwrap_or_else(|p| p.into_inner());
        configs.insert(repo.clone(), config.clone());
        Ok(Some(config))
    }

    /// Drops the cached config of `repo`: its default branch moved.
    pub fn forget(&self, repo: &RepoRef) {
        let mut configs = self.configs.lock().unwrap_or_else(|p| p.into_inner());
        configs.remove(repo);
    }
}
