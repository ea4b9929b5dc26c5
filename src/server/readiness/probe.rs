//! `/readyz`: whether this replica can do its work now. Redis and Prometheus are asked at each
//! probe; GitHub's answer is kept for a minute, so a kubelet probing every few seconds does not
//! spend the app's rate limit.

use super::{github, signals, stores, within, Check, Report};
use crate::config::bot::{BotConfig, GithubApp};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long GitHub's answer is reused.
pub(crate) const GITHUB_CACHE: Duration = Duration::from_secs(60);

/// What `/readyz` checks; built once from the configuration.
pub struct Readiness {
    redis_url: Option<String>,
    prometheus_url: Option<String>,
    github: Option<GithubApp>,
    cached: Mutex<Option<(Instant, Check)>>,
    limit: Duration,
}

impl Readiness {
    /// Each check gets `limit`; keep it below the probe's timeout.
    pub fn new(config: &BotConfig, limit: Duration) -> Readiness {
        Readiness {
            redis_url: config.redis_url.clone(),
            prometheus_url: config.sources.prometheus.as_ref().map(|p| p.url.clone()),
            github: config
                .github
                .clone()
                .filter(|_| config.github_credentials_present()),
            cached: Mutex::new(None),
            limit,
        }
    }

    pub async fn report(&self) -> Report {
        let limit = self.limit;
        let redis = within(
            "redis",
            limit,
            stores::redis(self.redis_url.as_deref(), limit),
        )
        .await;
        let prometheus = match &self.prometheus_url {
            Some(url) => within("prometheus", limit, signals::prometheus_up(url, limit)).await,
            None => Check::skipped("prometheus", "not configured"),
        };
        let github = self.github().await;
        Report {
            checks: vec![redis, github, prometheus],
        }
    }

    async fn github(&self) -> Check {
        let Some(app) = &self.github else {
            return Check::skipped("github app", "no GitHub App credentials");
        };
        let mut cached = self.cached.lock().await;
        if let Some((at, check)) = cached.as_ref() {
            if at.elapsed() < GITHUB_CACHE {
                return check.clone();
            }
        }
        let check = within("github app", self.limit, async {
            match github::client(app) {
                Ok(client) => github::authenticate(app, &client).await,
                Err(e) => Check::fail("github app", e),
            }
        })
        .await;
        *cached = Some((Instant::now(), check.clone()));
        check
    }
}
