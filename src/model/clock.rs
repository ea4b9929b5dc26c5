//! The time policy reads. Risk timing (peak hours), freeze windows, cooldowns, the incident
//! rate and escalation all depend on "now"; the orchestrator asks a [`Clock`] instead of the
//! wall clock, and the audit stores stamp entries from the same clock, so that ages computed
//! from the log agree with it. The product runs on [`SystemClock`]; a test pins the hour it
//! means ([`PinnedClock`]) and passes at any time of day.

use chrono::{DateTime, Utc};
use std::sync::Mutex;
use std::time::Instant;

/// Where "now" comes from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock: what the product uses.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that starts at a pinned instant and runs at the pace of the monotonic clock: the
/// hour of day is the one a test chose, and durations within the test are real. A test that
/// is about waiting moves it on with [`PinnedClock::advance`].
#[derive(Debug)]
pub struct PinnedClock {
    /// The time it said at the instant.
    start: Mutex<(DateTime<Utc>, Instant)>,
}

impl PinnedClock {
    pub fn starting_at(at: DateTime<Utc>) -> PinnedClock {
        PinnedClock {
            start: Mutex::new((at, Instant::now())),
        }
    }

    /// Says `at` now, and runs on from there.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.start.lock().unwrap_or_else(|p| p.into_inner()) = (at, Instant::now());
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.start.lock().unwrap_or_else(|p| p.into_inner()).0 += by;
    }
}

impl Clock for PinnedClock {
    fn now(&self) -> DateTime<Utc> {
        let (at, since) = *self.start.lock().unwrap_or_else(|p| p.into_inner());
        at + chrono::Duration::from_std(since.elapsed()).unwrap_or(chrono::Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_pinned_clock_starts_where_it_was_told_and_runs_on() {
        let t = Utc.with_ymd_and_hms(2024, 1, 1, 3, 0, 0).unwrap();
        let clock = PinnedClock::starting_at(t);
        let first = clock.now();
        assert!(first >= t && first - t < chrono::Duration::seconds(5));
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(clock.now() > first);
        clock.advance(chrono::Duration::minutes(90));
        assert!(clock.now() - t >= chrono::Duration::minutes(90));
        clock.set(t);
        assert!(clock.now() - t < chrono::Duration::minutes(1));
    }

    #[test]
    fn the_system_clock_moves_with_the_wall_clock() {
        let before = Utc::now();
        let now = SystemClock.now();
        assert!(now >= before && now <= Utc::now());
    }
}
