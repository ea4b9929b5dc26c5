//! Git copies of GitHub repositories for `healbot serve`. Analysis, validation, revert and
//! blame need a repository's files and history; the contents API gives neither cheaply (one
//! request per file, no history). So each repository is cloned once, bare and shallow, under
//! `<state_dir>/git/<owner>/<name>.git`, and fetched incrementally before each use, over HTTPS
//! with the installation token. The token reaches libgit2 only through the credentials
//! callback of one fetch: the remote is anonymous (never written to a config), its URL carries
//! no credentials, and nothing on disk or in a log holds the token.

use super::auth::InstallationToken;
use crate::forge::{CommitSha, ForgeError, RepoRef};
use git2::{AutotagOption, Cred, CredentialType, FetchOptions, Oid, RemoteCallbacks, Repository};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use crate::config::bot::DEFAULT_CLONE_DEPTH;

/// Where the clones live and how much history they keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneSettings {
    /// `<state_dir>/git`.
    pub dir: PathBuf,
    /// Commits of history fetched back from each branch tip; 0 fetches all of it.
    pub depth: u32,
}

/// The clones, with one lock per repository so that two operations never fetch into the
/// same clone at once.
pub(super) struct CloneCache {
    settings: CloneSettings,
    locks: Mutex<HashMap<RepoRef, Arc<tokio::sync::Mutex<()>>>>,
}

/// What a fetch needs to know about the repository on GitHub.
pub(super) struct Remote {
    /// `clone_url` as GitHub gives it (`https://github.com/acme/shop.git`).
    pub url: String,
    pub token: InstallationToken,
}

impl CloneCache {
    pub fn new(settings: CloneSettings) -> CloneCache {
        CloneCache {
            settings,
            locks: Mutex::new(HashMap::new()),
        }
    }

    fn lock_of(&self, repo: &RepoRef) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(repo.clone()).or_default().clone()
    }

    /// The clone's directory: `<dir>/<owner>/<name>.git`, for a name GitHub could have given.
    pub(crate) fn path_of(&self, repo: &RepoRef) -> Result<PathBuf, ForgeError> {
        let Some((owner, name)) = repo.0.split_once('/') else {
            return Err(bad_name(repo));
        };
        let plain = |s: &str| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        if !plain(owner) || !plain(name) {
            return Err(bad_name(repo));
        }
        Ok(self.settings.dir.join(owner).join(format!("{name}.git")))
    }

    /// Fetches every branch of `repo` into its clone (cloning it first if need be), then runs
    /// `then` on the clone with the commit `rev` names: `HEAD` is `default_branch`, otherwise a
    /// branch or a full sha. The repository's lock is held throughout.
    pub(crate) async fn with_fetched<T: Send + 'static>(
        &self,
        repo: &RepoRef,
        remote: Remote,
        rev: &str,
        default_branch: &str,
        then: impl FnOnce(&Repository, Oid) -> Result<T, ForgeError> + Send + 'static,
    ) -> Result<T, ForgeError> {
        let path = self.path_of(repo)?;
        let lock = self.lock_of(repo);
        let _held = lock.lock().await;
        let depth = self.settings.depth;
        let repo = repo.clone();
        let name = repo.0.clone();
        let rev = if rev == "HEAD" {
            default_branch.to_string()
        } else {
            rev.to_string()
        };
        tokio::task::spawn_blocking(move || {
            let git = fetch(&repo, &path, &remote, depth)?;
            let oid = resolve(&git, &repo, &rev)?;
            then(&git, oid)
        })
        .await
        .map_err(|e| ForgeError::Git(format!("fetching {name}: the task failed: {e}")))?
    }
}

fn bad_name(repo: &RepoRef) -> ForgeError {
    ForgeError::Api(format!(
        "repository {:?} is not of the form owner/name (letters, digits, '-', '_', '.')",
        repo.0
    ))
}

fn git_error(repo: &RepoRef, what: &str, e: git2::Error) -> ForgeError {
    ForgeError::Git(format!("{what} {}: {}", repo.0, e.message()))
}

