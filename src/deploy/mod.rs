//! Delivery after merge. For now it holds the canary judge (`canary`) and the statistics it
//! rests on (`stats`); progression, verification and rollback join it here.

pub mod argo;
pub mod canary;
pub mod stats;
