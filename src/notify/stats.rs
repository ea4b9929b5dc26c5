//! Notifications that did not reach their channel, for `/metrics`: a page that fails is how a
//! healing loop goes unnoticed, so the count is exposed rather than only logged. Process-wide,
//! like the GitHub API figures, because every router of the process pages the same people.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Failed sends per channel name (`slack`, `teams`, `pagerduty`, `email`).
pub(crate) static NOTIFY_FAILURES: FailureCounts = FailureCounts(Mutex::new(BTreeMap::new()));

pub(crate) struct FailureCounts(Mutex<BTreeMap<String, u64>>);

impl FailureCounts {
    pub fn failed(&self, channel: &str) {
        if let Ok(mut counts) = self.0.lock() {
            *counts.entry(channel.to_string()).or_default() += 1;
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().map(|c| c.clone()).unwrap_or_default()
    }
}
