//! Each repository's `.github/healbot.yml`, read from its default branch once and kept until
//! it is forgotten (a push to that branch). The pipeline reads it at several stages and the
//! GitHub App on every command; one cache serves both. Each config read from GitHub also
//! declares its services' `depends_on:` into the dependency graph `serve` works on, so an edit
//! pushed to the default branch reaches the graph without a restart.

use crate::config::repo::{RepoConfig, REPO_CONFIG_PATH};
use crate::forge::{Forge, ForgeError, RepoRef};
use crate::topology::discover::declared_by;
use crate::topology::SharedGraph;
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
    /// Where the repositories' `depends_on:` go; `None`: nowhere (the demo, CLI commands).
    graph: Option<SharedGraph>,
}

impl RepoConfigCache {
    /// A cache that declares every config's `depends_on:` into `graph` when it reads one.
    pub(crate) fn declaring_into(graph: SharedGraph) -> RepoConfigCache {
        RepoConfigCache {
            configs: Default::default(),
            graph: Some(graph),
        }
    }

    fn declare(&self, repo: &RepoRef, config: Option<&RepoConfig>) {
        if let Some(graph) = &self.graph {
            let declared = config.map(declared_by).unwrap_or_default();
            tracing::info!(repo = %repo.0, services = declared.len(),
                edges = declared.edge_count(), "dependencies declared in {REPO_CONFIG_PATH}");
            graph.declare(&repo.0, declared);
        }
    }

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
            self.declare(repo, None);
            return Ok(None);
        };
        // A broken file keeps the last declarations: they are the user's latest valid word.
        let config = RepoConfig::parse(&text, &format!("{}:{REPO_CONFIG_PATH}", repo.0))
            .map_err(|e| ConfigLookupError::Invalid(e.to_string()))?;
        self.declare(repo, Some(&config));
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
