//! The `/heal` command grammar shared by the GitHub App and the local forge's CLI (parser being
//! written).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verb", rename_all = "snake_case")]
pub enum HealCommand {
    Approve,
    Reject { reason: Option<String> },
    Pause,
    Resume,
    Rollback,
    Retry,
    Status,
    Explain,
    Promote,
    Abort,
    Help,
}

pub fn parse_commands() {}
