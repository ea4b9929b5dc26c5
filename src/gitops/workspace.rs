//! The few git operations the pipeline needs around a service repository, through git2 (no
//! `git` binary): export a commit's files to run old and patched code side by side, resolve a
//! revision, tag a release, and list the recent commits that touched a path.

use super::GitopsError;
use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};
use std::path::{Component, Path, PathBuf};

/// A commit's summary (its message's first paragraph), empty when it has none or it is not
/// UTF-8.
pub fn commit_summary(commit: &git2::Commit) -> String {
    commit
        .summary()
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_string()
}

/// A commit as `log_paths` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub sha: String,
    pub summary: String,
    pub author: String,
    /// Commit time, unix seconds.
    pub time: i64,
}

fn git_err(op: impl Into<String>, repo: &Path) -> impl FnOnce(git2::Error) -> GitopsError + '_ {
    let op = op.into();
    move |source| GitopsError::Git {
        op,
        repo: repo.to_path_buf(),
        source,
    }
}

fn open(repo_path: &Path) -> Result<Repository, GitopsError> {
    Repository::open(repo_path).map_err(git_err("open", repo_path))
}

fn commit_of<'r>(
    repo: &'r Repository,
    repo_path: &Path,
    rev: &str,
) -> Result<git2::Commit<'r>, GitopsError> {
    repo.revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .map_err(git_err(format!("resolve `{rev}`"), repo_path))
}

/// The full sha of the commit `rev` names (a branch, tag, sha or expression like `HEAD~1`).
pub fn resolve(repo_path: &Path, rev: &str) -> Result<String, GitopsError> {
    let repo = open(repo_path)?;
    let sha = commit_of(&repo, repo_path, rev)?.id().to_string();
    Ok(sha)
}

/// Creates the lightweight tag `name` at `sha`. Idempotent: a tag already at `sha` is fine, a
/// tag at another commit is an error (a replay must not move a release tag).
pub fn tag(repo_path: &Path, name: &str, sha: &str) -> Result<(), GitopsError> {
    let repo = open(repo_path)?;
    let oid = Oid::from_str(sha).map_err(git_err(format!("parse sha `{sha}`"), repo_path))?;
    let target = repo
        .find_object(oid, Some(ObjectType::Commit))
        .map_err(git_err(format!("find commit {sha}"), repo_path))?;
    let refname = format!("refs/tags/{name}");
    if let Ok(existing) = repo.refname_to_id(&refname) {
        if existing == oid {
            return Ok(());
        }
        return Err(GitopsError::Repo {
            repo: repo_path.to_path_buf(),
            reason: format!("tag `{name}` already points at {existing}, not {sha}"),
        });
    }
    repo.tag_lightweight(name, &target, false)
        .map_err(git_err(format!("tag `{name}`"), repo_path))?;
    Ok(())
}

/// Up to `n` commits reachable from `rev`, newest first, whose `path` (file or directory)
/// differs from their first parent's.
pub fn log_paths(
    repo_path: &Path,
    rev: &str,
    path: &str,
    n: usize,
) -> Result<Vec<CommitInfo>, GitopsError> {
    let repo = open(repo_path)?;
    let start = commit_of(&repo, repo_path, rev)?;
    let mut walk = repo.revwalk().map_err(git_err("revwalk", repo_path))?;
    walk.push(start.id())
        .map_err(git_err("revwalk", repo_path))?;
    let entry_id = |commit: &git2::Commit| -> Option<Oid> {
        let tree = commit.tree().ok()?;
        tree.get_path(Path::new(path)).ok().map(|e| e.id())
    };
    let mut out = Vec::new();
    for oid in walk {
        if out.len() >= n {
            break;
        }
        let oid = oid.map_err(git_err("revwalk", repo_path))?;
        let commit = repo
            .find_commit(oid)
            .map_err(git_err(format!("read commit {oid}"), repo_path))?;
        let before = commit.parent(0).ok().and_then(|p| entry_id(&p));
        let now = entry_id(&commit);
        if now != before {
            out.push(CommitInfo {
                sha: oid.to_string(),
                summary: commit_summary(&commit),
                author: commit.author().name().unwrap_or_default().to_string(),
                time: commit.time().seconds(),
            });
        }
    }
    Ok(out)
}

