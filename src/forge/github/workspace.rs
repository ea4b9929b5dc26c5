//! Checkouts of GitHub repositories for `healbot serve`. The orchestrator analyses and validates
//! a fix in a directory of files, and looks for the commit that caused an incident in a
//! checkout with history ([`Workspaces`]). Both come from the repository's git clone
//! ([`super::clone`]), fetched before each use: a tree exported for validation, a checkout
//! sharing the clone's objects for blame and revert.

use super::client::Method;
use super::clone::{checkout_with_history, Remote};
use super::wire::RepoReply;
use super::{repo_path, to_forge, GithubForge};
use crate::forge::Workspaces;
use crate::forge::{CommitSha, ForgeError, RepoRef};
use async_trait::async_trait;
use std::path::Path;

#[async_trait]
impl Workspaces for GithubForge {
    async fn export(
        &self,
        repo: &RepoRef,
        rev: &str,
        dest: &Path,
    ) -> Result<CommitSha, ForgeError> {
        let (remote, default_branch) = self.remote_of(repo).await?;
        let dest = dest.to_path_buf();
        let name = repo.clone();
        self.clones
            .with_fetched(repo, remote, rev, &default_branch, move |git, oid| {
                clear_dir(&dest)?;
                crate::gitops::workspace::export_tree(git.path(), &oid.to_string(), &dest)
                    .map_err(|e| ForgeError::Git(format!("exporting {}: {e}", name.0)))?;
                Ok(CommitSha(oid.to_string()))
            })
            .await
    }

    async fn history(&self, repo: &RepoRef, rev: &str, dest: &Path) -> Result<bool, ForgeError> {
        let (remote, default_branch) = self.remote_of(repo).await?;
        let dest = dest.to_path_buf();
        let name = repo.clone();
        self.clones
            .with_fetched(repo, remote, rev, &default_branch, move |git, oid| {
                checkout_with_history(git, &name, oid, &dest).map(|_| true)
            })
            .await
    }
}

impl GithubForge {
    /// Where `repo` is fetched from, with a token of its installation, and its default branch.
    async fn remote_of(&self, repo: &RepoRef) -> Result<(Remote, String), ForgeError> {
        let info: RepoReply = self
            .client
            .repo_call(repo, Method::Get, &repo_path(repo)?, None)
            .await
            .map_err(to_forge)?;
        let installation = self.client.installation_for(repo).await.map_err(to_forge)?;
        let token = self
            .client
            .installation_token(installation)
            .await
            .map_err(to_forge)?;
        let url = match info.clone_url {
            Some(url) => url,
            None => format!("{}/{}.git", self.web_root(), repo.0),
        };
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ForgeError::Api(format!(
                "GitHub gave {} the clone URL {url:?}: not an HTTP(S) URL",
                repo.0
            )));
        }
        Ok((Remote { url, token }, info.default_branch))
    }
}

/// Removes whatever is at `dest` and creates it empty, so that a re-export has no stale files.
fn clear_dir(dest: &Path) -> Result<(), ForgeError> {
    let io = |e: std::io::Error| ForgeError::State {
        path: dest.display().to_string(),
        reason: e.to_string(),
    };
    match std::fs::symlink_metadata(dest) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(dest).map_err(io)?,
        Ok(_) => std::fs::remove_file(dest).map_err(io)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    std::fs::create_dir_all(dest).map_err(io)
}
