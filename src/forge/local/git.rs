//! The git side of the local forge, on one registered repository: branches, commits carrying
//! an idempotency trailer, and real merge commits made with git2's merge machinery.

use super::tree;
use crate::forge::trailer::{has_trailer, with_trailer};
use crate::forge::{FileChange, ForgeError, RepoRef};
use git2::build::CheckoutBuilder;
use git2::{BranchType, Commit, ErrorCode, Oid, Repository, Signature};
use std::collections::BTreeSet;
use std::path::Path;

const AUTHOR_NAME: &str = "healbot";
const AUTHOR_EMAIL: &str = "healbot@localhost";

pub(super) struct GitRepo {
    repo: Repository,
    name: RepoRef,
}

impl GitRepo {
    pub fn open(name: &RepoRef, path: &Path) -> Result<GitRepo, ForgeError> {
        let repo = Repository::open(path).map_err(|e| {
            ForgeError::Git(format!(
                "repository {} at {}: {}",
                name.0,
                path.display(),
                e.message()
            ))
        })?;
        Ok(GitRepo {
            repo,
            name: name.clone(),
        })
    }

    fn error(&self, context: &str, e: git2::Error) -> ForgeError {
        ForgeError::Git(format!(
            "{} in repository {}: {}",
            context,
            self.name.0,
            e.message()
        ))
    }

    fn branch_not_found(&self, branch: &str) -> ForgeError {
        ForgeError::NotFound {
            what: format!("branch {branch} in repository {}", self.name.0),
        }
    }

    /// The branch `HEAD` names, even when it has no commit yet.
    pub fn default_branch(&self) -> Result<String, ForgeError> {
        let head = self
            .repo
            .find_reference("HEAD")
            .map_err(|e| self.error("reading HEAD", e))?;
        match head.symbolic_target().ok().flatten() {
            Some(target) => Ok(target
                .strip_prefix("refs/heads/")
                .unwrap_or(target)
                .to_string()),
            None => Err(ForgeError::Git(format!(
                "HEAD of repository {} is detached, so it names no default branch",
                self.name.0
            ))),
        }
    }

    pub fn branch_head(&self, branch: &str) -> Result<Oid, ForgeError> {
        let found = self.repo.find_branch(branch, BranchType::Local);
        let reference = match found {
            Ok(b) => b.into_reference(),
            Err(e) if e.code() == ErrorCode::NotFound || e.code() == ErrorCode::InvalidSpec => {
                return Err(self.branch_not_found(branch))
            }
            Err(e) => return Err(self.error(&format!("reading branch {branch}"), e)),
        };
        reference
            .peel_to_commit()
            .map(|c| c.id())
            .map_err(|e| self.error(&format!("resolving branch {branch}"), e))
    }

