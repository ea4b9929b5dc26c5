//! The embedded local forge: the [`Forge`] that `healbot demo` uses on one machine. Branches and
//! commits live in real local git repositories (through git2); pull requests, their comments and
//! reviews are JSON files in the state directory, so a person can act on them later from another
//! process with `healbot pr …`. Git work here is quick and local, so it runs inline.

mod git;
mod store;
#[cfg(test)]
mod tests;
mod tree;

use self::git::GitRepo;
use self::store::{PrRecord, Store, WriteLock};
use super::{
    Comment, CommitSha, FileChange, Forge, ForgeError, NewPullRequest, PrNumber, PrState,
    PullRequest, RepoRef, Review, ReviewState,
};
use async_trait::async_trait;
use std::path::{Path, PathBuf};

/// The author of everything healbot itself writes on a PR, as the GitHub App appears.
pub const BOT_AUTHOR: &str = "healbot[bot]";

/// A repository registered with the local forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRepo {
    pub name: RepoRef,
    pub path: PathBuf,
}

pub struct LocalForge {
    store: Store,
}

impl LocalForge {
    /// Opens the forge kept under `<state_dir>/forge/`. Nothing is created until the first
    /// write, so looking at an empty state directory leaves it empty.
    pub fn open(state_dir: &Path) -> Result<LocalForge, ForgeError> {
        if state_dir.exists() && !state_dir.is_dir() {
            return Err(ForgeError::State {
                path: state_dir.display().to_string(),
                reason: "is not a directory".into(),
            });
        }
        let forge = LocalForge {
            store: Store::new(state_dir),
        };
        // A corrupt index should fail here, with its path, not in the middle of an operation.
        forge.store.repos()?;
        Ok(forge)
    }

    /// Where the forge keeps its files (`<state_dir>/forge`).
    pub fn root(&self) -> &Path {
        self.store.root()
    }

    /// Registers (or re-points) the repository `name` at the git repository in `path`.
    pub fn register_repo(&self, name: &str, path: &Path) -> Result<RepoRef, ForgeError> {
        if name.trim().is_empty() || name.trim() != name || name.contains(char::is_control) {
            return Err(ForgeError::Api(format!(
                "repository name {name:?} must be non-empty, without surrounding spaces or control characters"
            )));
        }
        let path = path.canonicalize().map_err(|e| ForgeError::State {
            path: path.display().to_string(),
            reason: format!("cannot register repository {name}: {e}"),
        })?;
        let repo = RepoRef(name.to_string());
        // Refuse a folder that is not a git repository now rather than on first use.
        GitRepo::open(&repo, &path)?;
        let lock = self.store.lock()?;
        let mut repos = self.store.repos()?;
        repos.insert(name.to_string(), path);
        self.store.save_repos(&lock, repos)?;
        Ok(repo)
    }

    /// Every registered repository, by name.
    pub fn repos(&self) -> Result<Vec<LocalRepo>, ForgeError> {
        Ok(self
            .store
            .repos()?
            .into_iter()
            .map(|(name, path)| LocalRepo {
                name: RepoRef(name),
                path,
            })
            .collect())
    }

    /// The pull requests of `repo`, oldest first.
    pub fn list_prs(&self, repo: &RepoRef) -> Result<Vec<PullRequest>, ForgeError> {
        let git = self.git(repo)?;
        let mut prs = Vec::new();
        for number in self.store.pr_numbers()? {
            if let Some(record) = self.store.load_pr(number)? {
                if record.repo == *repo {
                    prs.push(refreshed(&git, record.pr));
                }
            }
        }
        Ok(prs)
    }

    /// The repository a PR belongs to: PR numbers are unique across the local forge, so a
    /// number alone finds its PR.
    pub(crate) fn repo_of(&self, pr: PrNumber) -> Result<RepoRef, ForgeError> {
        self.store
            .load_pr(pr.0)?
            .map(|record| record.repo)
            .ok_or_else(|| ForgeError::NotFound {
                what: format!("PR {pr} in the local forge at {}", self.root().display()),
            })
    }

    /// Records a person's review on an open PR, bound to the PR's current head commit.
    pub fn add_review(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
        author: &str,
        state: ReviewState,
        body: &str,
    ) -> Result<Review, ForgeError> {
        check_author(author)?;
        self.update_pr(repo, pr, |pr| {
            if pr.state != PrState::Open {
                return Err(ForgeError::Api(format!(
                    "PR {} is {}; only an open PR can be reviewed",
                    pr.number,
                    state_name(pr.state)
                )));
            }
            let review = Review {
                id: next_entry_id(pr),
                author: author.to_string(),
                state,
                body: body.to_string(),
                commit_sha: pr.head_sha.clone(),
                submitted_at: now(),
            };
            pr.reviews.push(review.clone());
            Ok(review)
        })
    }

