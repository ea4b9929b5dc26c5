//! The demo's progress while it runs, so that a person sees each stage as it happens instead of
//! everything at the end. It follows the audit log (every stage writes to it) and says what is
//! going on now: on a terminal a live spinner with the stage and the time it has taken (a
//! canary step counts down to its judgement), otherwise one timestamped line per stage. It
//! writes to stderr: stdout keeps the report that scripts and tests read.

use crate::audit::{AuditEntry, AuditStore};
use crate::operation::state::action;
use crate::operation::OpState;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the audit log is read for new entries.
const POLL: Duration = Duration::from_millis(150);

/// Where progress goes: stderr, live on a terminal or as timestamped lines. `healbot fix` shows
/// its validation with it too.
pub(crate) enum Sink {
    /// A live spinner on the terminal.
    Live(ProgressBar),
    /// Plain lines with a timestamp, for logs and pipes.
    Lines,
}

impl Sink {
    pub(crate) fn for_stderr() -> Sink {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(100));
            Sink::Live(bar)
        } else {
            Sink::Lines
        }
    }

    /// A stage begins: the spinner says it; a plain line is printed.
    pub fn stage(&self, text: &str) {
        match self {
            Sink::Live(bar) => bar.set_message(text.to_string()),
            Sink::Lines => eprintln!("{}  … {text}", chrono::Utc::now().format("%H:%M:%S%.3f")),
        }
    }

    /// Something done: kept above the spinner; a plain line.
    pub fn done(&self, text: &str) {
        match self {
            Sink::Live(bar) => bar.println(format!("  ✓ {text}")),
            Sink::Lines => eprintln!("{}  {text}", chrono::Utc::now().format("%H:%M:%S%.3f")),
        }
    }

    /// The live line only (a countdown): plain output says it once, at the stage's start.
    pub fn tick(&self, text: &str) {
        if let Sink::Live(bar) = self {
            bar.set_message(text.to_string());
        }
    }

    pub fn finish(&self) {
        if let Sink::Live(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// What one audit entry means for the person watching: a stage that is done, and what runs next.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Step {
    pub done: Option<String>,
    pub next: Option<String>,
    /// A canary step at this weight begins: its judgement comes after the canary wait.
    pub canary: Option<u8>,
}

/// Reads one entry; `None` for the many entries that say nothing new to a person.
pub(crate) fn step(entry: &AuditEntry) -> Option<Step> {
    let d = &entry.detail;
    let text = |s: &str| Some(s.to_string());
    let (done, next, canary) = match entry.action.as_str() {
        action::OPENED => (
            Some(format!("operation {} opened", entry.operation_id)),
            None,
            None,
        ),
        action::TRANSITION => {
            let to: OpState = serde_json::from_value(d["to"].clone()).ok()?;
            let reason = d["reason"].as_str().unwrap_or_default();
            let next = match to {
                OpState::Analyzing => text("root-cause analysis over the dependency graph"),
                OpState::AwaitingGates => text("checking the safety gates"),
                OpState::Locked => text("opening the fix PR"),
                OpState::AwaitingReview => text("waiting for review on the PR"),
                OpState::Merged => text("starting the canary"),
                OpState::Deploying(w) => Some(format!("canary at {w}%: judging against stable")),
                OpState::Verifying => text("verifying at 100%"),
                OpState::RollingBack => text("rolling back"),
                _ => None,
            };
            let canary = match to {
                OpState::Deploying(w) if w < 100 => Some(w),
                _ => None,
            };
            (Some(format!("{to}: {reason}")), next, canary)
        }
        action::ARTIFACT => {
            let name = d["name"].as_str()?;
            match name {
                "rca" => (
                    text("root cause found"),
                    text("localizing the stack trace in the code"),
                    None,
                ),
                "localization" => (
                    text("stack trace localized"),
                    text("choosing a fix and validating it: it re-parses, the repository's tests pass in a worktree"),
                    None,
                ),
                "validation" => (
                    text("fix validated"),
                    text("reproducing the traffic on the patched code"),
                    None,
                ),
                "plan" => (text("risk scored"), None, None),
                "gates" => (text("safety gates checked"), None, None),
                _ => return None,
            }
        }
        "canary.judged" => (
            Some(format!(
                "canary at {}%: {} (score {})",
                d["weight"],
                d["verdict"].as_str().unwrap_or("?"),
                d["score"]
            )),
            None,
            None,
        ),
        _ => return None,
    };
    Some(Step { done, next, canary })
}

/// The running display; [`Progress::finish`] shows the last entries and stops it.
pub struct Progress {
    task: Option<tokio::task::JoinHandle<()>>,
    sink: Arc<Sink>,
    stop: Arc<AtomicBool>,
}

impl Progress {
    /// Follows `store` from its current head, with canary steps that wait `canary_wait`.
    pub async fn follow(store: Arc<dyn AuditStore>, canary_wait: Duration) -> Progress {
        let sink = Arc::new(Sink::for_stderr());
        let stop = Arc::new(AtomicBool::new(false));
        let start = store.head().await.ok().flatten().map_or(0, |(seq, _)| seq);
        let task = tokio::spawn(watch(store, start, canary_wait, sink.clone(), stop.clone()));
        Progress {
            task: Some(task),
            sink,
            stop,
        }
    }

    /// A stage the audit log does not show (the demo's own traffic).
    pub fn stage(&self, text: &str) {
        self.sink.stage(text);
    }

    /// Runs `f`, which prints to stdout, with the live line out of its way.
    pub(crate) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &*self.sink {
            Sink::Live(bar) => bar.suspend(f),
            Sink::Lines => f(),
        }
    }

    /// Reads the log one last time, then stops (before the report is printed).
    pub async fn finish(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.sink.finish();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.sink.finish();
    }
}

