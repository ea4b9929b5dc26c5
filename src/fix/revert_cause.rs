//! Reverting the suspected cause as a fix (not the rollback of a failed rollout, which lives
//! with the canary): when an incident starts right after a commit that changed the faulty
//! line, undoing that commit is the fix most likely to be right (SapFix tries it first). The suspect is found
//! by blame on the code that was deployed at the incident's start; the revert is `git revert`
//! done in memory with git2 (a three-way merge of the inverse change onto the current head),
//! of the whole commit or of only the hunk holding the faulty line. The worktree is never
//! touched: the result is new file contents and a diff, like every other fix.

use super::engine::Patch;
use super::template::Risk;
use git2::{Commit, Index, Oid, Repository, Tree};
use serde::{Deserialize, Serialize};
use similar::{DiffOp, TextDiff};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RevertError {
    #[error("{}: {op}: {source}", repo.display())]
    Git {
        repo: PathBuf,
        op: String,
        #[source]
        source: git2::Error,
    },
    #[error("reverting {sha} ({summary}) conflicts with later changes in: {}", files.join(", "))]
    Conflict {
        sha: String,
        summary: String,
        files: Vec<String>,
    },
    #[error("{file}: commit {sha} did not change line {line}")]
    NoHunk {
        sha: String,
        file: String,
        line: u32,
    },
    #[error("{file}: is not UTF-8 text, so it cannot be reverted as a patch")]
    Binary { file: String },
    #[error("reverting {sha} changes nothing on the current head (already reverted?)")]
    Empty { sha: String },
    #[error("{sha} is the repository's first commit: reverting it would delete everything")]
    Root { sha: String },
}

/// The commit suspected of causing the incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuspectCommit {
    pub sha: String,
    pub summary: String,
    /// Commit time, unix seconds.
    pub time: i64,
    /// The faulty file and line, as localized (in the deployed code).
    pub file: String,
    pub line: u32,
    /// The same line in the suspect commit's version of the file.
    pub line_in_commit: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RevertMode {
    /// The whole commit, every file it touched.
    Full,
    /// Only the hunk of the suspect commit that holds the faulty line.
    Hunk,
}

/// One file a revert changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevertedFile {
    pub file: String,
    /// Empty when the file does not exist at head.
    pub original: String,
    /// Empty when the revert deletes the file.
    pub patched: String,
    pub deleted: bool,
    pub diff: String,
}

/// A revert, ready to commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revert {
    pub sha: String,
    pub summary: String,
    pub mode: RevertMode,
    pub files: Vec<RevertedFile>,
    /// All files' diffs, one after the other.
    pub diff: String,
}

impl Revert {
    /// The commit message git would write.
    pub fn message(&self) -> String {
        let what = match self.mode {
            RevertMode::Full => "",
            RevertMode::Hunk => " (faulty hunk only)",
        };
        format!(
            "Revert \"{}\"{what}\n\nThis reverts commit {}.",
            self.summary, self.sha
        )
    }

    /// One pipeline [`Patch`] per file (template id `revert.full` or `revert.hunk`).
    pub fn patches(&self) -> Vec<Patch> {
        let id = match self.mode {
            RevertMode::Full => "revert.full",
            RevertMode::Hunk => "revert.hunk",
        };
        self.files
            .iter()
            .map(|f| {
                let (added, removed) = count_lines(&f.original, &f.patched);
                Patch {
                    file: f.file.clone(),
                    original: f.original.clone(),
                    patched: f.patched.clone(),
                    diff: f.diff.clone(),
                    template_id: id.to_string(),
                    confidence: 0.8,
                    risk: Risk::Low,
                    summary: format!("Revert {} ({})", short(&self.sha), self.summary),
                    lines_added: added,
                    lines_removed: removed,
                    line: 0,
                }
            })
            .collect()
    }
}

fn short(sha: &str) -> &str {
    sha.get(..10).unwrap_or(sha)
}

struct Repo {
    repo: Repository,
    path: PathBuf,
}

impl Repo {
    fn open(path: &Path) -> Result<Self, RevertError> {
        let repo = Repository::open(path).map_err(git(path, "open"))?;
        Ok(Repo {
            repo,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, op: impl Into<String>) -> impl FnOnce(git2::Error) -> RevertError + '_ {
        git(&self.path, op)
    }

    fn head(&self) -> Result<Commit<'_>, RevertError> {
        self.repo
            .head()
            .and_then(|h| h.peel_to_commit())
            .map_err(self.err("read HEAD"))
    }

    fn text_at(&self, tree: &Tree<'_>, file: &str) -> Result<Option<String>, RevertError> {
        let Ok(entry) = tree.get_path(Path::new(file)) else {
            return Ok(None);
        };
        let blob = self
            .repo
            .find_blob(entry.id())
            .map_err(self.err(format!("read {file}")))?;
        text(blob.content(), file).map(Some)
    }
}

