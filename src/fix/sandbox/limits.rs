//! Kernel resource limits for the check, set in the forked child before it becomes bubblewrap
//! (or the shell), so the check and everything it starts inherit them. What the kernel does not
//! bound for the whole tree (total memory, and processes when healbot runs as root) is bounded
//! by `pids.rs` (a pids cgroup) and watched by `watch.rs`.

use crate::config::validation::Limits;

const MB: u64 = 1024 * 1024;

/// Grace between the soft CPU limit (SIGXCPU) and the hard one (SIGKILL).
const CPU_GRACE_SECONDS: u64 = 5;

/// Installs the limits and a new process group on `cmd`'s child.
pub(super) fn apply(cmd: &mut tokio::process::Command, limits: &Limits) {
    let mb = |n: u64| n.saturating_mul(MB);
    // (resource, soft, hard)
    let table = [
        (
            libc::RLIMIT_CPU,
            limits.cpu_seconds,
            limits.cpu_seconds + CPU_GRACE_SECONDS,
        ),
        (
            libc::RLIMIT_DATA,
            mb(limits.memory_mb),
            mb(limits.memory_mb),
        ),
        (libc::RLIMIT_NPROC, limits.processes, limits.processes),
        (
            libc::RLIMIT_FSIZE,
            mb(limits.file_size_mb),
            mb(limits.file_size_mb),
        ),
        // A crashing test must not dump gigabytes of core into the worktree.
        (libc::RLIMIT_CORE, 0, 0),
    ];
    cmd.process_group(0);
    // SAFETY: the closure runs between fork and exec; it only calls getrlimit and setrlimit,
    // which are async-signal-safe, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            for (resource, soft, hard) in table {
                let mut current = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::getrlimit(resource, &mut current) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // Never above what healbot itself may use: raising a hard limit needs privilege.
                let hard = hard.min(current.rlim_max);
                let wanted = libc::rlimit {
                    rlim_cur: soft.min(hard),
                    rlim_max: hard,
                };
                if libc::setrlimit(resource, &wanted) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// What a check killed by `signal` ran into, when it is one of the limits.
pub(super) fn explain_signal(signal: i32, limits: &Limits) -> Option<String> {
    match signal {
        libc::SIGXCPU => Some(format!(
            "the CPU-time limit (validation.limits.cpu_seconds: {})",
            limits.cpu_seconds
        )),
        libc::SIGXFSZ => Some(format!(
            "the file-size limit (validation.limits.file_size_mb: {})",
            limits.file_size_mb
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_child_gets_the_limits() {
        let limits = Limits {
            cpu_seconds: 7,
            memory_mb: 300,
            processes: 50,
            file_size_mb: 2,
            tmp_mb: 1,
        };
        let mut cmd = tokio::process::Command::new("/bin/sh");
        cmd.arg("-c")
            .arg("ulimit -t; ulimit -d; ulimit -f")
            .stdout(std::process::Stdio::piped());
        apply(&mut cmd, &limits);
        let out = cmd.output().await.unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        // dash reports -d in KiB and -f in 512-byte blocks.
        assert_eq!(
            text.split_whitespace().collect::<Vec<_>>(),
            ["7", "307200", "4096"],
            "{text}"
        );
        assert!(explain_signal(libc::SIGXFSZ, &limits)
            .unwrap()
            .contains("file_size_mb: 2"));
    }
}
