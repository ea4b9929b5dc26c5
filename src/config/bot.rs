//! `healbot.yaml`: how the bot itself runs (`healbot serve`), as opposed to the policies and each
//! repository's `.github/healbot.yml`. Parsed strictly, because a typo in a secret path must stop
//! the server rather than leave webhooks unverified. Secrets are read into [`Secret`], whose
//! `Debug` never shows them, so they cannot reach a log line or an error by accident.

use super::secrets::Redactor;
use super::sources::{LogsFile, PrometheusFile, Sources};
use super::validation::Protected;
use super::yaml::{parse_strict, FieldError};
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The environment variable that may carry the webhook secret(s), comma-separated.
pub const WEBHOOK_SECRET_ENV: &str = "HEALBOT_WEBHOOK_SECRET";

/// How many commits of history each repository's clone keeps by default: far enough back for
/// the commits a revert or blame looks at (hours to days of work on a busy repository).
pub const DEFAULT_CLONE_DEPTH: u32 = 200;

/// Where `serve` listens when neither the file nor `--listen` says.
pub(crate) const DEFAULT_LISTEN: &str = "0.0.0.0:8080";

/// A secret value. `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret's bytes, for the one place that needs them (signature checks).
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The secret as text (it is built from a `String`), for a client that takes one.
    pub fn expose_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// `healbot.yaml` as written. Relative paths are relative to the file's folder.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BotConfigFile {
    #[serde(default)]
    pub listen: Option<String>,
    pub state_dir: PathBuf,
    /// Files holding one webhook secret each; several allow rotation.
    #[serde(default)]
    pub webhook_secret_files: Vec<PathBuf>,
    #[serde(default)]
    pub github: Option<GithubAppFile>,
    #[serde(default)]
    pub redis_url: Option<String>,
    /// Keep the audit chain and the work queue on Redis (the chain mirrored to the state dir):
    /// what several replicas need to share the work.
    #[serde(default)]
    pub audit_on_redis: bool,
    /// With several replicas: how long a dead replica's operation waits before another
    /// replica takes it over (default 30).
    #[serde(default)]
    pub takeover_after_seconds: Option<u64>,
    #[serde(default)]
    pub policies_dir: Option<PathBuf>,
    /// Fix templates added to the built-in ones; one with a built-in's id replaces it.
    #[serde(default)]
    pub templates_dir: Option<PathBuf>,
    /// Required with `github`: health and canary metrics.
    #[serde(default)]
    pub prometheus: Option<PrometheusFile>,
    #[serde(default)]
    pub logs: Option<LogsFile>,
    /// The dependency catalog (YAML); required with GitHub credentials.
    #[serde(default)]
    pub catalog: Option<PathBuf>,
    #[serde(default)]
    pub canary_wait_seconds: Option<u64>,
    /// `owner/name` repositories to act on besides those installation events name.
    #[serde(default)]
    pub repositories: Vec<String>,
    /// Where people are paged; without it every notification is only a log line.
    #[serde(default)]
    pub notify: Option<super::notify::NotifyFile>,
    /// How repositories' check commands are isolated (bubblewrap by default).
    #[serde(default)]
    pub validation: Option<super::validation::ValidationFile>,
    /// Where traces come from (Jaeger, Tempo or Hypertrace).
    #[serde(default)]
    pub traces: Option<super::topology::TracesFile>,
    /// How the dependency graph is discovered and refreshed.
    #[serde(default)]
    pub topology: Option<super::topology::TopologyFile>,
    /// How Prometheus series become RCA's columns.
    #[serde(default)]
    pub rca: Option<super::rca::RcaFile>,
    /// A second listener for `/webhooks/alertmanager`, `/webhooks/argo` and `/metrics`, so
    /// that only `/webhooks/github` faces the internet.
    #[serde(default)]
    pub internal_listen: Option<String>,
    /// Bearer tokens the Alertmanager and Argo webhooks must send.
    #[serde(default)]
    pub inbound: Option<InboundFile>,
    /// Signed checkpoints of the audit chain.
    #[serde(default)]
    pub audit: Option<AuditFile>,
    /// Ship audit entries to Elasticsearch too (the chain stays the record).
    #[serde(default)]
    pub audit_elasticsearch: Option<AuditElasticsearchFile>,
    /// Export healbot's own spans over OTLP/HTTP.
    #[serde(default)]
    pub otlp: Option<super::otlp::OtlpFile>,
    /// Connection limits and timeouts of the HTTP listeners.
    #[serde(default)]
    pub http: Option<HttpFile>,
    /// Days a handled delivery's body is kept in the delivery log (default 3).
    #[serde(default)]
    pub delivery_retention_days: Option<u64>,
    /// Hosts a repository's `health_url` may name; any other is not fetched.
    #[serde(default)]
    pub health_url_hosts: Vec<String>,
    /// A file holding the container registry credential healbot checks images with (the
    /// password of the token flow); anonymous pulls without it.
    #[serde(default)]
    pub registry_token_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct InboundFile {
    /// Files holding one token each (several while rotating).
    #[serde(default)]
    pub alertmanager_token_files: Vec<PathBuf>,
    #[serde(default)]
    pub argo_token_files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuditFile {
    /// The checkpoint key (at least 32 bytes); keep it where the sandboxed checks and the
    /// state volume are not.
    pub signing_key_file: PathBuf,
    /// Sign the head at least every this many entries (default 100), and at each transition.
    #[serde(default)]
    pub checkpoint_every: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuditElasticsearchFile {
    /// The cluster, e.g. `http://elasticsearch:9200`.
    pub url: String,
    /// The index entries go to (default `healbot-audit`).
    #[serde(default)]
    pub index: Option<String>,
    /// A file holding an API key (sent as `Authorization: ApiKey …`).
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// How often new entries are shipped (default 10).
    #[serde(default)]
    pub every_seconds: Option<u64>,
}

/// Where audit entries are shipped besides the chain (`audit::elasticsearch`).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditElasticsearch {
    pub url: String,
    pub index: String,
    pub api_key: Option<Secret>,
    pub every: Duration,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpFile {
    /// Open connections per listener; beyond it a new connection gets 503 (default 512).
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Time allowed for a request's headers, and again for its body (default 10).
    #[serde(default)]
    pub read_timeout_seconds: Option<u64>,
    /// Time a shutdown waits for open requests (default 10).
    #[serde(default)]
    pub shutdown_grace_seconds: Option<u64>,
}

/// The environment variables that may carry inbound tokens, comma-separated for rotation.
pub(crate) const ALERTMANAGER_TOKEN_ENV: &str = "HEALBOT_ALERTMANAGER_TOKEN";
pub(crate) const ARGO_TOKEN_ENV: &str = "HEALBOT_ARGO_TOKEN";

/// Tokens the inbound hooks accept. An empty list disables the route (it answers 404).
#[derive(Debug, Clone, Default)]
pub struct InboundTokens {
    pub alertmanager: Vec<Secret>,
    pub argo: Vec<Secret>,
}

/// Signed audit checkpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditSigning {
    pub key_file: PathBuf,
    pub every: u64,
}

/// Limits of the HTTP listeners.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpLimits {
    pub max_connections: usize,
    pub read_timeout: Duration,
    pub shutdown_grace: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 512,
            read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GithubAppFile {
    #[serde(default)]
    pub app_id: Option<u64>,
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    #[serde(default)]
    pub api_url: Option<String>,
    /// Commits of history each repository's clone keeps (default 200; 0: all of it).
    #[serde(default)]
    pub clone_depth: Option<u32>,
}

/// The bot's configuration, checked and with secrets loaded.
#[derive(Debug, Clone)]
pub struct BotConfig {
    pub listen: SocketAddr,
    pub state_dir: PathBuf,
    /// Never empty: `serve` refuses to start without a secret.
    pub webhook_secrets: Vec<Secret>,
    /// `None` when the app id or key is missing: deliveries are still verified and recorded.
    pub github: Option<GithubApp>,
    /// Service locks and delivery claims; the audit chain too with `audit_on_redis`.
    pub redis_url: Option<String>,
    pub audit_on_redis: bool,
    /// With `audit_on_redis`: a dead replica's queued work is taken over after this long.
    pub takeover_after: Duration,
    /// `None`: the embedded default policies.
    pub policies_dir: Option<PathBuf>,
    /// Fix templates besides the built-in ones.
    pub templates_dir: Option<PathBuf>,
    pub sources: Sources,
    /// The configured notification channels; `Default`: none (log only).
    pub notify: super::notify::NotifyConfig,
    /// The sandbox for repositories' check commands.
    pub validation: super::validation::ValidationSettings,
    pub topology: super::topology::TopologyConfig,
    pub rca: super::rca::RcaFile,
    pub internal_listen: Option<SocketAddr>,
    pub inbound: InboundTokens,
    pub audit_signing: Option<AuditSigning>,
    pub audit_elasticsearch: Option<AuditElasticsearch>,
    /// Where healbot's own spans go, if anywhere.
    pub otlp: Option<super::otlp::Otlp>,
    pub http: HttpLimits,
    /// How long a handled delivery's body stays in the delivery log.
    pub delivery_retention: Duration,
    /// Hosts a repository's `health_url` may name (healbot fetches it from its own network
    /// position, so a repository must not point it anywhere); empty: none is fetched.
    pub health_url_hosts: Vec<String>,
    /// Commits of history each repository's clone under `state_dir/git` keeps; 0: all.
    pub clone_depth: u32,
    /// `registry_token_file`, relative paths resolved against the config file's directory.
    pub registry_token_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct GithubApp {
    pub app_id: u64,
    pub private_key_file: PathBuf,
    pub api_url: String,
}

/// A configuration a person must fix; `Display` is one line naming the file and field.
#[derive(Debug, thiserror::Error)]
pub enum BotConfigError {
    #[error("{path}: cannot read: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}: {error}")]
    Field { path: String, error: FieldError },
    #[error(
        "{path}: no webhook secret: set webhook_secret_files or {WEBHOOK_SECRET_ENV} \
         (healbot never accepts unsigned webhooks)"
    )]
    NoSecret { path: String },
}

