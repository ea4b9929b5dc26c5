//! The log's files: reading them back on open (dedupe set, unfinished deliveries), sealing
//! the log being written, and reading one delivery's body again.

use super::seen::{self, Seen};
use super::{io_err, BodyRef, DeliveryLogError, Pending, Retention, Source};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(super) const LOG_FILE: &str = "deliveries.jsonl";
pub(super) const SEGMENT_DIR: &str = "deliveries";
const SEALED_PREFIX: &str = "sealed-";
const SEALED_SUFFIX: &str = ".jsonl";

/// What a line says, as read back; the body stays unparsed (a borrowed slice of the line).
#[derive(Deserialize)]
pub(super) struct Head<'a> {
    kind: Kind,
    id: String,
    #[serde(default)]
    source: Option<Source>,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    body_file: Option<String>,
    #[serde(borrow, default)]
    body: Option<&'a RawValue>,
}

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Received,
    Done,
}

/// A sealed segment: its path, when it was sealed, and its generation.
#[derive(Debug, Clone)]
pub(super) struct Sealed {
    pub(super) path: PathBuf,
    pub(super) sealed_at: SystemTime,
    pub(super) generation: u64,
}

/// The files the writer takes over from [`open`].
pub(super) struct Files {
    pub(super) state_dir: PathBuf,
    pub(super) active: File,
    pub(super) sealed: Vec<Sealed>,
    /// The generation the log being written has.
    pub(super) generation: u64,
}

pub(super) struct Opened {
    pub(super) files: Files,
    pub(super) seen: Seen,
    pub(super) pending: Vec<Pending>,
    /// Each unfinished delivery's segment generation.
    pub(super) pending_generations: HashMap<String, u64>,
}

fn sealed_name(millis: u128) -> String {
    format!("{SEALED_PREFIX}{millis}{SEALED_SUFFIX}")
}

fn sealed_millis(name: &str) -> Option<u128> {
    name.strip_prefix(SEALED_PREFIX)?
        .strip_suffix(SEALED_SUFFIX)?
        .parse()
        .ok()
}

/// The sealed segments, oldest first, with the time each was sealed.
fn sealed_segments(state_dir: &Path) -> Result<Vec<(PathBuf, u128)>, DeliveryLogError> {
    let dir = state_dir.join(SEGMENT_DIR);
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err(&dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io_err(&dir, e))?;
        let name = entry.file_name();
        if let Some(millis) = name.to_str().and_then(sealed_millis) {
            out.push((entry.path(), millis));
        }
    }
    out.sort_by_key(|(_, millis)| *millis);
    Ok(out)
}

/// Every file of the log under `state_dir`, oldest first: the sealed segments, then the log
/// being written (`deliveries.jsonl`). For tools and tests that read the lines.
pub fn segment_files(state_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = sealed_segments(state_dir)
        .unwrap_or_default()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let active = state_dir.join(LOG_FILE);
    if active.is_file() {
        files.push(active);
    }
    files
}

/// Every line of the log under `state_dir`, oldest first, for tools and tests: the files of
/// [`segment_files`], each up to its first zero byte (the log being written is grown ahead of
/// its data with zeros). A file that cannot be read adds nothing.
pub fn log_text(state_dir: &Path) -> String {
    let mut text = String::new();
    for path in segment_files(state_dir) {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let end = memchr::memchr(0, &bytes).unwrap_or(bytes.len());
        text.push_str(&String::from_utf8_lossy(&bytes[..end]));
    }
    text
}

/// Reads every segment back, then seals the log the last run was writing, so the bodies of
/// unfinished deliveries sit in files that are never renamed again.
pub(super) fn open(state_dir: &Path, retention: Retention) -> Result<Opened, DeliveryLogError> {
    let segment_dir = state_dir.join(SEGMENT_DIR);
    std::fs::create_dir_all(&segment_dir).map_err(|e| io_err(&segment_dir, e))?;
    let mut scan = Scan {
        state_dir,
        seen: Seen::new(retention.max_seen),
        open: HashMap::new(),
        order: Vec::new(),
    };
    let mut sealed = Vec::new();
    let mut generation = 0;
    for (path, millis) in sealed_segments(state_dir)? {
        scan.segment(&path, generation, false)?;
        sealed.push(Sealed {
            path,
            sealed_at: UNIX_EPOCH + Duration::from_millis(millis as u64),
            generation,
        });
        generation += 1;
    }
    let active_path = state_dir.join(LOG_FILE);
    let active_len = if active_path.is_file() {
        scan.segment(&active_path, generation, true)?
    } else {
        0
    };
    if active_len > 0 {
        // Sealed now: the pending bodies it holds keep their path from here on.
        let (path, sealed_at) = next_sealed_path(state_dir, sealed.last());
        seal(&active_path, &path, state_dir)?;
        for (p, _) in scan.open.values_mut() {
            if let BodyRef::InLog {
                path: body_path, ..
            } = &mut p.body
            {
                if *body_path == active_path {
                    body_path.clone_from(&path);
                }
            }
        }
        sealed.push(Sealed {
            path,
            sealed_at,
            generation,
        });
        generation += 1;
    }
    let active = create_active(&active_path, state_dir)?;
    let mut pending_generations = HashMap::new();
    let mut pending = Vec::new();
    for id in scan.order {
        if let Some((p, generation)) = scan.open.remove(&id) {
            pending_generations.insert(id, generation);
            pending.push(p);
        }
    }
    Ok(Opened {
        files: Files {
            state_dir: state_dir.to_path_buf(),
            active,
            sealed,
            generation,
        },
        seen: scan.seen,
        pending,
        pending_generations,
    })
}