    /// Records a comment by `author` (a person, or [`BOT_AUTHOR`]).
    pub(crate) fn add_comment_as(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
        author: &str,
        body: &str,
    ) -> Result<Comment, ForgeError> {
        check_author(author)?;
        self.update_pr(repo, pr, |pr| {
            let comment = Comment {
                id: next_entry_id(pr),
                author: author.to_string(),
                body: body.to_string(),
                created_at: now(),
            };
            pr.comments.push(comment.clone());
            Ok(comment)
        })
    }

    fn repo_path(&self, repo: &RepoRef) -> Result<PathBuf, ForgeError> {
        let repos = self.store.repos()?;
        repos
            .get(&repo.0)
            .cloned()
            .ok_or_else(|| ForgeError::NotFound {
                what: format!(
                    "repository {} in the local forge at {} (registered: {})",
                    repo.0,
                    self.root().display(),
                    if repos.is_empty() {
                        "none".to_string()
                    } else {
                        repos.keys().cloned().collect::<Vec<_>>().join(", ")
                    }
                ),
            })
    }

    fn git(&self, repo: &RepoRef) -> Result<GitRepo, ForgeError> {
        GitRepo::open(repo, &self.repo_path(repo)?)
    }

    /// Loads PR `number` of `repo`, with an open PR's head refreshed from its branch.
    fn load(
        &self,
        git: &GitRepo,
        repo: &RepoRef,
        number: PrNumber,
    ) -> Result<PullRequest, ForgeError> {
        let record = self
            .store
            .load_pr(number.0)?
            .filter(|record| record.repo == *repo)
            .ok_or_else(|| ForgeError::NotFound {
                what: format!("PR {number} in repository {}", repo.0),
            })?;
        Ok(refreshed(git, record.pr))
    }

    /// Read-modify-write of one PR under the forge lock; nothing is written when `change` fails.
    fn update_pr<T>(
        &self,
        repo: &RepoRef,
        number: PrNumber,
        change: impl FnOnce(&mut PullRequest) -> Result<T, ForgeError>,
    ) -> Result<T, ForgeError> {
        let git = self.git(repo)?;
        let lock = self.store.lock()?;
        let mut pr = self.load(&git, repo, number)?;
        let out = change(&mut pr)?;
        self.save(&lock, repo, pr)?;
        Ok(out)
    }

    fn save(&self, lock: &WriteLock, repo: &RepoRef, pr: PullRequest) -> Result<(), ForgeError> {
        self.store.save_pr(
            lock,
            &PrRecord {
                repo: repo.clone(),
                pr,
            },
        )
    }

    fn open_pr_sync(&self, repo: &RepoRef, new: &NewPullRequest) -> Result<PrNumber, ForgeError> {
        let git = self.git(repo)?;
        let lock = self.store.lock()?;
        let numbers = self.store.pr_numbers()?;
        for &number in &numbers {
            if let Some(record) = self.store.load_pr(number)? {
                if record.repo == *repo
                    && record.pr.state == PrState::Open
                    && record.pr.head == new.head
                {
                    return Ok(record.pr.number);
                }
            }
        }
        let head_sha = git.branch_head(&new.head)?;
        git.branch_head(&new.base)?;
        let number = PrNumber(numbers.last().map_or(1, |n| n + 1));
        let pr = PullRequest {
            number,
            title: new.title.clone(),
            body: new.body.clone(),
            head: new.head.clone(),
            head_sha: CommitSha(head_sha.to_string()),
            base: new.base.clone(),
            state: PrState::Open,
            labels: new.labels.clone(),
            merge_sha: None,
            comments: Vec::new(),
            reviews: Vec::new(),
            created_at: now(),
        };
        self.save(&lock, repo, pr)?;
        Ok(number)
    }