impl BotConfig {
    /// A configuration with every optional part left out: no app, no Redis, no inbound
    /// tokens, the default limits. Tests and embedders set the fields they need on it.
    pub fn new(state_dir: PathBuf, webhook_secrets: Vec<Secret>) -> BotConfig {
        BotConfig {
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 8080))),
            state_dir,
            webhook_secrets,
            github: None,
            redis_url: None,
            audit_on_redis: false,
            takeover_after: Duration::from_secs(30),
            policies_dir: None,
            templates_dir: None,
            sources: Sources::default(),
            notify: Default::default(),
            validation: Default::default(),
            internal_listen: None,
            inbound: InboundTokens::default(),
            audit_signing: None,
            audit_elasticsearch: None,
            otlp: None,
            http: HttpLimits::default(),
            delivery_retention: Duration::from_secs(3 * 24 * 3600),
            topology: Default::default(),
            rca: Default::default(),
            health_url_hosts: Vec::new(),
            clone_depth: DEFAULT_CLONE_DEPTH,
            registry_token_file: None,
        }
    }

    /// Reads and checks `path`; `env_secret` is the value of [`WEBHOOK_SECRET_ENV`], if set.
    pub fn load(path: &Path, env_secret: Option<&str>) -> Result<BotConfig, BotConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| BotConfigError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let file: BotConfigFile = parse_strict(&text).map_err(|error| BotConfigError::Field {
            path: shown.clone(),
            error,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        BotConfig::from_file(file, base, &shown, env_secret)
    }

    /// Only the `validation:` section of the healbot.yaml at `path`, checked as `load` checks
    /// it (no secret needed): for commands that run checks without serving (`healbot fix`).
    pub(crate) fn load_validation(
        path: &Path,
    ) -> Result<super::validation::ValidationSettings, BotConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| BotConfigError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let file: BotConfigFile = parse_strict(&text).map_err(|error| BotConfigError::Field {
            path: shown.clone(),
            error,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let protected = protected_paths(&file, base);
        super::validation::ValidationSettings::from_file(
            file.validation.unwrap_or_default(),
            base,
            &protected,
        )
        .map_err(|error| BotConfigError::Field { path: shown, error })
    }

    /// Checks a parsed file; paths in it are taken relative to `base`.
    pub fn from_file(
        file: BotConfigFile,
        base: &Path,
        shown: &str,
        env_secret: Option<&str>,
    ) -> Result<BotConfig, BotConfigError> {
        let field = |name: &str, message: String| BotConfigError::Field {
            path: shown.to_string(),
            error: FieldError::new(name, message),
        };
        let protected = protected_paths(&file, base);
        let listen_text = file.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            field(
                "listen",
                format!("not an address like 127.0.0.1:8080: {listen_text:?}"),
            )
        })?;
        let mut webhook_secrets = Vec::new();
        for (i, secret_path) in file.webhook_secret_files.iter().enumerate() {
            let full = base.join(secret_path);
            let text = std::fs::read_to_string(&full).map_err(|e| {
                field(
                    &format!("webhook_secret_files[{i}]"),
                    format!("cannot read {}: {e}", full.display()),
                )
            })?;
            let value = text.trim();
            if value.is_empty() {
                return Err(field(
                    &format!("webhook_secret_files[{i}]"),
                    format!("{} is empty", full.display()),
                ));
            }
            webhook_secrets.push(Secret::new(value));
        }
        if let Some(env) = env_secret {
            webhook_secrets.extend(
                env.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(Secret::new),
            );
        }
        if webhook_secrets.is_empty() {
            return Err(BotConfigError::NoSecret {
                path: shown.to_string(),
            });
        }
        let clone_depth = file
            .github
            .as_ref()
            .and_then(|g| g.clone_depth)
            .unwrap_or(DEFAULT_CLONE_DEPTH);
        let github = match file.github {
            Some(GithubAppFile {
                app_id: Some(app_id),
                private_key_file: Some(key),
                api_url,
                ..
            }) => {
                let api_url = api_url.unwrap_or_else(|| "https://api.github.com".to_string());
                if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
                    return Err(field("github.api_url", format!("not a URL: {api_url:?}")));
                }
                Some(GithubApp {
                    app_id,
                    private_key_file: base.join(key),
                    api_url,
                })
            }
            _ => None,
        };
        let sources = Sources::from_file(
            file.prometheus,
            file.logs,
            file.catalog,
            file.canary_wait_seconds,
            file.repositories,
            base,
        )
        .map_err(|error| BotConfigError::Field {
            path: shown.to_string(),
            error,
        })?;
        if file.audit_on_redis && file.redis_url.is_none() {
            return Err(field(
                "audit_on_redis",
                "needs redis_url: the chain is kept on that Redis".to_string(),
            ));
        }
        let takeover_after = Duration::from_secs(file.takeover_after_seconds.unwrap_or(30));
        if takeover_after < Duration::from_secs(2) {
            return Err(field(
                "takeover_after_seconds",
                "must be at least 2: a live replica renews its claim a few times within it"
                    .to_string(),
            ));
        }
        if github.is_some() && sources.prometheus.is_none() {
            return Err(field(
                "prometheus",
                "required with github: healbot reads service health and canary metrics from it"
                    .to_string(),
            ));
        }
        let validation = super::validation::ValidationSettings::from_file(
            file.validation.unwrap_or_default(),
            base,
            &protected,
        )
        .map_err(|error| BotConfigError::Field {
            path: shown.to_string(),
            error,
        })?;
        let notify =
            super::notify::NotifyConfig::from_file(file.notify, base, &super::notify::process_env)
                .map_err(|error| BotConfigError::Field {
                    path: shown.to_string(),
                    error,
                })?;
        let topology = super::topology::TopologyConfig::from_file(file.traces, file.topology, base)
            .map_err(|error| BotConfigError::Field {
                path: shown.to_string(),
                error,
            })?;
        let internal_listen = match &file.internal_listen {
            Some(text) => Some(text.parse::<SocketAddr>().map_err(|_| {
                field(
                    "internal_listen",
                    format!("not an address like 0.0.0.0:9090: {text:?}"),
                )
            })?),
            None => None,
        };
        let inbound = inbound_tokens(file.inbound.unwrap_or_default(), base, &field)?;
        let audit_signing = file.audit.map(|a| AuditSigning {
            key_file: base.join(a.signing_key_file),
            every: a.checkpoint_every.unwrap_or(100).max(1),
        });
        let audit_elasticsearch = match file.audit_elasticsearch {
            Some(es) => Some(audit_elasticsearch(es, base, &field)?),
            None => None,
        };
        let otlp = match file.otlp {
            Some(o) => Some(
                super::otlp::Otlp::from_file(o, base).map_err(|(name, why)| field(&name, why))?,
            ),
            None => None,
        };
        let defaults = HttpLimits::default();
        let http = match file.http {
            Some(h) => HttpLimits {
                max_connections: h.max_connections.unwrap_or(defaults.max_connections).max(1),
                read_timeout: h
                    .read_timeout_seconds
                    .map_or(defaults.read_timeout, Duration::from_secs),
                shutdown_grace: h
                    .shutdown_grace_seconds
                    .map_or(defaults.shutdown_grace, Duration::from_secs),
            },
            None => defaults,
        };
        let delivery_retention =
            Duration::from_secs(file.delivery_retention_days.unwrap_or(3) * 24 * 3600);
        Ok(BotConfig {
            clone_depth,
            registry_token_file: file.registry_token_file.as_ref().map(|f| base.join(f)),
            health_url_hosts: file
                .health_url_hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect(),
            internal_listen,
            inbound,
            audit_signing,
            audit_elasticsearch,
            otlp,
            http,
            delivery_retention,
            rca: file.rca.unwrap_or_default(),
            topology,
            notify,
            validation,
            sources,
            listen,
            state_dir: base.join(file.state_dir),
            webhook_secrets,
            github,
            redis_url: file.redis_url,
            audit_on_redis: file.audit_on_redis,
            takeover_after,
            policies_dir: file.policies_dir.map(|p| base.join(p)),
            templates_dir: file.templates_dir.map(|p| base.join(p)),
        })
    }

    /// Routes and listeners for `/healthz`: which inbound hooks are enabled.
    pub(crate) fn inbound_status(&self) -> serde_json::Value {
        let state = |tokens: &[Secret]| {
            if tokens.is_empty() {
                "disabled (no token configured)"
            } else {
                "enabled"
            }
        };
        serde_json::json!({
            "alertmanager": state(&self.inbound.alertmanager),
            "argo": state(&self.inbound.argo),
        })
    }

    /// This replica's name among several: `HEALBOT_REPLICA`, else the host name (the pod's in
    /// Kubernetes), so that a restarted replica finds the work it had taken.
    pub(crate) fn replica_name() -> String {
        ["HEALBOT_REPLICA", "HOSTNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|n| !n.trim().is_empty()))
            .unwrap_or_else(|| "healbot".to_string())
    }

    /// Every secret healbot holds, for scrubbing text from outside: webhook secrets, the
    /// notification channels' URLs, keys and passwords, the App's private key, a password in
    /// `redis_url`, and whatever secret variables were taken from the environment.
    pub fn redactor(&self) -> Redactor {
        let mut secrets: Vec<String> = self
            .webhook_secrets
            .iter()
            .map(|s| String::from_utf8_lossy(s.expose()).into_owned())
            .collect();
        secrets.extend(self.notify.secrets());
        for token in self.inbound.alertmanager.iter().chain(&self.inbound.argo) {
            secrets.push(String::from_utf8_lossy(token.expose()).into_owned());
        }
        if let Some(signing) = &self.audit_signing {
            // The checkpoint key is bytes; as text only if it is text.
            if let Ok(key) = std::fs::read_to_string(&signing.key_file) {
                secrets.push(key.trim().to_string());
            }
        }
        if let Some(key) = self
            .audit_elasticsearch
            .as_ref()
            .and_then(|e| e.api_key.as_ref())
        {
            secrets.push(key.expose_str().to_string());
        }
        if let Some(otlp) = &self.otlp {
            secrets.extend(otlp.headers.iter().map(|(_, v)| v.expose_str().to_string()));
        }
        if let Some(g) = &self.github {
            if let Ok(pem) = std::fs::read_to_string(&g.private_key_file) {
                secrets.extend(super::secrets::pem_body_lines(&pem));
            }
        }
        if let Some(url) = &self.redis_url {
            if let Some(password) = reqwest::Url::parse(url)
                .ok()
                .and_then(|u| u.password().map(str::to_string))
            {
                secrets.push(password);
            }
        }
        secrets.extend(super::secrets::taken_values());
        Redactor::new(secrets)
    }

    /// What `/healthz` says about GitHub credentials: present only when the key file exists.
    pub fn github_credentials_present(&self) -> bool {
        self.github
            .as_ref()
            .is_some_and(|g| g.private_key_file.is_file())
    }
}

