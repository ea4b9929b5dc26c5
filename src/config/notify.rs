//! `healbot.yaml`'s `notify:` section: where `healbot serve` pages people (Slack, Microsoft
//! Teams, PagerDuty, email). Without it every notification is only a log line, so nobody is
//! paged. Webhook URLs, routing keys and SMTP passwords are secrets: they come from files or
//! environment variables, are held in [`Secret`], and no error ever quotes them (errors name
//! the field and the file instead).

use super::bot::Secret;
use super::escalation::Channel;
use super::yaml::FieldError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Environment variables that may carry a channel's secret instead of a file.
pub(crate) const SLACK_WEBHOOK_URL_ENV: &str = "HEALBOT_SLACK_WEBHOOK_URL";
pub(crate) const TEAMS_WEBHOOK_URL_ENV: &str = "HEALBOT_TEAMS_WEBHOOK_URL";
pub(crate) const PAGERDUTY_ROUTING_KEY_ENV: &str = "HEALBOT_PAGERDUTY_ROUTING_KEY";

/// PagerDuty's Events API v2 endpoint (US service region), when `api_url` is not set.
pub const DEFAULT_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
pub(crate) const SMTP_PASSWORD_ENV: &str = "HEALBOT_SMTP_PASSWORD";

/// `notify:` as written. A channel is configured by its section, or (Slack, Teams, PagerDuty)
/// by its environment variable alone.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NotifyFile {
    #[serde(default)]
    pub slack: Option<WebhookFile>,
    #[serde(default)]
    pub teams: Option<WebhookFile>,
    #[serde(default)]
    pub pagerduty: Option<PagerDutyFile>,
    #[serde(default)]
    pub email: Option<EmailFile>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookFile {
    /// A file holding the incoming-webhook URL (it carries the token).
    #[serde(default)]
    pub webhook_url_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyFile {
    #[serde(default)]
    pub routing_key_file: Option<PathBuf>,
    /// The Events API v2 enqueue URL; PagerDuty's US endpoint otherwise (EU:
    /// `https://events.eu.pagerduty.com/v2/enqueue`).
    #[serde(default)]
    pub api_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EmailFile {
    pub smtp_host: String,
    /// 587 with `starttls`, 465 with `implicit`, 25 with `none` by default.
    #[serde(default)]
    pub smtp_port: Option<u16>,
    #[serde(default)]
    pub tls: SmtpTls,
    pub from: String,
    pub to: Vec<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// How the SMTP connection is protected (what lettre supports).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// STARTTLS, required: the connection fails rather than continue in clear.
    #[default]
    Starttls,
    /// STARTTLS when the server offers it, clear otherwise.
    Opportunistic,
    /// TLS from the first byte (SMTPS).
    Implicit,
    /// Clear text; for a local relay only, and never with a password.
    None,
}

impl SmtpTls {
    fn default_port(self) -> u16 {
        match self {
            SmtpTls::Starttls | SmtpTls::Opportunistic => 587,
            SmtpTls::Implicit => 465,
            SmtpTls::None => 25,
        }
    }
}

/// The configured channels, checked and with secrets loaded. `Default`: none (log only).
#[derive(Debug, Clone, Default)]
pub struct NotifyConfig {
    pub slack: Option<WebhookChannel>,
    pub teams: Option<WebhookChannel>,
    pub pagerduty: Option<PagerDutyChannel>,
    pub email: Option<EmailChannel>,
}

#[derive(Debug, Clone)]
pub struct WebhookChannel {
    pub webhook_url: Secret,
}

#[derive(Debug, Clone)]
pub struct PagerDutyChannel {
    pub routing_key: Secret,
    pub api_url: String,
}

#[derive(Debug, Clone)]
pub struct EmailChannel {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub tls: SmtpTls,
    pub from: String,
    pub to: Vec<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

/// Reads an environment variable; `std::env::var` in production, a map in tests.
pub(crate) type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment (what `main` took from it at startup), for
/// [`NotifyConfig::from_file`].
pub(crate) fn process_env(name: &str) -> Option<String> {
    super::secrets::env_secret(name)
}

impl NotifyFile {
    /// The files that hold secrets, for the sandbox's list of what a check must never read.
    pub(crate) fn secret_files(&self) -> Vec<&PathBuf> {
        fn webhook(w: &Option<WebhookFile>) -> Option<&PathBuf> {
            w.as_ref().and_then(|w| w.webhook_url_file.as_ref())
        }
        [
            webhook(&self.slack),
            webhook(&self.teams),
            self.pagerduty
                .as_ref()
                .and_then(|p| p.routing_key_file.as_ref()),
            self.email.as_ref().and_then(|e| e.password_file.as_ref()),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

fn text(secret: &Secret) -> &str {
    secret.expose_str()
}

/// A secret from `file` (relative to `base`) or the environment variable `env_name`; one of
/// them, not both. Errors name `field`, the file or the variable, never the value.
fn load_secret(
    field: &str,
    file: Option<&PathBuf>,
    env_name: &str,
    base: &Path,
    env: EnvLookup,
) -> Result<Option<Secret>, FieldError> {
    let from_env = env(env_name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    match (file, from_env) {
        (Some(_), Some(_)) => Err(FieldError::new(
            field,
            format!("set either this file or {env_name}, not both"),
        )),
        (Some(file), None) => {
            let full = base.join(file);
            let content = std::fs::read_to_string(&full).map_err(|e| {
                FieldError::new(field, format!("cannot read {}: {e}", full.display()))
            })?;
            let value = content.trim();
            if value.is_empty() {
                return Err(FieldError::new(
                    field,
                    format!("{} is empty", full.display()),
                ));
            }
            Ok(Some(Secret::new(value)))
        }
        (None, Some(value)) => Ok(Some(Secret::new(value))),
        (None, None) => Ok(None),
    }
}

/// Where a secret came from, for errors about its value.
fn origin(field: &str, file: Option<&PathBuf>, env_name: &str, base: &Path) -> String {
    match file {
        Some(f) => format!("the URL in {}", base.join(f).display()),
        None => format!("{env_name} (for {field})"),
    }
}

fn check_http_url(value: &str) -> bool {
    reqwest::Url::parse(value)
        .map(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .unwrap_or(false)
}

fn webhook(
    name: &str,
    section: Option<WebhookFile>,
    env_name: &str,
    base: &Path,
    env: EnvLookup,
) -> Result<Option<WebhookChannel>, FieldError> {
    let field = format!("notify.{name}.webhook_url_file");
    let present = section.is_some();
    let file = section.and_then(|s| s.webhook_url_file);
    let Some(url) = load_secret(&field, file.as_ref(), env_name, base, env)? else {
        if present {
            return Err(FieldError::new(
                field,
                format!("required (or set {env_name})"),
            ));
        }
        return Ok(None);
    };
    if !check_http_url(text(&url)) {
        // The value is not quoted: a malformed URL still carries the token.
        return Err(FieldError::new(
            &field,
            format!(
                "{} is not an http(s) URL",
                origin(&field, file.as_ref(), env_name, base)
            ),
        ));
    }
    Ok(Some(WebhookChannel { webhook_url: url }))
}

impl NotifyConfig {
    /// Every secret of the configured channels, for the [`super::secrets::Redactor`].
    pub fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = [&self.slack, &self.teams]
            .into_iter()
            .flatten()
            .map(|w| text(&w.webhook_url).to_string())
            .collect();
        out.extend(
            self.pagerduty
                .iter()
                .map(|p| text(&p.routing_key).to_string()),
        );
        out.extend(
            self.email
                .iter()
                .filter_map(|e| e.password.as_ref())
                .map(|p| text(p).to_string()),
        );
        out
    }

    /// Checks `notify:` (absent: `None`) and loads its secrets; files are relative to `base`.
    pub fn from_file(
        file: Option<NotifyFile>,
        base: &Path,
        env: EnvLookup,
    ) -> Result<NotifyConfig, FieldError> {
        let file = file.unwrap_or_default();
        let slack = webhook("slack", file.slack, SLACK_WEBHOOK_URL_ENV, base, env)?;
        let teams = webhook("teams", file.teams, TEAMS_WEBHOOK_URL_ENV, base, env)?;
        let pagerduty = Self::pagerduty(file.pagerduty, base, env)?;
        let email = match file.email {
            Some(e) => Some(Self::email(e, base, env)?),
            None => None,
        };
        Ok(NotifyConfig {
            slack,
            teams,
            pagerduty,
            email,
        })
    }

    fn pagerduty(
        section: Option<PagerDutyFile>,
        base: &Path,
        env: EnvLookup,
    ) -> Result<Option<PagerDutyChannel>, FieldError> {
        let field = "notify.pagerduty.routing_key_file";
        let present = section.is_some();
        let section = section.unwrap_or_default();
        let key = load_secret(
            field,
            section.routing_key_file.as_ref(),
            PAGERDUTY_ROUTING_KEY_ENV,
            base,
            env,
        )?;
        let Some(routing_key) = key else {
            if present {
                return Err(FieldError::new(
                    field,
                    format!("required (or set {PAGERDUTY_ROUTING_KEY_ENV})"),
                ));
            }
            return Ok(None);
        };
        let api_url = section
            .api_url
            .unwrap_or_else(|| DEFAULT_EVENTS_URL.to_string());
        if !check_http_url(&api_url) {
            return Err(FieldError::new(
                "notify.pagerduty.api_url",
                format!("not an http(s) URL: {api_url:?}"),
            ));
        }
        Ok(Some(PagerDutyChannel {
            routing_key,
            api_url,
        }))
    }

    fn email(e: EmailFile, base: &Path, env: EnvLookup) -> Result<EmailChannel, FieldError> {
        let host = e.smtp_host.trim();
        if host.is_empty() || reqwest::Url::parse(&format!("smtp://{host}")).is_err() {
            return Err(FieldError::new(
                "notify.email.smtp_host",
                format!("not a host name: {:?}", e.smtp_host),
            ));
        }
        if e.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(FieldError::new(
                "notify.email.from",
                format!("not an email address: {:?}", e.from),
            ));
        }
        if e.to.is_empty() {
            return Err(FieldError::new(
                "notify.email.to",
                "must list at least one address",
            ));
        }
        for (i, to) in e.to.iter().enumerate() {
            if to.parse::<lettre::message::Mailbox>().is_err() {
                return Err(FieldError::new(
                    format!("notify.email.to[{i}]"),
                    format!("not an email address: {to:?}"),
                ));
            }
        }
        let password_field = "notify.email.password_file";
        let password = match &e.username {
            Some(_) => load_secret(
                password_field,
                e.password_file.as_ref(),
                SMTP_PASSWORD_ENV,
                base,
                env,
            )?,
            None if e.password_file.is_some() => {
                return Err(FieldError::new(
                    "notify.email.username",
                    "required with password_file",
                ))
            }
            // HEALBOT_SMTP_PASSWORD is only read for a username.
            None => None,
        };
        if e.username.is_some() && password.is_none() {
            return Err(FieldError::new(
                password_field,
                format!("required with username (or set {SMTP_PASSWORD_ENV})"),
            ));
        }
        if password.is_some() && e.tls == SmtpTls::None {
            return Err(FieldError::new(
                "notify.email.tls",
                "none would send the password in clear: use starttls or implicit",
            ));
        }
        Ok(EmailChannel {
            smtp_host: host.to_string(),
            smtp_port: e.smtp_port.unwrap_or_else(|| e.tls.default_port()),
            tls: e.tls,
            from: e.from,
            to: e.to,
            username: e.username,
            password,
        })
    }

    /// The channels configured, in a fixed order.
    pub fn channels(&self) -> Vec<Channel> {
        [
            (self.slack.is_some(), Channel::Slack),
            (self.teams.is_some(), Channel::Teams),
            (self.pagerduty.is_some(), Channel::Pagerduty),
            (self.email.is_some(), Channel::Email),
        ]
        .into_iter()
        .filter_map(|(on, c)| on.then_some(c))
        .collect()
    }
}

impl EmailChannel {
    /// The lettre SMTP URL (`smtp://user:pass@host:587?tls=required`, `smtps://…`); a secret,
    /// since it carries the password.
    pub(crate) fn smtp_url(&self) -> Secret {
        let (scheme, query) = match self.tls {
            SmtpTls::Starttls => ("smtp", Some("tls=required")),
            SmtpTls::Opportunistic => ("smtp", Some("tls=opportunistic")),
            SmtpTls::Implicit => ("smtps", None),
            SmtpTls::None => ("smtp", None),
        };
        let base = format!("{scheme}://{}:{}", self.smtp_host, self.smtp_port);
        let Ok(mut url) = reqwest::Url::parse(&base) else {
            // The host was checked when the file was loaded.
            return Secret::new(base);
        };
        if let (Some(user), Some(password)) = (&self.username, &self.password) {
            // Both percent-encode, and lettre decodes them.
            let _ = url.set_username(user);
            let _ = url.set_password(Some(text(password)));
        }
        url.set_query(query);
        Secret::new(url.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::parse_strict;
    use std::collections::HashMap;

    const HOOK: &str = "https://hooks.slack.com/services/T0/B0/SLACKTOKEN";
    const KEY: &str = "PDKEYSECRET123";
    const PASSWORD: &str = "smtp-hunter2";

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn load(dir: &Path, yaml: &str, vars: &[(&str, &str)]) -> Result<NotifyConfig, FieldError> {
        let file: NotifyFile = parse_strict(yaml)?;
        NotifyConfig::from_file(Some(file), dir, &env(vars))
    }

    fn secrets_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("slack"), format!("{HOOK}\n")).unwrap();
        std::fs::write(dir.path().join("pd"), KEY).unwrap();
        std::fs::write(dir.path().join("smtp"), PASSWORD).unwrap();
        std::fs::write(dir.path().join("bad-url"), "not a url SLACKTOKEN").unwrap();
        dir
    }

    #[test]
    fn parses_every_channel_from_files() {
        let dir = secrets_dir();
        let c = load(
            dir.path(),
            "slack: {webhook_url_file: slack}
teams: {webhook_url_file: slack}
pagerduty: {routing_key_file: pd, api_url: 'http://127.0.0.1:9/v2/enqueue'}
email:
  smtp_host: smtp.example.com
  from: healbot@example.com
  to: [oncall@example.com, sre@example.com]
  username: healbot
  password_file: smtp
",
            &[],
        )
        .unwrap();
        assert_eq!(text(&c.slack.as_ref().unwrap().webhook_url), HOOK);
        let pd = c.pagerduty.as_ref().unwrap();
        assert_eq!(text(&pd.routing_key), KEY);
        assert_eq!(pd.api_url, "http://127.0.0.1:9/v2/enqueue");
        let email = c.email.as_ref().unwrap();
        assert_eq!((email.smtp_port, email.tls), (587, SmtpTls::Starttls));
        let url = email.smtp_url();
        assert_eq!(
            text(&url),
            format!("smtp://healbot:{PASSWORD}@smtp.example.com:587?tls=required")
        );
        assert_eq!(
            c.channels(),
            [
                Channel::Slack,
                Channel::Teams,
                Channel::Pagerduty,
                Channel::Email
            ]
        );
    }

    #[test]
    fn absent_section_is_log_only_and_pagerduty_defaults_to_its_us_endpoint() {
        let c = NotifyConfig::from_file(None, Path::new("."), &env(&[])).unwrap();
        assert!(c.channels().is_empty());
        let c = NotifyConfig::from_file(
            None,
            Path::new("."),
            &env(&[(PAGERDUTY_ROUTING_KEY_ENV, KEY)]),
        )
        .unwrap();
        assert_eq!(c.pagerduty.unwrap().api_url, DEFAULT_EVENTS_URL);
    }

    #[test]
    fn env_vars_supply_the_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let c = load(
            dir.path(),
            "slack: {}\nemail: {smtp_host: mail, tls: implicit, from: a@b.c, to: [d@e.f], username: u}\n",
            &[
                (SLACK_WEBHOOK_URL_ENV, HOOK),
                (TEAMS_WEBHOOK_URL_ENV, HOOK),
                (SMTP_PASSWORD_ENV, PASSWORD),
            ],
        )
        .unwrap();
        assert_eq!(text(&c.slack.unwrap().webhook_url), HOOK);
        // The variable alone configures Teams.
        assert_eq!(text(&c.teams.unwrap().webhook_url), HOOK);
        let email = c.email.unwrap();
        assert_eq!(email.smtp_port, 465);
        assert_eq!(
            text(&email.smtp_url()),
            format!("smtps://u:{PASSWORD}@mail:465")
        );
    }

    #[test]
    fn a_missing_secret_file_is_named_with_its_field() {
        let dir = tempfile::tempdir().unwrap();
        let e = load(dir.path(), "slack: {webhook_url_file: nope}\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("notify.slack.webhook_url_file") && e.contains("nope"),
            "{e}"
        );
        let e = load(dir.path(), "pagerduty: {}\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("notify.pagerduty.routing_key_file")
                && e.contains(PAGERDUTY_ROUTING_KEY_ENV),
            "{e}"
        );
    }

    #[test]
    fn unknown_and_invalid_fields_are_named() {
        let dir = secrets_dir();
        let e = load(dir.path(), "slack: {webhook_url: x}\n", &[]).unwrap_err();
        assert!(e.to_string().contains("webhook_url"), "{e}");
        let e = load(dir.path(), "sms: {}\n", &[]).unwrap_err();
        assert!(e.to_string().contains("sms"), "{e}");
        let e = load(
            dir.path(),
            "email: {smtp_host: m, from: a@b.c, to: [d@e.f, nope]}\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(e.field, "notify.email.to[1]");
        let e = load(
            dir.path(),
            "email: {smtp_host: m, tls: none, from: a@b.c, to: [d@e.f], username: u, password_file: smtp}\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(e.field, "notify.email.tls");
        let e = load(
            dir.path(),
            "email: {smtp_host: m, from: a@b.c, to: [d@e.f], username: u}\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(e.field, "notify.email.password_file");
        let e = load(
            dir.path(),
            "pagerduty: {routing_key_file: pd, api_url: ftp://x}\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(e.field, "notify.pagerduty.api_url");
    }

    #[test]
    fn secrets_are_redacted_in_debug_and_errors() {
        let dir = secrets_dir();
        let c = load(
            dir.path(),
            "slack: {webhook_url_file: slack}\npagerduty: {routing_key_file: pd}\n\
             email: {smtp_host: m, from: a@b.c, to: [d@e.f], username: u, password_file: smtp}\n",
            &[],
        )
        .unwrap();
        let shown = format!("{c:?} {:?}", c.email.as_ref().unwrap().smtp_url());
        for secret in [HOOK, "SLACKTOKEN", KEY, PASSWORD] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        // A malformed URL is not quoted: it still carries the token.
        let e = load(dir.path(), "teams: {webhook_url_file: bad-url}\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("notify.teams.webhook_url_file") && e.contains("bad-url"),
            "{e}"
        );
        assert!(!e.contains("SLACKTOKEN"), "{e}");
        let e = load(
            dir.path(),
            "slack: {}\n",
            &[(SLACK_WEBHOOK_URL_ENV, "garbage SLACKTOKEN")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(SLACK_WEBHOOK_URL_ENV) && !e.contains("SLACKTOKEN"),
            "{e}"
        );
        // A secret given twice names both places, not the value.
        let e = load(
            dir.path(),
            "slack: {webhook_url_file: slack}\n",
            &[(SLACK_WEBHOOK_URL_ENV, HOOK)],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(SLACK_WEBHOOK_URL_ENV) && !e.contains("SLACKTOKEN"),
            "{e}"
        );
    }
}
