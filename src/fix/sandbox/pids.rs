//! A kernel bound on the number of processes and threads of one check: a `pids` cgroup of its
//! own with `pids.max`, which the child joins between fork and exec. RLIMIT_NPROC does not bind
//! root (healbot in a container usually is), and healbot's watch samples only every few
//! milliseconds, in which a fork bomb makes thousands; with the cgroup, `fork` fails at the
//! limit whoever runs it. Where no writable pids controller exists (cgroup v2 without it
//! delegated, a read-only /sys), the watch alone stands and `Sandbox::status` says so.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One check's cgroup, removed (after killing whatever is left in it) when dropped.
#[derive(Debug)]
pub(super) struct PidsCgroup {
    dir: PathBuf,
    procs: CString,
}

impl PidsCgroup {
    /// A fresh cgroup allowing `max` tasks, or `None` where the host has no writable pids
    /// controller.
    pub fn create(max: u64) -> Option<PidsCgroup> {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let base = controller_dir()?;
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = base.join(format!("healbot-check-{}-{n}", std::process::id()));
        std::fs::create_dir(&dir).ok()?;
        let procs = CString::new(
            dir.join("cgroup.procs")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .ok();
        let cgroup = PidsCgroup {
            dir,
            procs: procs.unwrap_or_default(),
        };
        if cgroup.procs.is_empty()
            || std::fs::write(cgroup.dir.join("pids.max"), max.to_string()).is_err()
        {
            return None; // dropped: the folder goes
        }
        Some(cgroup)
    }

    /// Moves `cmd`'s child into the cgroup before it execs, so everything it starts is counted.
    pub(crate) fn join_on_spawn(&self, cmd: &mut tokio::process::Command) {
        let procs = self.procs.clone();
        // SAFETY: the closure runs between fork and exec; it only calls open, write and close
        // (async-signal-safe) on a path prepared before the fork, and allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // "0" means the writing process itself.
                let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                let error = std::io::Error::last_os_error();
                libc::close(fd);
                if written != 1 {
                    return Err(error);
                }
                Ok(())
            });
        }
    }

    /// How many forks the kernel refused at `pids.max` (`pids.events`).
    pub(crate) fn refused_forks(&self) -> u64 {
        std::fs::read_to_string(self.dir.join("pids.events"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("max ")?.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The processes in the cgroup now.
    pub fn pids(&self) -> Vec<u32> {
        std::fs::read_to_string(self.dir.join("cgroup.procs"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// SIGKILLs every process in the cgroup until it is empty (at most `limit`): whatever
    /// escaped the process group or the pid namespace (an unsandboxed check's orphans) goes too.
    pub(crate) fn kill_all(&self, limit: Duration) {
        let started = Instant::now();
        loop {
            let pids = self.pids();
            if pids.is_empty() || started.elapsed() >= limit {
                return;
            }
            for pid in pids {
                if pid > 1 {
                    // SAFETY: kill(2) on a process in this check's own cgroup.
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        self.kill_all(Duration::from_secs(2));
        // An emptied cgroup can be removed once its last task is reaped; that takes a moment.
        for _ in 0..100 {
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Where healbot may create pids cgroups: its own cgroup in the v1 `pids` hierarchy, or in the
/// v2 hierarchy when `pids` is enabled for its children there.
fn controller_dir() -> Option<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let relative = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "pids") {
            let dir = Path::new("/sys/fs/cgroup/pids").join(relative);
            if dir.join("cgroup.procs").exists() {
                return Some(dir);
            }
        }
        if controllers.is_empty() {
            let dir = Path::new("/sys/fs/cgroup").join(relative);
            let enabled =
                std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
            if enabled.split_whitespace().any(|c| c == "pids") {
                return Some(dir);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a host with a writable pids controller (this project's machines), `fork` fails past
    /// `pids.max` even for root; elsewhere there is nothing to test.
    #[tokio::test]
    async fn forks_fail_past_the_limit_and_the_rest_is_killed() {
        let Some(cgroup) = PidsCgroup::create(5) else {
            eprintln!("no writable pids cgroup here");
            return;
        };
        let mut cmd = tokio::process::Command::new("/bin/sh");
        // A bounded loop: at most 20 sleepers even if the limit did not hold. dash gives up
        // at the first fork the kernel refuses.
        cmd.arg("-c")
            .arg("i=0; while [ $i -lt 20 ]; do sleep 30 & i=$((i+1)); done; wait")
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        cgroup.join_on_spawn(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        let inside = cgroup.pids();
        let refused = cgroup.refused_forks();
        let dir = cgroup.dir.clone();
        drop(cgroup);
        let _ = child.wait().await;
        assert!(matches!(status, Ok(Ok(s)) if !s.success()), "{status:?}");
        assert!(inside.len() <= 5 && !inside.is_empty(), "{inside:?}");
        assert!(refused >= 1, "{refused}");
        assert!(!dir.exists(), "{} left", dir.display());
    }
}
