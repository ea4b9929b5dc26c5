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

/// A payment-null demo session on 200-request intervals in `dir`, reviewed by nobody, with
/// the given scrape interval: what tests that build a `Demo` themselves start from.
pub fn demo_session(dir: &std::path::Path, scrape_interval_ms: u64) -> healbot::demo::DemoSession {
    healbot::demo::DemoSession {
        scenario: healbot::demo::Scenario::PaymentNull,
        repo: healbot::forge::RepoRef("payment-service".into()),
        repo_path: dir.join("repos/payment-service"),
        service: "payment-service".into(),
        requests: 200,
        seed: 7,
        canary_wait_ms: 0,
        scrape_interval_ms,
        auto_review: false,
    }
}
