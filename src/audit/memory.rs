//! An in-memory audit store with the same chaining as the file store, for unit tests of the
//! modules that write to the log (journal, orchestrator, gates) without touching a disk.

use super::verify::{verify_entries, ChainBreak, FIRST_SEQ};
use super::{AuditEntry, AuditError, AuditStore, NewEntry, GENESIS_HASH};
use crate::model::{Clock, SystemClock};
use async_trait::async_trait;
use std::sync::{Arc, Mutex, PoisonError};

/// Entries chained exactly as [`super::FileAuditStore`] chains them, kept in a `Vec`.
#[derive(Debug)]
pub struct MemoryAuditStore {
    entries: Mutex<Vec<AuditEntry>>,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryAuditStore {
    fn default() -> MemoryAuditStore {
        MemoryAuditStore::with_clock(Arc::new(SystemClock))
    }
}

impl MemoryAuditStore {
    pub fn new() -> MemoryAuditStore {
        MemoryAuditStore::default()
    }

    /// Stamps entries with `clock`'s time.
    pub(crate) fn with_clock(clock: Arc<dyn Clock>) -> MemoryAuditStore {
        MemoryAuditStore {
            entries: Mutex::new(Vec::new()),
            clock,
        }
    }

    /// Starts from an existing chain (a replay test's log), refusing one that does not hold.
    pub fn from_entries(entries: Vec<AuditEntry>) -> Result<MemoryAuditStore, ChainBreak> {
        if let Some(broken) = verify_entries(&entries).broken {
            return Err(broken);
        }
        Ok(MemoryAuditStore {
            entries: Mutex::new(entries),
            clock: Arc::new(SystemClock),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<AuditEntry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl AuditStore for MemoryAuditStore {
    async fn append(&self, entry: NewEntry) -> Result<AuditEntry, AuditError> {
        let mut entries = self.lock();
        let (seq, prev_hash) = match entries.last() {
            Some(last) => (last.seq + 1, last.hash.as_str()),
            None => (FIRST_SEQ, GENESIS_HASH),
        };
        let chained = AuditEntry::chain(
            entry,
            seq,
            prev_hash,
            super::file::timestamp_now(&*self.clock),
        );
        entries.push(chained.clone());
        super::log_event::emit(&chained);
        Ok(chained)
    }

    async fn entries(&self) -> Result<Vec<AuditEntry>, AuditError> {
        Ok(self.lock().clone())
    }

    async fn head(&self) -> Result<Option<(u64, String)>, AuditError> {
        Ok(self.lock().last().map(|e| (e.seq, e.hash.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(i: u32) -> NewEntry {
        NewEntry {
            operation_id: "op-1".into(),
            correlation_id: "c".into(),
            actor: "healbot".into(),
            action: "note".into(),
            detail: serde_json::json!({ "i": i }),
        }
    }

    #[tokio::test]
    async fn chains_like_the_file_store() {
        let store = MemoryAuditStore::new();
        assert_eq!(store.head().await.unwrap(), None);
        for i in 0..5 {
            store.append(note(i)).await.unwrap();
        }
        let entries = store.entries().await.unwrap();
        assert_eq!(entries.len(), 5);
        assert_eq!(entries[0].seq, FIRST_SEQ);
        assert_eq!(entries[0].prev_hash, GENESIS_HASH);
        assert!(verify_entries(&entries).holds());
        assert_eq!(
            store.head().await.unwrap(),
            Some((5, entries[4].hash.clone()))
        );
    }

    #[tokio::test]
    async fn from_entries_refuses_a_broken_chain_and_continues_a_good_one() {
        let store = MemoryAuditStore::new();
        for i in 0..3 {
            store.append(note(i)).await.unwrap();
        }
        let mut entries = store.entries().await.unwrap();
        let resumed = MemoryAuditStore::from_entries(entries.clone()).unwrap();
        assert_eq!(resumed.append(note(9)).await.unwrap().seq, 4);
        entries.remove(1);
        assert_eq!(MemoryAuditStore::from_entries(entries).unwrap_err().seq, 3);
    }
}