fn git(path: &Path, op: impl Into<String>) -> impl FnOnce(git2::Error) -> RevertError + '_ {
    let op = op.into();
    move |source| RevertError::Git {
        repo: path.to_path_buf(),
        op,
        source,
    }
}

fn text(bytes: &[u8], file: &str) -> Result<String, RevertError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| RevertError::Binary {
        file: file.to_string(),
    })
}

/// The commit that last changed `file:line` in the code deployed at `incident_start` (the
/// newest first-parent commit not after it), when it landed at most `window_secs` before the
/// incident. `None` when the line is older, unknown, or from the first commit.
pub fn find_suspect(
    repo: &Path,
    file: &str,
    line: u32,
    incident_start: i64,
    window_secs: i64,
) -> Result<Option<SuspectCommit>, RevertError> {
    let r = Repo::open(repo)?;
    let mut deployed = r.head()?;
    while deployed.time().seconds() > incident_start {
        match deployed.parent(0) {
            Ok(p) => deployed = p,
            Err(_) => return Ok(None),
        }
    }
    let mut opts = git2::BlameOptions::new();
    opts.newest_commit(deployed.id())
        .min_line(line as usize)
        .max_line(line as usize);
    // An unknown file or line is no suspect, not an error: blame is a hint.
    let Ok(blame) = r.repo.blame_file(Path::new(file), Some(&mut opts)) else {
        return Ok(None);
    };
    let Some(hunk) = blame.get_line(line as usize) else {
        return Ok(None);
    };
    let line_in_commit = hunk.orig_start_line() as u32 + (line - hunk.final_start_line() as u32);
    let commit = r
        .repo
        .find_commit(hunk.final_commit_id())
        .map_err(r.err("read the blamed commit"))?;
    let age = incident_start - commit.time().seconds();
    if commit.parent_count() == 0 || !(0..=window_secs).contains(&age) {
        return Ok(None);
    }
    Ok(Some(SuspectCommit {
        sha: commit.id().to_string(),
        summary: crate::gitops::commit_summary(&commit),
        time: commit.time().seconds(),
        file: file.to_string(),
        line,
        line_in_commit,
    }))
}

/// Reverts the suspect commit on the current head, in full or only its faulty hunk.
pub fn revert(
    repo: &Path,
    suspect: &SuspectCommit,
    mode: RevertMode,
) -> Result<Revert, RevertError> {
    let r = Repo::open(repo)?;
    let oid = Oid::from_str(&suspect.sha).map_err(r.err(format!("parse {}", suspect.sha)))?;
    let commit = r
        .repo
        .find_commit(oid)
        .map_err(r.err(format!("read {}", suspect.sha)))?;
    let summary = crate::gitops::commit_summary(&commit);
    let parent = commit.parent(0).map_err(|_| RevertError::Root {
        sha: suspect.sha.clone(),
    })?;
    let commit_tree = commit.tree().map_err(r.err("read the commit's tree"))?;
    let parent_tree = parent.tree().map_err(r.err("read the parent's tree"))?;
    let head_tree = r.head()?.tree().map_err(r.err("read HEAD's tree"))?;
    // `git revert` is a merge whose base is the commit and whose "theirs" is its parent; for a
    // hunk, "theirs" is the commit with only that hunk undone.
    let theirs = match mode {
        RevertMode::Full => parent_tree,
        RevertMode::Hunk => {
            let before = r.text_at(&parent_tree, &suspect.file)?.unwrap_or_default();
            let after =
                r.text_at(&commit_tree, &suspect.file)?
                    .ok_or_else(|| RevertError::NoHunk {
                        sha: suspect.sha.clone(),
                        file: suspect.file.clone(),
                        line: suspect.line,
                    })?;
            let undone = undo_hunk(&before, &after, suspect.line_in_commit).ok_or_else(|| {
                RevertError::NoHunk {
                    sha: suspect.sha.clone(),
                    file: suspect.file.clone(),
                    line: suspect.line,
                }
            })?;
            replace_file(&r, &commit_tree, &suspect.file, &undone)?
        }
    };
    let mut merged = r
        .repo
        .merge_trees(&commit_tree, &head_tree, &theirs, None)
        .map_err(r.err("merge the inverse change"))?;
    if merged.has_conflicts() {
        return Err(RevertError::Conflict {
            sha: suspect.sha.clone(),
            summary,
            files: conflict_paths(&merged),
        });
    }
    let tree_id = merged
        .write_tree_to(&r.repo)
        .map_err(r.err("write the reverted tree"))?;
    let new_tree = r
        .repo
        .find_tree(tree_id)
        .map_err(r.err("read the reverted tree"))?;
    let files = changed_files(&r, &head_tree, &new_tree)?;
    if files.is_empty() {
        return Err(RevertError::Empty {
            sha: suspect.sha.clone(),
        });
    }
    let diff = files.iter().map(|f| f.diff.as_str()).collect();
    Ok(Revert {
        sha: suspect.sha.clone(),
        summary,
        mode,
        files,
        diff,
    })
}

