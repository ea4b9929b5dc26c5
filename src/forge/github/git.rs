//! Branches, files and commits through GitHub's git data API. A commit is built the way `git`
//! would (blobs, a tree on the parent's tree, a commit, a fast-forward of the ref), after
//! looking for an earlier commit with the same idempotency key among the branch's recent
//! commits.

use super::client::Method;
use super::wire::{CommitReply, ContentReply, RefReply, RepoReply, ShaReply};
use super::{enc_path, enc_query, repo_path, to_forge, GithubForge};
use crate::forge::trailer::{check_key, has_trailer, with_trailer};
use crate::forge::{CommitSha, FileChange, ForgeError, RepoRef};
use base64::Engine;
use serde_json::{json, Value};
use std::collections::{HashSet, VecDeque};

impl GithubForge {
    pub(super) async fn default_branch_of(&self, repo: &RepoRef) -> Result<String, ForgeError> {
        let path = repo_path(repo)?;
        let reply: RepoReply = self
            .client
            .repo_call(repo, Method::Get, &path, None)
            .await
            .map_err(to_forge)?;
        Ok(reply.default_branch)
    }

    pub(super) async fn head_of(
        &self,
        repo: &RepoRef,
        branch: &str,
    ) -> Result<CommitSha, ForgeError> {
        let path = format!("{}/git/ref/heads/{}", repo_path(repo)?, enc_path(branch));
        let reply: RefReply = self
            .client
            .repo_call(repo, Method::Get, &path, None)
            .await
            .map_err(|e| match e.status() {
                Some(404) => ForgeError::NotFound {
                    what: format!("branch {branch} in repository {}", repo.0),
                },
                _ => to_forge(e),
            })?;
        Ok(CommitSha(reply.object.sha))
    }

    pub(super) async fn create_branch_at(
        &self,
        repo: &RepoRef,
        branch: &str,
        at: &CommitSha,
    ) -> Result<(), ForgeError> {
        match self.head_of(repo, branch).await {
            Ok(_) => return Ok(()),
            Err(ForgeError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let path = format!("{}/git/refs", repo_path(repo)?);
        let body = json!({ "ref": format!("refs/heads/{branch}"), "sha": at.0 });
        let created: Result<Value, _> = self
            .client
            .repo_call(repo, Method::Post, &path, Some(&body))
            .await;
        match created {
            Ok(_) => Ok(()),
            // Created meanwhile by another writer: the branch exists, which is what was asked.
            Err(e) if e.status() == Some(422) => match self.head_of(repo, branch).await {
                Ok(_) => Ok(()),
                Err(_) => Err(to_forge(e)),
            },
            Err(e) => Err(to_forge(e)),
        }
    }

    pub(super) async fn read_file_at(
        &self,
        repo: &RepoRef,
        git_ref: &str,
        file: &str,
    ) -> Result<Option<String>, ForgeError> {
        let path = format!(
            "{}/contents/{}?ref={}",
            repo_path(repo)?,
            enc_path(file.trim_start_matches('/')),
            enc_query(git_ref)
        );
        let reply: ContentReply = match self.client.repo_call(repo, Method::Get, &path, None).await
        {
            Ok(reply) => reply,
            Err(e) if e.status() == Some(404) => return Ok(None),
            Err(e) => return Err(to_forge(e)),
        };
        let what = format!("{file} at {git_ref} in repository {}", repo.0);
        if reply.kind != "file" {
            return Err(ForgeError::Api(format!(
                "{what} is a {}, not a file",
                reply.kind
            )));
        }
        let content = reply.content.unwrap_or_default();
        if reply.encoding.as_deref().unwrap_or("base64") != "base64" {
            return Err(ForgeError::Api(format!(
                "{what}: unexpected encoding {:?} (files over 1 MB are not read)",
                reply.encoding
            )));
        }
        // GitHub wraps the base64 at 60 columns.
        let compact: String = content.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| ForgeError::Api(format!("{what}: bad base64 from GitHub: {e}")))?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| ForgeError::Api(format!("{what} is not UTF-8 text")))
    }

