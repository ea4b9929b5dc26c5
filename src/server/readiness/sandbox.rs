//! Where the repository's own check command runs during validation. healbot runs it in its own
//! worktree, with a time limit and without proxy variables, but not inside a sandbox: the
//! check says so, and whether bubblewrap (`bwrap`) would work on this host.

use super::Check;
use std::process::Stdio;

pub(super) async fn check() -> Check {
    const NOTE: &str = "validation runs the repository's check command without a sandbox \
                        (own worktree, time limit, proxy variables removed)";
    let run = tokio::process::Command::new("bwrap")
        .args([
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--unshare-all",
            "--die-with-parent",
            "true",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await;
    let bwrap = match run {
        Ok(out) if out.status.success() => {
            "bwrap works here (ran `true` with --unshare-all)".to_string()
        }
        Ok(out) => format!(
            "bwrap cannot isolate here: {}",
            String::from_utf8_lossy(&out.stderr)
                .trim()
                .chars()
                .take(160)
                .collect::<String>()
        ),
        Err(e) => format!("bwrap cannot be run: {e}"),
    };
    Check::warn("sandbox", format!("{NOTE}; {bwrap}"))
}
