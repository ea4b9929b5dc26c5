//! One hash chain for several replicas: entries go to a Redis stream, each appended only if the
//! chain's head is still the one the entry was chained to (a Lua compare-and-append), so two
//! replicas appending at once never fork the chain: the loser re-chains and tries again. Each
//! replica mirrors the whole chain, as far as it has seen it, to a local JSONL file in the
//! same format as [`FileAuditStore`](super::FileAuditStore), so `healbot audit verify FILE`
//! works on the mirror as on a single replica's log.

use super::entry::{AuditEntry, NewEntry, GENESIS_HASH};
use super::file::{sort_keys, timestamp_now};
use super::verify::FIRST_SEQ;
use super::{AuditError, AuditStore};
use crate::model::{Clock, SystemClock};
use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::Script;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// Appends to the stream only if the head is what the entry was chained to. The stream id is
/// `<seq>-1`, so a reader asks for the entries after a seq directly.
const APPEND: &str = r#"
local head = redis.call('GET', KEYS[1]) or ''
if head ~= ARGV[1] then return 0 end
redis.call('XADD', KEYS[2], ARGV[4], 'entry', ARGV[3])
redis.call('SET', KEYS[1], ARGV[2])
return 1
"#;

/// How often an append re-chains after losing to another replica before it gives up.
const MAX_ATTEMPTS: usize = 64;

pub struct RedisAuditStore {
    conn: ConnectionManager,
    url: String,
    head_key: String,
    stream_key: String,
    append: Script,
    /// `None` for a reader (`healbot audit verify --redis`).
    mirror: Option<Mutex<Mirror>>,
    /// Stamps each entry's `ts`.
    clock: Arc<dyn Clock>,
}

/// The local copy: every entry up to `last_id` of the stream is in the file.
struct Mirror {
    path: PathBuf,
    file: std::fs::File,
    last_id: String,
    /// The last entry a previous run mirrored, until the chain on Redis is found to hold it.
    /// Then the file is rewritten from the chain; if Redis lost it, the file is left alone.
    unchecked: Option<AuditEntry>,
}

impl Mirror {
    /// Opens the mirror without changing it: what it holds is checked against the chain first.
    fn open(path: &Path) -> Result<Mirror, AuditError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| io(path, e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io(path, e))?;
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        // A torn last line (a crash mid-write) is rewritten from the chain like the rest.
        let unchecked = text
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str::<AuditEntry>(line).ok());
        Ok(Mirror {
            path: path.to_path_buf(),
            file,
            last_id: "0".to_string(),
            unchecked,
        })
    }
}

impl RedisAuditStore {
    /// Connects (lazily) to the chain `name` on Redis, mirroring it to `mirror` when given.
    pub fn open(
        url: &str,
        name: &str,
        mirror: Option<&Path>,
    ) -> Result<RedisAuditStore, AuditError> {
        let shown = crate::redis_conn::redacted(url);
        let conn = crate::redis_conn::lazy_connection(url, Duration::from_secs(5))
            .map_err(|e| backend(&shown, e))?;
        let mirror = match mirror {
            Some(path) => Some(Mutex::new(Mirror::open(path)?)),
            None => None,
        };
        Ok(RedisAuditStore {
            conn,
            url: shown,
            head_key: format!("healbot:audit:{name}:head"),
            stream_key: format!("healbot:audit:{name}"),
            append: Script::new(APPEND),
            mirror,
            clock: Arc::new(SystemClock),
        })
    }

    /// Stamps entries with `clock`'s time instead of the wall clock's.
    pub(crate) fn with_clock(mut self, clock: Arc<dyn Clock>) -> RedisAuditStore {
        self.clock = clock;
        self
    }

    /// Writes every entry the stream has and the mirror lacks (call once after opening).
    pub async fn sync_mirror(&self) -> Result<(), AuditError> {
        self.catch_up().await
    }

    fn err(&self, e: redis::RedisError) -> AuditError {
        backend(&self.url, e)
    }

