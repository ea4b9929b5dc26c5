//! The HTTP side of the GitHub App: one octocrab client against a configurable base URL, with
//! per-call authentication (app JWT or installation token), the rate-limit rules, one write at a
//! time per installation, and GitHub's errors turned into [`GithubError`]s that carry the call
//! and GitHub's message but never a credential.

use super::auth::{AppCredentials, AuthError, InstallationToken};
use super::ratelimit::{retry_wait, LimitHeaders, RetryPolicy};
use super::stats::API_STATS;
use super::InstallationId;
use crate::forge::RepoRef;
use chrono::{DateTime, Utc};
use octocrab::Octocrab;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;

/// Where and how to talk to GitHub.
#[derive(Debug, Clone)]
pub struct GithubConfig {
    /// `https://api.github.com`, a GitHub Enterprise API root, or a test server.
    pub base_url: String,
    pub app: AppCredentials,
    /// A token is replaced once it has less than this left to live.
    pub token_refresh_margin: Duration,
    pub retry: RetryPolicy,
    /// How many commits back from a branch tip an idempotency key is looked for.
    pub commit_search_depth: usize,
    /// Where repositories are cloned and how deep; `None` clones into a temporary directory
    /// that lives as long as the forge (tests, one-shot commands).
    pub clones: Option<super::clone::CloneSettings>,
}

impl GithubConfig {
    pub fn new(base_url: impl Into<String>, app: AppCredentials) -> GithubConfig {
        GithubConfig {
            base_url: base_url.into(),
            app,
            token_refresh_margin: Duration::from_secs(5 * 60),
            retry: RetryPolicy::default(),
            commit_search_depth: 50,
            clones: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("GitHub {call}: {reason}")]
    Transport { call: String, reason: String },
    #[error("GitHub {call}: HTTP {status}: {message}")]
    Status {
        call: String,
        status: u16,
        message: String,
    },
    #[error("GitHub {call}: still rate limited after {attempts} attempts")]
    RateLimited { call: String, attempts: u32 },
    #[error(
        "GitHub {call}: rate limited for {wait_secs} s, longer than the {max_secs} s healbot waits"
    )]
    WaitTooLong {
        call: String,
        wait_secs: u64,
        max_secs: u64,
    },
    #[error("GitHub {call}: unexpected response: {reason}")]
    Decode { call: String, reason: String },
}

impl GithubError {
    pub fn status(&self) -> Option<u16> {
        match self {
            GithubError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Patch,
    Put,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Put => "PUT",
        }
    }
}

/// Who a call is made as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Principal {
    App,
    Installation(InstallationId),
}

pub struct GithubClient {
    octo: Octocrab,
    config: GithubConfig,
    tokens: Mutex<HashMap<InstallationId, InstallationToken>>,
    installations: SyncMutex<HashMap<RepoRef, InstallationId>>,
    write_locks: SyncMutex<HashMap<InstallationId, Arc<Mutex<()>>>>,
    /// When a principal's primary limit is used up: no call is sent before this time.
    blocked_until: SyncMutex<HashMap<Principal, SystemTime>>,
}

#[derive(Deserialize)]
struct TokenReply {
    token: String,
    expires_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct InstallationReply {
    id: u64,
}

#[derive(Deserialize)]
struct ErrorReply {
    message: Option<String>,
}

impl GithubClient {
    pub fn new(config: GithubConfig) -> Result<GithubClient, GithubError> {
        let transport = |reason: String| GithubError::Transport {
            call: "client setup".into(),
            reason,
        };
        let octo = Octocrab::builder()
            .base_uri(config.base_url.as_str())
            .map_err(|e| transport(format!("base URL {}: {e}", config.base_url)))?
            .build()
            .map_err(|e| transport(e.to_string()))?;
        Ok(GithubClient {
            octo,
            config,
            tokens: Mutex::new(HashMap::new()),
            installations: SyncMutex::new(HashMap::new()),
            write_locks: SyncMutex::new(HashMap::new()),
            blocked_until: SyncMutex::new(HashMap::new()),
        })
    }

    pub fn config(&self) -> &GithubConfig {
        &self.config
    }

    /// Tells the client which installation serves `repo` (webhooks carry it), saving a lookup.
    pub(crate) fn set_installation(&self, repo: &RepoRef, installation: InstallationId) {
        if let Ok(mut map) = self.installations.lock() {
            map.insert(repo.clone(), installation);
        }
    }

    /// The installation that serves `repo`, looked up once with the app JWT.
    pub(crate) async fn installation_for(
        &self,
        repo: &RepoRef,
    ) -> Result<InstallationId, GithubError> {
        if let Some(id) = self
            .installations
            .lock()
            .ok()
            .and_then(|m| m.get(repo).copied())
        {
            return Ok(id);
        }
        let path = format!("/repos/{}/installation", repo.0);
        let reply: InstallationReply = self.app_call(Method::Get, &path, None).await?;
        let id = InstallationId(reply.id);
        self.set_installation(repo, id);
        Ok(id)
    }

