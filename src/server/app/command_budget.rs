//! How many `/heal` commands one person may send on one PR in a window. A comment holds at most
//! five (the parser's limit), but nothing stopped a person from posting comment after comment,
//! each costing healbot API calls and replies. Beyond the budget commands are ignored, and the
//! person hears so once per window. Kept in memory per replica: a budget, not an audit record.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Commands one person may send on one PR per [`WINDOW`].
pub(crate) const COMMANDS_PER_WINDOW: usize = 20;
pub const WINDOW: Duration = Duration::from_secs(10 * 60);

/// Keys kept before old ones are dropped, so the map cannot grow without bound.
const MAX_KEYS: usize = 10_000;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allowed,
    /// Over budget; `notify` is true the first time in this window.
    Refused {
        notify: bool,
    },
}

#[derive(Default)]
pub(crate) struct CommandBudget {
    used: Mutex<HashMap<(String, u64, String), Used>>,
}

#[derive(Default)]
struct Used {
    at: VecDeque<Instant>,
    notified: bool,
}

impl CommandBudget {
    /// Takes `n` commands from `login`'s budget on `repo#pr` at `now`; all or none.
    pub fn take(&self, repo: &str, pr: u64, login: &str, n: usize, now: Instant) -> Verdict {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if used.len() >= MAX_KEYS {
            used.retain(|_, u| u.at.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        let key = (repo.to_string(), pr, login.to_ascii_lowercase());
        let entry = used.entry(key).or_default();
        while entry
            .at
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            entry.at.pop_front();
        }
        if entry.at.is_empty() {
            entry.notified = false;
        }
        if entry.at.len() + n > COMMANDS_PER_WINDOW {
            let notify = !entry.notified;
            entry.notified = true;
            return Verdict::Refused { notify };
        }
        entry.at.extend(std::iter::repeat_n(now, n));
        Verdict::Allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_gets_a_budget_per_pr_and_hears_once_when_it_is_spent() {
        let b = CommandBudget::default();
        let t0 = Instant::now();
        for _ in 0..4 {
            assert_eq!(b.take("o/r", 1, "Eve", 5, t0), Verdict::Allowed);
        }
        assert_eq!(
            b.take("o/r", 1, "eve", 1, t0),
            Verdict::Refused { notify: true }
        );
        assert_eq!(
            b.take("o/r", 1, "eve", 1, t0),
            Verdict::Refused { notify: false }
        );
        // Another PR and another person have their own budgets.
        assert_eq!(b.take("o/r", 2, "eve", 5, t0), Verdict::Allowed);
        assert_eq!(b.take("o/r", 1, "bob", 5, t0), Verdict::Allowed);
        // After the window the budget is back.
        assert_eq!(b.take("o/r", 1, "eve", 5, t0 + WINDOW), Verdict::Allowed);
    }
}