    async fn current_head(&self) -> Result<Option<(u64, String)>, AuditError> {
        let mut conn = self.conn.clone();
        let head: Option<String> = redis::cmd("GET")
            .arg(&self.head_key)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.err(e))?;
        Ok(head.and_then(|h| {
            let (seq, hash) = h.split_once(' ')?;
            Some((seq.parse().ok()?, hash.to_string()))
        }))
    }

    /// Stream entries after `after` (exclusive), with their stream ids.
    async fn read_after(&self, after: &str) -> Result<Vec<(String, AuditEntry)>, AuditError> {
        let mut conn = self.conn.clone();
        let start = if after == "0" {
            "-".to_string()
        } else {
            format!("({after}")
        };
        // Each item: [id, [field, value, ...]].
        let reply: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
            .arg(&self.stream_key)
            .arg(start)
            .arg("+")
            .query_async(&mut conn)
            .await
            .map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(reply.len());
        for (i, (id, fields)) in reply.into_iter().enumerate() {
            let text = fields
                .chunks(2)
                .find(|kv| kv.first().map(String::as_str) == Some("entry"))
                .and_then(|kv| kv.get(1))
                .ok_or_else(|| AuditError::Corrupt {
                    path: self.stream_key.clone(),
                    line: i + 1,
                    reason: format!("stream entry {id} has no `entry` field"),
                })?;
            let entry: AuditEntry =
                serde_json::from_str(text).map_err(|e| AuditError::Corrupt {
                    path: self.stream_key.clone(),
                    line: i + 1,
                    reason: format!("stream entry {id}: {e}"),
                })?;
            out.push((id, entry));
        }
        Ok(out)
    }

    /// Refuses a chain on Redis that lacks the last entry this replica mirrored before: Redis
    /// lost or replaced its data, and rewriting the mirror would lose the only copy.
    async fn check_holds(&self, last: &AuditEntry, path: &Path) -> Result<(), AuditError> {
        let id = format!("{}-1", last.seq);
        let mut conn = self.conn.clone();
        let found: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
            .arg(&self.stream_key)
            .arg(&id)
            .arg(&id)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.err(e))?;
        let same = found.first().is_some_and(|(_, fields)| {
            fields
                .get(1)
                .and_then(|text| serde_json::from_str::<AuditEntry>(text).ok())
                .is_some_and(|e| e.hash == last.hash)
        });
        if same {
            return Ok(());
        }
        Err(AuditError::Corrupt {
            path: self.stream_key.clone(),
            line: last.seq as usize,
            reason: format!(
                "the chain on Redis at {} does not hold entry {} that {} mirrored: Redis lost or \
                 replaced its data. Nothing was changed; restore the chain from the mirror, or \
                 move the mirror aside to start a new chain",
                self.url,
                last.seq,
                path.display()
            ),
        })
    }

    /// Brings the local mirror up to the stream's end.
    async fn catch_up(&self) -> Result<(), AuditError> {
        let Some(mirror) = &self.mirror else {
            return Ok(());
        };
        let mut mirror = mirror.lock().await;
        if let Some(last) = &mirror.unchecked {
            self.check_holds(last, &mirror.path).await?;
            mirror.file.set_len(0).map_err(|e| io(&mirror.path, e))?;
            mirror.unchecked = None;
        }
        let new = self.read_after(&mirror.last_id).await?;
        if new.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for (_, entry) in &new {
            serde_json::to_writer(&mut buf, entry).map_err(|e| AuditError::Corrupt {
                path: mirror.path.display().to_string(),
                line: entry.seq as usize,
                reason: e.to_string(),
            })?;
            buf.push(b'\n');
        }
        let path = mirror.path.clone();
        mirror.file.write_all(&buf).map_err(|e| io(&path, e))?;
        mirror.file.sync_data().map_err(|e| io(&path, e))?;
        if let Some((id, _)) = new.last() {
            mirror.last_id = id.clone();
        }
        Ok(())
    }
}

fn backend(url: &str, e: redis::RedisError) -> AuditError {
    AuditError::Io {
        path: format!("redis at {url}"),
        source: std::io::Error::other(e.to_string()),
    }
}

