//! The checks of what healbot keeps and reads locally or in Redis: webhook secrets, the state
//! directory, the policies, the fix templates, the dependency catalog and Redis.

use super::Check;
use crate::config::bot::BotConfig;
use crate::config::policy::PolicySet;
use std::time::Duration;

pub(super) fn webhook_secrets(config: &BotConfig) -> Check {
    // `BotConfig` refuses to load without one; the count is all that may be shown.
    Check::ok(
        "webhook secrets",
        format!(
            "{} secret(s) loaded (values not shown)",
            config.webhook_secrets.len()
        ),
    )
}

/// The state directory exists (or can be made) and takes a file.
pub(super) fn state_dir(config: &BotConfig) -> Check {
    let dir = &config.state_dir;
    let probe = dir.join(format!(".healbot-doctor-{}", std::process::id()));
    let result = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&probe, b"doctor"))
        .and_then(|()| std::fs::remove_file(&probe));
    match result {
        Ok(()) => Check::ok(
            "state dir",
            format!(
                "{} is writable (wrote and removed a probe file)",
                dir.display()
            ),
        ),
        Err(e) => Check::fail("state dir", format!("{}: {e}", dir.display())),
    }
}

/// Loads and validates the policy set; the set is returned for the checks that need it.
pub(super) fn policies(config: &BotConfig) -> (Check, Option<PolicySet>) {
    match &config.policies_dir {
        None => (
            Check::ok(
                "policies",
                "the embedded default policies (no policies_dir)",
            ),
            Some(PolicySet::embedded()),
        ),
        Some(dir) => match PolicySet::load(dir) {
            Ok(set) => (
                Check::ok(
                    "policies",
                    format!(
                        "{}: all {} policy files load and validate",
                        dir.display(),
                        crate::config::policy::POLICY_FILES.len()
                    ),
                ),
                Some(set),
            ),
            Err(e) => (Check::fail("policies", e.to_string()), None),
        },
    }
}

pub(super) fn templates(config: &BotConfig) -> Check {
    match crate::server::app::build::templates(config) {
        Ok(list) => Check::ok(
            "fix templates",
            match &config.templates_dir {
                Some(dir) => format!("{} templates (built-in and {})", list.len(), dir.display()),
                None => format!("{} built-in templates", list.len()),
            },
        ),
        Err(e) => Check::fail("fix templates", format!("{e:#}")),
    }
}

pub(super) fn catalog(config: &BotConfig) -> Check {
    match &config.sources.catalog {
        Some(path) => match crate::topology::DependencyGraph::load_catalog(path) {
            Ok(graph) => Check::ok(
                "catalog",
                format!("{}: {} services", path.display(), graph.len()),
            ),
            Err(e) => Check::fail("catalog", e.to_string()),
        },
        None if config.github_credentials_present() => Check::fail(
            "catalog",
            "no `catalog:` in healbot.yaml; `serve` refuses to start with GitHub credentials and no catalog",
        ),
        None => Check::skipped("catalog", "no `catalog:` in healbot.yaml"),
    }
}

/// `PING`, then the server's version from `INFO server`.
pub(super) async fn redis(url: Option<&str>, limit: Duration) -> Check {
    let Some(url) = url else {
        return Check::skipped(
            "redis",
            "no redis_url: locks are in memory and only one replica may run",
        );
    };
    let shown = crate::redis_conn::redacted(url);
    let mut conn = match crate::redis_conn::lazy_connection(url, limit) {
        Ok(c) => c,
        Err(e) => return Check::fail("redis", format!("{shown}: {}", redis_error(&e))),
    };
    let pong: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
    match pong {
        Ok(p) if p == "PONG" => {}
        Ok(other) => return Check::fail("redis", format!("{shown}: PING answered {other:?}")),
        Err(e) => return Check::fail("redis", format!("{shown}: PING: {}", redis_error(&e))),
    }
    let info: Result<String, _> = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await;
    let version = info.ok().and_then(|text| {
        text.lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .map(|v| v.trim().to_string())
    });
    match version {
        Some(v) => Check::ok("redis", format!("{shown}: PING answered PONG; Redis {v}")),
        None => Check::warn(
            "redis",
            format!("{shown}: PING answered PONG; INFO server gave no redis_version"),
        ),
    }
}

/// A Redis error without the URL it may quote (with its password).
fn redis_error(e: &redis::RedisError) -> String {
    let text = e.to_string();
    match text.find("redis://") {
        Some(_) => format!("{:?}", e.kind()),
        None => text,
    }
}
