//! The image a fix deploys, and whether the registry has it. A service's `.github/healbot.yml`
//! may name its image as a template (`image: ghcr.io/acme/payment:{sha}`, or `{short_sha}`):
//! healbot then writes that reference into the Rollout instead of guessing a tag, and before the
//! first canary step asks the registry whether it exists (OCI distribution spec, `HEAD
//! /v2/<name>/manifests/<tag>`), so a canary never starts on an image CI has not pushed yet.
//!
//! Registry auth follows the Docker token flow the OCI registries use: the request goes out
//! without credentials; a `401` with `WWW-Authenticate: Bearer realm=…,service=…,scope=…` is
//! answered by asking the realm for a token (anonymously, or with the configured token as the
//! Basic password) and repeating the request with `Authorization: Bearer <token>`.

use std::fmt;
use std::time::Duration;

/// Every manifest type healbot accepts, so a multi-arch index answers as itself.
const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum ImageError {
    #[error("image template `{template}`: {reason}")]
    Template { template: String, reason: String },
    #[error("image reference `{reference}`: {reason}")]
    Reference { reference: String, reason: String },
    #[error("registry {registry}: {reason}")]
    Registry { registry: String, reason: String },
}

/// `registry/repository:tag`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRef {
    /// Host (and port) of the registry's API.
    pub registry: String,
    pub repository: String,
    pub tag: String,
}

impl ImageRef {
    /// Parses a tagged reference. A first component with a `.` or `:`, or `localhost`, is the
    /// registry; otherwise the image is on Docker Hub (`library/` for a single name).
    pub fn parse(reference: &str) -> Result<ImageRef, ImageError> {
        let bad = |reason: &str| ImageError::Reference {
            reference: reference.to_string(),
            reason: reason.to_string(),
        };
        if reference.contains('@') {
            return Err(bad("a digest pins one image; give a tag"));
        }
        let slash = reference.rfind('/').map_or(0, |i| i + 1);
        let colon = reference[slash..]
            .rfind(':')
            .map(|i| slash + i)
            .ok_or_else(|| bad("no tag (`name:tag`)"))?;
        let (name, tag) = (&reference[..colon], &reference[colon + 1..]);
        if !super::rollout::is_image_tag(tag) {
            return Err(bad("a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            Some(_) => ("registry-1.docker.io".to_string(), name.to_string()),
            None => (
                "registry-1.docker.io".to_string(),
                format!("library/{name}"),
            ),
        };
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
                && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
        };
        if !repository.split('/').all(component_ok) {
            return Err(bad(
                "repository components are lowercase letters, digits and . _ -",
            ));
        }
        Ok(ImageRef {
            registry,
            repository,
            tag: tag.to_string(),
        })
    }

    /// Loopback registries speak plain HTTP, as Docker assumes for them; others HTTPS.
    fn base_url(&self) -> String {
        let host = self
            .registry
            .rsplit_once(':')
            .map_or(self.registry.as_str(), |(h, port)| {
                if port.chars().all(|c| c.is_ascii_digit()) {
                    h
                } else {
                    self.registry.as_str()
                }
            });
        let loopback = host == "localhost" || host == "[::1]" || host.starts_with("127.");
        let scheme = if loopback { "http" } else { "https" };
        format!("{scheme}://{}", self.registry)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.repository, self.tag)
    }
}

/// A per-service image template: a reference whose tag holds `{sha}` or `{short_sha}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageTemplate(String);

