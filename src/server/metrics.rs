//! Counters for `/metrics` in the Prometheus text format. A handful of atomics is all the server
//! needs, so no metrics library is pulled in.

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

#[derive(Debug, Default)]
pub struct Metrics {
    processed: AtomicU64,
    duplicate: AtomicU64,
    rejected: AtomicU64,
    ignored: AtomicU64,
    handler_errors: AtomicU64,
    queue_depth: AtomicUsize,
    shed: AtomicU64,
}

impl Metrics {
    pub fn count(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Processed => &self.processed,
            Outcome::Duplicate => &self.duplicate,
            Outcome::Rejected => &self.rejected,
            Outcome::Ignored => &self.ignored,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn handler_error(&self) {
        self.handler_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn enqueued(&self) {
        self.queue_depth.fetch_add(1, Ordering::Relaxed);
    }

    pub fn enqueued_many(&self, n: usize) {
        self.queue_depth.fetch_add(n, Ordering::Relaxed);
    }

    /// Takes a place in the queue if fewer than `limit` deliveries are waiting or running.
    pub fn try_enqueue(&self, limit: usize) -> bool {
        self.queue_depth
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |depth| {
                (depth < limit).then_some(depth + 1)
            })
            .is_ok()
    }

    /// A delivery refused because the queue was at its high-water mark.
    pub fn shed(&self) {
        self.shed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dequeued(&self) {
        self.queue_depth.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn queue_depth(&self) -> usize {
        self.queue_depth.load(Ordering::Relaxed)
    }

    pub fn get(&self, outcome: Outcome) -> u64 {
        match outcome {
            Outcome::Processed => &self.processed,
            Outcome::Duplicate => &self.duplicate,
            Outcome::Rejected => &self.rejected,
            Outcome::Ignored => &self.ignored,
        }
        .load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP healbot_webhook_deliveries_total Webhook deliveries by outcome.\n\
             # TYPE healbot_webhook_deliveries_total counter\n",
        );
        for (name, outcome) in [
            ("processed", Outcome::Processed),
            ("duplicate", Outcome::Duplicate),
            ("rejected", Outcome::Rejected),
            ("ignored", Outcome::Ignored),
        ] {
            let _ = writeln!(
                out,
                "healbot_webhook_deliveries_total{{outcome=\"{name}\"}} {}",
                self.get(outcome)
            );
        }
        let _ = write!(
            out,
            "# HELP healbot_webhook_handler_errors_total Deliveries whose handler failed.\n\
             # TYPE healbot_webhook_handler_errors_total counter\n\
             healbot_webhook_handler_errors_total {}\n\
             # HELP healbot_webhook_queue_depth Deliveries recorded and not yet handled.\n\
             # TYPE healbot_webhook_queue_depth gauge\n\
             healbot_webhook_queue_depth {}\n\
             # HELP healbot_webhook_shed_total Deliveries answered 503 at the queue's high-water mark.\n\
             # TYPE healbot_webhook_shed_total counter\n\
             healbot_webhook_shed_total {}\n",
            self.handler_errors.load(Ordering::Relaxed),
            self.queue_depth(),
            self.shed.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_outcome() {
        let m = Metrics::default();
        m.count(Outcome::Duplicate);
        let text = m.render();
        assert!(text.contains("healbot_webhook_deliveries_total{outcome=\"duplicate\"} 1\n"));
        assert!(text.contains("healbot_webhook_deliveries_total{outcome=\"processed\"} 0\n"));
        assert!(text.contains("healbot_webhook_queue_depth 0\n"));
    }
}
