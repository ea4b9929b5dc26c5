//! What a lock covers. The lock policy (`policies/locks.yaml`) names the scopes and their
//! order, and the lock managers take them, so the scope is shared vocabulary.

use serde::{Deserialize, Serialize};

/// In lock order: a holder of a scope may only take scopes after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LockScope {
    System = 1,
    Service = 2,
    Incident = 3,
    Deployment = 4,
}