fn io(path: &Path, source: std::io::Error) -> AuditError {
    AuditError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[async_trait]
impl AuditStore for RedisAuditStore {
    async fn append(&self, mut new: NewEntry) -> Result<AuditEntry, AuditError> {
        new.detail = sort_keys(new.detail);
        for _ in 0..MAX_ATTEMPTS {
            let head = self.current_head().await?;
            let (seq, prev) = match &head {
                Some((seq, hash)) => (seq + 1, hash.clone()),
                None => (FIRST_SEQ, GENESIS_HASH.to_string()),
            };
            let entry = AuditEntry::chain(new.clone(), seq, &prev, timestamp_now(&*self.clock));
            let json = serde_json::to_string(&entry).map_err(|e| AuditError::Corrupt {
                path: self.stream_key.clone(),
                line: seq as usize,
                reason: e.to_string(),
            })?;
            let expected = head.map(|(s, h)| format!("{s} {h}")).unwrap_or_default();
            let mut conn = self.conn.clone();
            let appended: i64 = self
                .append
                .key(&self.head_key)
                .key(&self.stream_key)
                .arg(expected)
                .arg(format!("{} {}", entry.seq, entry.hash))
                .arg(json)
                .arg(format!("{}-1", entry.seq))
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.err(e))?;
            if appended == 1 {
                super::log_event::emit(&entry);
                self.catch_up().await?;
                return Ok(entry);
            }
            // Another replica appended first: chain to its entry and try again.
        }
        Err(AuditError::Io {
            path: format!("redis at {}", self.url),
            source: std::io::Error::other(format!(
                "the chain head kept moving: no append after {MAX_ATTEMPTS} attempts"
            )),
        })
    }

    async fn entries(&self) -> Result<Vec<AuditEntry>, AuditError> {
        Ok(self
            .read_after("0")
            .await?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }

    async fn head(&self) -> Result<Option<(u64, String)>, AuditError> {
        self.current_head().await
    }

    async fn entries_after(&self, after: u64) -> Result<Vec<AuditEntry>, AuditError> {
        Ok(self
            .read_after(&format!("{after}-1"))
            .await?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }

    fn shared(&self) -> bool {
        true
    }
}

/// Checkpoints of the chain replicas share, in a Redis list next to it, so that any replica's
/// checkpoints vouch for the one chain (`healbot audit verify --redis URL --key FILE`). Each
/// replica also keeps the ones it signed in its mirror's checkpoints file.
pub(crate) struct RedisCheckpoints {
    conn: ConnectionManager,
    url: String,
    key: String,
    local: Option<super::checkpoint::CheckpointFile>,
}

impl RedisCheckpoints {
    pub fn open(
        url: &str,
        name: &str,
        local: Option<&Path>,
    ) -> Result<RedisCheckpoints, AuditError> {
        let shown = crate::redis_conn::redacted(url);
        let conn = crate::redis_conn::lazy_connection(url, Duration::from_secs(5))
            .map_err(|e| backend(&shown, e))?;
        let local = match local {
            Some(path) => Some(super::checkpoint::CheckpointFile::open(path)?),
            None => None,
        };
        Ok(RedisCheckpoints {
            conn,
            url: shown,
            key: format!("healbot:audit:{name}:checkpoints"),
            local,
        })
    }

    /// Every checkpoint of the chain, oldest first.
    pub async fn all(&self) -> Result<Vec<super::checkpoint::Checkpoint>, AuditError> {
        let mut conn = self.conn.clone();
        let lines: Vec<String> = redis::cmd("LRANGE")
            .arg(&self.key)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .map_err(|e| backend(&self.url, e))?;
        let mut text = lines.join("\n");
        text.push('\n');
        super::checkpoint::parse_checkpoints(&text, &self.key)
    }
}

#[async_trait]
impl super::signed::CheckpointSink for RedisCheckpoints {
    async fn append(&mut self, cp: &super::checkpoint::Checkpoint) -> Result<(), AuditError> {
        let line = serde_json::to_string(cp).map_err(|e| AuditError::Corrupt {
            path: self.key.clone(),
            line: 0,
            reason: e.to_string(),
        })?;
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("RPUSH")
            .arg(&self.key)
            .arg(line)
            .query_async(&mut conn)
            .await
            .map_err(|e| backend(&self.url, e))?;
        if let Some(local) = &mut self.local {
            local.append(cp)?;
        }
        Ok(())
    }

    async fn last_signed(&self) -> Result<Option<u64>, AuditError> {
        Ok(self.all().await?.iter().map(|c| c.seq).max())
    }
}
