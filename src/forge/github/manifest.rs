//! GitHub's App manifest flow, which registers healbot's GitHub App without copying settings by
//! hand: app.yml becomes the manifest that GitHub's "new App" form takes, and the one-time `code`
//! GitHub hands back is exchanged (`POST /app-manifests/{code}/conversions`, no authentication:
//! the code is the credential) for the new App's id, private key and webhook secret.
//! `healbot app create` (src/cli/app.rs) drives it; nothing here touches files or a browser.

use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::AppId;

/// The manifest in the repository (app.yml), built into the binary.
pub(crate) const APP_YML: &str = include_str!("../../../app.yml");

/// The keys GitHub documents for a manifest; anything else is a mistake in the file.
const MANIFEST_KEYS: &[&str] = &[
    "name",
    "url",
    "hook_attributes",
    "redirect_url",
    "callback_urls",
    "setup_url",
    "description",
    "public",
    "default_events",
    "default_permissions",
    "request_oauth_on_install",
    "setup_on_update",
];

/// GitHub's limit on an App's name.
pub(crate) const MAX_NAME_CHARS: usize = 34;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ManifestError {
    #[error("the manifest: {field}: {reason}")]
    Manifest { field: String, reason: String },
    #[error("{0:?} is not an organization login (letters, digits and single hyphens, at most 39)")]
    Org(String),
    #[error("{0}: not an http(s) URL")]
    Url(String),
    #[error("the code GitHub sent back is malformed")]
    Code,
    #[error(
        "GitHub does not know this code (404): it is valid for one hour and one exchange; \
         start `healbot app create` again"
    )]
    CodeUnknown,
    #[error("GitHub refused the exchange ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("cannot reach {url}: {reason}")]
    Http { url: String, reason: String },
    #[error("GitHub's answer is not the App it created: {0}")]
    Decode(String),
}

/// An organization's login, as in `github.com/ORG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrgLogin(String);