impl ImageTemplate {
    pub fn parse(template: &str) -> Result<ImageTemplate, ImageError> {
        let bad = |reason: &str| ImageError::Template {
            template: template.to_string(),
            reason: reason.to_string(),
        };
        let mut rest = template;
        let mut placeholders = 0;
        while let Some(open) = rest.find('{') {
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| bad("a `{` without its `}`"))?;
            let name = &rest[open + 1..open + close];
            if name != "sha" && name != "short_sha" {
                return Err(bad(&format!(
                    "unknown placeholder `{{{name}}}`; use {{sha}} or {{short_sha}}"
                )));
            }
            placeholders += 1;
            rest = &rest[open + close + 1..];
        }
        if placeholders == 0 {
            return Err(bad("names no commit: put {sha} or {short_sha} in the tag"));
        }
        // The rendered form must be a valid reference with the placeholders in the tag.
        let sample = ImageTemplate(template.to_string()).render_raw("0123456789abcdef0123");
        let parsed = ImageRef::parse(&sample).map_err(|e| bad(&e.to_string()))?;
        if !parsed.tag.contains("0123456") {
            return Err(bad(
                "the placeholder must be in the tag, after the last `:`",
            ));
        }
        Ok(ImageTemplate(template.to_string()))
    }

    /// The reference for commit `sha` as written (what goes into the manifest).
    pub fn reference(&self, sha: &str) -> String {
        self.render_raw(sha)
    }

    fn render_raw(&self, sha: &str) -> String {
        let short = &sha[..sha.len().min(7)];
        self.0.replace("{short_sha}", short).replace("{sha}", sha)
    }

    #[cfg(test)]
    /// The reference for commit `sha` (the full 40-hex sha; `{short_sha}` is its first 7).
    pub fn render(&self, sha: &str) -> Result<ImageRef, ImageError> {
        ImageRef::parse(&self.render_raw(sha))
    }
}

impl fmt::Display for ImageTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether the registry has the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImagePresence {
    /// `200`: there, with its manifest digest when the registry sends one.
    Present { digest: Option<String> },
    /// `404`: not (yet) pushed.
    Missing,
}

/// Asks registries whether images exist.
#[derive(Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    /// Sent as the Basic password to the token realm; never logged.
    token: Option<String>,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Default for RegistryClient {
    fn default() -> Self {
        RegistryClient::new(None)
    }
}

impl RegistryClient {
    /// `token`: the registry credential (from a file), or `None` for anonymous pulls.
    pub fn new(token: Option<String>) -> RegistryClient {
        let http = crate::http_client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        RegistryClient { http, token }
    }

    /// `HEAD /v2/<name>/manifests/<tag>`, through the token flow on a `401`.
    pub(crate) async fn presence(&self, image: &ImageRef) -> Result<ImagePresence, ImageError> {
        let url = format!(
            "{}/v2/{}/manifests/{}",
            image.base_url(),
            image.repository,
            image.tag
        );
        let first = self.head(&url, None, image).await?;
        let response = if first.status() == reqwest::StatusCode::UNAUTHORIZED {
            let challenge = first
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let bearer = self.token_for(&challenge, image).await?;
            self.head(&url, Some(&bearer), image).await?
        } else {
            first
        };
        match response.status().as_u16() {
            200 => Ok(ImagePresence::Present {
                digest: response
                    .headers()
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
            }),
            404 => Ok(ImagePresence::Missing),
            status => Err(registry_error(
                image,
                &format!("HEAD {} answered {status}", redact_query(&url)),
            )),
        }
    }

    async fn head(
        &self,
        url: &str,
        bearer: Option<&str>,
        image: &ImageRef,
    ) -> Result<reqwest::Response, ImageError> {
        let mut request = self.http.head(url).header(reqwest::header::ACCEPT, ACCEPT);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        request
            .send()
            .await
            .map_err(|e| registry_error(image, &format!("HEAD {url}: {}", e.without_url())))
    }

