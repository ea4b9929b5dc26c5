//! Small JSON state the app keeps under `state_dir` (the installation map, the approvers'
//! pinned user ids): read whole at startup, written whole with write-then-rename, so a crash
//! leaves the old file or the new one and never half of each.

use super::handler::HandlerError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

fn state_error(path: &Path, reason: &dyn std::fmt::Display) -> HandlerError {
    HandlerError::State {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// The value stored at `path`; the default when there is no file yet. A file that does not
/// parse is an error naming it: starting empty would forget what it held.
pub(crate) fn load<T: DeserializeOwned + Default>(path: &Path) -> Result<T, HandlerError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| state_error(path, &e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(state_error(path, &e)),
    }
}

/// Replaces the value at `path`.
pub(crate) async fn save<T: Serialize>(path: &Path, value: &T) -> Result<(), HandlerError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| state_error(path, &e))?;
    let tmp = path.with_extension("json.tmp");
    tokio::fs::write(&tmp, bytes)
        .await
        .map_err(|e| state_error(path, &e))?;
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(|e| state_error(path, &e))
}