struct Scan<'a> {
    state_dir: &'a Path,
    seen: Seen,
    open: HashMap<String, (Pending, u64)>,
    order: Vec<String>,
}

impl Scan<'_> {
    /// Reads one segment's lines; returns the length of its whole lines. The log being
    /// written (`truncate`) loses a last line without its newline, and everything from the
    /// first zero byte on (the zeros the writer grew it with, and whatever a crash left
    /// among them): both lie past its last fsync, so they were never answered.
    fn segment(
        &mut self,
        path: &Path,
        generation: u64,
        truncate: bool,
    ) -> Result<u64, DeliveryLogError> {
        let file = File::open(path).map_err(|e| io_err(path, e))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::new();
        let mut offset: u64 = 0;
        let mut number = 0;
        loop {
            line.clear();
            let read = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| io_err(path, e))?;
            if read == 0 {
                break;
            }
            let zeros = memchr::memchr(0, &line).is_some();
            if zeros || line.last() != Some(&b'\n') {
                if !zeros || line.first() != Some(&0) {
                    tracing::warn!(path = %path.display(), bytes = read, "dropping a torn last line of the delivery log");
                }
                if truncate {
                    let file = OpenOptions::new()
                        .write(true)
                        .open(path)
                        .map_err(|e| io_err(path, e))?;
                    file.set_len(offset).map_err(|e| io_err(path, e))?;
                    file.sync_all().map_err(|e| io_err(path, e))?;
                }
                break;
            }
            number += 1;
            self.line(path, &line, offset, number, generation);
            offset += read as u64;
        }
        Ok(offset)
    }

    fn line(&mut self, path: &Path, line: &[u8], offset: u64, number: usize, generation: u64) {
        let text = &line[..line.len() - 1];
        if text.is_empty() {
            return;
        }
        let head: Head = match serde_json::from_slice(text) {
            Ok(head) => head,
            Err(e) => {
                tracing::warn!(path = %path.display(), line = number, error = %e, "skipping an unreadable delivery log line");
                return;
            }
        };
        match head.kind {
            Kind::Received => {
                self.seen.insert(seen::key(&head.id), generation);
                let body = match (head.body, head.body_file) {
                    (Some(_), _) => BodyRef::InLog {
                        path: path.to_path_buf(),
                        offset,
                        len: text.len(),
                    },
                    (None, Some(file)) => BodyRef::File(self.state_dir.join(file)),
                    // Events healbot does not act on: nothing to hand on.
                    (None, None) => return,
                };
                let Some(source) = head.source else {
                    return;
                };
                self.order.push(head.id.clone());
                let pending = Pending {
                    id: head.id.clone(),
                    source,
                    event: head.event,
                    body,
                };
                self.open.insert(head.id, (pending, generation));
            }
            Kind::Done => {
                self.open.remove(&head.id);
            }
        }
    }
}

pub(super) fn now_millis() -> u128 {
    millis_of(SystemTime::now())
}

fn millis_of(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

/// Renames the log being written into a sealed segment and makes the rename durable.
pub(super) fn seal(active: &Path, sealed: &Path, state_dir: &Path) -> Result<(), DeliveryLogError> {
    std::fs::rename(active, sealed).map_err(|e| io_err(sealed, e))?;
    sync_dir(&state_dir.join(SEGMENT_DIR));
    sync_dir(state_dir);
    Ok(())
}

/// A fresh, empty log to write, its name made durable. Not in append mode: the writer grows
/// the file with zeros ahead of its data and writes at its own cursor.
pub(super) fn create_active(path: &Path, state_dir: &Path) -> Result<File, DeliveryLogError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    sync_dir(state_dir);
    Ok(file)
}

/// The next sealed segment's path: named by the time it is sealed, after `last`.
pub(super) fn next_sealed_path(state_dir: &Path, last: Option<&Sealed>) -> (PathBuf, SystemTime) {
    let after = last.map_or(0, |s| millis_of(s.sealed_at) + 1);
    let millis = now_millis().max(after);
    (
        state_dir.join(SEGMENT_DIR).join(sealed_name(millis)),
        UNIX_EPOCH + Duration::from_millis(millis as u64),
    )
}

/// Makes a directory's entries durable; not every platform can sync a directory.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Reads one delivery's body back from where [`BodyRef`] says it is.
pub(super) fn read_body(body: &BodyRef) -> Result<Vec<u8>, DeliveryLogError> {
    match body {
        BodyRef::File(path) => std::fs::read(path).map_err(|e| io_err(path, e)),
        BodyRef::InLog { path, offset, len } => {
            let mut file = File::open(path).map_err(|e| io_err(path, e))?;
            file.seek(SeekFrom::Start(*offset))
                .map_err(|e| io_err(path, e))?;
            let mut line = vec![0; *len];
            file.read_exact(&mut line).map_err(|e| io_err(path, e))?;
            let head: Head = serde_json::from_slice(&line).map_err(|e| io_err(path, e))?;
            head.body
                .map(|b| b.get().as_bytes().to_vec())
                .ok_or_else(|| io_err(path, format!("no body on the line at byte {offset}")))
        }
    }
}

/// Old body files (`<state>/deliveries/<id>.json`, from before bodies moved into the log)
/// older than `keep` whose delivery is not `pending`.
pub(super) fn stale_body_files(
    state_dir: &Path,
    keep: Duration,
    pending: impl Fn(&str) -> bool,
) -> Vec<PathBuf> {
    let dir = state_dir.join(SEGMENT_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let now = SystemTime::now();
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name().to_str().is_some_and(|n| {
                n.strip_suffix(".json")
                    .is_some_and(|id| !n.starts_with(SEALED_PREFIX) && !pending(id))
            })
        })
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified + keep <= now)
        })
        .map(|e| e.path())
        .collect()
}
