//! Checks of everything `healbot.yaml` makes healbot depend on: GitHub, Redis, Prometheus, the
//! log and trace backends, the notifiers, the sandbox, the policies. `healbot doctor` runs all
//! of them once and prints a table; `/readyz` runs the few that say whether this replica can
//! work now (Redis, GitHub, Prometheus). Both use this code, so what the doctor reports is what
//! the probe sees. Each check has a time limit and its detail never holds a secret.

mod exports;
mod github;
mod notify;
mod probe;
mod sandbox;
mod signals;
mod stores;

pub use probe::Readiness;

use crate::config::bot::BotConfig;
use serde::Serialize;
use std::fmt::Write;
use std::future::Future;
use std::time::Duration;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, but something is off that a person should know.
    Warn,
    /// healbot cannot do its work with this dependency as it is.
    Fail,
    /// Not configured, or not checkable without a check before it.
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skipped => "skipped",
        }
    }
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub check: String,
    pub status: Status,
    /// What was checked and what came back; never a secret.
    pub detail: String,
}

impl Check {
    pub fn new(check: impl Into<String>, status: Status, detail: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            status,
            detail: detail.into(),
        }
    }
    pub fn ok(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(check, Status::Ok, detail)
    }
    pub fn warn(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(check, Status::Warn, detail)
    }
    pub fn fail(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(check, Status::Fail, detail)
    }
    pub fn skipped(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(check, Status::Skipped, detail)
    }
}

/// Every check's row, in the order they ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// True when any check failed: `healbot doctor` then exits non-zero, `/readyz` says 503.
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == Status::Fail)
    }

    /// An aligned table: check, status, detail.
    pub fn table(&self) -> String {
        let width = |f: &dyn Fn(&Check) -> usize, title: &str| {
            self.checks
                .iter()
                .map(f)
                .max()
                .unwrap_or(0)
                .max(title.len())
        };
        let name_w = width(&|c| c.check.chars().count(), "CHECK");
        let status_w = width(&|c| c.status.as_str().len(), "STATUS");
        let mut out = String::new();
        let _ = writeln!(out, "{:name_w$}  {:status_w$}  DETAIL", "CHECK", "STATUS");
        for c in &self.checks {
            let _ = writeln!(
                out,
                "{:name_w$}  {:status_w$}  {}",
                c.check,
                c.status.as_str(),
                c.detail.replace('\n', " ")
            );
        }
        out
    }
}

/// `check` within `limit`; a check that takes longer fails, naming the limit.
pub async fn within(name: &str, limit: Duration, check: impl Future<Output = Check>) -> Check {
    match tokio::time::timeout(limit, check).await {
        Ok(c) => c,
        Err(_) => Check::fail(name, format!("no answer within {} ms", limit.as_millis())),
    }
}

/// Several rows within one limit; a timeout is one failed row named `name`.
async fn rows_within(
    name: &str,
    limit: Duration,
    checks: impl Future<Output = Vec<Check>>,
) -> Vec<Check> {
    match tokio::time::timeout(limit, checks).await {
        Ok(rows) => rows,
        Err(_) => vec![Check::fail(
            name,
            format!("no answer within {} ms", limit.as_millis()),
        )],
    }
}

/// Every check `healbot doctor` runs, each within `limit`.
pub async fn doctor(config: &BotConfig, limit: Duration) -> Report {
    let mut checks = Vec::new();
    checks.push(stores::webhook_secrets(config));
    checks.push(stores::state_dir(config));
    let policies = stores::policies(config);
    checks.push(policies.0);
    checks.push(stores::templates(config));
    checks.push(stores::catalog(config));
    checks.extend(rows_within("github", limit * 2, github::check(config)).await);
    checks.push(
        within(
            "redis",
            limit,
            stores::redis(config.redis_url.as_deref(), limit),
        )
        .await,
    );
    checks.extend(signals::prometheus(config, policies.1.as_ref(), limit).await);
    checks.extend(signals::logs(config, limit).await);
    checks.push(signals::traces());
    checks.extend(notify::check(&config.notify, limit).await);
    checks.extend(exports::check(config, limit).await);
    checks.push(within("sandbox", limit, sandbox::check(config.validation.clone())).await);
    Report { checks }
}

/// The host and port of an http(s) URL (the scheme's port when none is written).
fn host_port(url: &str) -> Option<(String, u16)> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed.host_str()?.to_string();
    let port = parsed.port_or_known_default()?;
    Some((host, port))
}

/// Opens (and closes) a TCP connection to `host:port`: the host resolves and accepts.
async fn reachable(host: &str, port: u16) -> Result<(), String> {
    tokio::net::TcpStream::connect((host, port))
        .await
        .map(drop)
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))
}

/// A URL with any `user:password@` removed, for details.
fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.as_str().trim_end_matches('/').to_string()
        }
        Err(_) => "(not a URL)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_aligned_and_a_failure_fails_the_report() {
        let report = Report {
            checks: vec![
                Check::ok("redis", "PING answered"),
                Check::fail("prometheus query error_rate", "parse error"),
            ],
        };
        let table = report.table();
        let lines: Vec<&str> = table.lines().collect();
        let at = |l: &str, word: &str| l.find(word).unwrap();
        assert_eq!(at(lines[0], "STATUS"), at(lines[1], "ok"));
        assert_eq!(at(lines[1], "ok"), at(lines[2], "fail"));
        assert!(report.failed());
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            shown_url("https://u:pw@es.example:9200/"),
            "https://es.example:9200"
        );
        assert_eq!(
            host_port("https://hooks.slack.com/x"),
            Some(("hooks.slack.com".into(), 443))
        );
    }

    #[tokio::test]
    async fn a_slow_check_fails_naming_the_limit() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Check::ok("slow", "never")
        };
        let c = within("slow", Duration::from_millis(20), slow).await;
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("20 ms"), "{}", c.detail);
    }
}
