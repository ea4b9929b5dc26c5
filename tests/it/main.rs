//! Integration tests, one module per area, in one test binary (each extra binary links the
//! whole crate again, which costs minutes on two cores).

mod adversarial;
mod audit;
mod audit_against_pr;
mod audit_shipping;
mod canary;
mod demo;
mod deploy_repo;
mod fix_cli;
mod fixes;
mod forge;
mod github;
mod gitops;
mod localize;
mod locks;
mod notify;
mod policy;
mod repair;
mod server;
mod signals;
mod templates;
mod topology;

#[path = "../support/mod.rs"]
#[allow(dead_code)]
mod support;

mod app_setup;
mod argo_app;
mod chart;
mod cli;
mod delivery;
mod demo_prometheus;
mod doctor;
mod github_app;
mod github_clone;
mod github_workspace;
mod heal;
mod image_gate;
mod kpis;
mod layers;
mod localize_eval;
mod long_locks;
mod neo4j;
mod notify_app;
mod ops;
mod ops_serve;
mod otlp;
mod records;
mod replica_crash;
mod replicas;
mod revert;
mod safety;
mod sandbox;

#[path = "../failure_matrix.rs"]
mod failure_matrix;
