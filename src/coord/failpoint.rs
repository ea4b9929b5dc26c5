//! Crash injection for recovery tests: `HEALBOT_FAILPOINT=<name>` makes the process abort
//! (like SIGKILL: no destructors, no flushing) when it reaches the named point. Points are
//! named after the audit entry that was just made durable, e.g. `state:PrOpen`.

/// Aborts the process if `HEALBOT_FAILPOINT` names this point.
pub fn hit(name: &str) {
    if let Ok(wanted) = std::env::var("HEALBOT_FAILPOINT") {
        if wanted == name {
            eprintln!("healbot: failpoint {name} reached, aborting");
            std::process::abort();
        }
    }
}