/// Writes the files of commit `rev` under `dest` (created if missing) and returns how many
/// files it wrote. Executable bits and symlinks are kept; submodules are skipped. Entry names
/// that would escape `dest` are refused, since a repository's content is outside input.
pub fn export_tree(repo_path: &Path, rev: &str, dest: &Path) -> Result<usize, GitopsError> {
    let repo = open(repo_path)?;
    let tree = commit_of(&repo, repo_path, rev)?
        .tree()
        .map_err(git_err(format!("read tree of `{rev}`"), repo_path))?;
    create_dir(dest)?;
    let mut written = 0;
    let mut failure = None;
    let walked = tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        let result = export_entry(&repo, repo_path, dest, dir, entry);
        match result {
            Ok(n) => {
                written += n;
                TreeWalkResult::Ok
            }
            Err(e) => {
                failure = Some(e);
                TreeWalkResult::Abort
            }
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    walked.map_err(git_err(format!("walk tree of `{rev}`"), repo_path))?;
    Ok(written)
}

fn export_entry(
    repo: &Repository,
    repo_path: &Path,
    dest: &Path,
    dir: &str,
    entry: &git2::TreeEntry,
) -> Result<usize, GitopsError> {
    let name = entry.name().map_err(|_| GitopsError::Repo {
        repo: repo_path.to_path_buf(),
        reason: format!("non-UTF-8 file name in `{dir}`"),
    })?;
    let relative = PathBuf::from(dir).join(name);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        || name == ".git"
    {
        return Err(GitopsError::Repo {
            repo: repo_path.to_path_buf(),
            reason: format!("refusing to export the entry `{}`", relative.display()),
        });
    }
    let target = dest.join(&relative);
    match entry.kind() {
        Some(ObjectType::Tree) => create_dir(&target).map(|_| 0),
        Some(ObjectType::Blob) => {
            let blob = repo
                .find_blob(entry.id())
                .map_err(git_err(format!("read {}", relative.display()), repo_path))?;
            write_blob(&target, blob.content(), entry.filemode()).map(|_| 1)
        }
        // Submodules (commits) have no content in this repository.
        _ => Ok(0),
    }
}

fn create_dir(path: &Path) -> Result<(), GitopsError> {
    std::fs::create_dir_all(path).map_err(|source| GitopsError::Io {
        op: "creating",
        path: path.to_path_buf(),
        source,
    })
}

fn write_blob(target: &Path, content: &[u8], mode: i32) -> Result<(), GitopsError> {
    let io = |op: &'static str| {
        move |source| GitopsError::Io {
            op,
            path: target.to_path_buf(),
            source,
        }
    };
    #[cfg(unix)]
    if mode == 0o120000 {
        let link = String::from_utf8_lossy(content).into_owned();
        return std::os::unix::fs::symlink(link, target).map_err(io("linking"));
    }
    std::fs::write(target, content).map_err(io("writing"))?;
    #[cfg(unix)]
    if mode == 0o100755 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o755))
            .map_err(io("chmod"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use git2::Signature;

    /// A repo with three commits: add `a.txt` and `deploy/r.yaml`, change `a.txt`, change
    /// `deploy/r.yaml`.
    fn repo() -> (tempfile::TempDir, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let sig = Signature::new(
            "healbot",
            "bot@example.com",
            &git2::Time::new(1_700_000_000, 0),
        )
        .unwrap();
        let mut shas = Vec::new();
        let mut parent: Option<Oid> = None;
        for (msg, file, body) in [
            ("init", "a.txt", "one"),
            ("edit a", "a.txt", "two"),
            ("bump rollout", "deploy/r.yaml", "w: 10"),
        ] {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, body).unwrap();
            if msg == "init" {
                std::fs::create_dir_all(dir.path().join("deploy")).unwrap();
                std::fs::write(dir.path().join("deploy/r.yaml"), "w: 0").unwrap();
            }
            let mut index = repo.index().unwrap();
            index
                .add_all(["."], git2::IndexAddOption::DEFAULT, None)
                .unwrap();
            index.write().unwrap();
            let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
            let parents: Vec<git2::Commit> = parent
                .iter()
                .map(|p| repo.find_commit(*p).unwrap())
                .collect();
            let refs: Vec<&git2::Commit> = parents.iter().collect();
            let oid = repo
                .commit(Some("HEAD"), &sig, &sig, msg, &tree, &refs)
                .unwrap();
            shas.push(oid.to_string());
            parent = Some(oid);
        }
        (dir, shas)
    }

    #[test]
    fn resolves_tags_and_logs_paths() {
        let (dir, shas) = repo();
        assert_eq!(resolve(dir.path(), "HEAD").unwrap(), shas[2]);
        assert_eq!(resolve(dir.path(), "HEAD~2").unwrap(), shas[0]);
        assert!(resolve(dir.path(), "no-such-branch").is_err());
        tag(dir.path(), "v1", &shas[0]).unwrap();
        tag(dir.path(), "v1", &shas[0]).unwrap();
        assert!(tag(dir.path(), "v1", &shas[1]).is_err());
        assert_eq!(resolve(dir.path(), "v1").unwrap(), shas[0]);
        let log = log_paths(dir.path(), "HEAD", "a.txt", 10).unwrap();
        let got: Vec<&str> = log.iter().map(|c| c.summary.as_str()).collect();
        assert_eq!(got, ["edit a", "init"]);
        let log = log_paths(dir.path(), "HEAD", "deploy", 1).unwrap();
        assert_eq!(log[0].sha, shas[2]);
        assert_eq!(log.len(), 1);
    }

    #[test]
    fn exports_a_commit_tree() {
        let (dir, shas) = repo();
        let out = tempfile::tempdir().unwrap();
        let n = export_tree(dir.path(), &shas[0], out.path()).unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            std::fs::read_to_string(out.path().join("a.txt")).unwrap(),
            "one"
        );
        assert_eq!(
            std::fs::read_to_string(out.path().join("deploy/r.yaml")).unwrap(),
            "w: 0"
        );
        assert!(!out.path().join(".git").exists());
    }
}
