//! Integration tests, one module per area, in one test binary (each extra binary links the
//! whole crate again, which costs minutes on two cores).

mod audit;
mod canary;
mod demo;
mod forge;
mod gitops;
mod localize;
mod policy;
mod fixes;
mod github;
mod locks;
mod notify;
mod repair;
mod server;
mod signals;

#[path = "../support/mod.rs"]
#[allow(dead_code)]
mod support;