    /// Asks the challenge's realm for a pull token.
    async fn token_for(&self, challenge: &str, image: &ImageRef) -> Result<String, ImageError> {
        let params = parse_bearer_challenge(challenge).ok_or_else(|| {
            registry_error(
                image,
                &format!("401 without a Bearer challenge ({challenge:?})"),
            )
        })?;
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| registry_error(image, "the Bearer challenge has no realm"))?;
        let mut query: Vec<(String, String)> = Vec::new();
        if let Some((_, service)) = params.iter().find(|(k, _)| k == "service") {
            query.push(("service".into(), service.clone()));
        }
        let scope = params
            .iter()
            .find(|(k, _)| k == "scope")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| format!("repository:{}:pull", image.repository));
        for one in scope.split(' ').filter(|s| !s.is_empty()) {
            query.push(("scope".into(), one.to_string()));
        }
        let mut request = self.http.get(&realm).query(&query);
        if let Some(token) = &self.token {
            request = request.basic_auth("healbot", Some(token));
        }
        let response = request
            .send()
            .await
            .map_err(|e| registry_error(image, &format!("token realm: {}", e.without_url())))?;
        let status = response.status();
        if !status.is_success() {
            return Err(registry_error(
                image,
                &format!("the token realm answered {status}"),
            ));
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|_| registry_error(image, "the token realm's answer is not JSON"))?;
        body["token"]
            .as_str()
            .or_else(|| body["access_token"].as_str())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| registry_error(image, "the token realm's answer has no token"))
    }
}

fn registry_error(image: &ImageRef, reason: &str) -> ImageError {
    ImageError::Registry {
        registry: image.registry.clone(),
        reason: reason.to_string(),
    }
}

fn redact_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// The parameters of `Bearer k="v",k2="v2"` (RFC 6750 §3), or `None` for another scheme.
pub(crate) fn parse_bearer_challenge(header: &str) -> Option<Vec<(String, String)>> {
    let rest = header.trim();
    let (scheme, rest) = rest.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = Vec::new();
    let mut chars = rest.trim();
    while !chars.is_empty() {
        let (key, after) = chars.split_once('=')?;
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        params.push((key, value.to_string()));
        chars = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_registry_repository_and_tag() {
        let r = ImageRef::parse("ghcr.io/acme/payment:3f9c2ab").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_str()),
            ("ghcr.io", "acme/payment", "3f9c2ab")
        );
        let hub = ImageRef::parse("redis:7").unwrap();
        assert_eq!(hub.repository, "library/redis");
        assert_eq!(hub.registry, "registry-1.docker.io");
        let local = ImageRef::parse("127.0.0.1:5000/shop/pay:v1").unwrap();
        assert_eq!(local.base_url(), "http://127.0.0.1:5000");
        assert_eq!(r.base_url(), "https://ghcr.io");
        for bad in [
            "ghcr.io/acme/payment",
            "ghcr.io/Acme/p:1",
            "a/b@sha256:00",
            "x:bad tag",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn templates_put_the_commit_in_the_tag() {
        let sha = "3f9c2ab8d1e0000000000000000000000000beef";
        let t = ImageTemplate::parse("ghcr.io/acme/payment:{sha}").unwrap();
        assert_eq!(t.render(sha).unwrap().tag, sha);
        let t = ImageTemplate::parse("ghcr.io/acme/payment:sha-{short_sha}").unwrap();
        assert_eq!(t.render(sha).unwrap().tag, "sha-3f9c2ab");
        for (bad, says) in [
            ("ghcr.io/acme/payment:latest", "names no commit"),
            ("ghcr.io/acme/{sha}:v1", "in the tag"),
            (
                "ghcr.io/acme/payment:{branch}",
                "unknown placeholder `{branch}`",
            ),
            ("ghcr.io/acme/payment:{sha", "without its `}`"),
        ] {
            let err = ImageTemplate::parse(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn bearer_challenges_parse() {
        let p = parse_bearer_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull""#,
        )
        .unwrap();
        assert_eq!(
            p,
            [
                ("realm".into(), "https://auth.docker.io/token".into()),
                ("service".into(), "registry.docker.io".into()),
                ("scope".into(), "repository:library/redis:pull".into()),
            ]
        );
        assert!(parse_bearer_challenge(r#"Basic realm="x""#).is_none());
    }
}
