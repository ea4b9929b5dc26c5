//! Checkouts of GitHub repositories for `healbot serve`. The orchestrator analyses and validates
//! a fix in a directory of files ([`Workspaces`]); in GitHub App mode there is no local clone,
//! so the tree of a commit is exported through the contents API, with the app's installation
//! token and the client's rate-limit handling, instead of shelling out to `git clone` with
//! credentials.

use super::client::Method;
use super::wire::{CommitReply, ContentReply};
use super::{enc_path, enc_query, repo_path, to_forge, GithubForge};
use crate::forge::Workspaces;
use crate::forge::{CommitSha, ForgeError, RepoRef};
use async_trait::async_trait;
use base64::Engine;
use serde::Deserialize;
use std::path::{Component, Path};

/// Files over this size are not served inline by the contents API; they are left out.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// One entry of a directory listing (`GET /repos/{o}/{r}/contents/{dir}`).
#[derive(Debug, Deserialize)]
struct DirEntry {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    #[serde(default)]
    size: u64,
}

#[async_trait]
impl Workspaces for GithubForge {
    async fn export(
        &self,
        repo: &RepoRef,
        rev: &str,
        dest: &Path,
    ) -> Result<CommitSha, ForgeError> {
        let sha = self.resolve_rev(repo, rev).await?;
        clear_dir(dest).await?;
        let mut pending = vec![String::new()];
        while let Some(dir) = pending.pop() {
            for entry in self.list_dir(repo, &sha, &dir).await? {
                check_entry_path(&dir, &entry.path)?;
                match entry.kind.as_str() {
                    "dir" => pending.push(entry.path),
                    // Listings call submodules "file" (GitHub keeps that for compatibility);
                    // fetching one shows its real type, and `fetch_file` skips it then.
                    "file" | "symlink" => {
                        if entry.size > MAX_FILE_BYTES {
                            tracing::warn!(
                                repo = %repo.0, commit = %sha, path = %entry.path,
                                size = entry.size,
                                "file over 1 MB left out of the workspace"
                            );
                            continue;
                        }
                        if let Some(bytes) = self.fetch_file(repo, &sha, &entry.path).await? {
                            write_file(dest, &entry.path, &bytes).await?;
                        }
                    }
                    "submodule" => {}
                    other => tracing::warn!(
                        repo = %repo.0, commit = %sha, path = %entry.path, kind = other,
                        "unknown content type left out of the workspace"
                    ),
                }
            }
        }
        Ok(sha)
    }
}

impl GithubForge {
    /// `HEAD` (the default branch), a branch name or a sha, to the full sha of the commit.
    async fn resolve_rev(&self, repo: &RepoRef, rev: &str) -> Result<CommitSha, ForgeError> {
        let rev = if rev == "HEAD" {
            self.default_branch_of(repo).await?
        } else {
            rev.to_string()
        };
        let path = format!("{}/commits/{}", repo_path(repo)?, enc_path(&rev));
        let commit: CommitReply = self
            .client
            .repo_call(repo, Method::Get, &path, None)
            .await
            .map_err(|e| match e.status() {
                Some(404) | Some(422) => ForgeError::NotFound {
                    what: format!("revision {rev} in repository {}", repo.0),
                },
                _ => to_forge(e),
            })?;
        Ok(CommitSha(commit.sha))
    }

    /// The entries directly under `dir` ("" is the root) at `sha`.
    async fn list_dir(
        &self,
        repo: &RepoRef,
        sha: &CommitSha,
        dir: &str,
    ) -> Result<Vec<DirEntry>, ForgeError> {
        // `contents/` with an empty path is GitHub's listing of the root directory.
        let path = format!(
            "{}/contents/{}?ref={}",
            repo_path(repo)?,
            enc_path(dir),
            enc_query(&sha.0)
        );
        self.client
            .repo_call(repo, Method::Get, &path, None)
            .await
            .map_err(to_forge)
    }

