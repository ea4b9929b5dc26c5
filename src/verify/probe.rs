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

/// GET `url`: healthy on a 2xx within the timeout.
#[derive(Debug, Clone)]
pub struct HttpHealthProbe {
    pub timeout: Duration,
}

impl Default for HttpHealthProbe {
    fn default() -> HttpHealthProbe {
        HttpHealthProbe {
            timeout: Duration::from_secs(5),
        }
    }
}

#[async_trait]
impl HealthProbe for HttpHealthProbe {
    async fn probe(&self, url: &str) -> ProbeOutcome {
        let client = match reqwest::Client::builder().timeout(self.timeout).build() {
            Ok(c) => c,
            Err(e) => {
                return ProbeOutcome {
                    healthy: false,
                    observed: format!("no HTTP client: {e}"),
                }
            }
        };
        match client.get(url).send().await {
            Ok(resp) => {
                let status = resp.status();
                ProbeOutcome {
                    healthy: status.is_success(),
                    observed: format!("GET {url} → {}", status.as_u16()),
                }
            }
            Err(e) => ProbeOutcome {
                healthy: false,
                observed: format!("GET {url} failed: {e}"),
            },
        }
    }
}
