//! The shared vocabulary of the pipeline: types that several stages speak (severity, ids,
//! metric samples, permissions, lock scopes, the clock, an error's causes for the log). A leaf: it imports nothing else from
//! the crate, so any module may use it without creating an import cycle.

pub mod causes;
pub mod clock;
pub mod ids;
pub mod lock_scope;
pub mod permission;
pub mod samples;
pub mod severity;

pub use causes::Causes;
pub use clock::{Clock, PinnedClock, SystemClock};
pub use ids::{path_under, safe_id, IncidentId, OperationId};
pub use lock_scope::LockScope;
pub use permission::Permission;
pub use samples::MetricSamples;
pub use severity::Severity;
