//! The journal writes an operation's events to the audit store and keeps each operation's fold
//! up to date. It is the only writer of operation events: a transition is checked against the
//! table before it is appended, so an illegal one never reaches the log. When other replicas
//! append to the same chain (a shared store), [`Journal::sync`] folds what they wrote.

use super::record::{Artifact, Effect};
use super::state::{action, fold_all, FoldError, IllegalTransition, OpState, Operation};
use crate::audit::{AuditEntry, AuditError, AuditStore, NewEntry};
use crate::model::OperationId;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("replaying the audit log: {0}")]
    Replay(#[from] FoldError),
    #[error("no operation {0}")]
    UnknownOperation(OperationId),
    #[error("operation {0} already exists")]
    Exists(OperationId),
    #[error("the shared audit chain does not follow on: {0}")]
    Gap(String),
}

pub struct Journal {
    store: Arc<dyn AuditStore>,
    ops: Mutex<BTreeMap<OperationId, Arc<Mutex<Operation>>>>,
    folded: Mutex<Folded>,
    syncing: Mutex<()>,
}

/// How far the journal has folded the chain: every entry up to `seq` (whose hash is `hash`),
/// plus this replica's own appends beyond it, which a sync must not fold twice.
struct Folded {
    seq: u64,
    hash: String,
    own: BTreeMap<u64, String>,
}

impl Folded {
    fn new(head: Option<(u64, String)>) -> Folded {
        let (seq, hash) = head.unwrap_or((0, crate::audit::GENESIS_HASH.to_string()));
        Folded {
            seq,
            hash,
            own: BTreeMap::new(),
        }
    }

    /// Records this replica's append; the cursor moves over every entry that now follows on.
    fn own(&mut self, entry: &AuditEntry) {
        self.own.insert(entry.seq, entry.hash.clone());
        while let Some(hash) = self.own.remove(&(self.seq + 1)) {
            self.seq += 1;
            self.hash = hash;
        }
    }
}

impl Journal {
    /// Rebuilds every operation by replaying the store's log.
    pub async fn replay(store: Arc<dyn AuditStore>) -> Result<Journal, JournalError> {
        let entries = store.entries().await?;
        let head = entries.last().map(|e| (e.seq, e.hash.clone()));
        let folded = fold_all(&entries)?;
        let ops = folded
            .into_iter()
            .map(|(id, op)| (id, Arc::new(Mutex::new(op))))
            .collect();
        Ok(Journal {
            store,
            ops: Mutex::new(ops),
            folded: Mutex::new(Folded::new(head)),
            syncing: Mutex::new(()),
        })
    }

    /// Folds the entries other replicas appended since the last sync (nothing to do on a store
    /// only this process writes). Each entry must chain to the one before it.
    pub async fn sync(&self) -> Result<usize, JournalError> {
        if !self.store.shared() {
            return Ok(0);
        }
        // One sync at a time folds, in chain order. The cursor's lock is let go before an
        // operation is waited for: a write holds its operation while it moves the cursor.
        let _folding = self.syncing.lock().await;
        let foreign = {
            let mut folded = self.folded.lock().await;
            let entries = self.store.entries_after(folded.seq).await?;
            let mut foreign = Vec::new();
            for e in entries {
                if e.seq != folded.seq + 1
                    || e.prev_hash != folded.hash
                    || crate::audit::hash_entry(&e) != e.hash
                {
                    return Err(JournalError::Gap(format!(
                        "entry {} does not chain to entry {} seen before",
                        e.seq, folded.seq
                    )));
                }
                folded.seq = e.seq;
                folded.hash = e.hash.clone();
                if folded.own.remove(&e.seq).is_none() {
                    foreign.push(e);
                }
            }
            foreign
        };
        for e in &foreign {
            let id = OperationId(e.operation_id.clone());
            if e.action == action::OPENED {
                self.ops
                    .lock()
                    .await
                    .entry(id)
                    .or_insert_with(|| Arc::new(Mutex::new(Operation::open(e))));
            } else if let Ok(slot) = self.slot(&id).await {
                slot.lock().await.apply(e)?;
            }
        }
        Ok(foreign.len())
    }

    /// Appends through the store. On a shared chain the cursor is held meanwhile, so that a sync
    /// never sees this entry before it is known as this replica's own (and folds it twice).
    async fn append(&self, new: NewEntry) -> Result<AuditEntry, AuditError> {
        if !self.store.shared() {
            return self.store.append(new).await;
        }
        let mut folded = self.folded.lock().await;
        let entry = self.store.append(new).await?;
        folded.own(&entry);
        Ok(entry)
    }

    pub fn store(&self) -> &Arc<dyn AuditStore> {
        &self.store
    }

