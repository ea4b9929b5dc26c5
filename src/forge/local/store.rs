//! The local forge's files under `<state>/forge/`: the repository index (`repos.json`) and one
//! JSON file per pull request (`prs/<n>.json`). A later CLI process reopens the same forge from
//! these files, so every write is atomic (temp file + rename) and every read-modify-write holds
//! an exclusive file lock: the demo and a person's `healbot pr` may run at the same time.

use crate::forge::{ForgeError, PullRequest, RepoRef};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// A pull request as stored: the PR itself plus the repository it belongs to (PR numbers are
/// unique across the whole local forge).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PrRecord {
    pub repo: RepoRef,
    #[serde(flatten)]
    pub pr: PullRequest,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RepoIndex {
    /// Repository name → absolute path of its git directory or working tree.
    repos: BTreeMap<String, PathBuf>,
}

/// Proof that the caller holds the forge's write lock; writes take it by reference.
pub(super) struct WriteLock {
    // Closing the file releases the lock.
    _file: File,
}

pub(super) struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(state_dir: &Path) -> Store {
        Store {
            root: state_dir.join("forge"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn repos_path(&self) -> PathBuf {
        self.root.join("repos.json")
    }

    fn prs_dir(&self) -> PathBuf {
        self.root.join("prs")
    }

    fn pr_path(&self, number: u64) -> PathBuf {
        self.prs_dir().join(format!("{number}.json"))
    }

    /// Takes the forge-wide write lock, creating the forge directories on first use.
    pub fn lock(&self) -> Result<WriteLock, ForgeError> {
        let prs = self.prs_dir();
        fs::create_dir_all(&prs).map_err(|e| state_error(&prs, "cannot create directory", e))?;
        let path = self.root.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| state_error(&path, "cannot open lock file", e))?;
        // Called through the trait: `File::lock` in std is newer than the crate's MSRV.
        <File as fs4::FileExt>::lock(&file).map_err(|e| state_error(&path, "cannot lock", e))?;
        Ok(WriteLock { _file: file })
    }

    pub fn repos(&self) -> Result<BTreeMap<String, PathBuf>, ForgeError> {
        let path = self.repos_path();
        Ok(read_json::<RepoIndex>(&path)?.unwrap_or_default().repos)
    }

    pub(crate) fn save_repos(
        &self,
        _lock: &WriteLock,
        repos: BTreeMap<String, PathBuf>,
    ) -> Result<(), ForgeError> {
        write_json_atomically(&self.repos_path(), &RepoIndex { repos })
    }

    /// Numbers of every stored PR, ascending.
    pub fn pr_numbers(&self) -> Result<Vec<u64>, ForgeError> {
        let dir = self.prs_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(state_error(&dir, "cannot list", e)),
        };
        let mut numbers = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| state_error(&dir, "cannot list", e))?;
            let name = entry.file_name();
            // Temp files and anything else that is not `<n>.json` are not PRs.
            let number = name
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| n.parse::<u64>().ok());
            numbers.extend(number);
        }
        numbers.sort_unstable();
        Ok(numbers)
    }

    pub(crate) fn load_pr(&self, number: u64) -> Result<Option<PrRecord>, ForgeError> {
        let path = self.pr_path(number);
        let record = read_json::<PrRecord>(&path)?;
        match record {
            Some(r) if r.pr.number.0 != number => Err(ForgeError::State {
                path: path.display().to_string(),
                reason: format!("file holds PR {} instead of #{number}", r.pr.number),
            }),
            other => Ok(other),
        }
    }

    pub(crate) fn save_pr(&self, _lock: &WriteLock, record: &PrRecord) -> Result<(), ForgeError> {
        write_json_atomically(&self.pr_path(record.pr.number.0), record)
    }
}

fn state_error(path: &Path, what: &str, e: std::io::Error) -> ForgeError {
    ForgeError::State {
        path: path.display().to_string(),
        reason: format!("{what}: {e}"),
    }
}

/// Reads a JSON file; a missing file is `None`, a malformed one an error naming it.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, ForgeError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(state_error(path, "cannot read", e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ForgeError::State {
            path: path.display().to_string(),
            reason: format!("malformed JSON: {e}"),
        })
}

/// Writes through a temp file in the same directory and renames it over the target, so a reader
/// (or a crash) never sees half a file.
fn write_json_atomically<T: Serialize>(path: &Path, value: &T) -> Result<(), ForgeError> {
    let mut json = serde_json::to_vec_pretty(value).map_err(|e| ForgeError::State {
        path: path.display().to_string(),
        reason: format!("cannot serialize: {e}"),
    })?;
    json.push(b'\n');
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(&json)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        // Makes the rename itself durable.
        File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        state_error(path, "cannot write", e)
    })
}
