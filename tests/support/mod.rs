//! Test support: servers and fakes the integration tests start (being written).
pub mod app;
pub mod github;
pub mod prometheus;
