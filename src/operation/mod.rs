//! One operation, one event log. An operation's state is the fold of its events in the audit
//! log (`state`: the transition table and the fold); the journal is the only writer of those
//! events and checks each transition before it is appended (`journal`). Stage outputs and
//! side effects are read and written through typed keys (`record`). Between replicas, a
//! lease gives one of them the right to act on an operation (`lease`) and the work queue hands
//! out operations to drive (`work_queue`). The tests crash the process right after an event is
//! durable (`failpoint`, only in builds with the `failpoints` feature, which `cargo test` has).

#[cfg(feature = "failpoints")]
pub mod failpoint;
pub mod journal;
pub mod lease;
pub mod record;
pub mod state;
pub mod work_queue;

pub use journal::{Journal, JournalError};
pub use record::{Artifact, Effect, Unreadable};
pub use state::{IllegalTransition, OpState, Operation};