/// Opens the bare clone at `path` (creating it empty the first time) and fetches every branch
/// of the remote into `refs/heads/`, shallow to `depth`, deleted branches pruned.
fn fetch(
    repo: &RepoRef,
    path: &Path,
    remote: &Remote,
    depth: u32,
) -> Result<Repository, ForgeError> {
    let git = match Repository::open_bare(path) {
        Ok(git) => git,
        Err(_) => {
            std::fs::create_dir_all(path).map_err(|e| ForgeError::State {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            Repository::init_bare(path).map_err(|e| git_error(repo, "creating the clone of", e))?
        }
    };
    let mut anonymous = git
        .remote_anonymous(&remote.url)
        .map_err(|e| git_error(repo, "the remote of", e))?;
    let mut callbacks = RemoteCallbacks::new();
    let token = remote.token.clone();
    let mut offered = false;
    callbacks.credentials(move |_url, _user, allowed| {
        // A second call means GitHub refused the token: asking again would loop.
        if offered || !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            return Err(git2::Error::from_str(
                "GitHub refused the installation token for git over HTTPS",
            ));
        }
        offered = true;
        Cred::userpass_plaintext("x-access-token", token.secret())
    });
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(callbacks)
        .download_tags(AutotagOption::None)
        .prune(git2::FetchPrune::On);
    if depth > 0 {
        options.depth(i32::try_from(depth).unwrap_or(i32::MAX));
    }
    anonymous
        .fetch(
            &["+refs/heads/*:refs/heads/*"],
            Some(&mut options),
            Some("healbot fetch"),
        )
        .map_err(|e| git_error(repo, "fetching", e))?;
    drop(anonymous);
    Ok(git)
}

/// The commit `rev` (a branch or a full sha) names in the fetched clone.
fn resolve(git: &Repository, repo: &RepoRef, rev: &str) -> Result<Oid, ForgeError> {
    let not_found = || ForgeError::NotFound {
        what: format!("revision {rev} in repository {}", repo.0),
    };
    let oid = match Oid::from_str(rev) {
        Ok(oid) if rev.len() == 40 => oid,
        _ => git
            .refname_to_id(&format!("refs/heads/{rev}"))
            .map_err(|_| not_found())?,
    };
    match git.find_commit(oid) {
        Ok(commit) => Ok(commit.id()),
        Err(_) => Err(not_found()),
    }
}

/// Makes `dest` a fresh non-bare repository checked out (detached) at `oid`, sharing the
/// clone's objects through `objects/info/alternates` and its shallow boundary, so that blame
/// and revert walk the same history without copying it.
pub(super) fn checkout_with_history(
    clone: &Repository,
    repo: &RepoRef,
    oid: Oid,
    dest: &Path,
) -> Result<CommitSha, ForgeError> {
    let state = |path: &Path, e: std::io::Error| ForgeError::State {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(|e| state(dest, e))?;
    }
    let fresh = Repository::init(dest).map_err(|e| git_error(repo, "a checkout of", e))?;
    let gitdir = fresh.path().to_path_buf();
    drop(fresh);
    let objects = clone.path().join("objects");
    let alternates = gitdir.join("objects/info/alternates");
    std::fs::write(&alternates, format!("{}\n", objects.display()))
        .map_err(|e| state(&alternates, e))?;
    let shallow = clone.path().join("shallow");
    if shallow.is_file() {
        std::fs::copy(&shallow, gitdir.join("shallow")).map_err(|e| state(&shallow, e))?;
    }
    let checkout = Repository::open(dest).map_err(|e| git_error(repo, "a checkout of", e))?;
    checkout
        .set_head_detached(oid)
        .map_err(|e| git_error(repo, "checking out", e))?;
    let mut options = git2::build::CheckoutBuilder::new();
    options.force();
    checkout
        .checkout_head(Some(&mut options))
        .map_err(|e| git_error(repo, "checking out", e))?;
    Ok(CommitSha(oid.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_live_under_the_owner_and_name_only() {
        let cache = CloneCache::new(CloneSettings {
            dir: PathBuf::from("/state/git"),
            depth: 10,
        });
        assert_eq!(
            cache.path_of(&RepoRef("acme/shop".into())).unwrap(),
            PathBuf::from("/state/git/acme/shop.git")
        );
        for bad in [
            "shop",
            "acme/../x",
            "../acme/x",
            "acme/x/y",
            "acme/.git",
            "a cme/x",
            "/x",
        ] {
            let err = cache.path_of(&RepoRef(bad.into())).expect_err(bad);
            assert!(err.to_string().contains(bad), "{err} names {bad}");
        }
    }
}