    pub fn create_branch(&self, branch: &str, at: &str) -> Result<(), ForgeError> {
        match self.branch_head(branch) {
            Ok(_) => return Ok(()),
            Err(ForgeError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let commit = self.find_commit_by_sha(at)?;
        self.repo
            .branch(branch, &commit, false)
            .map(|_| ())
            .map_err(|e| self.error(&format!("creating branch {branch} at {at}"), e))
    }

    fn find_commit_by_sha(&self, sha: &str) -> Result<Commit<'_>, ForgeError> {
        let not_found = || ForgeError::NotFound {
            what: format!("commit {sha} in repository {}", self.name.0),
        };
        let oid = Oid::from_str(sha).map_err(|_| not_found())?;
        self.repo.find_commit(oid).map_err(|e| match e.code() {
            ErrorCode::NotFound => not_found(),
            _ => self.error(&format!("reading commit {sha}"), e),
        })
    }

    /// Reads a UTF-8 file at a branch, tag or commit; a missing file is `None`.
    pub fn read_file(&self, git_ref: &str, path: &str) -> Result<Option<String>, ForgeError> {
        tree::path_components(path)?;
        let object = self
            .repo
            .revparse_single(git_ref)
            .map_err(|e| match e.code() {
                ErrorCode::NotFound | ErrorCode::InvalidSpec | ErrorCode::Ambiguous => {
                    ForgeError::NotFound {
                        what: format!("ref {git_ref} in repository {}", self.name.0),
                    }
                }
                _ => self.error(&format!("resolving {git_ref}"), e),
            })?;
        let tree = object
            .peel_to_tree()
            .map_err(|e| self.error(&format!("reading the tree of {git_ref}"), e))?;
        let entry = match tree.get_path(Path::new(path)) {
            Ok(entry) => entry,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(self.error(&format!("looking up {path} at {git_ref}"), e)),
        };
        let what = format!("{path} at {git_ref}");
        let blob = entry
            .to_object(&self.repo)
            .and_then(|o| o.peel_to_blob())
            .map_err(|e| self.error(&format!("reading {what} (is it a directory?)"), e))?;
        String::from_utf8(blob.content().to_vec())
            .map(Some)
            .map_err(|_| {
                ForgeError::Git(format!(
                    "{what} in repository {} is not UTF-8 text",
                    self.name.0
                ))
            })
    }

    /// Commits `changes` on top of `branch`, or returns the commit on the branch that already
    /// carries `key`.
    pub fn commit(
        &self,
        branch: &str,
        message: &str,
        changes: &[FileChange],
        key: &str,
    ) -> Result<Oid, ForgeError> {
        check_key(key)?;
        let tip = self.branch_head(branch)?;
        if let Some(existing) = self.find_keyed_commit(tip, key)? {
            return Ok(existing);
        }
        let parent = self
            .repo
            .find_commit(tip)
            .map_err(|e| self.error(&format!("reading the head of {branch}"), e))?;
        let base_tree = parent
            .tree()
            .map_err(|e| self.error(&format!("reading the tree of {branch}"), e))?;
        let tree_id = tree::apply_changes(&self.repo, &base_tree, changes)
            .map_err(|e| self.in_context(&format!("committing on {branch}"), e))?;
        let tree = self
            .repo
            .find_tree(tree_id)
            .map_err(|e| self.error("reading the new tree", e))?;
        let message = with_trailer(message, key);
        let signature = self.signature()?;
        // Updating the ref through `commit` checks that the branch still points at `parent`,
        // so a concurrent writer makes this fail rather than lose its commit.
        let oid = self
            .repo
            .commit(
                Some(&format!("refs/heads/{branch}")),
                &signature,
                &signature,
                &message,
                &tree,
                &[&parent],
            )
            .map_err(|e| self.error(&format!("committing on {branch}"), e))?;
        self.sync_checked_out(branch)?;
        Ok(oid)
    }

    /// Merges `head` into `base` with a two-parent merge commit. `what` names the PR in errors.
    /// A merge of the same head commit already on `base` is returned instead of made again.
    pub fn merge(
        &self,
        base: &str,
        head: &str,
        message: &str,
        what: &str,
    ) -> Result<Oid, ForgeError> {
        let base_tip = self.branch_head(base)?;
        let head_tip = self.branch_head(head)?;
        let key = format!("merge {head}@{head_tip}");
        if let Some(existing) = self.find_keyed_commit(base_tip, &key)? {
            return Ok(existing);
        }
        let ours = self
            .repo
            .find_commit(base_tip)
            .map_err(|e| self.error(&format!("reading the head of {base}"), e))?;
        let theirs = self
            .repo
            .find_commit(head_tip)
            .map_err(|e| self.error(&format!("reading the head of {head}"), e))?;
        let mut index = self
            .repo
            .merge_commits(&ours, &theirs, None)
            .map_err(|e| self.error(&format!("{what}: merging {head} into {base}"), e))?;
        if index.has_conflicts() {
            let files = conflicted_paths(&index)
                .map_err(|e| self.error(&format!("{what}: listing conflicts"), e))?;
            return Err(ForgeError::Conflict(format!(
                "{what}: merging {head} into {base} in repository {} conflicts in {}",
                self.name.0,
                files.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        let tree_id = index
            .write_tree_to(&self.repo)
            .map_err(|e| self.error(&format!("{what}: writing the merged tree"), e))?;
        let tree = self
            .repo
            .find_tree(tree_id)
            .map_err(|e| self.error("reading the merged tree", e))?;
        let signature = self.signature()?;
        let oid = self
            .repo
            .commit(
                Some(&format!("refs/heads/{base}")),
                &signature,
                &signature,
                &with_trailer(message, &key),
                &tree,
                &[&ours, &theirs],
            )
            .map_err(|e| self.error(&format!("{what}: committing the merge on {base}"), e))?;
        self.sync_checked_out(base)?;
        Ok(oid)
    }

    /// The newest commit reachable from `tip` whose message carries the idempotency trailer
    /// with `key`.
    fn find_keyed_commit(&self, tip: Oid, key: &str) -> Result<Option<Oid>, ForgeError> {
        let mut walk = self
            .repo
            .revwalk()
            .map_err(|e| self.error("walking history", e))?;
        walk.push(tip)
            .map_err(|e| self.error("walking history", e))?;
        for oid in walk {
            let oid = oid.map_err(|e| self.error("walking history", e))?;
            let commit = self
                .repo
                .find_commit(oid)
                .map_err(|e| self.error(&format!("reading commit {oid}"), e))?;
            let message = String::from_utf8_lossy(commit.message_bytes());
            // Cheap filter first: parsing trailers of every commit in a long history is not.
            if message.contains(key) && has_trailer(&message, key) {
                return Ok(Some(oid));
            }
        }
        Ok(None)
    }

    fn signature(&self) -> Result<Signature<'static>, ForgeError> {
        Signature::now(AUTHOR_NAME, AUTHOR_EMAIL).map_err(|e| self.error("making a signature", e))
    }

    /// Keeps a checked-out branch's working tree and index in step with the branch, so that a
    /// person looking at the folder sees what healbot committed (and `git status` stays clean).
    fn sync_checked_out(&self, branch: &str) -> Result<(), ForgeError> {
        if self.repo.is_bare() {
            return Ok(());
        }
        let head = self
            .repo
            .find_reference("HEAD")
            .map_err(|e| self.error("reading HEAD", e))?;
        if head.symbolic_target().ok().flatten() != Some(format!("refs/heads/{branch}").as_str()) {
            return Ok(());
        }
        self.repo
            .checkout_head(Some(CheckoutBuilder::new().force()))
            .map_err(|e| self.error(&format!("updating the working tree of {branch}"), e))
    }

    fn in_context(&self, context: &str, e: ForgeError) -> ForgeError {
        match e {
            ForgeError::Git(msg) => {
                ForgeError::Git(format!("{context} in repository {}: {msg}", self.name.0))
            }
            other => other,
        }
    }
}

fn conflicted_paths(index: &git2::Index) -> Result<BTreeSet<String>, git2::Error> {
    let mut paths = BTreeSet::new();
    for conflict in index.conflicts()? {
        let conflict = conflict?;
        for entry in [conflict.ancestor, conflict.our, conflict.their]
            .into_iter()
            .flatten()
        {
            paths.insert(String::from_utf8_lossy(&entry.path).into_owned());
        }
    }
    Ok(paths)
}

fn check_key(key: &str) -> Result<(), ForgeError> {
    if key.trim().is_empty() || key.contains(['\n', '\r']) || key.trim() != key {
        return Err(ForgeError::Api(format!(
            "idempotency key {key:?} must be one non-empty line without surrounding spaces"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailer_is_the_last_paragraph() {
        let msg = with_trailer("Fix it\n\nBecause.\n", "op-1/patch");
        assert_eq!(
            msg,
            "Fix it\n\nBecause.\n\nHealbot-Idempotency-Key: op-1/patch\n"
        );
        assert!(has_trailer(&msg, "op-1/patch"));
        assert!(!has_trailer(&msg, "op-1"));
    }

    #[test]
    fn trailer_joins_an_existing_trailer_block() {
        let msg = with_trailer("Fix it\n\nSigned-off-by: A <a@b>", "k");
        assert_eq!(
            msg,
            "Fix it\n\nSigned-off-by: A <a@b>\nHealbot-Idempotency-Key: k\n"
        );
        assert!(has_trailer(&msg, "k"));
    }

    #[test]
    fn a_key_in_the_body_is_not_a_trailer() {
        let msg = "Fix\n\nHealbot-Idempotency-Key: k\n\nmore text\n";
        assert!(!has_trailer(msg, "k"));
    }

    #[test]
    fn keys_must_be_one_line() {
        assert!(check_key("a\nb").is_err());
        assert!(check_key("").is_err());
        assert!(check_key(" a").is_err());
        assert!(check_key("op-1/commit:patch").is_ok());
    }
}
