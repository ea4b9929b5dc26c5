//! The `healbot` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

/// A server's allocator: buffers the size of a webhook body are allocated on one thread and
/// freed on another (the runtime builds a delivery's log line, the log's writer drops it),
/// which glibc's malloc pays for in arena locks and consolidation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // First, while this is the only thread: the secret variables leave the environment (and
    // the bytes /proc/<pid>/environ shows), so nothing healbot starts can read them.
    healbot::config::secrets::take_from_environment();
    healbot::cli::main()
}
