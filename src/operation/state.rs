//! An operation's state is never stored: it is the fold of its audit entries. This file holds the
//! states, the transition table that every event is checked against, and the fold itself.

use super::record::{Artifact, Effect, RecordKind, Unreadable};
use crate::audit::AuditEntry;
use crate::model::OperationId;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The states of the design. `Deploying` carries the canary weight in percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "state", content = "step")]
pub enum OpState {
    Detected,
    Analyzing,
    Planned,
    AwaitingGates,
    Locked,
    PrOpen,
    AwaitingReview,
    Merged,
    Deploying(u8),
    Verifying,
    Completed,
    PausedForHumanReview,
    RollingBack,
    RolledBack,
    Escalated,
    Failed,
    Cancelled,
}

impl OpState {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OpState::Completed | OpState::RolledBack | OpState::Failed | OpState::Cancelled
        )
    }

    /// States that wait for a person (or an outside event) rather than for healbot.
    pub(crate) fn is_waiting(self) -> bool {
        matches!(
            self,
            OpState::AwaitingReview | OpState::PausedForHumanReview | OpState::Escalated
        )
    }

    /// The one legal-transition table. `paused_from` is where a paused operation may resume to.
    pub fn can_go(self, to: OpState, paused_from: Option<OpState>) -> bool {
        use OpState::*;
        // Any live state can fail, and a person can cancel anything that has not finished.
        if !self.is_terminal() && matches!(to, Failed | Cancelled) {
            return true;
        }
        match (self, to) {
            (Detected, Analyzing | Escalated) => true,
            (Analyzing, Planned | Escalated) => true,
            (Planned, AwaitingGates | Escalated) => true,
            (AwaitingGates, Locked | PausedForHumanReview | Escalated) => true,
            (Locked, PrOpen | Escalated | AwaitingGates) => true,
            (PrOpen, AwaitingReview) => true,
            (AwaitingReview, Merged | PausedForHumanReview | Escalated) => true,
            // PausedForHumanReview: the image the canary needs never reached the registry.
            (Merged, Deploying(_) | RollingBack | PausedForHumanReview) => true,
            (Deploying(a), Deploying(b)) => b > a,
            (Deploying(_), Verifying | RollingBack | PausedForHumanReview) => true,
            (Verifying, Completed | RollingBack) => true,
            (PausedForHumanReview, RollingBack | Escalated) => true,
            (PausedForHumanReview, target) => paused_from == Some(target),
            (RollingBack, RolledBack | Escalated) => true,
            (Escalated, AwaitingGates | RollingBack) => true,
            _ => false,
        }
    }
}

impl fmt::Display for OpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpState::Deploying(w) => write!(f, "Deploying({w}%)"),
            other => write!(f, "{other:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("operation {operation}: illegal transition {from} -> {to}")]
pub struct IllegalTransition {
    pub operation: OperationId,
    pub from: OpState,
    pub to: OpState,
}

/// Audit actions the fold understands. Any other action is history only.
pub mod action {
    /// Opens an operation; detail: `{"incident": Incident, "repo": path-or-slug}`.
    pub(crate) const OPENED: &str = "operation.opened";
    /// detail: `{"from": OpState, "to": OpState, "reason": str}`.
    pub(crate) const TRANSITION: &str = "operation.transition";
    /// A side effect that is done; detail: `{"key": str, "result": any}`.
    pub(crate) const EFFECT: &str = "effect.done";
    /// A stage's output kept for resume; detail: `{"name": str, "value": any}`.
    pub(crate) const ARTIFACT: &str = "stage.output";
}

/// The fold of one operation's entries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Operation {
    pub id: OperationId,
    pub correlation_id: String,
    pub state: OpState,
    /// Where a paused operation resumes to.
    pub paused_from: Option<OpState>,
    /// Opening detail (incident, repository, …).
    pub opened: serde_json::Value,
    /// Side effects done, by idempotency key.
    pub effects: BTreeMap<String, serde_json::Value>,
    /// Stage outputs, by name; a later output of the same name replaces the earlier one.
    pub artifacts: BTreeMap<String, serde_json::Value>,
    /// (seq, state, reason) of every transition, for timelines.
    pub history: Vec<(u64, OpState, String)>,
    /// When each `history` entry was written, by seq: the gates, the escalation clock and RCA
    /// ask how long ago a state began without reading the whole log.
    pub history_at: BTreeMap<u64, chrono::DateTime<chrono::Utc>>,
    pub last_seq: u64,
}

