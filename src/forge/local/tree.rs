//! Builds a commit's tree from its parent's tree plus a list of file changes, with git2 tree
//! builders only: the working tree and the index are never touched, so a commit on a branch that
//! is not checked out cannot disturb what a person has in the folder.

use crate::forge::{FileChange, ForgeError};
use git2::{ObjectType, Oid, Repository, Tree};
use std::collections::BTreeMap;

const MODE_FILE: i32 = 0o100644;
const MODE_EXECUTABLE: i32 = 0o100755;
const MODE_TREE: i32 = 0o040000;

/// What happens to one name inside one directory.
enum Edit<'a> {
    Write(&'a str),
    Delete,
    Dir(BTreeMap<&'a str, Edit<'a>>),
}

/// Returns the id of the tree that is `base` with `changes` applied. Deleting a path that does
/// not exist is a no-op, so that a replayed change set gives the same tree.
pub(super) fn apply_changes(
    repo: &Repository,
    base: &Tree<'_>,
    changes: &[FileChange],
) -> Result<Oid, ForgeError> {
    let mut root = BTreeMap::new();
    for change in changes {
        add_edit(&mut root, change)?;
    }
    match write_dir(repo, Some(base), &root)? {
        Some(oid) => Ok(oid),
        // Every file was deleted: git still needs a (empty) root tree.
        None => repo
            .treebuilder(None)
            .and_then(|b| b.write())
            .map_err(|e| git_error("writing the empty root tree", e)),
    }
}

fn add_edit<'a>(
    root: &mut BTreeMap<&'a str, Edit<'a>>,
    change: &'a FileChange,
) -> Result<(), ForgeError> {
    let components = path_components(&change.path)?;
    let Some((leaf, dirs)) = components.split_last() else {
        return Err(invalid_path(&change.path, "it is empty"));
    };
    let mut dir = root;
    for name in dirs {
        let entry = dir
            .entry(name)
            .or_insert_with(|| Edit::Dir(BTreeMap::new()));
        dir = match entry {
            Edit::Dir(children) => children,
            _ => {
                return Err(invalid_path(
                    &change.path,
                    &format!("another change in this commit makes `{name}` a file"),
                ))
            }
        };
    }
    if let Some(Edit::Dir(_)) = dir.get(leaf) {
        return Err(invalid_path(
            &change.path,
            "another change in this commit writes a file below it",
        ));
    }
    // The same path twice: the later change wins, as if they were applied in order.
    let edit = match &change.content {
        Some(content) => Edit::Write(content),
        None => Edit::Delete,
    };
    dir.insert(leaf, edit);
    Ok(())
}

/// Writes one directory level; `None` means the directory ended up empty (git has no empty
/// directories, so the caller drops it).
fn write_dir(
    repo: &Repository,
    base: Option<&Tree<'_>>,
    edits: &BTreeMap<&str, Edit<'_>>,
) -> Result<Option<Oid>, ForgeError> {
    let mut builder = repo
        .treebuilder(base)
        .map_err(|e| git_error("opening a tree builder", e))?;
    for (name, edit) in edits {
        let existing = builder
            .get(name)
            .map_err(|e| git_error(&format!("reading tree entry {name}"), e))?
            .map(|entry| (entry.kind(), entry.id(), entry.filemode()));
        match edit {
            Edit::Write(content) => {
                let blob = repo
                    .blob(content.as_bytes())
                    .map_err(|e| git_error(&format!("writing blob for {name}"), e))?;
                // An executable script stays executable when healbot edits it.
                let mode = match existing {
                    Some((Some(ObjectType::Blob), _, MODE_EXECUTABLE)) => MODE_EXECUTABLE,
                    _ => MODE_FILE,
                };
                builder
                    .insert(name, blob, mode)
                    .map_err(|e| git_error(&format!("adding {name}"), e))?;
            }
            Edit::Delete => {
                if existing.is_some() {
                    builder
                        .remove(name)
                        .map_err(|e| git_error(&format!("removing {name}"), e))?;
                }
            }
            Edit::Dir(children) => {
                let subtree = match existing {
                    Some((Some(ObjectType::Tree), id, _)) => Some(
                        repo.find_tree(id)
                            .map_err(|e| git_error(&format!("reading directory {name}"), e))?,
                    ),
                    _ => None,
                };
                match write_dir(repo, subtree.as_ref(), children)? {
                    Some(oid) => {
                        builder
                            .insert(name, oid, MODE_TREE)
                            .map_err(|e| git_error(&format!("adding directory {name}"), e))?;
                    }
                    None if existing.is_some() => builder
                        .remove(name)
                        .map_err(|e| git_error(&format!("removing directory {name}"), e))?,
                    None => {}
                }
            }
        }
    }
    if builder.is_empty() {
        return Ok(None);
    }
    builder
        .write()
        .map(Some)
        .map_err(|e| git_error("writing a tree", e))
}

/// Splits a repository-relative path and refuses anything that could escape the tree or touch
/// git's own directory.
pub(super) fn path_components(path: &str) -> Result<Vec<&str>, ForgeError> {
    if path.is_empty() {
        return Err(invalid_path(path, "it is empty"));
    }
    if path.starts_with('/') {
        return Err(invalid_path(
            path,
            "it is absolute; paths are relative to the repository root",
        ));
    }
    let components: Vec<&str> = path.split('/').collect();
    for component in &components {
        let reason = match *component {
            "" => Some("it has an empty component (`//` or a trailing `/`)"),
            "." | ".." => Some("it has a `.` or `..` component"),
            c if c.eq_ignore_ascii_case(".git") => Some("it is inside `.git`"),
            c if c.contains('\0') => Some("it contains a NUL byte"),
            _ => None,
        };
        if let Some(reason) = reason {
            return Err(invalid_path(path, reason));
        }
    }
    Ok(components)
}

fn invalid_path(path: &str, reason: &str) -> ForgeError {
    ForgeError::Git(format!("invalid path {path:?} in a file change: {reason}"))
}

fn git_error(context: &str, e: git2::Error) -> ForgeError {
    ForgeError::Git(format!("{context}: {}", e.message()))
}
