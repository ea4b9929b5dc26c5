//! The tamper-evident audit chain. Every action healbot takes is one entry; each entry's hash
//! covers the previous entry's hash, so an edit, a deletion or a reordering breaks the chain at
//! a seq that `healbot audit verify` names. Operations are folds over these entries
//! (`operation::state`), so this log is also healbot's only durable memory.

pub mod checkpoint;
pub mod elasticsearch;
mod entry;
pub mod file;
pub mod log_event;
pub mod maintenance;
pub mod memory;
pub mod redis;
pub mod signed;
pub mod verify;

pub use entry::{canonical_json, hash_entry, AuditEntry, NewEntry, GENESIS_HASH};
pub use file::{FileAuditStore, RepairReport};
pub use memory::MemoryAuditStore;
pub use verify::{
    verify_entries, verify_file, verify_reader, BreakReason, ChainBreak, ChainChecker,
    VerifyReport, FIRST_SEQ,
};

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("audit log {path}, line {line}: {reason}")]
    Corrupt {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("audit writer stopped; no entry was written")]
    WriterGone,
}

/// Where audit entries live. Appends are ordered and durable when they return.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Chains, writes and makes durable one entry, returning it with its seq and hash.
    async fn append(&self, entry: NewEntry) -> Result<AuditEntry, AuditError>;
    /// Every entry, in seq order.
    async fn entries(&self) -> Result<Vec<AuditEntry>, AuditError>;
    /// The last entry's seq and hash, if any.
    async fn head(&self) -> Result<Option<(u64, String)>, AuditError>;
    /// Every entry after seq `after`, in seq order.
    async fn entries_after(&self, after: u64) -> Result<Vec<AuditEntry>, AuditError> {
        let mut entries = self.entries().await?;
        entries.retain(|e| e.seq > after);
        Ok(entries)
    }
    /// Whether other processes append to this chain too (replicas sharing it on Redis), so a
    /// reader must look for their entries.
    fn shared(&self) -> bool {
        false
    }
}