/// An entry's timestamp (entries written by healbot always have one).
fn written_at(entry: &AuditEntry) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(&entry.ts)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FoldError {
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error("audit entry {seq}: {reason}")]
    Malformed { seq: u64, reason: String },
}

impl Operation {
    /// A new operation from its `operation.opened` entry.
    pub fn open(entry: &AuditEntry) -> Operation {
        Operation {
            id: OperationId(entry.operation_id.clone()),
            correlation_id: entry.correlation_id.clone(),
            state: OpState::Detected,
            paused_from: None,
            opened: entry.detail.clone(),
            effects: BTreeMap::new(),
            artifacts: BTreeMap::new(),
            history: vec![(entry.seq, OpState::Detected, "opened".into())],
            history_at: written_at(entry)
                .map(|t| (entry.seq, t))
                .into_iter()
                .collect(),
            last_seq: entry.seq,
        }
    }

    /// Checks a transition against the table without changing anything.
    pub fn check(&self, to: OpState) -> Result<(), IllegalTransition> {
        if self.state.can_go(to, self.paused_from) {
            Ok(())
        } else {
            Err(IllegalTransition {
                operation: self.id.clone(),
                from: self.state,
                to,
            })
        }
    }

    /// Checks a person's forced completion (`healbot ops force-complete`): any live state may
    /// be declared done, outside the table, and only with the transition marked `forced`.
    pub(crate) fn check_forced(&self, to: OpState) -> Result<(), IllegalTransition> {
        if to == OpState::Completed && !self.state.is_terminal() {
            Ok(())
        } else {
            Err(IllegalTransition {
                operation: self.id.clone(),
                from: self.state,
                to,
            })
        }
    }

    /// Folds one more entry of this operation.
    pub fn apply(&mut self, entry: &AuditEntry) -> Result<(), FoldError> {
        let malformed = |reason: &str| FoldError::Malformed {
            seq: entry.seq,
            reason: reason.to_string(),
        };
        match entry.action.as_str() {
            action::TRANSITION => {
                let to: OpState = serde_json::from_value(entry.detail["to"].clone())
                    .map_err(|_| malformed("transition without a valid `to`"))?;
                if entry.detail["forced"] == serde_json::Value::Bool(true) {
                    self.check_forced(to)?;
                } else {
                    self.check(to)?;
                }
                if to == OpState::PausedForHumanReview {
                    self.paused_from = Some(self.state);
                } else if self.state == OpState::PausedForHumanReview {
                    self.paused_from = None;
                }
                let reason = entry.detail["reason"].as_str().unwrap_or_default();
                self.history.push((entry.seq, to, reason.to_string()));
                if let Some(t) = written_at(entry) {
                    self.history_at.insert(entry.seq, t);
                }
                self.state = to;
            }
            action::EFFECT => {
                let key = entry.detail["key"]
                    .as_str()
                    .ok_or_else(|| malformed("effect without a `key`"))?;
                self.effects
                    .insert(key.to_string(), entry.detail["result"].clone());
            }
            action::ARTIFACT => {
                let name = entry.detail["name"]
                    .as_str()
                    .ok_or_else(|| malformed("stage output without a `name`"))?;
                self.artifacts
                    .insert(name.to_string(), entry.detail["value"].clone());
            }
            _ => {}
        }
        self.last_seq = entry.seq;
        Ok(())
    }

    /// The recorded output `key`, if the stage has run. A record that does not decode to the
    /// key's type is an error naming the key, not `None`: `None` would run the stage again.
    pub fn artifact<T: DeserializeOwned>(
        &self,
        key: &Artifact<T>,
    ) -> Result<Option<T>, Unreadable> {
        self.decode(&self.artifacts, key.name(), RecordKind::StageOutput)
    }

    /// The recorded result of effect `key`, if it is done. A record that does not decode is
    /// an error naming the key: the effect must not run a second time.
    pub fn effect<T: DeserializeOwned>(&self, key: &Effect<T>) -> Result<Option<T>, Unreadable> {
        self.decode(&self.effects, &key.key(&self.id), RecordKind::Effect)
    }

    /// Whether effect `key` is done, whatever its recorded result.
    pub(crate) fn has_effect<T>(&self, key: &Effect<T>) -> bool {
        self.effects.contains_key(&key.key(&self.id))
    }