    /// Opens an operation with its `operation.opened` entry.
    pub async fn open(
        &self,
        id: &OperationId,
        correlation_id: &str,
        actor: &str,
        detail: serde_json::Value,
    ) -> Result<Operation, JournalError> {
        let mut ops = self.ops.lock().await;
        if ops.contains_key(id) {
            return Err(JournalError::Exists(id.clone()));
        }
        let entry = self
            .append(NewEntry {
                operation_id: id.0.clone(),
                correlation_id: correlation_id.to_string(),
                actor: actor.to_string(),
                action: action::OPENED.to_string(),
                detail,
            })
            .await?;
        let op = Operation::open(&entry);
        ops.insert(id.clone(), Arc::new(Mutex::new(op.clone())));
        Ok(op)
    }

    async fn slot(&self, id: &OperationId) -> Result<Arc<Mutex<Operation>>, JournalError> {
        self.ops
            .lock()
            .await
            .get(id)
            .cloned()
            .ok_or_else(|| JournalError::UnknownOperation(id.clone()))
    }

    /// Appends an entry for `id` after `check` passes, holding the operation so that no other
    /// event slips in between the check and the write.
    async fn write(
        &self,
        id: &OperationId,
        actor: &str,
        action: &str,
        detail: serde_json::Value,
        to: Option<OpState>,
    ) -> Result<AuditEntry, JournalError> {
        let slot = self.slot(id).await?;
        let mut op = slot.lock().await;
        if let Some(to) = to {
            op.check(to)?;
        }
        let correlation_id = op.correlation_id.clone();
        let entry = self
            .append(NewEntry {
                operation_id: id.0.clone(),
                correlation_id,
                actor: actor.to_string(),
                action: action.to_string(),
                detail,
            })
            .await?;
        op.apply(&entry)?;
        Ok(entry)
    }

    /// Moves an operation to `to`, or refuses with [`IllegalTransition`] and writes nothing.
    pub async fn transition(
        &self,
        id: &OperationId,
        to: OpState,
        actor: &str,
        reason: &str,
    ) -> Result<AuditEntry, JournalError> {
        let from = self.state(id).await?;
        let entry = self
            .write(
                id,
                actor,
                action::TRANSITION,
                json!({ "from": from, "to": to, "reason": reason }),
                Some(to),
            )
            .await?;
        #[cfg(feature = "failpoints")]
        super::failpoint::hit(&format!("state:{to}"));
        Ok(entry)
    }

    /// Declares a live operation `Completed` as a person (`healbot ops force-complete`): the
    /// transition is marked `forced`, which the fold accepts from any live state and nowhere
    /// else, so healbot's own steps can never take this way out.
    pub(crate) async fn force_complete(
        &self,
        id: &OperationId,
        actor: &str,
        reason: &str,
    ) -> Result<AuditEntry, JournalError> {
        let slot = self.slot(id).await?;
        let mut op = slot.lock().await;
        op.check_forced(OpState::Completed)?;
        let entry = self
            .append(NewEntry {
                operation_id: id.0.clone(),
                correlation_id: op.correlation_id.clone(),
                actor: actor.to_string(),
                action: action::TRANSITION.to_string(),
                detail: json!({
                    "from": op.state,
                    "to": OpState::Completed,
                    "reason": reason,
                    "forced": true,
                }),
            })
            .await?;
        op.apply(&entry)?;
        Ok(entry)
    }

    /// Records that a side effect is done, under its idempotency key.
    pub async fn effect<T: Serialize>(
        &self,
        id: &OperationId,
        effect: &Effect<T>,
        result: &T,
    ) -> Result<AuditEntry, JournalError> {
        let key = effect.key(id);
        let key = key.as_str();
        let entry = self
            .write(
                id,
                "healbot",
                action::EFFECT,
                json!({ "key": key, "result": result }),
                None,
            )
            .await?;
        #[cfg(feature = "failpoints")]
        {
            // Keys are `<operation>/<effect>`; failpoints name the effect part.
            let name = key.split_once('/').map_or(key, |(_, effect)| effect);
            super::failpoint::hit(&format!("effect:{name}"));
        }
        Ok(entry)
    }

    /// Keeps a stage's output so that a resumed operation does not recompute it.
    pub async fn artifact<T: Serialize>(
        &self,
        id: &OperationId,
        key: &Artifact<T>,
        value: &T,
    ) -> Result<AuditEntry, JournalError> {
        self.write(
            id,
            "healbot",
            action::ARTIFACT,
            json!({ "name": key.name(), "value": value }),
            None,
        )
        .await
    }

    /// A history-only entry (a gate verdict, a refused command, a notification…).
    pub async fn note(
        &self,
        id: &OperationId,
        actor: &str,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<AuditEntry, JournalError> {
        self.write(id, actor, action, detail, None).await
    }

    pub async fn state(&self, id: &OperationId) -> Result<OpState, JournalError> {
        Ok(self.slot(id).await?.lock().await.state)
    }

    pub async fn operation(&self, id: &OperationId) -> Result<Operation, JournalError> {
        Ok(self.slot(id).await?.lock().await.clone())
    }

    /// Every operation, open and finished, in id order.
    pub async fn operations(&self) -> Vec<Operation> {
        let slots: Vec<_> = self.ops.lock().await.values().cloned().collect();
        let mut out = Vec::with_capacity(slots.len());
        for s in slots {
            out.push(s.lock().await.clone());
        }
        out
    }
}
