//! Counters for `/metrics` in the Prometheus text format. A handful of atomics is all the server
//! needs, so no metrics library is pulled in. Every series is named `healbot_…`; besides the
//! webhook counters this renders the build, the process (from `/proc`), the GitHub API calls,
//! the delivery log's group commit and the notification failures.

use super::delivery_log::{CommitStats, Source};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// What happened to one webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Handed to the handler (counted when the worker is done with it).
    Processed,
    /// A delivery id seen before.
    Duplicate,
    /// Bad signature, malformed or oversized body.
    Rejected,
    /// An event or action healbot does not act on.
    Ignored,
}

const OUTCOMES: [(&str, Outcome); 4] = [
    ("processed", Outcome::Processed),
    ("duplicate", Outcome::Duplicate),
    ("rejected", Outcome::Rejected),
    ("ignored", Outcome::Ignored),
];

const SOURCES: [(&str, Source); 3] = [
    ("github", Source::Github),
    ("alertmanager", Source::Alertmanager),
    ("argo", Source::Argo),
];

fn source_slot(source: Source) -> usize {
    match source {
        Source::Github => 0,
        Source::Alertmanager => 1,
        Source::Argo => 2,
    }
}

fn outcome_slot(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Processed => 0,
        Outcome::Duplicate => 1,
        Outcome::Rejected => 2,
        Outcome::Ignored => 3,
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// [source][outcome].
    deliveries: [[AtomicU64; 4]; 3],
    handler_errors: [AtomicU64; 3],
    queue_depth: AtomicUsize,
    shed: AtomicU64,
}