async fn watch(
    store: Arc<dyn AuditStore>,
    mut seen: u64,
    canary_wait: Duration,
    sink: Arc<Sink>,
    stop: Arc<AtomicBool>,
) {
    // The canary step being waited for: its weight and when it began.
    let mut canary: Option<(u8, Instant)> = None;
    loop {
        // Set before the read: the read after it sees every entry written before `finish`.
        let last = stop.load(Ordering::SeqCst);
        match store.entries_after(seen).await {
            Ok(entries) => {
                for entry in &entries {
                    seen = seen.max(entry.seq);
                    let Some(step) = step(entry) else { continue };
                    if let Some(done) = &step.done {
                        sink.done(done);
                    }
                    if entry.action == "canary.judged" {
                        canary = None;
                    }
                    if let Some(w) = step.canary {
                        canary = Some((w, Instant::now()));
                        if !canary_wait.is_zero() {
                            sink.stage(&format!(
                                "canary at {w}%: running {:.0} s before it is judged",
                                canary_wait.as_secs_f64()
                            ));
                            continue;
                        }
                    }
                    if let Some(next) = &step.next {
                        sink.stage(next);
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "progress: reading the audit log"),
        }
        if last {
            return;
        }
        if let Some((w, since)) = canary {
            let left = canary_wait.saturating_sub(since.elapsed());
            if !left.is_zero() {
                sink.tick(&format!(
                    "canary at {w}%: judged in {:.0} s",
                    left.as_secs_f64().ceil()
                ));
            } else {
                sink.tick(&format!("canary at {w}%: judging against stable"));
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(action: &str, detail: serde_json::Value) -> AuditEntry {
        AuditEntry::for_test(1, action, detail)
    }

    #[test]
    fn stages_say_what_is_done_and_what_runs_next() {
        let located = step(&entry(
            action::ARTIFACT,
            json!({"name": "localization", "value": {}}),
        ))
        .unwrap();
        assert_eq!(located.done.as_deref(), Some("stack trace localized"));
        assert!(located.next.unwrap().contains("validating it"));
        let canary = step(&entry(
            action::TRANSITION,
            json!({"to": OpState::Deploying(10), "reason": "canary abc at 10%"}),
        ))
        .unwrap();
        assert_eq!(canary.canary, Some(10));
        assert_eq!(
            canary.done.as_deref(),
            Some("Deploying(10%): canary abc at 10%")
        );
        let judged = step(&entry(
            "canary.judged",
            json!({"weight": 10, "verdict": "Pass", "score": 100.0}),
        ))
        .unwrap();
        assert_eq!(
            judged.done.as_deref(),
            Some("canary at 10%: Pass (score 100.0)")
        );
        assert_eq!(step(&entry("notify.sent", json!({}))), None);
        assert_eq!(
            step(&entry(
                action::EFFECT,
                json!({"key": "op-1/pr", "result": 1})
            )),
            None
        );
    }
}
