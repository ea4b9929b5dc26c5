//! The delivery log: every accepted webhook is written here, fsync'd, before the response, so a
//! crash after GitHub's 200 loses nothing. It is append-only JSONL (`<state>/deliveries.jsonl`)
//! with the body in its own file (`<state>/deliveries/<id>.json`, bodies reach 25 MB). It is
//! also the dedupe set, rebuilt on open, and it knows which deliveries were never finished, so a
//! restart hands those to the worker again.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where a delivery came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Github,
    Alertmanager,
    Argo,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LogLine {
    /// A delivery was accepted. `body_file` is relative to the state dir; `None` when the body
    /// was not kept (events healbot ignores).
    Received {
        id: String,
        source: Source,
        event: Option<String>,
        action: Option<String>,
        received_at: String,
        body_file: Option<String>,
    },
    /// The worker finished with the delivery (whatever the handler's result).
    Done { id: String },
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryLogError {
    #[error("delivery log {path}: {reason}")]
    Io { path: String, reason: String },
}

/// Whether [`DeliveryLog::record`] wrote a new delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New,
    Duplicate,
}

/// A delivery that was received but never marked done: the worker's backlog after a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub id: String,
    pub source: Source,
    pub event: Option<String>,
    pub body_file: Option<PathBuf>,
}

struct Inner {
    file: File,
    seen: HashSet<String>,
}

pub struct DeliveryLog {
    dir: PathBuf,
    path: PathBuf,
    inner: Mutex<Inner>,
}

const LOG_FILE: &str = "deliveries.jsonl";
const BODY_DIR: &str = "deliveries";

fn io_err(path: &Path, e: impl std::fmt::Display) -> DeliveryLogError {
    DeliveryLogError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// A delivery id is used as a file name, so only a safe alphabet passes.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !id.starts_with('.')
}

impl DeliveryLog {
    /// Opens (or creates) the log under `state_dir` and returns the deliveries never finished.
    /// A last line cut off by a crash is dropped, so the next append starts on a fresh line.
    pub fn open(state_dir: &Path) -> Result<(DeliveryLog, Vec<Pending>), DeliveryLogError> {
        let body_dir = state_dir.join(BODY_DIR);
        std::fs::create_dir_all(&body_dir).map_err(|e| io_err(&body_dir, e))?;
        let path = state_dir.join(LOG_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| io_err(&path, e))?;
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < bytes.len() {
            tracing::warn!(path = %path.display(), "dropping a torn last line of the delivery log");
            file.set_len(complete as u64)
                .map_err(|e| io_err(&path, e))?;
            file.seek(SeekFrom::End(0)).map_err(|e| io_err(&path, e))?;
        }
        let mut seen = HashSet::new();
        let mut open: HashMap<String, Pending> = HashMap::new();
        let mut order = Vec::new();
        for (n, line) in bytes[..complete].split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice::<LogLine>(line) {
                Ok(LogLine::Received {
                    id,
                    source,
                    event,
                    body_file,
                    ..
                }) => {
                    seen.insert(id.clone());
                    if body_file.is_none() {
                        continue; // ignored events: nothing to hand on
                    }
                    order.push(id.clone());
                    open.insert(
                        id.clone(),
                        Pending {
                            id,
                            source,
                            event,
                            body_file: body_file.map(|f| state_dir.join(f)),
                        },
                    );
                }
                Ok(LogLine::Done { id }) => {
                    open.remove(&id);
                }
                Err(e) => {
                    tracing::warn!(line = n + 1, error = %e, "skipping an unreadable delivery log line")
                }
            }
        }
        let pending = order
            .into_iter()
            .filter_map(|id| open.remove(&id))
            .collect();
        let log = DeliveryLog {
            dir: state_dir.to_path_buf(),
            path,
            inner: Mutex::new(Inner { file, seen }),
        };
        Ok((log, pending))
    }

    /// Records a delivery and its body durably; `Duplicate` (and nothing written) for an id
    /// seen before. Blocking: call it from `spawn_blocking`.
    pub fn record(
        &self,
        id: &str,
        source: Source,
        event: Option<&str>,
        action: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<Recorded, DeliveryLogError> {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if inner.seen.contains(id) {
            return Ok(Recorded::Duplicate);
        }
        let body_file = match body {
            Some(body) => {
                let rel = format!("{BODY_DIR}/{}.json", crate::model::safe_id(id));
                let full = self.dir.join(&rel);
                let mut f = File::create(&full).map_err(|e| io_err(&full, e))?;
                f.write_all(body).map_err(|e| io_err(&full, e))?;
                f.sync_data().map_err(|e| io_err(&full, e))?;
                Some(rel)
            }
            None => None,
        };
        let line = LogLine::Received {
            id: id.to_string(),
            source,
            event: event.map(str::to_string),
            action: action.map(str::to_string),
            received_at: chrono::Utc::now().to_rfc3339(),
            body_file,
        };
        self.append(&mut inner.file, &line, true)?;
        inner.seen.insert(id.to_string());
        Ok(Recorded::New)
    }

    /// Marks a delivery as handled. Not fsync'd: losing it only means handling it again after a
    /// crash, and handlers are idempotent.
    pub fn mark_done(&self, id: &str) -> Result<(), DeliveryLogError> {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let line = LogLine::Done { id: id.to_string() };
        self.append(&mut inner.file, &line, false)
    }

    fn append(&self, file: &mut File, line: &LogLine, sync: bool) -> Result<(), DeliveryLogError> {
        let mut text = serde_json::to_vec(line).map_err(|e| io_err(&self.path, e))?;
        text.push(b'\n');
        file.write_all(&text).map_err(|e| io_err(&self.path, e))?;
        if sync {
            file.sync_data().map_err(|e| io_err(&self.path, e))?;
        }
        Ok(())
    }

    pub fn contains(&self, id: &str) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .seen
            .contains(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_and_pending_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (log, pending) = DeliveryLog::open(dir.path()).unwrap();
        assert!(pending.is_empty());
        let r = log.record("a", Source::Github, Some("ping"), None, Some(b"{}"));
        assert_eq!(r.unwrap(), Recorded::New);
        let r = log.record("a", Source::Github, Some("ping"), None, Some(b"{}"));
        assert_eq!(r.unwrap(), Recorded::Duplicate);
        log.record("b", Source::Argo, None, None, Some(b"{}"))
            .unwrap();
        log.mark_done("a").unwrap();
        drop(log);
        let (log, pending) = DeliveryLog::open(dir.path()).unwrap();
        assert!(log.contains("a") && log.contains("b"));
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].id, "b");
        assert!(pending[0].body_file.as_ref().unwrap().is_file());
    }

    #[test]
    fn torn_last_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = DeliveryLog::open(dir.path()).unwrap();
        log.record("a", Source::Github, None, None, None).unwrap();
        drop(log);
        let path = dir.path().join(LOG_FILE);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"kind\":\"recei").unwrap();
        drop(f);
        let (log, _) = DeliveryLog::open(dir.path()).unwrap();
        log.record("b", Source::Github, None, None, None).unwrap();
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        let (log, _) = DeliveryLog::open(dir.path()).unwrap();
        assert!(log.contains("a") && log.contains("b"));
    }

    #[test]
    fn ids_are_safe_file_names() {
        assert!(valid_id("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
        for bad in ["", "../x", "a/b", ".hidden", &"x".repeat(129)] {
            assert!(!valid_id(bad), "{bad}");
        }
    }
}