impl Metrics {
    pub fn count(&self, source: Source, outcome: Outcome) {
        self.deliveries[source_slot(source)][outcome_slot(outcome)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn handler_error(&self, source: Source) {
        self.handler_errors[source_slot(source)].fetch_add(1, Ordering::Relaxed);
    }

    #[cfg(test)]
    pub fn enqueued(&self) {
        self.queue_depth.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn enqueued_many(&self, n: usize) {
        self.queue_depth.fetch_add(n, Ordering::Relaxed);
    }

    /// Takes a place in the queue if fewer than `limit` deliveries are waiting or running.
    pub(crate) fn try_enqueue(&self, limit: usize) -> bool {
        self.queue_depth
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |depth| {
                (depth < limit).then_some(depth + 1)
            })
            .is_ok()
    }

    /// A delivery refused because the queue was at its high-water mark.
    pub(crate) fn shed(&self) {
        self.shed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dequeued(&self) {
        self.queue_depth.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn queue_depth(&self) -> usize {
        self.queue_depth.load(Ordering::Relaxed)
    }

    /// Deliveries with `outcome`, all sources together.
    pub fn get(&self, outcome: Outcome) -> u64 {
        self.deliveries
            .iter()
            .map(|by_outcome| by_outcome[outcome_slot(outcome)].load(Ordering::Relaxed))
            .sum()
    }

    /// The Prometheus text exposition of the server's own series.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP healbot_webhook_deliveries_total Webhook deliveries by source and outcome.\n\
             # TYPE healbot_webhook_deliveries_total counter\n",
        );
        for (source_name, source) in SOURCES {
            for (name, outcome) in OUTCOMES {
                let n = self.deliveries[source_slot(source)][outcome_slot(outcome)]
                    .load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "healbot_webhook_deliveries_total{{source=\"{source_name}\",outcome=\"{name}\"}} {n}"
                );
            }
        }
        out.push_str(
            "# HELP healbot_webhook_handler_errors_total Deliveries whose handler failed.\n\
             # TYPE healbot_webhook_handler_errors_total counter\n",
        );
        for (source_name, source) in SOURCES {
            let _ = writeln!(
                out,
                "healbot_webhook_handler_errors_total{{source=\"{source_name}\"}} {}",
                self.handler_errors[source_slot(source)].load(Ordering::Relaxed)
            );
        }
        let _ = write!(
            out,
            "# HELP healbot_webhook_queue_depth Deliveries recorded and not yet handled.\n\
             # TYPE healbot_webhook_queue_depth gauge\n\
             healbot_webhook_queue_depth {}\n\
             # HELP healbot_webhook_shed_total Deliveries answered 503 at the queue's high-water mark.\n\
             # TYPE healbot_webhook_shed_total counter\n\
             healbot_webhook_shed_total {}\n",
            self.queue_depth(),
            self.shed.load(Ordering::Relaxed)
        );
        render_build_info(&mut out);
        super::process_metrics::render(&mut out);
        render_github_api(&mut out);
        render_notify_failures(&mut out);
        out
    }
}

/// `healbot_build_info{version,…} 1`: which build runs, and the series `HealbotDown` watches.
fn render_build_info(out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP healbot_build_info The running build; always 1.\n\
         # TYPE healbot_build_info gauge\n\
         healbot_build_info{{version=\"{}\",target_os=\"{}\",target_arch=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH,
    );
}

fn render_github_api(out: &mut String) {
    use crate::forge::github::stats::{API_STATS, LATENCY_BUCKETS};
    let s = API_STATS.snapshot();
    out.push_str(
        "# HELP healbot_github_api_calls_total Calls to the GitHub API by method and HTTP status (error: no response).\n\
         # TYPE healbot_github_api_calls_total counter\n",
    );
    for ((method, status), n) in &s.calls {
        let _ = writeln!(
            out,
            "healbot_github_api_calls_total{{method=\"{method}\",status=\"{status}\"}} {n}"
        );
    }
    out.push_str(
        "# HELP healbot_github_api_call_duration_seconds Time a GitHub API call took to answer.\n\
         # TYPE healbot_github_api_call_duration_seconds histogram\n",
    );
    for (bound, count) in LATENCY_BUCKETS.iter().zip(&s.cumulative) {
        let _ = writeln!(
            out,
            "healbot_github_api_call_duration_seconds_bucket{{le=\"{bound}\"}} {count}"
        );
    }
    let total = s.cumulative.last().copied().unwrap_or(0);
    let _ = writeln!(
        out,
        "healbot_github_api_call_duration_seconds_bucket{{le=\"+Inf\"}} {total}\n\
         healbot_github_api_call_duration_seconds_sum {}\n\
         healbot_github_api_call_duration_seconds_count {total}",
        s.sum_seconds
    );
    out.push_str(
        "# HELP healbot_github_rate_limit_remaining X-RateLimit-Remaining of GitHub's last answer.\n\
         # TYPE healbot_github_rate_limit_remaining gauge\n",
    );
    // No sample before GitHub has answered: a made-up value would fire or hide an alert.
    if let Some(remaining) = s.remaining {
        let _ = writeln!(out, "healbot_github_rate_limit_remaining {remaining}");
    }
}

/// The delivery log's group commit: batches, deliveries, and how long each batch's write and
/// fdatasync took. On a disk that is what bounds the intake (`docs/architecture.md`, intake).
pub fn render_delivery_log(out: &mut String, stats: &CommitStats) {
    let _ = writeln!(
        out,
        "# HELP healbot_delivery_log_commits_total Batches of deliveries the log made durable, one fdatasync each.\n\
         # TYPE healbot_delivery_log_commits_total counter\n\
         healbot_delivery_log_commits_total {}\n\
         # HELP healbot_delivery_log_records_total Deliveries the log recorded (duplicates are not).\n\
         # TYPE healbot_delivery_log_records_total counter\n\
         healbot_delivery_log_records_total {}",
        stats.commits(), stats.records
    );
    stats.seconds.render(
        out,
        "healbot_delivery_log_commit_seconds",
        "Time one batch of the delivery log took to write and fdatasync.",
    );
}

fn render_notify_failures(out: &mut String) {
    let failures = crate::notify::stats::NOTIFY_FAILURES.snapshot();
    out.push_str(
        "# HELP healbot_notification_failures_total Notifications that did not reach their channel.\n\
         # TYPE healbot_notification_failures_total counter\n",
    );
    for channel in ["slack", "teams", "pagerduty", "email"] {
        let _ = writeln!(
            out,
            "healbot_notification_failures_total{{channel=\"{channel}\"}} {}",
            failures.get(channel).copied().unwrap_or(0)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_source_and_outcome() {
        let m = Metrics::default();
        m.count(Source::Argo, Outcome::Duplicate);
        let text = m.render();
        assert!(text.contains(
            "healbot_webhook_deliveries_total{source=\"argo\",outcome=\"duplicate\"} 1\n"
        ));
        assert!(text.contains(
            "healbot_webhook_deliveries_total{source=\"github\",outcome=\"processed\"} 0\n"
        ));
        assert!(text.contains("healbot_webhook_queue_depth 0\n"));
        assert!(text.contains(&format!(
            "healbot_build_info{{version=\"{}\"",
            env!("CARGO_PKG_VERSION")
        )));
        assert_eq!(m.get(Outcome::Duplicate), 1);
    }

    #[test]
    fn renders_the_delivery_logs_commits() {
        let mut seconds = crate::server::kpis::Histogram::new(&[0.001, 0.01]);
        seconds.observe(0.0004);
        seconds.observe(0.002);
        let stats = CommitStats {
            records: 9,
            seconds,
        };
        let mut text = String::new();
        render_delivery_log(&mut text, &stats);
        for line in [
            "healbot_delivery_log_commits_total 2\n",
            "healbot_delivery_log_records_total 9\n",
            "# TYPE healbot_delivery_log_commit_seconds histogram\n",
            "healbot_delivery_log_commit_seconds_bucket{le=\"0.001\"} 1\n",
            "healbot_delivery_log_commit_seconds_bucket{le=\"0.01\"} 2\n",
            "healbot_delivery_log_commit_seconds_bucket{le=\"+Inf\"} 2\n",
            "healbot_delivery_log_commit_seconds_count 2\n",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn every_series_is_prefixed() {
        let text = Metrics::default().render();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("healbot_"), "{line}");
        }
    }
}