    /// The app's slug (`GET /app`): its comments appear as `<slug>[bot]`.
    pub async fn app_slug(&self) -> Result<String, GithubError> {
        #[derive(Deserialize)]
        struct App {
            slug: Option<String>,
        }
        let app: App = self.app_call(Method::Get, "/app", None).await?;
        app.slug.ok_or_else(|| GithubError::Transport {
            call: "GET /app".into(),
            reason: "the app has no slug".into(),
        })
    }

    /// The app's installations as GitHub lists them (`GET /app/installations`, every page):
    /// id and account login (`None` when GitHub sends no account).
    pub async fn installations(&self) -> Result<Vec<(u64, Option<String>)>, GithubError> {
        #[derive(Deserialize)]
        struct Account {
            login: Option<String>,
        }
        #[derive(Deserialize)]
        struct Listed {
            id: u64,
            account: Option<Account>,
        }
        const PER_PAGE: usize = 100;
        let mut out = Vec::new();
        for page in 1..=1000 {
            let path = format!("/app/installations?per_page={PER_PAGE}&page={page}");
            let list: Vec<Listed> = self.app_call(Method::Get, &path, None).await?;
            let last = list.len() < PER_PAGE;
            out.extend(
                list.into_iter()
                    .map(|i| (i.id, i.account.and_then(|a| a.login))),
            );
            if last {
                break;
            }
        }
        Ok(out)
    }

    /// Whether installation `id` of this app exists now, as GitHub lists them: webhook
    /// payloads are signed but not bound to a time, so an old `installation.created` can be
    /// replayed after the installation was deleted.
    pub(crate) async fn installation_exists(&self, id: u64) -> Result<bool, GithubError> {
        const PER_PAGE: usize = 100;
        // Far beyond any real count of installations; bounds the walk.
        for page in 1..=1000 {
            let path = format!("/app/installations?per_page={PER_PAGE}&page={page}");
            let list: Vec<InstallationReply> = self.app_call(Method::Get, &path, None).await?;
            if list.iter().any(|i| i.id == id) {
                return Ok(true);
            }
            if list.len() < PER_PAGE {
                break;
            }
        }
        Ok(false)
    }

