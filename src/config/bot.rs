//! `healbot.yaml`: how the bot itself runs (`healbot serve`), as opposed to the policies and each
//! repository's `.github/healbot.yml`. Parsed strictly, because a typo in a secret path must stop
//! the server rather than leave webhooks unverified. Secrets are read into [`Secret`], whose
//! `Debug` never shows them, so they cannot reach a log line or an error by accident.

use super::sources::{LogsFile, PrometheusFile, Sources};
use super::yaml::{parse_strict, FieldError};
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The environment variable that may carry the webhook secret(s), comma-separated.
pub const WEBHOOK_SECRET_ENV: &str = "HEALBOT_WEBHOOK_SECRET";

/// Where `serve` listens when neither the file nor `--listen` says.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";

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
    /// The dependency catalog (YAML); the embedded example otherwise.
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
    /// Where traces come from (Jaeger, Tempo or Hypertrace).
    #[serde(default)]
    pub traces: Option<super::topology::TracesFile>,
    /// How the dependency graph is discovered and refreshed.
    #[serde(default)]
    pub topology: Option<super::topology::TopologyFile>,
    /// How Prometheus series become RCA's columns.
    #[serde(default)]
    pub rca: Option<super::rca::RcaFile>,
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
    pub topology: super::topology::TopologyConfig,
    pub rca: super::rca::RcaFile,
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
        let github = match file.github {
            Some(GithubAppFile {
                app_id: Some(app_id),
                private_key_file: Some(key),
                api_url,
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
        Ok(BotConfig {
            rca: file.rca.unwrap_or_default(),
            topology,
            notify,
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

    /// This replica's name among several: `HEALBOT_REPLICA`, else the host name (the pod's in
    /// Kubernetes), so that a restarted replica finds the work it had taken.
    pub fn replica_name() -> String {
        ["HEALBOT_REPLICA", "HOSTNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|n| !n.trim().is_empty()))
            .unwrap_or_else(|| "healbot".to_string())
    }

    /// What `/healthz` says about GitHub credentials: present only when the key file exists.
    pub fn github_credentials_present(&self) -> bool {
        self.github
            .as_ref()
            .is_some_and(|g| g.private_key_file.is_file())
    }
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
        let cfg = BotConfig {
            listen: DEFAULT_LISTEN.parse().unwrap(),
            state_dir: PathBuf::from("x"),
            webhook_secrets: vec![s],
            github: None,
            redis_url: None,
            audit_on_redis: false,
            takeover_after: Duration::from_secs(30),
            policies_dir: None,
            templates_dir: None,
            sources: Sources::default(),
            notify: Default::default(),
            topology: Default::default(),
            rca: Default::default(),
        };
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
