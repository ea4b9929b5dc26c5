//! GitOps: healbot takes a fix to production by committing to the service's Argo Rollouts
//! manifests in Git, never by talking to the cluster. This module edits users' manifests in
//! place (comments and formatting kept, only the changed bytes differ), generates the manifests
//! healbot owns, and wraps the few git operations the pipeline needs around a repository.

pub mod blue_green;
pub mod generate;
pub mod image;
pub mod rollout;
pub mod workspace;
pub mod yaml_edit;
mod yaml_path;
mod yaml_scalar;
mod yaml_tree;

/// Validates manifests against the Argo Rollouts CRD schemas. Only tests need it, so it does
/// not ship in the binary; `tests/it/gitops.rs` includes the same file by path.
#[cfg(test)]
pub mod crd;

pub use blue_green::BlueGreenRollout;
pub use generate::{
    analysis_template, analysis_template_name, rollout_with_steps, AnalysisThresholds, CanaryStep,
    RolloutSpec,
};
pub use rollout::RolloutManifest;
pub use workspace::{commit_summary, export_tree, log_paths, resolve, tag, CommitInfo};
pub use yaml_edit::{YamlDoc, YamlEditError};

use std::path::PathBuf;

/// Everything that can go wrong in this module, each naming the file or revision involved.
#[derive(Debug, thiserror::Error)]
pub enum GitopsError {
    #[error(transparent)]
    Yaml(#[from] YamlEditError),
    #[error("{file}: not an Argo Rollout with a canary strategy: {reason}")]
    NotARollout { file: String, reason: String },
    #[error("{file}: invalid {field} `{value}`: {reason}")]
    InvalidValue {
        file: String,
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("git {op} in {repo}: {source}")]
    Git {
        op: String,
        repo: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{repo}: {reason}")]
    Repo { repo: PathBuf, reason: String },
    #[error("serializing a generated manifest: {0}")]
    Generate(String),
}
