//! The `healbot` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    // First, while this is the only thread: the secret variables leave the environment (and
    // the bytes /proc/<pid>/environ shows), so nothing healbot starts can read them.
    healbot::config::secrets::take_from_environment();
    healbot::cli::main()
}