    /// Whether stage output `key` is recorded, whatever its value.
    pub(crate) fn has_artifact<T>(&self, key: &Artifact<T>) -> bool {
        self.artifacts.contains_key(key.name())
    }

    fn decode<T: DeserializeOwned>(
        &self,
        records: &BTreeMap<String, serde_json::Value>,
        key: &str,
        kind: RecordKind,
    ) -> Result<Option<T>, Unreadable> {
        let Some(value) = records.get(key) else {
            return Ok(None);
        };
        T::deserialize(value)
            .map(Some)
            .map_err(|source| Unreadable {
                operation: self.id.clone(),
                kind,
                key: key.to_string(),
                source,
            })
    }
}

/// Rebuilds every operation from a log, in order. An entry that breaks the table is an error:
/// the log was written through the same checks, so this means it was tampered with.
pub fn fold_all(entries: &[AuditEntry]) -> Result<BTreeMap<OperationId, Operation>, FoldError> {
    let mut ops: BTreeMap<OperationId, Operation> = BTreeMap::new();
    for e in entries {
        if e.action == action::OPENED {
            ops.insert(OperationId(e.operation_id.clone()), Operation::open(e));
            continue;
        }
        if let Some(op) = ops.get_mut(&OperationId(e.operation_id.clone())) {
            op.apply(e)?;
        }
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::OpState::*;
    use super::*;

    const ALL: [OpState; 19] = [
        Detected,
        Analyzing,
        Planned,
        AwaitingGates,
        Locked,
        PrOpen,
        AwaitingReview,
        Merged,
        Deploying(10),
        Deploying(50),
        Deploying(100),
        Verifying,
        Completed,
        PausedForHumanReview,
        RollingBack,
        RolledBack,
        Escalated,
        Failed,
        Cancelled,
    ];

    /// The table written out by hand, independently of `can_go`'s match arms.
    fn expected_legal(from: OpState, to: OpState, paused_from: Option<OpState>) -> bool {
        let live = !from.is_terminal();
        let forward: &[(OpState, &[OpState])] = &[
            (Detected, &[Analyzing, Escalated]),
            (Analyzing, &[Planned, Escalated]),
            (Planned, &[AwaitingGates, Escalated]),
            (AwaitingGates, &[Locked, PausedForHumanReview, Escalated]),
            (Locked, &[PrOpen, Escalated, AwaitingGates]),
            (PrOpen, &[AwaitingReview]),
            (AwaitingReview, &[Merged, PausedForHumanReview, Escalated]),
            (
                Merged,
                &[
                    Deploying(10),
                    Deploying(50),
                    Deploying(100),
                    RollingBack,
                    // The canary's image never reached the registry.
                    PausedForHumanReview,
                ],
            ),
            (
                Deploying(10),
                &[
                    Deploying(50),
                    Deploying(100),
                    Verifying,
                    RollingBack,
                    PausedForHumanReview,
                ],
            ),
            (
                Deploying(50),
                &[Deploying(100), Verifying, RollingBack, PausedForHumanReview],
            ),
            (
                Deploying(100),
                &[Verifying, RollingBack, PausedForHumanReview],
            ),
            (Verifying, &[Completed, RollingBack]),
            (PausedForHumanReview, &[RollingBack, Escalated]),
            (RollingBack, &[RolledBack, Escalated]),
            (Escalated, &[AwaitingGates, RollingBack]),
        ];
        if live && matches!(to, Failed | Cancelled) {
            return true;
        }
        if from == PausedForHumanReview && paused_from == Some(to) {
            return true;
        }
        forward
            .iter()
            .any(|(f, tos)| *f == from && tos.contains(&to))
    }

    #[test]
    fn every_pair_matches_the_table() {
        for from in ALL {
            for to in ALL {
                for paused_from in [None, Some(AwaitingReview), Some(Deploying(50))] {
                    assert_eq!(
                        from.can_go(to, paused_from),
                        expected_legal(from, to, paused_from),
                        "{from} -> {to} (paused from {paused_from:?})"
                    );
                }
            }
        }
    }

    #[test]
    fn terminal_states_go_nowhere() {
        for from in [Completed, RolledBack, Failed, Cancelled] {
            for to in ALL {
                assert!(!from.can_go(to, None), "{from} -> {to}");
            }
        }
    }

    fn entry(seq: u64, action: &str, detail: serde_json::Value) -> AuditEntry {
        AuditEntry::for_test(seq, action, detail)
    }

    #[test]
    fn pause_resumes_only_to_where_it_paused() {
        let mut op = Operation::open(&entry(1, action::OPENED, serde_json::json!({})));
        let path = [
            Analyzing,
            Planned,
            AwaitingGates,
            Locked,
            PrOpen,
            AwaitingReview,
        ];
        for (i, to) in path.iter().enumerate() {
            op.apply(&entry(
                2 + i as u64,
                action::TRANSITION,
                serde_json::json!({ "to": to }),
            ))
            .unwrap();
        }
        op.apply(&entry(
            20,
            action::TRANSITION,
            serde_json::json!({"to": PausedForHumanReview}),
        ))
        .unwrap();
        assert_eq!(op.paused_from, Some(AwaitingReview));
        assert!(op.check(Merged).is_err());
        assert!(op.check(AwaitingReview).is_ok());
    }

    #[test]
    fn illegal_entry_in_log_is_an_error() {
        let entries = vec![
            entry(1, action::OPENED, serde_json::json!({})),
            entry(2, action::TRANSITION, serde_json::json!({"to": Merged})),
        ];
        assert!(matches!(fold_all(&entries), Err(FoldError::Illegal(_))));
    }

    #[test]
    fn effects_and_artifacts_are_folded() {
        let entries = vec![
            entry(1, action::OPENED, serde_json::json!({})),
            entry(
                2,
                action::EFFECT,
                serde_json::json!({"key": "op-1/pr", "result": 7}),
            ),
            entry(
                3,
                action::ARTIFACT,
                serde_json::json!({"name": "rca", "value": {"root": "payment-service"}}),
            ),
        ];
        let ops = fold_all(&entries).unwrap();
        let op = &ops[&OperationId("op-1".into())];
        assert_eq!(op.effect(&Effect::<u64>::new("pr")).unwrap(), Some(7));
        assert_eq!(op.artifacts["rca"]["root"], "payment-service");
        assert!(op.has_effect(&Effect::<u64>::new("pr")));
        assert_eq!(op.effect(&Effect::<u64>::new("merge")).unwrap(), None);
    }

    /// A record that no longer decodes is an error naming the key and serde's reason, never
    /// `None` (which would run the stage or the side effect again).
    #[test]
    fn a_record_that_does_not_decode_is_an_error_naming_its_key() {
        #[derive(Debug, Deserialize)]
        struct Root {
            #[allow(dead_code)]
            root: String,
        }
        let entries = vec![
            entry(1, action::OPENED, serde_json::json!({})),
            entry(
                2,
                action::EFFECT,
                serde_json::json!({"key": "op-1/pr", "result": "seven"}),
            ),
            entry(
                3,
                action::ARTIFACT,
                serde_json::json!({"name": "rca", "value": {"root": 42}}),
            ),
        ];
        let ops = fold_all(&entries).unwrap();
        let op = &ops[&OperationId("op-1".into())];

        let err = op.effect(&Effect::<u64>::new("pr")).unwrap_err();
        assert_eq!(err.key, "op-1/pr");
        assert_eq!(err.kind, RecordKind::Effect);
        let text = err.to_string();
        assert!(text.contains("`op-1/pr`"), "{text}");
        assert!(text.contains("invalid type: string \"seven\""), "{text}");
        assert!(std::error::Error::source(&err).is_some());

        let err = op.artifact(&Artifact::<Root>::new("rca")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("stage output `rca`"), "{text}");
        assert!(text.contains("invalid type: integer `42`"), "{text}");
    }

    #[test]
    fn only_a_forced_transition_completes_from_anywhere() {
        let forced = |seq, to: OpState| {
            entry(
                seq,
                action::TRANSITION,
                serde_json::json!({"to": to, "forced": true}),
            )
        };
        let mut op = Operation::open(&entry(1, action::OPENED, serde_json::json!({})));
        op.apply(&entry(
            2,
            action::TRANSITION,
            serde_json::json!({"to": Analyzing}),
        ))
        .unwrap();
        // Unforced, Analyzing -> Completed breaks the table.
        let plain = entry(3, action::TRANSITION, serde_json::json!({"to": Completed}));
        assert!(op.clone().apply(&plain).is_err());
        // Forced, it is a person's call; but only to Completed, and never out of an end.
        assert!(op.clone().apply(&forced(3, Merged)).is_err());
        op.apply(&forced(3, Completed)).unwrap();
        assert_eq!(op.state, Completed);
        assert!(op.apply(&forced(4, Completed)).is_err());
    }
}