/// `after` with the changes of the hunk (3 lines of context, as git groups them) that holds
/// the 1-based `line` of `after` put back to `before`. `None` when no change covers the line.
pub(crate) fn undo_hunk(before: &str, after: &str, line: u32) -> Option<String> {
    let diff = TextDiff::from_lines(before, after);
    let row = (line as usize).checked_sub(1)?;
    let group = diff.grouped_ops(3).into_iter().find(|g| {
        g.iter()
            .any(|op| !matches!(op, DiffOp::Equal { .. }) && op.new_range().contains(&row))
    })?;
    let undo: HashSet<DiffOp> = group
        .into_iter()
        .filter(|op| !matches!(op, DiffOp::Equal { .. }))
        .collect();
    let (old, new) = (diff.old_slices(), diff.new_slices());
    let mut out = String::with_capacity(after.len());
    for op in diff.ops() {
        let lines = if undo.contains(op) {
            &old[op.old_range()]
        } else {
            &new[op.new_range()]
        };
        lines.iter().for_each(|l| out.push_str(l));
    }
    Some(out)
}

/// `tree` with `file` set to `contents` (the file must exist in it).
fn replace_file<'r>(
    r: &'r Repo,
    tree: &Tree<'_>,
    file: &str,
    contents: &str,
) -> Result<Tree<'r>, RevertError> {
    let blob = r
        .repo
        .blob(contents.as_bytes())
        .map_err(r.err(format!("write {file}")))?;
    let mut index = Index::new().map_err(r.err("create an index"))?;
    index.read_tree(tree).map_err(r.err("read a tree"))?;
    let mut entry = index
        .get_path(Path::new(file), 0)
        .ok_or_else(|| RevertError::NoHunk {
            sha: String::new(),
            file: file.to_string(),
            line: 0,
        })?;
    entry.id = blob;
    entry.file_size = u32::try_from(contents.len()).unwrap_or(u32::MAX);
    index.add(&entry).map_err(r.err(format!("stage {file}")))?;
    let id = index
        .write_tree_to(&r.repo)
        .map_err(r.err("write a tree"))?;
    r.repo.find_tree(id).map_err(r.err("read a tree"))
}

fn conflict_paths(index: &Index) -> Vec<String> {
    let mut files: Vec<String> = index
        .conflicts()
        .into_iter()
        .flatten()
        .filter_map(|c| c.ok())
        .filter_map(|c| c.our.or(c.their).or(c.ancestor))
        .map(|e| String::from_utf8_lossy(&e.path).into_owned())
        .collect();
    files.sort();
    files.dedup();
    files
}

fn changed_files(
    r: &Repo,
    head: &Tree<'_>,
    new: &Tree<'_>,
) -> Result<Vec<RevertedFile>, RevertError> {
    let diff = r
        .repo
        .diff_tree_to_tree(Some(head), Some(new), None)
        .map_err(r.err("diff the revert"))?;
    let mut out = Vec::new();
    for delta in diff.deltas() {
        let path = delta
            .new_file()
            .path()
            .or_else(|| delta.old_file().path())
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        let original = r.text_at(head, &path)?.unwrap_or_default();
        let now = r.text_at(new, &path)?;
        let deleted = now.is_none();
        let patched = now.unwrap_or_default();
        let diff = super::diff::file_diff(&path, &original, &patched).unified;
        out.push(RevertedFile {
            file: path,
            original,
            patched,
            deleted,
            diff,
        });
    }
    Ok(out)
}

fn count_lines(original: &str, patched: &str) -> (usize, usize) {
    let d = super::diff::file_diff("", original, patched);
    (d.added, d.removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_hunk_with_the_line_is_undone() {
        let before = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n";
        // Two changes far enough apart to be two hunks.
        let after = "a\nB\nc\nd\ne\nf\ng\nh\ni\nJ\nk\n";
        assert_eq!(
            undo_hunk(before, after, 2).unwrap(),
            "a\nb\nc\nd\ne\nf\ng\nh\ni\nJ\nk\n"
        );
        assert_eq!(
            undo_hunk(before, after, 10).unwrap(),
            "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\n"
        );
        // An unchanged line is in no hunk.
        assert_eq!(undo_hunk(before, after, 6), None);
        // Added lines go away, the neighbours stay.
        assert_eq!(undo_hunk("x\ny\n", "x\nnew\ny\n", 2).unwrap(), "x\ny\n");
    }
}
