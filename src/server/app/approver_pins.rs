//! `approvers.allow` may name logins, but a login can be renamed and then registered by
//! someone else, who would inherit the right to approve. So each login entry is pinned to the
//! user id that held it when healbot first read the config (or checked the PR that added it),
//! kept in `<state_dir>/approver-ids.json`, and from then on only that id matches: the person
//! keeps the right through a rename, a newcomer with the old login never gets it.

use crate::forge::github::GithubForge;
use crate::forge::{ForgeError, RepoRef};
use crate::server::handler::HandlerError;
use crate::server::state_file;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use tokio::sync::Mutex;

/// Repository → lower-cased login → the user id pinned for it.
type Pins = BTreeMap<String, BTreeMap<String, u64>>;

pub(crate) struct ApproverPins {
    path: PathBuf,
    pins: Mutex<Pins>,
    /// Logins GitHub knows no user for, asked once per run rather than at every read.
    unknown: Mutex<BTreeSet<(String, String)>>,
}

impl ApproverPins {
    pub(crate) const FILE: &'static str = "approver-ids.json";

    pub(crate) fn open(state_dir: &Path) -> Result<ApproverPins, HandlerError> {
        let path = state_dir.join(Self::FILE);
        let pins = state_file::load(&path)?;
        Ok(ApproverPins {
            path,
            pins: Mutex::new(pins),
            unknown: Mutex::default(),
        })
    }

    /// The user id `login` is pinned to in `repo`, pinning whoever holds the login now when it
    /// has no pin yet. `None` when GitHub knows no such user (nothing is pinned then).
    pub(crate) async fn user_id(
        &self,
        github: &GithubForge,
        repo: &RepoRef,
        login: &str,
    ) -> Result<Option<u64>, PinError> {
        let key = login.to_ascii_lowercase();
        if let Some(id) = self.pinned(repo, &key).await {
            return Ok(Some(id));
        }
        let asked = (repo.0.clone(), key.clone());
        if self.unknown.lock().await.contains(&asked) {
            return Ok(None);
        }
        let Some(id) = github.user_id(repo, login).await? else {
            self.unknown.lock().await.insert(asked);
            return Ok(None);
        };
        let mut pins = self.pins.lock().await;
        // Another delivery may have pinned it meanwhile: the first pin stands.
        let id = *pins
            .entry(repo.0.clone())
            .or_default()
            .entry(key)
            .or_insert(id);
        state_file::save(&self.path, &*pins).await?;
        Ok(Some(id))
    }

    async fn pinned(&self, repo: &RepoRef, key: &str) -> Option<u64> {
        let pins = self.pins.lock().await;
        pins.get(&repo.0).and_then(|r| r.get(key)).copied()
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PinError {
    #[error("GitHub could not say who the login is: {0}")]
    Github(#[from] ForgeError),
    #[error(transparent)]
    State(#[from] HandlerError),
}
