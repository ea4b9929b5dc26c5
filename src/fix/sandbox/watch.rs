//! healbot's own watch over the check's process tree: how many tasks (processes and threads) it
//! has and how much private memory they hold. The kernel's per-process limits bound neither the
//! total memory of many processes nor, for root, the number of processes; this does, by
//! sampling `/proc` and killing the tree when it goes over.

use crate::config::validation::Limits;
use std::path::Path;

/// What the tree holds at one sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Usage {
    /// Processes and threads (what RLIMIT_NPROC counts).
    pub tasks: u64,
    /// Resident memory not shared with other processes, in bytes.
    pub private_bytes: u64,
}

impl Usage {
    /// The limit this sample breaks, if any.
    pub fn over(&self, limits: &Limits) -> Option<String> {
        if self.tasks > limits.processes {
            return Some(too_many_processes(limits));
        }
        if self.private_bytes > limits.memory_mb.saturating_mul(1024 * 1024) {
            return Some(format!(
                "more than {} MB of memory (validation.limits.memory_mb)",
                limits.memory_mb
            ));
        }
        None
    }
}

/// What the check is told when it went over the process limit.
pub(super) fn too_many_processes(limits: &Limits) -> String {
    format!(
        "more than {} processes and threads (validation.limits.processes)",
        limits.processes
    )
}

/// Samples the tree under `root` (included). Stops counting past `max_tasks`: the tree is
/// killed then anyway, and a fork bomb must not make the count itself slow.
pub(super) fn usage(root: u32, max_tasks: u64) -> Usage {
    let page = page_size();
    let mut usage = Usage::default();
    let mut stack = vec![root];
    let proc = Path::new("/proc");
    while let Some(pid) = stack.pop() {
        let dir = proc.join(pid.to_string());
        let Ok(tasks) = std::fs::read_dir(dir.join("task")) else {
            continue; // gone meanwhile
        };
        for task in tasks.flatten() {
            usage.tasks += 1;
            if let Ok(children) = std::fs::read_to_string(task.path().join("children")) {
                stack.extend(
                    children
                        .split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok()),
                );
            }
        }
        if let Ok(statm) = std::fs::read_to_string(dir.join("statm")) {
            let fields: Vec<u64> = statm
                .split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect();
            if let (Some(resident), Some(shared)) = (fields.get(1), fields.get(2)) {
                usage.private_bytes += resident.saturating_sub(*shared) * page;
            }
        }
        if usage.tasks > max_tasks {
            break;
        }
    }
    usage
}

/// The direct children of `pid` (for bubblewrap: its init inside the namespaces).
pub(super) fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .filter(|p| *p > 1)
        .collect()
}

/// Waits until each of `pids` has exited (gone, or a zombie nobody reaped yet), at most `limit`.
pub(super) async fn wait_gone(pids: &[u32], limit: std::time::Duration) {
    let alive = |pid: &u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            // The state follows the command name in parentheses, which may hold spaces.
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, rest)| rest.trim_start().to_string())
            })
            .is_some_and(|rest| !rest.starts_with('Z') && !rest.starts_with('X'))
    };
    let started = std::time::Instant::now();
    while pids.iter().any(alive) && started.elapsed() < limit {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_tree_and_names_the_limit() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg("sleep 5 & sleep 5 & wait")
            .process_group(0)
            .spawn()
            .unwrap();
        let mut seen = Usage::default();
        for _ in 0..100 {
            seen = usage(child.id(), 1000);
            if seen.tasks >= 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // SAFETY: kill(2) on the group this test started.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let _ = child.wait();
        assert_eq!(seen.tasks, 3, "{seen:?}");
        assert!(seen.private_bytes > 0);
        let limits = Limits {
            processes: 2,
            ..Limits::default()
        };
        assert!(seen
            .over(&limits)
            .unwrap()
            .contains("more than 2 processes"));
        assert_eq!(seen.over(&Limits::default()), None);
    }
}