impl OrgLogin {
    pub fn parse(text: &str) -> Result<OrgLogin, ManifestError> {
        let ok = !text.is_empty()
            && text.len() <= 39
            && !text.starts_with('-')
            && !text.ends_with('-')
            && !text.contains("--")
            && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if ok {
            Ok(OrgLogin(text.to_string()))
        } else {
            Err(ManifestError::Org(text.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The temporary code of GitHub's redirect. It goes into a URL path, so only URL-safe
/// characters are taken.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ManifestCode(String);

impl ManifestCode {
    pub fn parse(text: &str) -> Result<ManifestCode, ManifestError> {
        let ok = (1..=128).contains(&text.len())
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(ManifestCode(text.to_string()))
        } else {
            Err(ManifestError::Code)
        }
    }
}

impl fmt::Debug for ManifestCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ManifestCode([redacted])")
    }
}

/// A secret GitHub returned. `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Sensitive(String);

impl Sensitive {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// What the manifest becomes for one organization.
#[derive(Debug, Clone)]
pub(crate) struct ManifestSettings {
    /// The App's name (unique on the GitHub instance); app.yml's `name` when `None`.
    pub name: Option<String>,
    /// Where GitHub sends deliveries: `https://<host>/webhooks/github`.
    pub webhook_url: String,
    /// Where GitHub sends the browser back with the code.
    pub redirect_url: String,
}

fn http_url(text: &str) -> Result<(), ManifestError> {
    match reqwest::Url::parse(text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(ManifestError::Url(text.to_string())),
    }
}

fn bad(field: &str, reason: impl Into<String>) -> ManifestError {
    ManifestError::Manifest {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// The manifest JSON GitHub's form takes: `yaml` (app.yml) with the webhook URL, the redirect
/// and the name set. Unknown keys, a missing `url` or permissions that are not `read`/`write`
/// are errors naming the field.
pub(crate) fn manifest_json(
    yaml: &str,
    settings: &ManifestSettings,
) -> Result<Value, ManifestError> {
    let parsed: Value =
        serde_norway::from_str(yaml).map_err(|e| bad("", format!("not YAML: {e}")))?;
    let Value::Object(mut manifest) = parsed else {
        return Err(bad("", "not a map"));
    };
    if let Some(key) = manifest
        .keys()
        .find(|k| !MANIFEST_KEYS.contains(&k.as_str()))
    {
        return Err(bad(key, "not a manifest key GitHub knows"));
    }
    match manifest.get("url") {
        Some(Value::String(u)) => http_url(u).map_err(|_| bad("url", "not an http(s) URL"))?,
        _ => return Err(bad("url", "required: the App's homepage")),
    }
    if let Some(name) = &settings.name {
        manifest.insert("name".into(), Value::String(name.clone()));
    }
    match manifest.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => {
            if n.chars().count() > MAX_NAME_CHARS {
                return Err(bad(
                    "name",
                    format!("{n:?} is longer than GitHub's {MAX_NAME_CHARS} characters"),
                ));
            }
        }
        _ => return Err(bad("name", "required")),
    }
    let permissions = manifest
        .get("default_permissions")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("default_permissions", "required: a map"))?;
    for (scope, level) in permissions {
        if !matches!(level.as_str(), Some("read" | "write")) {
            return Err(bad(
                &format!("default_permissions.{scope}"),
                "must be read or write",
            ));
        }
    }
    http_url(&settings.webhook_url)?;
    http_url(&settings.redirect_url)?;
    let mut hook = match manifest.remove("hook_attributes") {
        Some(Value::Object(h)) => h,
        None => Map::new(),
        Some(_) => return Err(bad("hook_attributes", "not a map")),
    };
    hook.insert("url".into(), Value::String(settings.webhook_url.clone()));
    hook.entry("active").or_insert(Value::Bool(true));
    manifest.insert("hook_attributes".into(), Value::Object(hook));
    manifest.insert(
        "redirect_url".into(),
        Value::String(settings.redirect_url.clone()),
    );
    Ok(Value::Object(manifest))
}

/// The web address and the REST API of a GitHub instance: github.com's API is
/// `https://api.github.com`, a GitHub Enterprise Server's is `<url>/api/v3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GithubInstance {
    pub web_url: String,
    pub api_url: String,
}

impl GithubInstance {
    pub fn new(web_url: &str, api_url: Option<&str>) -> Result<GithubInstance, ManifestError> {
        http_url(web_url)?;
        let web_url = web_url.trim_end_matches('/').to_string();
        let api_url = match api_url {
            Some(api) => {
                http_url(api)?;
                api.trim_end_matches('/').to_string()
            }
            None if web_url == "https://github.com" => "https://api.github.com".to_string(),
            None => format!("{web_url}/api/v3"),
        };
        Ok(GithubInstance { web_url, api_url })
    }

    /// Where the manifest form posts: the organization's "new GitHub App" page. `state` comes
    /// back on the redirect unchanged.
    pub(crate) fn new_app_url(&self, org: &OrgLogin, state: &str) -> String {
        format!(
            "{}/organizations/{}/settings/apps/new?state={state}",
            self.web_url,
            org.as_str()
        )
    }
}

/// The App GitHub created, with its credentials.
#[derive(Debug, Clone)]
pub(crate) struct CreatedApp {
    pub id: AppId,
    pub slug: Option<String>,
    pub name: String,
    pub html_url: String,
    pub owner: Option<String>,
    pub client_id: String,
    pub permissions: BTreeMap<String, String>,
    pub events: Vec<String>,
    /// The private key (PEM) healbot signs its JWTs with.
    pub pem: Sensitive,
    /// The webhook secret GitHub generated; `None` if the App has none.
    pub webhook_secret: Option<Sensitive>,
}

#[derive(Deserialize)]
struct Owner {
    login: Option<String>,
}

#[derive(Deserialize)]
struct ConversionReply {
    id: u64,
    slug: Option<String>,
    name: String,
    html_url: String,
    owner: Option<Owner>,
    client_id: String,
    #[serde(default)]
    permissions: BTreeMap<String, String>,
    #[serde(default)]
    events: Vec<String>,
    pem: String,
    webhook_secret: Option<String>,
}

#[derive(Deserialize)]
struct ErrorReply {
    message: Option<String>,
}

/// Exchanges GitHub's code for the App it created.
pub(crate) async fn convert(
    instance: &GithubInstance,
    code: &ManifestCode,
) -> Result<CreatedApp, ManifestError> {
    let url = format!("{}/app-manifests/{}/conversions", instance.api_url, code.0);
    // The code is the credential: the URL is never shown whole.
    let shown = format!("{}/app-manifests/…/conversions", instance.api_url);
    let http = |e: reqwest::Error| ManifestError::Http {
        url: shown.clone(),
        reason: e.without_url().to_string(),
    };
    let client = crate::http_client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("healbot/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(http)?;
    let response = client
        .post(&url)
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .send()
        .await
        .map_err(http)?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(http)?;
    if status == 404 {
        return Err(ManifestError::CodeUnknown);
    }
    if status != 201 {
        let message = serde_json::from_str::<ErrorReply>(&body)
            .ok()
            .and_then(|e| e.message)
            .unwrap_or_else(|| "no message".to_string());
        return Err(ManifestError::Refused {
            status,
            message: message.chars().take(300).collect(),
        });
    }
    // Errors name the field only: the body holds the private key.
    let reply: ConversionReply = serde_json::from_str(&body).map_err(|e| {
        ManifestError::Decode(format!(
            "line {} column {}: {}",
            e.line(),
            e.column(),
            json_category(&e)
        ))
    })?;
    if !reply.pem.contains("PRIVATE KEY-----") {
        return Err(ManifestError::Decode("pem is not a PEM private key".into()));
    }
    Ok(CreatedApp {
        id: AppId(reply.id),
        slug: reply.slug,
        name: reply.name,
        html_url: reply.html_url,
        owner: reply.owner.and_then(|o| o.login),
        client_id: reply.client_id,
        permissions: reply.permissions,
        events: reply.events,
        pem: Sensitive(reply.pem),
        webhook_secret: reply
            .webhook_secret
            .filter(|s| !s.is_empty())
            .map(Sensitive),
    })
}

/// What went wrong in a JSON body, without quoting it (serde's messages can quote values).
fn json_category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "a field is missing or has the wrong type",
        serde_json::error::Category::Eof => "cut short",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ManifestSettings {
        ManifestSettings {
            name: Some("healbot-acme".into()),
            webhook_url: "https://healbot.acme.io/webhooks/github".into(),
            redirect_url: "http://127.0.0.1:3000/callback".into(),
        }
    }

    #[test]
    fn app_yml_becomes_the_manifest_with_least_privilege() {
        let m = manifest_json(APP_YML, &settings()).unwrap();
        assert_eq!(m["name"], "healbot-acme");
        assert_eq!(
            m["hook_attributes"]["url"],
            "https://healbot.acme.io/webhooks/github"
        );
        assert_eq!(m["hook_attributes"]["active"], true);
        assert_eq!(m["redirect_url"], "http://127.0.0.1:3000/callback");
        assert_eq!(m["public"], false);
        let perms = m["default_permissions"].as_object().unwrap();
        assert!(!perms.contains_key("members"), "nothing uses members");
        assert_eq!(
            perms["issues"], "read",
            "writes on PRs go through pull_requests"
        );
        assert_eq!(perms["pull_requests"], "write");
        assert_eq!(perms["contents"], "write");
        assert_eq!(perms["checks"], "write");
        assert_eq!(perms["metadata"], "read");
        let events: Vec<&str> = m["default_events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        for e in [
            "pull_request",
            "pull_request_review",
            "issue_comment",
            "check_run",
            "push",
        ] {
            assert!(events.contains(&e), "{e}");
        }
    }

    #[test]
    fn a_bad_manifest_names_the_field() {
        let s = settings();
        let err = |yaml: &str| manifest_json(yaml, &s).unwrap_err().to_string();
        assert!(
            err("name: x\nurl: https://a.b\nhook_atributes: {}\ndefault_permissions: {}\n")
                .contains("hook_atributes")
        );
        assert!(err("name: x\ndefault_permissions: {}\n").contains("url"));
        assert!(
            err("name: x\nurl: https://a.b\ndefault_permissions: {issues: admin}\n")
                .contains("default_permissions.issues")
        );
        assert!(err("- a\n").contains("not a map"));
        let long = ManifestSettings {
            name: Some("x".repeat(35)),
            ..settings()
        };
        assert!(manifest_json(APP_YML, &long)
            .unwrap_err()
            .to_string()
            .contains("34"));
        let bad_hook = ManifestSettings {
            webhook_url: "healbot.acme.io/webhooks/github".into(),
            ..settings()
        };
        assert!(manifest_json(APP_YML, &bad_hook).is_err());
    }

    #[test]
    fn orgs_codes_and_instances_are_checked() {
        assert!(OrgLogin::parse("acme-corp").is_ok());
        for bad in [
            "",
            "-acme",
            "acme-",
            "ac--me",
            "acme/evil",
            "a b",
            &"a".repeat(40),
        ] {
            assert!(OrgLogin::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ManifestCode::parse("a1b2c3d4e5f6a7b8c9d0").is_ok());
        for bad in ["", "../../app", "a/b", "a?b", "a b", &"a".repeat(129)] {
            assert!(ManifestCode::parse(bad).is_err(), "{bad:?}");
        }
        assert!(!format!("{:?}", ManifestCode::parse("abc").unwrap()).contains("abc"));

        let dotcom = GithubInstance::new("https://github.com/", None).unwrap();
        assert_eq!(dotcom.api_url, "https://api.github.com");
        let org = OrgLogin::parse("acme").unwrap();
        assert_eq!(
            dotcom.new_app_url(&org, "s1"),
            "https://github.com/organizations/acme/settings/apps/new?state=s1"
        );
        let ghes = GithubInstance::new("https://github.acme.io", None).unwrap();
        assert_eq!(ghes.api_url, "https://github.acme.io/api/v3");
        assert!(GithubInstance::new("github.acme.io", None).is_err());
    }
}
