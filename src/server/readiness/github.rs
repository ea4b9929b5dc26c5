//! The GitHub App's checks: the key signs a JWT GitHub accepts (`GET /app`), and the app is
//! installed somewhere (`GET /app/installations`). Rate limits are not waited out here: a
//! doctor that sleeps for fifteen minutes answers nothing.

use super::Check;
use crate::config::bot::{BotConfig, GithubApp};
use crate::forge::github::{
    AppCredentials, AppId, AppKey, GithubClient, GithubConfig, RetryPolicy,
};
use std::time::Duration;

/// A client that fails at once on a rate limit instead of waiting.
pub(super) fn client(app: &GithubApp) -> Result<GithubClient, String> {
    let key = AppKey::from_file(&app.private_key_file).map_err(|e| e.to_string())?;
    let credentials = AppCredentials {
        app_id: AppId(app.app_id),
        key,
    };
    let mut config = GithubConfig::new(app.api_url.clone(), credentials);
    config.retry = RetryPolicy {
        max_attempts: 1,
        backoff_base: Duration::from_millis(100),
        max_wait: Duration::ZERO,
    };
    GithubClient::new(config).map_err(|e| e.to_string())
}

/// `GET /app` with the app's JWT: the key, the app id and the API URL agree with GitHub.
pub(super) async fn authenticate(app: &GithubApp, client: &GithubClient) -> Check {
    match client.app_slug().await {
        Ok(slug) => Check::ok(
            "github app",
            format!(
                "GET {}/app with the app's JWT: app {} is {slug:?}",
                app.api_url, app.app_id
            ),
        ),
        Err(e) => Check::fail("github app", format!("app {}: {e}", app.app_id)),
    }
}

pub(super) async fn check(config: &BotConfig) -> Vec<Check> {
    let Some(app) = &config.github else {
        return vec![
            Check::skipped(
                "github app",
                "no github.app_id and github.private_key_file in healbot.yaml: deliveries are only verified and recorded",
            ),
            Check::skipped("github installations", "no GitHub App configured"),
        ];
    };
    let client = match client(app) {
        Ok(c) => c,
        Err(e) => {
            return vec![
                Check::fail("github app", e),
                Check::skipped("github installations", "the app cannot authenticate"),
            ]
        }
    };
    let auth = authenticate(app, &client).await;
    if auth.status != super::Status::Ok {
        return vec![
            auth,
            Check::skipped("github installations", "the app cannot authenticate"),
        ];
    }
    let installations = match client.installations().await {
        Ok(list) if list.is_empty() => Check::warn(
            "github installations",
            "GET /app/installations: the app is installed nowhere; install it on the repositories to heal",
        ),
        Ok(list) => {
            let names: Vec<String> = list
                .iter()
                .map(|(id, login)| match login {
                    Some(login) => format!("{login} ({id})"),
                    None => format!("installation {id}"),
                })
                .collect();
            Check::ok(
                "github installations",
                format!("{}: {}", list.len(), names.join(", ")),
            )
        }
        Err(e) => Check::fail("github installations", e.to_string()),
    };
    vec![auth, installations]
}