/// What no sandbox cache may contain: the state directory (audit log, deliveries, worktrees),
/// the configuration's folder, every secret file and the App's private key.
fn protected_paths(file: &BotConfigFile, base: &Path) -> Vec<Protected> {
    let mut out = vec![
        Protected {
            path: base.join(&file.state_dir),
            what: "healbot's state directory".into(),
        },
        Protected {
            path: base.to_path_buf(),
            what: "healbot's configuration".into(),
        },
    ];
    for p in &file.webhook_secret_files {
        out.push(Protected {
            path: base.join(p),
            what: "a webhook secret".into(),
        });
    }
    if let Some(key) = file
        .github
        .as_ref()
        .and_then(|g| g.private_key_file.as_ref())
    {
        out.push(Protected {
            path: base.join(key),
            what: "the GitHub App's private key".into(),
        });
    }
    if let Some(notify) = &file.notify {
        for p in notify.secret_files() {
            out.push(Protected {
                path: base.join(p),
                what: "a notification secret".into(),
            });
        }
    }
    if let Some(inbound) = &file.inbound {
        for p in inbound
            .alertmanager_token_files
            .iter()
            .chain(&inbound.argo_token_files)
        {
            out.push(Protected {
                path: base.join(p),
                what: "an inbound webhook token".into(),
            });
        }
    }
    let other_secret_files = [
        file.audit_elasticsearch
            .as_ref()
            .and_then(|e| e.api_key_file.as_ref())
            .map(|p| (p, "the Elasticsearch API key")),
        file.otlp
            .as_ref()
            .and_then(|o| o.headers_file.as_ref())
            .map(|p| (p, "the OTLP headers")),
        file.registry_token_file
            .as_ref()
            .map(|p| (p, "the container registry credential")),
    ];
    for (path, what) in other_secret_files.into_iter().flatten() {
        out.push(Protected {
            path: base.join(path),
            what: what.into(),
        });
    }
    if let Some(audit) = &file.audit {
        out.push(Protected {
            path: base.join(&audit.signing_key_file),
            what: "the audit checkpoint key".into(),
        });
    }
    out
}

