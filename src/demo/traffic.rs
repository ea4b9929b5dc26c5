//! Real traffic for the demo: runs the service's own Python code on a request mix through
//! `driver.py` and turns what happened into metrics. Nothing here is scripted: error rates and
//! latencies are what the runs measured.

use serde::Deserialize;
use std::path::Path;
use std::process::Stdio;

/// The driver, written next to the service copies at run time.
pub(crate) const DRIVER_PY: &str = include_str!("driver.py");

#[derive(Debug, Clone, Deserialize)]
pub struct RequestOutcome {
    pub caller: String,
    pub ok: bool,
    pub latency_ms: f64,
    pub db_ms: f64,
    pub error: Option<String>,
}

/// What one driver run measured.
#[derive(Debug, Clone, Deserialize)]
pub struct TrafficRun {
    pub requests: Vec<RequestOutcome>,
    pub tracebacks: Vec<String>,
    pub cpu_seconds: f64,
    pub max_rss_kb: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    #[error("HEALBOT_DEMO_NETWORK_WAIT_MS={0:?}: expected milliseconds from 0 to 1000")]
    NetworkWait(String),
    #[error("cannot start python3 for the traffic driver: {0}")]
    Spawn(std::io::Error),
    #[error("traffic driver failed on {dir}: {stderr}")]
    Driver { dir: String, stderr: String },
    #[error("traffic driver output: {0}")]
    Output(serde_json::Error),
}

/// The card network's answer time the demo's ledger waits per charge unless
/// `HEALBOT_DEMO_NETWORK_WAIT_MS` says otherwise. Nothing is measured during this wait (it
/// stands for a remote call, `time.sleep` in the service's `ledger.py`, 2 ms as written), so
/// the demo keeps it short: every measuring interval would otherwise spend 1.2 s of its 600
/// requests asleep.
pub const NETWORK_WAIT_MS: f64 = 0.1;

/// The network wait in force: `HEALBOT_DEMO_NETWORK_WAIT_MS` (milliseconds, 0 to 1000) or
/// [`NETWORK_WAIT_MS`]. A value that is not such a number is refused, never silently replaced.
pub(crate) fn network_wait_ms() -> Result<f64, TrafficError> {
    match std::env::var("HEALBOT_DEMO_NETWORK_WAIT_MS") {
        Err(_) => Ok(NETWORK_WAIT_MS),
        Ok(v) => parse_network_wait(&v),
    }
}

fn parse_network_wait(v: &str) -> Result<f64, TrafficError> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|ms| ms.is_finite() && (0.0..=1000.0).contains(ms))
        .ok_or_else(|| TrafficError::NetworkWait(v.to_string()))
}

/// Runs `requests` requests against the code in `service_dir`.
pub async fn run(
    driver: &Path,
    service_dir: &Path,
    requests: usize,
    seed: u64,
) -> Result<TrafficRun, TrafficError> {
    if requests == 0 {
        return Ok(TrafficRun {
            requests: Vec::new(),
            tracebacks: Vec::new(),
            cpu_seconds: 0.0,
            max_rss_kb: 0,
        });
    }
    let out = tokio::process::Command::new("python3")
        .arg(driver)
        .arg(service_dir)
        .arg(requests.to_string())
        .arg(seed.to_string())
        .arg(format!("{}", network_wait_ms()? / 1000.0))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(TrafficError::Spawn)?;
    if !out.status.success() {
        return Err(TrafficError::Driver {
            dir: service_dir.display().to_string(),
            stderr: String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("no output")
                .to_string(),
        });
    }
    serde_json::from_slice(&out.stdout).map_err(TrafficError::Output)
}

impl TrafficRun {
    pub fn error_rate(&self) -> f64 {
        rate(self.requests.iter(), |r| !r.ok)
    }

    pub fn latencies(&self) -> Vec<f64> {
        self.requests.iter().map(|r| r.latency_ms).collect()
    }

    /// Error rate per batch of `batch` consecutive requests: the judge needs several samples.
    pub(crate) fn batch_error_rates(&self, batch: usize) -> Vec<f64> {
        self.requests
            .chunks(batch.max(1))
            .filter(|c| c.len() == batch.max(1))
            .map(|c| rate(c.iter(), |r| !r.ok))
            .collect()
    }
}

fn rate<'a>(
    it: impl Iterator<Item = &'a RequestOutcome>,
    bad: impl Fn(&RequestOutcome) -> bool,
) -> f64 {
    let (mut n, mut b) = (0usize, 0usize);
    for r in it {
        n += 1;
        if bad(r) {
            b += 1;
        }
    }
    if n == 0 {
        0.0
    } else {
        b as f64 / n as f64
    }
}

/// The value below which `q` of the samples fall (nearest rank).
pub fn percentile(samples: &[f64], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut s = samples.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_wait_is_milliseconds_from_0_to_1000() {
        assert_eq!(parse_network_wait(" 0.5 ").unwrap(), 0.5);
        assert_eq!(parse_network_wait("0").unwrap(), 0.0);
        for bad in ["", "2ms", "-1", "1001", "NaN", "inf"] {
            let e = parse_network_wait(bad).unwrap_err().to_string();
            assert!(e.contains("HEALBOT_DEMO_NETWORK_WAIT_MS"), "{bad}: {e}");
        }
    }
}
