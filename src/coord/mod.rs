//! Coordination: the operation state machine, the journal that folds audit entries into
//! operations, and the locks that keep two operations from touching the same thing.

pub mod conflict;
pub mod failpoint;
pub mod journal;
pub mod lease;
pub mod lock;
pub mod state;
pub mod work_queue;

pub use journal::{Journal, JournalError};
pub use state::{IllegalTransition, OpState, Operation};