    fn merge_sync(
        &self,
        repo: &RepoRef,
        number: PrNumber,
        head: &CommitSha,
    ) -> Result<CommitSha, ForgeError> {
        let git = self.git(repo)?;
        let lock = self.store.lock()?;
        let mut pr = self.load(&git, repo, number)?;
        match (pr.state, &pr.merge_sha) {
            (PrState::Merged, Some(sha)) => return Ok(sha.clone()),
            (PrState::Open, _) => {}
            (state, _) => {
                return Err(ForgeError::Api(format!(
                    "PR {number} in repository {} is {} and cannot be merged",
                    repo.0,
                    state_name(state)
                )))
            }
        }
        if &pr.head_sha != head {
            return Err(ForgeError::Conflict(format!(
                "PR {number} in repository {}: the head is {}, not the validated {}",
                repo.0,
                pr.head_sha.short(),
                head.short()
            )));
        }
        let message = format!(
            "Merge pull request {number} from {}\n\n{}",
            pr.head, pr.title
        );
        let merge = git.merge(&pr.base, &pr.head, &message, &format!("PR {number}"))?;
        let merge_sha = CommitSha(merge.to_string());
        pr.state = PrState::Merged;
        pr.merge_sha = Some(merge_sha.clone());
        self.save(&lock, repo, pr)?;
        Ok(merge_sha)
    }

    fn close_sync(&self, repo: &RepoRef, number: PrNumber) -> Result<(), ForgeError> {
        self.update_pr(repo, number, |pr| match pr.state {
            PrState::Open | PrState::Closed => {
                pr.state = PrState::Closed;
                Ok(())
            }
            PrState::Merged => Err(ForgeError::Api(format!(
                "PR {} is merged and cannot be closed",
                pr.number
            ))),
        })
    }
}

#[async_trait]
impl Forge for LocalForge {
    async fn own_login(&self) -> Result<String, ForgeError> {
        Ok(BOT_AUTHOR.to_string())
    }

    async fn default_branch(&self, repo: &RepoRef) -> Result<String, ForgeError> {
        self.git(repo)?.default_branch()
    }

    async fn branch_head(&self, repo: &RepoRef, branch: &str) -> Result<CommitSha, ForgeError> {
        let oid = self.git(repo)?.branch_head(branch)?;
        Ok(CommitSha(oid.to_string()))
    }

    async fn create_branch(
        &self,
        repo: &RepoRef,
        branch: &str,
        at: &CommitSha,
    ) -> Result<(), ForgeError> {
        self.git(repo)?.create_branch(branch, &at.0)
    }

    async fn read_file(
        &self,
        repo: &RepoRef,
        git_ref: &str,
        path: &str,
    ) -> Result<Option<String>, ForgeError> {
        self.git(repo)?.read_file(git_ref, path)
    }

    async fn commit(
        &self,
        repo: &RepoRef,
        branch: &str,
        message: &str,
        changes: &[FileChange],
        key: &str,
    ) -> Result<CommitSha, ForgeError> {
        let oid = self.git(repo)?.commit(branch, message, changes, key)?;
        Ok(CommitSha(oid.to_string()))
    }

    async fn open_pr(&self, repo: &RepoRef, pr: &NewPullRequest) -> Result<PrNumber, ForgeError> {
        self.open_pr_sync(repo, pr)
    }

    async fn pull_request(&self, repo: &RepoRef, pr: PrNumber) -> Result<PullRequest, ForgeError> {
        self.load(&self.git(repo)?, repo, pr)
    }

    async fn comment(&self, repo: &RepoRef, pr: PrNumber, body: &str) -> Result<u64, ForgeError> {
        self.add_comment_as(repo, pr, BOT_AUTHOR, body)
            .map(|c| c.id)
    }

    async fn merge(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
        head: &CommitSha,
    ) -> Result<CommitSha, ForgeError> {
        self.merge_sync(repo, pr, head)
    }

    async fn close(&self, repo: &RepoRef, pr: PrNumber) -> Result<(), ForgeError> {
        self.close_sync(repo, pr)
    }
}

/// An open PR follows its head branch, as on GitHub: a push changes its head (and so voids
/// reviews given on the old one). A deleted branch keeps the last known head.
fn refreshed(git: &GitRepo, mut pr: PullRequest) -> PullRequest {
    if pr.state == PrState::Open {
        if let Ok(oid) = git.branch_head(&pr.head) {
            pr.head_sha = CommitSha(oid.to_string());
        }
    }
    pr
}

/// Comments and reviews share one id sequence per PR, so ids give their order on the PR.
fn next_entry_id(pr: &PullRequest) -> u64 {
    let comments = pr.comments.iter().map(|c| c.id);
    let reviews = pr.reviews.iter().map(|r| r.id);
    comments.chain(reviews).max().unwrap_or(0) + 1
}

fn check_author(author: &str) -> Result<(), ForgeError> {
    if author.trim().is_empty() || author.contains(char::is_control) {
        return Err(ForgeError::Api(format!(
            "author {author:?} must be a non-empty name on one line"
        )));
    }
    Ok(())
}

fn state_name(state: PrState) -> &'static str {
    match state {
        PrState::Open => "open",
        PrState::Closed => "closed",
        PrState::Merged => "merged",
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
