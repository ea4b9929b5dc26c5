//! The health probe verification asks when a repository names a service's `health_url`. A
//! trait, so that verification is tried on any answer; the product probes over HTTP.

use async_trait::async_trait;
use std::time::Duration;

/// What a probe saw.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeOutcome {
    pub healthy: bool,
    /// What was asked and answered (`GET https://… → 200`).
    pub observed: String,
}

#[async_trait]
pub trait HealthProbe: Send + Sync {
    async fn probe(&self, url: &str) -> ProbeOutcome;
}

/// GET `url`: healthy on a 2xx within the timeout. Only hosts in `allowed_hosts` (from
/// healbot.yaml's `health_url_hosts`) are fetched, without following redirects: the URL comes
/// from a repository, and healbot asks from its own network position. What is posted on the
/// PR is generic; the details go to healbot's log.
#[derive(Debug, Clone)]
pub struct HttpHealthProbe {
    pub timeout: Duration,
    pub allowed_hosts: Vec<String>,
}

impl Default for HttpHealthProbe {
    fn default() -> HttpHealthProbe {
        HttpHealthProbe::allowing(Vec::new())
    }
}

impl HttpHealthProbe {
    pub fn allowing(allowed_hosts: Vec<String>) -> HttpHealthProbe {
        HttpHealthProbe {
            timeout: Duration::from_secs(5),
            allowed_hosts,
        }
    }

    fn allowed(&self, url: &str) -> bool {
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return false;
        };
        let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
        matches!(parsed.scheme(), "http" | "https") && self.allowed_hosts.contains(&host)
    }
}

#[async_trait]
impl HealthProbe for HttpHealthProbe {
    async fn probe(&self, url: &str) -> ProbeOutcome {
        if !self.allowed(url) {
            tracing::warn!(%url, "health_url host is not in healbot.yaml's health_url_hosts; not fetched");
            return ProbeOutcome {
                healthy: false,
                observed: "health_url not fetched: its host is not allowed by healbot's \
                           configuration"
                    .into(),
            };
        }
        let client = match crate::http_client::builder()
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "no HTTP client for the health probe");
                return ProbeOutcome {
                    healthy: false,
                    observed: "health_url could not be asked (details in healbot's log)".into(),
                };
            }
        };
        match client.get(url).send().await {
            Ok(resp) => {
                let status = resp.status();
                ProbeOutcome {
                    healthy: status.is_success(),
                    observed: format!("health_url answered {}", status.as_u16()),
                }
            }
            Err(e) => {
                tracing::warn!(%url, error = %e, "health probe failed");
                ProbeOutcome {
                    healthy: false,
                    observed: "health_url did not answer (details in healbot's log)".into(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_host_outside_the_allowlist_is_not_fetched_and_nothing_leaks() {
        // A listener that would record a request if one came.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let probe = HttpHealthProbe::allowing(vec!["health.internal".into()]);
        let out = probe
            .probe(&format!("http://{addr}/admin?token=secret"))
            .await;
        assert!(!out.healthy);
        assert!(out.observed.contains("not allowed"), "{}", out.observed);
        assert!(!out.observed.contains("secret") && !out.observed.contains("127.0.0.1"));
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(
            accepted.is_err(),
            "the probe connected to a host it may not ask"
        );
    }

    #[tokio::test]
    async fn an_allowed_host_is_asked_and_its_error_stays_in_the_log() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener); // nothing listens: the request fails
        let probe = HttpHealthProbe::allowing(vec!["127.0.0.1".into()]);
        let out = probe.probe(&format!("http://127.0.0.1:{port}/h")).await;
        assert!(!out.healthy);
        assert_eq!(
            out.observed,
            "health_url did not answer (details in healbot's log)"
        );
    }
}
