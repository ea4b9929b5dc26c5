//! Root-cause analysis: which service the incident started in. Metric evidence says who
//! misbehaves (robust scores against a normal window, found by change-point detection when
//! nobody says when it began), the dependency graph ([`crate::topology`]) says who explains
//! whose symptoms, and traces say where errors and latency begin. The ranking names what each
//! signal contributed, and knows nothing of the stages after it.

pub mod changepoint;
mod combine;
pub mod diagnose;
mod explain;
pub mod labels;
pub mod metrics;
pub mod rank;
mod report;
pub mod robust;
pub mod series;
mod serve_evidence;
pub mod table;
pub mod traces;
pub mod walk;
mod windows;

pub use diagnose::{diagnose, Culprit, DiagnoseError, DiagnoseOptions, Diagnosis, StartSource};
pub use rank::{RankedService, RcaError, RcaReport, ServiceEvidence};
pub use serve_evidence::rank_evidence;
pub use table::{MetricTable, TableError};
