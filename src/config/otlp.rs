//! `otlp:` in healbot.yaml: where healbot sends its own spans (a delivery, an operation step)
//! over OTLP/HTTP, so its work shows up in the same trace backend as the services it heals.
//! Off unless configured; header values (an ingest token) are secrets read from a file.

use super::bot::Secret;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OtlpFile {
    /// The collector's OTLP/HTTP base URL, e.g. `http://otel-collector:4318`; spans go to
    /// `<endpoint>/v1/traces` as protobuf.
    pub endpoint: String,
    /// A file of `Name: value` lines sent as headers (an ingest token); secrets.
    #[serde(default)]
    pub headers_file: Option<PathBuf>,
    /// `service.name` of healbot's spans (default `healbot`).
    #[serde(default)]
    pub service_name: Option<String>,
    /// How long one export may take (default 10).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// A checked `otlp:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Otlp {
    /// The full traces URL (`…/v1/traces`).
    pub traces_url: String,
    pub headers: Vec<(String, Secret)>,
    pub service_name: String,
    pub timeout: Duration,
}

impl Otlp {
    /// Checks the section; the error names the field (under `otlp.`) and what is wrong.
    pub fn from_file(file: OtlpFile, base: &Path) -> Result<Otlp, (String, String)> {
        let endpoint = file.endpoint.trim().trim_end_matches('/');
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err((
                "otlp.endpoint".into(),
                format!("not an http(s) URL: {:?}", file.endpoint),
            ));
        }
        let traces_url = if endpoint.ends_with("/v1/traces") {
            endpoint.to_string()
        } else {
            format!("{endpoint}/v1/traces")
        };
        let headers = match &file.headers_file {
            Some(path) => {
                let full = base.join(path);
                let text = std::fs::read_to_string(&full).map_err(|e| {
                    (
                        "otlp.headers_file".to_string(),
                        format!("cannot read {}: {e}", full.display()),
                    )
                })?;
                parse_headers(&text).map_err(|why| ("otlp.headers_file".to_string(), why))?
            }
            None => Vec::new(),
        };
        let service_name = file
            .service_name
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "healbot".into());
        if service_name.is_empty() {
            return Err(("otlp.service_name".into(), "is empty".into()));
        }
        Ok(Otlp {
            traces_url,
            headers,
            service_name,
            timeout: Duration::from_secs(file.timeout_seconds.unwrap_or(10).max(1)),
        })
    }
}

/// `Name: value` per line; blank lines and `#` comments skipped. The error never shows a value.
fn parse_headers(text: &str) -> Result<Vec<(String, Secret)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("line {} is not `Name: value`", i + 1));
        };
        let name = name.trim();
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_!#$%&'*+.^`|~".contains(&b));
        if !valid_name {
            return Err(format!("line {}: {name:?} is not a header name", i + 1));
        }
        let value = value.trim();
        if value.is_empty() || value.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(format!(
                "line {}: the value of {name} is empty or has control characters",
                i + 1
            ));
        }
        out.push((name.to_ascii_lowercase(), Secret::new(value)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(endpoint: &str) -> OtlpFile {
        OtlpFile {
            endpoint: endpoint.into(),
            headers_file: None,
            service_name: None,
            timeout_seconds: None,
        }
    }

    #[test]
    fn the_traces_path_is_added_once() {
        let base = Path::new(".");
        let a = Otlp::from_file(file("http://collector:4318/"), base).unwrap();
        assert_eq!(a.traces_url, "http://collector:4318/v1/traces");
        let b = Otlp::from_file(file("https://c.example/v1/traces"), base).unwrap();
        assert_eq!(b.traces_url, "https://c.example/v1/traces");
        assert_eq!(a.service_name, "healbot");
    }

    #[test]
    fn a_non_http_endpoint_is_named() {
        let (field, why) = Otlp::from_file(file("collector:4317"), Path::new(".")).unwrap_err();
        assert_eq!(field, "otlp.endpoint");
        assert!(why.contains("collector:4317"), "{why}");
    }

    #[test]
    fn headers_are_read_and_a_bad_line_never_shows_a_value() {
        let ok = parse_headers("# ingest\nAuthorization: Bearer s3cret\n\nX-Scope-OrgID: ops\n")
            .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].0, "authorization");
        assert_eq!(ok[0].1.expose_str(), "Bearer s3cret");
        let bad = parse_headers("Authorization Bearer s3cret").unwrap_err();
        assert!(!bad.contains("s3cret"), "{bad}");
        let ctl = parse_headers("Authorization: a\u{7}b").unwrap_err();
        assert!(ctl.contains("control"), "{ctl}");
    }
}
