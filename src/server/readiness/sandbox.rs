//! Where the repository's own check command runs during validation: the configured sandbox
//! (`validation:` in healbot.yaml), tried once on this host exactly as a check would start.

use super::Check;
use crate::config::validation::ValidationSettings;
use crate::fix::{Sandbox, SandboxStatus};

pub(super) async fn check(settings: ValidationSettings) -> Check {
    let status =
        tokio::task::spawn_blocking(move || Sandbox::new(settings, Default::default()).status())
            .await;
    match status {
        Ok(SandboxStatus::Bwrap) => Check::ok(
            "sandbox",
            "bubblewrap works here: check commands run isolated (no network, read-only system)",
        ),
        Ok(status @ SandboxStatus::Unsandboxed) => Check::warn("sandbox", status.describe()),
        Ok(status @ SandboxStatus::Unavailable(_)) => Check::fail("sandbox", status.describe()),
        Err(e) => Check::fail("sandbox", format!("the probe did not finish: {e}")),
    }
}
