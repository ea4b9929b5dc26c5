//! A state directory opened for one CLI command: `healbot pr review/comment` hand a person's
//! act to the operation behind the PR and carry it on as far as it can go.

use crate::forge::Override;
use std::path::Path;

/// Applies a person's review or command to the operation behind its PR and drives the
/// operation on; returns the lines to show the person.
pub async fn apply_override(state_dir: &Path, ov: Override) -> anyhow::Result<Vec<String>> {
    let demo = crate::demo::Demo::open(state_dir).await?;
    Ok(demo.orchestrator.handle_override(ov).await?)
}
