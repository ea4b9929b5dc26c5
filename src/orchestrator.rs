//! Drives one operation through the pipeline (being written).

pub mod session {
    //! A state directory opened for the CLI: journal, forge and orchestrator together.
    use crate::forge::Override;
    use std::path::Path;

    /// Applies a person's review or command to the operation behind its PR and carries the
    /// operation on as far as it can go; returns the lines to show the person.
    pub async fn apply_override(_state_dir: &Path, _ov: Override) -> anyhow::Result<Vec<String>> {
        anyhow::bail!("being written")
    }
}