/// Tokens from files and from the environment (comma-separated), each non-empty.
fn audit_elasticsearch(
    file: AuditElasticsearchFile,
    base: &Path,
    field: &dyn Fn(&str, String) -> BotConfigError,
) -> Result<AuditElasticsearch, BotConfigError> {
    let url = file.url.trim().trim_end_matches('/').to_string();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(field(
            "audit_elasticsearch.url",
            format!("not an http(s) URL: {:?}", file.url),
        ));
    }
    let index = file.index.unwrap_or_else(|| "healbot-audit".to_string());
    // Elasticsearch's own rule: lower case, no spaces or \ / * ? " < > | , #, not starting with - _ +.
    let bad_index = index.is_empty()
        || index.starts_with(['-', '_', '+'])
        || index
            .chars()
            .any(|c| c.is_ascii_uppercase() || " \\/*?\"<>|,#:".contains(c));
    if bad_index {
        return Err(field(
            "audit_elasticsearch.index",
            format!("{index:?} is not an Elasticsearch index name (lower case, no spaces or \\/*?\"<>|,#:)"),
        ));
    }
    let api_key = match file.api_key_file {
        Some(path) => {
            let full = base.join(&path);
            let text = std::fs::read_to_string(&full).map_err(|e| {
                field(
                    "audit_elasticsearch.api_key_file",
                    format!("cannot read {}: {e}", full.display()),
                )
            })?;
            Some(Secret::new(text.trim()))
        }
        None => None,
    };
    Ok(AuditElasticsearch {
        url,
        index,
        api_key,
        every: Duration::from_secs(file.every_seconds.unwrap_or(10).max(1)),
    })
}

