//! One audit entry, its canonical JSON and its hash, exactly as the design fixes them:
//! `hash = hex(sha256(prev_hash || canonical_json(entry without hash)))`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An entry as written: the field order here is the canonical key order of the line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    pub seq: u64,
    /// RFC 3339, UTC, microseconds.
    pub ts: String,
    pub operation_id: String,
    pub correlation_id: String,
    pub actor: String,
    pub action: String,
    pub detail: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// What a caller hands to [`super::AuditStore::append`]; the store assigns seq, ts and hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    pub operation_id: String,
    pub correlation_id: String,
    pub actor: String,
    pub action: String,
    pub detail: serde_json::Value,
}

#[derive(Serialize)]
struct Unhashed<'a> {
    seq: u64,
    ts: &'a str,
    operation_id: &'a str,
    correlation_id: &'a str,
    actor: &'a str,
    action: &'a str,
    detail: &'a serde_json::Value,
    prev_hash: &'a str,
}

/// Canonical JSON of an entry without its hash: top-level keys in the design's order, keys of
/// nested objects sorted, no whitespace. Sorting is done here rather than trusted to
/// serde_json's map type, which a dependency's `preserve_order` feature could change.
pub fn canonical_json(e: &AuditEntry) -> String {
    let detail = sorted(&e.detail);
    let unhashed = Unhashed {
        seq: e.seq,
        ts: &e.ts,
        operation_id: &e.operation_id,
        correlation_id: &e.correlation_id,
        actor: &e.actor,
        action: &e.action,
        detail: &detail,
        prev_hash: &e.prev_hash,
    };
    serde_json::to_string(&unhashed).unwrap_or_default()
}

fn sorted(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&map[k]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

pub fn hash_entry(e: &AuditEntry) -> String {
    let mut h = Sha256::new();
    h.update(e.prev_hash.as_bytes());
    h.update(canonical_json(e).as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
impl AuditEntry {
    /// An unchained entry of operation `op-1`, for unit tests that fold or render entries.
    pub(crate) fn for_test(seq: u64, action: &str, detail: serde_json::Value) -> AuditEntry {
        AuditEntry {
            seq,
            ts: String::new(),
            operation_id: "op-1".into(),
            correlation_id: "c".into(),
            actor: "healbot".into(),
            action: action.into(),
            detail,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }
}

impl AuditEntry {
    /// Builds the next entry after `(prev_seq, prev_hash)` and computes its hash.
    pub fn chain(new: NewEntry, seq: u64, prev_hash: &str, ts: String) -> AuditEntry {
        let mut e = AuditEntry {
            seq,
            ts,
            operation_id: new.operation_id,
            correlation_id: new.correlation_id,
            actor: new.actor,
            action: new.action,
            detail: new.detail,
            prev_hash: prev_hash.to_string(),
            hash: String::new(),
        };
        e.hash = hash_entry(&e);
        e
    }
}
