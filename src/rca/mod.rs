//! Root-cause analysis: which service the incident started in. The dependency graph
//! ([`crate::topology`]) says who calls whom; metric evidence says who misbehaves; the ranking
//! combines them so that a failing dependency is named before the callers it drags down. The
//! report carries the causal chain, the evidence and a confidence, and knows nothing of the
//! stages after it.

pub mod baro;
pub mod rank;

pub use baro::{MetricScore, MetricTable};
pub use rank::{rank, RankOptions, RankedService, RcaError, RcaReport, ServiceEvidence};