    pub(super) async fn commit_on(
        &self,
        repo: &RepoRef,
        branch: &str,
        message: &str,
        changes: &[FileChange],
        key: &str,
    ) -> Result<CommitSha, ForgeError> {
        check_key(key)?;
        for change in changes {
            check_change_path(&change.path)?;
        }
        let base = repo_path(repo)?;
        let tip = self.head_of(repo, branch).await?;
        let (existing, tip_tree) = self.find_keyed(repo, &tip, key).await?;
        if let Some(sha) = existing {
            return Ok(sha);
        }
        let mut entries = Vec::with_capacity(changes.len());
        for change in changes {
            let sha = match &change.content {
                Some(content) => {
                    let body = json!({ "content": content, "encoding": "utf-8" });
                    let blob: ShaReply = self
                        .client
                        .repo_call(
                            repo,
                            Method::Post,
                            &format!("{base}/git/blobs"),
                            Some(&body),
                        )
                        .await
                        .map_err(to_forge)?;
                    Value::String(blob.sha)
                }
                // A null sha deletes the path from the base tree.
                None => Value::Null,
            };
            entries
                .push(json!({ "path": change.path, "mode": "100644", "type": "blob", "sha": sha }));
        }
        let body = json!({ "base_tree": tip_tree, "tree": entries });
        let tree: ShaReply = self
            .client
            .repo_call(
                repo,
                Method::Post,
                &format!("{base}/git/trees"),
                Some(&body),
            )
            .await
            .map_err(to_forge)?;
        let body = json!({
            "message": with_trailer(message, key),
            "tree": tree.sha,
            "parents": [tip.0],
        });
        let commit: ShaReply = self
            .client
            .repo_call(
                repo,
                Method::Post,
                &format!("{base}/git/commits"),
                Some(&body),
            )
            .await
            .map_err(to_forge)?;
        // Not forced: if the branch moved since we read it, this fails instead of dropping
        // someone else's commit.
        let body = json!({ "sha": commit.sha, "force": false });
        let path = format!("{base}/git/refs/heads/{}", enc_path(branch));
        let updated: Result<Value, _> = self
            .client
            .repo_call(repo, Method::Patch, &path, Some(&body))
            .await;
        match updated {
            Ok(_) => Ok(CommitSha(commit.sha)),
            Err(e) if e.status() == Some(422) || e.status() == Some(409) => {
                Err(ForgeError::Conflict(format!(
                    "branch {branch} in repository {} moved while committing: {e}",
                    repo.0
                )))
            }
            Err(e) => Err(to_forge(e)),
        }
    }

    /// Walks back from `tip` (breadth first, bounded by the configured depth) for a commit that
    /// carries `key`. Also returns the tip's tree, which the new commit builds on.
    async fn find_keyed(
        &self,
        repo: &RepoRef,
        tip: &CommitSha,
        key: &str,
    ) -> Result<(Option<CommitSha>, String), ForgeError> {
        let base = repo_path(repo)?;
        let depth = self.client.config().commit_search_depth.max(1);
        let mut queue = VecDeque::from([tip.0.clone()]);
        let mut seen = HashSet::new();
        let mut tip_tree = None;
        while let Some(sha) = queue.pop_front() {
            if seen.len() >= depth || !seen.insert(sha.clone()) {
                continue;
            }
            let path = format!("{base}/commits/{}", enc_path(&sha));
            let commit: CommitReply = self
                .client
                .repo_call(repo, Method::Get, &path, None)
                .await
                .map_err(to_forge)?;
            if tip_tree.is_none() {
                tip_tree = Some(commit.commit.tree.sha.clone());
            }
            if has_trailer(&commit.commit.message, key) {
                let tree = tip_tree.unwrap_or_default();
                return Ok((Some(CommitSha(commit.sha)), tree));
            }
            queue.extend(commit.parents.into_iter().map(|p| p.sha));
        }
        let tree = tip_tree
            .ok_or_else(|| ForgeError::Api(format!("could not read commit {tip} in {}", repo.0)))?;
        Ok((None, tree))
    }
}

/// A repository-relative path with no empty, `.` or `..` parts.
fn check_change_path(path: &str) -> Result<(), ForgeError> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..");
    if bad {
        return Err(ForgeError::Api(format!(
            "file path {path:?} must be relative, without empty, '.' or '..' parts"
        )));
    }
    Ok(())
}
