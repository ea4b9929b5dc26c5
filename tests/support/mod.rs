//! Test support: servers and fakes the integration tests start, and what they share.
pub mod app;
pub mod git_http;
pub mod github;
pub mod github_ci;
pub mod prometheus;
pub mod registry;
pub mod toolchain;

/// A finished `healbot` command's stdout and stderr, for an assertion message.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
