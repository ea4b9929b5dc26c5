//! healbot: turns a production incident into a reviewed fix pull request and drives that fix to
//! production through GitOps canary steps. The library holds every stage of the pipeline; the
//! binary in `main.rs` only parses the command line and calls in here.

pub mod audit;
pub mod canary;
pub mod cli;
pub mod config;
pub mod demo;
pub mod detect;
pub mod fix;
pub mod forge;
pub mod gates;
pub mod gitops;
pub mod http_client;
pub mod localize;
pub mod lock;
pub mod model;
pub mod notify;
pub mod operation;
pub mod orchestrator;
pub mod plan;
pub mod rca;
pub mod redis_conn;
pub mod server;
pub mod signals;
pub mod topology;
pub mod verify;
