//! An audit store that signs its own head. Wraps any [`AuditStore`]: after an append is durable
//! it writes a [`Checkpoint`] of that entry when `every` entries have passed since the last one
//! or the entry is one of the actions the caller names (state transitions), and once at start
//! when the head is unsigned. A checkpoint that cannot be written is logged, never retried as
//! the append: the entry is already durable, and the verifier reports the unsigned tail.

use super::checkpoint::{Checkpoint, CheckpointFile, SigningKey};
use super::{AuditEntry, AuditError, AuditStore, NewEntry};
use crate::model::SystemClock;
use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::Mutex;

/// Where checkpoints go: next to a file log, or on Redis next to the shared chain.
#[async_trait]
pub trait CheckpointSink: Send + Sync {
    async fn append(&mut self, cp: &Checkpoint) -> Result<(), AuditError>;
    /// The highest seq signed so far, to carry on from after a restart.
    async fn last_signed(&self) -> Result<Option<u64>, AuditError>;
}

#[async_trait]
impl CheckpointSink for CheckpointFile {
    async fn append(&mut self, cp: &Checkpoint) -> Result<(), AuditError> {
        // One small synced write every `every` entries: not worth a thread hop.
        CheckpointFile::append(self, cp)
    }

    async fn last_signed(&self) -> Result<Option<u64>, AuditError> {
        Ok(self.read()?.iter().map(|c| c.seq).max())
    }
}

pub struct SignedStore {
    inner: Arc<dyn AuditStore>,
    signer: Mutex<Signer>,
    /// Entries with these actions are signed at once (state transitions).
    sign_after: Vec<String>,
}

struct Signer {
    key: SigningKey,
    every: u64,
    last_signed: u64,
    sink: Box<dyn CheckpointSink>,
}

impl SignedStore {
    /// Wraps `inner`, signing every `every` entries (at least 1) and after each entry whose
    /// action is in `sign_after`; signs the current head at once if it is unsigned.
    pub async fn open(
        inner: Arc<dyn AuditStore>,
        key: SigningKey,
        every: u64,
        sign_after: &[&str],
        sink: Box<dyn CheckpointSink>,
    ) -> Result<SignedStore, AuditError> {
        let last_signed = sink.last_signed().await?.unwrap_or(0);
        let store = SignedStore {
            inner,
            signer: Mutex::new(Signer {
                key,
                every: every.max(1),
                last_signed,
                sink,
            }),
            sign_after: sign_after.iter().map(|s| s.to_string()).collect(),
        };
        if let Some((seq, hash)) = store.inner.head().await? {
            let mut signer = store.signer.lock().await;
            if seq > signer.last_signed {
                signer.sign(seq, &hash).await?;
            }
        }
        Ok(store)
    }

    async fn after_append(&self, entry: &AuditEntry) {
        let mut signer = self.signer.lock().await;
        let due = entry.seq >= signer.last_signed + signer.every
            || self.sign_after.contains(&entry.action);
        // A concurrent append may already have signed a later head, which covers this one.
        if !due || entry.seq <= signer.last_signed {
            return;
        }
        if let Err(e) = signer.sign(entry.seq, &entry.hash).await {
            tracing::error!(seq = entry.seq, error = %e, "audit checkpoint not written; the log's unsigned tail grows");
        }
    }
}

impl Signer {
    async fn sign(&mut self, seq: u64, hash: &str) -> Result<(), AuditError> {
        let cp = self.key.sign(
            seq,
            hash,
            self.every,
            super::file::timestamp_now(&SystemClock),
        );
        self.sink.append(&cp).await?;
        self.last_signed = seq;
        Ok(())
    }
}

#[async_trait]
impl AuditStore for SignedStore {
    async fn append(&self, entry: NewEntry) -> Result<AuditEntry, AuditError> {
        let appended = self.inner.append(entry).await?;
        self.after_append(&appended).await;
        Ok(appended)
    }

    async fn entries(&self) -> Result<Vec<AuditEntry>, AuditError> {
        self.inner.entries().await
    }

    async fn head(&self) -> Result<Option<(u64, String)>, AuditError> {
        self.inner.head().await
    }

    async fn entries_after(&self, after: u64) -> Result<Vec<AuditEntry>, AuditError> {
        self.inner.entries_after(after).await
    }

    fn shared(&self) -> bool {
        self.inner.shared()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::{check_checkpoints, checkpoints_path, read_checkpoints};
    use crate::audit::FileAuditStore;

    fn entry(action: &str) -> NewEntry {
        NewEntry {
            operation_id: "op".into(),
            correlation_id: "c".into(),
            actor: "healbot".into(),
            action: action.into(),
            detail: serde_json::json!({}),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checkpoints_every_n_and_after_transitions_and_the_log_verifies_with_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.jsonl");
        let key = SigningKey::from_bytes(&[3; 32]).unwrap();
        let open = |key: SigningKey| {
            let log = log.clone();
            async move {
                let inner: Arc<dyn AuditStore> = Arc::new(FileAuditStore::open(&log).unwrap());
                let sink = CheckpointFile::open(&checkpoints_path(&log)).unwrap();
                SignedStore::open(inner, key, 5, &["operation.transition"], Box::new(sink))
                    .await
                    .unwrap()
            }
        };
        let store = open(key.clone()).await;
        for i in 0..12 {
            let action = if i == 2 { "operation.transition" } else { "x" };
            store.append(entry(action)).await.unwrap();
        }
        let seqs: Vec<u64> = read_checkpoints(&checkpoints_path(&log))
            .unwrap()
            .iter()
            .map(|c| c.seq)
            .collect();
        // seq 3 is a transition; then every 5 after the last signed one.
        assert_eq!(seqs, vec![3, 8]);
        drop(store);
        // A restart signs the unsigned head at once.
        let store = open(key.clone()).await;
        let cps = read_checkpoints(&checkpoints_path(&log)).unwrap();
        assert_eq!(cps.last().map(|c| c.seq), Some(12));
        let entries = store.entries().await.unwrap();
        let head = entries.last().map(|e| (e.seq, e.hash.as_str()));
        let report = check_checkpoints(&cps, &[key], head, |s| {
            entries.iter().find(|e| e.seq == s).map(|e| e.hash.clone())
        });
        assert!(report.holds(), "{report:?}");
    }
}
