//! The shared vocabulary of the pipeline: types that several stages speak (severity, ids,
//! metric samples, permissions, the clock). A leaf: it imports nothing else from the crate,
//! so any module may use it without creating an import cycle.

pub mod clock;

pub use clock::{Clock, PinnedClock, SystemClock};