fn inbound_tokens(
    file: InboundFile,
    base: &Path,
    field: &dyn Fn(&str, String) -> BotConfigError,
) -> Result<InboundTokens, BotConfigError> {
    let read = |name: &str, files: &[PathBuf], env: &str| -> Result<Vec<Secret>, BotConfigError> {
        let mut out = Vec::new();
        for (i, path) in files.iter().enumerate() {
            let full = base.join(path);
            let text = std::fs::read_to_string(&full).map_err(|e| {
                field(
                    &format!("inbound.{name}[{i}]"),
                    format!("cannot read {}: {e}", full.display()),
                )
            })?;
            let value = text.trim();
            if value.is_empty() {
                return Err(field(
                    &format!("inbound.{name}[{i}]"),
                    format!("{} is empty", full.display()),
                ));
            }
            out.push(Secret::new(value));
        }
        if let Some(list) = super::notify::process_env(env) {
            out.extend(
                list.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(Secret::new),
            );
        }
        Ok(out)
    };
    Ok(InboundTokens {
        alertmanager: read(
            "alertmanager_token_files",
            &file.alertmanager_token_files,
            ALERTMANAGER_TOKEN_ENV,
        )?,
        argo: read("argo_token_files", &file.argo_token_files, ARGO_TOKEN_ENV)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        let cfg = BotConfig::new(PathBuf::from("x"), vec![s]);
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }

    #[test]
    fn loads_files_and_env_secrets() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "s1", "one\n");
        let cfg = write(
            dir.path(),
            "healbot.yaml",
            "listen: 127.0.0.1:9000\nstate_dir: state\nwebhook_secret_files: [s1]\n\
             templates_dir: ours\n",
        );
        let c = BotConfig::load(&cfg, Some("two, three")).unwrap();
        assert_eq!(c.templates_dir, Some(dir.path().join("ours")));
        assert_eq!(c.webhook_secrets.len(), 3);
        assert_eq!(c.webhook_secrets[2].expose(), b"three");
        assert_eq!(c.state_dir, dir.path().join("state"));
        assert!(c.github.is_none());
        assert!(!c.github_credentials_present());
    }

    #[test]
    fn validation_is_checked_and_loads_alone() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(
            dir.path(),
            "healbot.yaml",
            "state_dir: s\nvalidation: {sandbox: none, limits: {processes: 32}}\n",
        );
        let v = BotConfig::load_validation(&cfg).unwrap();
        assert_eq!(v.sandbox, super::super::validation::SandboxMode::None);
        assert_eq!(v.limits.processes, 32);
        assert_eq!(BotConfig::load(&cfg, Some("a")).unwrap().validation, v);
        // A cache holding healbot's own configuration folder is refused.
        let cfg = write(
            dir.path(),
            "h2.yaml",
            &format!(
                "state_dir: s\nvalidation: {{caches: [{{path: {}}}]}}\n",
                dir.path().display()
            ),
        );
        let e = BotConfig::load(&cfg, Some("a")).unwrap_err().to_string();
        assert!(
            e.contains("validation.caches[0].path") && e.contains("the check must never read it"),
            "{e}"
        );
    }

    #[test]
    fn unknown_field_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(dir.path(), "h.yaml", "state_dir: s\nwebhook_secret: x\n");
        let e = BotConfig::load(&cfg, Some("a")).unwrap_err().to_string();
        assert!(e.contains("webhook_secret"), "{e}");
    }

    #[test]
    fn missing_secret_is_one_line_and_secretless() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(dir.path(), "h.yaml", "state_dir: s\n");
        let e = BotConfig::load(&cfg, None).unwrap_err().to_string();
        assert!(e.contains("no webhook secret") && !e.contains('\n'), "{e}");
    }

    #[test]
    fn bad_listen_and_missing_secret_file_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(dir.path(), "a.yaml", "state_dir: s\nlisten: nope\n");
        let e = BotConfig::load(&cfg, Some("a")).unwrap_err().to_string();
        assert!(e.contains("listen"), "{e}");
        let cfg = write(
            dir.path(),
            "b.yaml",
            "state_dir: s\nwebhook_secret_files: [missing]\n",
        );
        let e = BotConfig::load(&cfg, None).unwrap_err().to_string();
        assert!(e.contains("webhook_secret_files[0]"), "{e}");
    }
}