    /// The bytes of `file` at `sha`, or `None` (with a warning) if GitHub does not serve it as
    /// a file: a submodule, a symlink pointing outside the repository, or a file too large to
    /// inline. Unlike `read_file_at`, any bytes are accepted, not only UTF-8 text.
    async fn fetch_file(
        &self,
        repo: &RepoRef,
        sha: &CommitSha,
        file: &str,
    ) -> Result<Option<Vec<u8>>, ForgeError> {
        let path = format!(
            "{}/contents/{}?ref={}",
            repo_path(repo)?,
            enc_path(file),
            enc_query(&sha.0)
        );
        let reply: ContentReply = self
            .client
            .repo_call(repo, Method::Get, &path, None)
            .await
            .map_err(to_forge)?;
        if reply.kind != "file" {
            if reply.kind != "submodule" {
                tracing::warn!(
                    repo = %repo.0, commit = %sha, path = file, kind = %reply.kind,
                    "not a file; left out of the workspace"
                );
            }
            return Ok(None);
        }
        if reply.encoding.as_deref().unwrap_or("base64") != "base64" {
            tracing::warn!(
                repo = %repo.0, commit = %sha, path = file, encoding = ?reply.encoding,
                "file not served inline (over 1 MB); left out of the workspace"
            );
            return Ok(None);
        }
        // GitHub wraps the base64 at 60 columns.
        let compact: String = reply
            .content
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map(Some)
            .map_err(|e| {
                ForgeError::Api(format!(
                    "{file} at {sha} in repository {}: bad base64 from GitHub: {e}",
                    repo.0
                ))
            })
    }
}

/// An entry of the listing of `dir` must be a plain relative path inside `dir`: nothing
/// absolute, no `.`, `..` or empty parts, so that no write lands outside the destination.
fn check_entry_path(dir: &str, path: &str) -> Result<(), ForgeError> {
    let plain = !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(ForgeError::Api(format!(
            "GitHub listed an unsafe path {path:?}: not a plain relative path"
        )));
    }
    let inside = dir.is_empty()
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'));
    if !inside {
        return Err(ForgeError::Api(format!(
            "GitHub listed {path:?} in directory {dir:?}, which does not contain it"
        )));
    }
    Ok(())
}

fn io_error(path: &Path, e: std::io::Error) -> ForgeError {
    ForgeError::State {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Removes whatever is at `dest` and creates it empty, so that a re-export has no stale files.
async fn clear_dir(dest: &Path) -> Result<(), ForgeError> {
    match tokio::fs::symlink_metadata(dest).await {
        Ok(meta) if meta.is_dir() => tokio::fs::remove_dir_all(dest)
            .await
            .map_err(|e| io_error(dest, e))?,
        Ok(_) => tokio::fs::remove_file(dest)
            .await
            .map_err(|e| io_error(dest, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(dest, e)),
    }
    tokio::fs::create_dir_all(dest)
        .await
        .map_err(|e| io_error(dest, e))
}

/// Writes `rel` (already checked by [`check_entry_path`]) under `dest`.
async fn write_file(dest: &Path, rel: &str, bytes: &[u8]) -> Result<(), ForgeError> {
    let target = dest.join(rel);
    if let Some(parent) = target.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| io_error(parent, e))?;
    }
    tokio::fs::write(&target, bytes)
        .await
        .map_err(|e| io_error(&target, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths_must_stay_inside_the_listed_directory() {
        assert!(check_entry_path("", "README.md").is_ok());
        assert!(check_entry_path("src", "src/a.py").is_ok());
        assert!(check_entry_path("src/pkg", "src/pkg/b.py").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "src/../../x",
            "src/./a.py",
            "src//a.py",
            "..",
            "a\\..\\b",
        ] {
            let err = check_entry_path("", bad).expect_err(bad);
            assert!(
                err.to_string().contains(&format!("{bad:?}")),
                "{err} names the path"
            );
        }
        // Inside the path rules but not under the directory that was listed.
        assert!(check_entry_path("src", "srcx/a.py").is_err());
        assert!(check_entry_path("src", "src").is_err());
        assert!(check_entry_path("src", "other/a.py").is_err());
    }
}