    /// The installation that serves `repo` now, asked again (not the cached answer); `None`
    /// when the app is not installed there.
    pub(crate) async fn current_installation(
        &self,
        repo: &RepoRef,
    ) -> Result<Option<InstallationId>, GithubError> {
        let path = format!("/repos/{}/installation", repo.0);
        match self
            .app_call::<InstallationReply>(Method::Get, &path, None)
            .await
        {
            Ok(reply) => Ok(Some(InstallationId(reply.id))),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A fresh installation token, from the cache when it has enough life left.
    pub async fn installation_token(
        &self,
        installation: InstallationId,
    ) -> Result<InstallationToken, GithubError> {
        // Held across the request so that concurrent callers wait for one token.
        let mut tokens = self.tokens.lock().await;
        if let Some(token) = tokens.get(&installation) {
            if token.fresh_at(Utc::now(), self.config.token_refresh_margin) {
                return Ok(token.clone());
            }
        }
        let path = format!("/app/installations/{}/access_tokens", installation.0);
        let reply: TokenReply = self
            .app_call(Method::Post, &path, Some(&serde_json::json!({})))
            .await?;
        let token = InstallationToken::new(installation, reply.token, reply.expires_at);
        tokens.insert(installation, token.clone());
        Ok(token)
    }

    /// A call on `repo`'s behalf with its installation token; the reply is decoded as `T`.
    pub(crate) async fn repo_call<T: DeserializeOwned>(
        &self,
        repo: &RepoRef,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, GithubError> {
        let installation = self.installation_for(repo).await?;
        self.call_as(Principal::Installation(installation), method, path, body)
            .await
    }

    /// A call as the app itself (JWT): installation lookups and tokens.
    async fn app_call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, GithubError> {
        let call = format!("{} {}", method.name(), path_only(path));
        let jwt = self.config.app.jwt(SystemTime::now())?;
        let text = self
            .send(Principal::App, &jwt, method, path, body, &call)
            .await?;
        decode(call, &text)
    }

    async fn call_as<T: DeserializeOwned>(
        &self,
        principal: Principal,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, GithubError> {
        let call = format!("{} {}", method.name(), path_only(path));
        // Fetched before `send`, never inside it: a token request is itself a call.
        let secret = match principal {
            Principal::App => self.config.app.jwt(SystemTime::now())?,
            Principal::Installation(id) => self.installation_token(id).await?.secret().to_string(),
        };
        let text = self
            .send(principal, &secret, method, path, body, &call)
            .await?;
        decode(call, &text)
    }

    /// Sends with rate-limit retries; writes to one installation are serialised.
    async fn send(
        &self,
        principal: Principal,
        secret: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
        call: &str,
    ) -> Result<String, GithubError> {
        let _write_guard = match (method, principal) {
            (Method::Get, _) | (_, Principal::App) => None,
            (_, Principal::Installation(id)) => Some(self.write_lock(id).lock_owned().await),
        };
        let policy = &self.config.retry;
        let mut attempt = 0;
        loop {
            self.wait_if_blocked(principal, call).await?;
            let client = self
                .octo
                .user_access_token(secret.to_string())
                .map_err(|e| GithubError::Transport {
                    call: call.to_string(),
                    reason: format!("authentication: {e}"),
                })?;
            let started = std::time::Instant::now();
            let response = match method {
                Method::Get => client._get(path).await,
                Method::Post => client._post(path, body).await,
                Method::Patch => client._patch(path, body).await,
                Method::Put => client._put(path, body).await,
            }
            .map_err(|e| {
                API_STATS.observe(method.name(), None, started.elapsed(), None);
                GithubError::Transport {
                    call: call.to_string(),
                    reason: e.to_string(),
                }
            })?;
            let status = response.status().as_u16();
            let limits = LimitHeaders::parse(|name| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            });
            API_STATS.observe(
                method.name(),
                Some(status),
                started.elapsed(),
                limits.remaining,
            );
            let text =
                self.octo
                    .body_to_string(response)
                    .await
                    .map_err(|e| GithubError::Transport {
                        call: call.to_string(),
                        reason: format!("reading the body: {e}"),
                    })?;
            let now = unix_now();
            if (200..300).contains(&status) {
                if let Some(wait) = limits.exhausted_for(now) {
                    self.block(principal, wait);
                }
                return Ok(text);
            }
            let Some(wait) = retry_wait(status, &limits, &text, attempt, now, policy) else {
                return Err(GithubError::Status {
                    call: call.to_string(),
                    status,
                    message: error_message(&text),
                });
            };
            attempt += 1;
            if attempt >= policy.max_attempts {
                return Err(GithubError::RateLimited {
                    call: call.to_string(),
                    attempts: attempt,
                });
            }
            if wait > policy.max_wait {
                return Err(GithubError::WaitTooLong {
                    call: call.to_string(),
                    wait_secs: wait.as_secs(),
                    max_secs: policy.max_wait.as_secs(),
                });
            }
            tracing::warn!(
                call,
                status,
                wait_ms = wait.as_millis() as u64,
                "GitHub rate limit; waiting"
            );
            tokio::time::sleep(wait).await;
        }
    }

    fn write_lock(&self, installation: InstallationId) -> Arc<Mutex<()>> {
        match self.write_locks.lock() {
            Ok(mut locks) => locks.entry(installation).or_default().clone(),
            // A poisoned map only loses serialisation, never a write.
            Err(_) => Arc::new(Mutex::new(())),
        }
    }

    fn block(&self, principal: Principal, wait: Duration) {
        if let Ok(mut blocked) = self.blocked_until.lock() {
            blocked.insert(principal, SystemTime::now() + wait + Duration::from_secs(1));
        }
    }

    async fn wait_if_blocked(&self, principal: Principal, call: &str) -> Result<(), GithubError> {
        let until = self
            .blocked_until
            .lock()
            .ok()
            .and_then(|mut b| b.remove(&principal));
        let Some(until) = until else { return Ok(()) };
        let Ok(wait) = until.duration_since(SystemTime::now()) else {
            return Ok(());
        };
        if wait > self.config.retry.max_wait {
            return Err(GithubError::WaitTooLong {
                call: call.to_string(),
                wait_secs: wait.as_secs(),
                max_secs: self.config.retry.max_wait.as_secs(),
            });
        }
        tracing::warn!(
            call,
            wait_ms = wait.as_millis() as u64,
            "GitHub rate limit used up; waiting for reset"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Decodes a reply; an empty body (204) decodes as `null`, so `()` and `Value` still work.
fn decode<T: DeserializeOwned>(call: String, text: &str) -> Result<T, GithubError> {
    let text = if text.trim().is_empty() { "null" } else { text };
    serde_json::from_str(text).map_err(|e| GithubError::Decode {
        call,
        reason: e.to_string(),
    })
}

/// The call without its query, for error messages.
fn path_only(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

/// GitHub's `message`, or the start of a body that has none.
fn error_message(body: &str) -> String {
    match serde_json::from_str::<ErrorReply>(body) {
        Ok(ErrorReply {
            message: Some(message),
        }) => message,
        _ => body.chars().take(200).collect(),
    }
}
