//! Crash injection for recovery tests: `HEALBOT_FAILPOINT=<name>` makes the process kill itself
//! with SIGKILL (no destructors, no flushing; abort elsewhere) when it reaches the named point. Points are
//! named after the audit entry that was just made durable, e.g. `state:PrOpen`. Compiled only
//! with the `failpoints` feature: the tests have it (Cargo.toml's dev-dependency on healbot
//! itself), a release build does not, so no environment variable can kill a production replica.

/// Kills the process if `HEALBOT_FAILPOINT` names this point.
pub fn hit(name: &str) {
    if let Ok(wanted) = std::env::var("HEALBOT_FAILPOINT") {
        if wanted == name {
            eprintln!("healbot: failpoint {name} reached, killing the process");
            #[cfg(unix)]
            // SAFETY: kill(2) on our own pid; SIGKILL cannot be caught, so nothing runs after.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            std::process::abort();
        }
    }
}
