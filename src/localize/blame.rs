//! Recent change as a ranking signal: a crash often sits on a line someone changed lately.
//! Blame is best effort: no repository, a shallow clone or an unknown file gives no signal,
//! never an error.

use git2::{BlameOptions, Repository};
use std::path::Path;

/// How recent a change still counts, measured back from the newest commit (not the wall
/// clock, so an old checkout ranks the same way on every run).
const RECENT_SECS: i64 = 7 * 24 * 3600;

/// Answers "was this line changed recently?" for files of one repository.
pub struct Blamer {
    repo: Option<Repository>,
    head_time: i64,
}

/// A recent change of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentChange {
    pub commit: String,
    pub summary: String,
}

impl Blamer {
    pub fn open(repo: &Path) -> Self {
        let repo = Repository::open(repo).ok();
        let head_time = repo
            .as_ref()
            .and_then(|r| r.head().ok()?.peel_to_commit().ok())
            .map_or(0, |c| c.time().seconds());
        Blamer { repo, head_time }
    }

    /// The commit that last changed `file:line`, when it is recent and not the repository's
    /// first commit (an initial import says nothing about the crash).
    pub fn recent_change(&self, file: &str, line: u32) -> Option<RecentChange> {
        let repo = self.repo.as_ref()?;
        let mut opts = BlameOptions::new();
        opts.min_line(line as usize).max_line(line as usize);
        let blame = repo.blame_file(Path::new(file), Some(&mut opts)).ok()?;
        let hunk = blame.get_line(line as usize)?;
        let commit = repo.find_commit(hunk.final_commit_id()).ok()?;
        let recent = self.head_time - commit.time().seconds() <= RECENT_SECS;
        (recent && commit.parent_count() > 0).then(|| RecentChange {
            commit: commit.id().to_string().chars().take(10).collect(),
            summary: crate::gitops::commit_summary(&commit),
        })
    }
}

impl Blamer {
    /// The lines in `start..=end` of `file` that recent commits (the rule of
    /// [`Blamer::recent_change`]) last changed, newest commit first.
    pub(crate) fn recent_lines(
        &self,
        file: &str,
        start: u32,
        end: u32,
    ) -> Vec<(u32, RecentChange)> {
        let Some(repo) = self.repo.as_ref() else {
            return Vec::new();
        };
        if start == 0 || end < start {
            return Vec::new();
        }
        let mut opts = BlameOptions::new();
        opts.min_line(start as usize).max_line(end as usize);
        let Ok(blame) = repo.blame_file(Path::new(file), Some(&mut opts)) else {
            return Vec::new();
        };
        let mut out: Vec<(i64, u32, RecentChange)> = Vec::new();
        for hunk in blame.iter() {
            let Ok(commit) = repo.find_commit(hunk.final_commit_id()) else {
                continue;
            };
            let time = commit.time().seconds();
            if self.head_time - time > RECENT_SECS || commit.parent_count() == 0 {
                continue;
            }
            let change = RecentChange {
                commit: commit.id().to_string().chars().take(10).collect(),
                summary: crate::gitops::commit_summary(&commit),
            };
            let first = hunk.final_start_line() as u32;
            out.push((time, first, change));
        }
        out.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        out.into_iter().map(|(_, l, c)| (l, c)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use git2::Signature;

    fn commit(repo: &Repository, file: &str, text: &str, msg: &str) {
        let root = repo.workdir().unwrap().to_path_buf();
        std::fs::write(root.join(file), text).unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new(file)).unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = Signature::now("t", "t@example.com").unwrap();
        let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<_> = parent.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, msg, &tree, &parents)
            .unwrap();
    }

    #[test]
    fn only_lines_changed_after_the_first_commit_are_recent() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        commit(&repo, "a.py", "x = 1\ny = 2\n", "initial import");
        commit(&repo, "a.py", "x = 1\ny = 3\n", "change y");
        let blamer = Blamer::open(dir.path());
        assert_eq!(blamer.recent_change("a.py", 1), None);
        assert_eq!(blamer.recent_change("a.py", 2).unwrap().summary, "change y");
        let lines = blamer.recent_lines("a.py", 1, 2);
        assert_eq!(lines.len(), 1);
        assert_eq!((lines[0].0, lines[0].1.summary.as_str()), (2, "change y"));
        assert_eq!(
            Blamer::open(&dir.path().join("nope")).recent_change("a.py", 2),
            None
        );
    }
}
