//! One check run: spawn with a cleared environment and the kernel limits, stdout and stderr on
//! one pipe (so the tail reads in order), a watch over the process tree every few milliseconds,
//! and a kill of the whole tree at the timeout or over a limit. Only the last bytes of the output
//! are ever held, and they are scrubbed of secrets before anyone sees them.

use super::{limits, pids::PidsCgroup, watch, CheckRefused};
use crate::config::secrets::Redactor;
use crate::config::validation::ValidationSettings;
use serde::{Deserialize, Serialize};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// Output held while the check runs: a check printing gigabytes costs healbot this much.
const KEEP_BYTES: usize = 64 * 1024;
/// What the PR body, the audit entry and the logs get.
const TAIL_LINES: usize = 40;
const TAIL_BYTES: usize = 8 * 1024;
/// How often the process tree is sampled.
const POLL: Duration = Duration::from_millis(25);
/// How long the output is read after the check ended (an orphan may hold the pipe).
const GRACE: Duration = Duration::from_secs(2);

/// How the command is isolated; decides how its exit status reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Bwrap,
    Unsandboxed,
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// `None` when the command was killed by a signal (unsandboxed); bubblewrap reports a
    /// signal as 128 + its number.
    pub exit_code: Option<i32>,
    /// The last lines of stdout and stderr together, scrubbed of secrets.
    pub output_tail: String,
    pub duration: Duration,
    pub timed_out: bool,
    /// The limit the check went over, when healbot stopped it for that.
    pub limit: Option<String>,
}

/// HOME and TMPDIR of an unsandboxed check: fresh folders, removed afterwards.
pub(super) struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    pub fn new() -> Result<Scratch, CheckRefused> {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("healbot-check-{}-{n}", std::process::id()));
        let scratch = Scratch { dir };
        for d in [scratch.home(), scratch.tmp()] {
            std::fs::create_dir_all(&d)
                .map_err(|e| CheckRefused::Setup(format!("{}: {e}", d.display())))?;
        }
        Ok(scratch)
    }

    pub fn home(&self) -> PathBuf {
        self.dir.join("home")
    }

    pub fn tmp(&self) -> PathBuf {
        self.dir.join("tmp")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `cmd` (bubblewrap, or the shell itself) with exactly `env`.
pub(super) async fn run(
    mut cmd: tokio::process::Command,
    env: Vec<(String, String)>,
    mode: Mode,
    settings: &ValidationSettings,
    redactor: &Redactor,
    timeout: Duration,
) -> Result<RunResult, CheckRefused> {
    let setup = |what: &str, e: std::io::Error| CheckRefused::Setup(format!("{what}: {e}"));
    let (reader, writer) = pipe().map_err(|e| setup("pipe", e))?;
    let writer2 = writer.try_clone().map_err(|e| setup("pipe", e))?;
    cmd.env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(writer2))
        .kill_on_drop(true);
    limits::apply(&mut cmd, &settings.limits);
    // One over the limit, so that healbot's watch sees the tree go over and says why; the
    // kernel stops forks there in the meantime. bubblewrap itself counts too.
    let cgroup = PidsCgroup::create(settings.limits.processes.saturating_add(1));
    if let Some(cgroup) = &cgroup {
        cgroup.join_on_spawn(&mut cmd);
    }
    let started = Instant::now();
    let program = cmd.as_std().get_program().to_string_lossy().into_owned();
    let spawned = cmd.spawn();
    // Our copies of the pipe's write end must close, or the reader never sees the end.
    drop(cmd);
    let mut child = spawned.map_err(|e| setup(&format!("cannot start {program}"), e))?;
    let pid = child.id().unwrap_or(0);
    let receiver =
        tokio::net::unix::pipe::Receiver::from_owned_fd(reader).map_err(|e| setup("pipe", e))?;
    let output = tokio::spawn(read_tail(receiver));

    let mut timed_out = false;
    let mut limit = None;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.ok(),
            _ = tokio::time::sleep(POLL) => {
                if started.elapsed() >= timeout {
                    timed_out = true;
                } else {
                    let max = settings.limits.processes;
                    let usage = tokio::task::spawn_blocking(move || watch::usage(pid, max))
                        .await
                        .unwrap_or_default();
                    limit = usage.over(&settings.limits);
                }
                if timed_out || limit.is_some() {
                    // bubblewrap's init inside the namespaces first: its end takes every
                    // process in the pid namespace along, however many a fork bomb made.
                    let inits = watch::children(pid);
                    for init in &inits {
                        // SAFETY: kill(2) on a process this run started (pid > 1).
                        unsafe { libc::kill(*init as i32, libc::SIGKILL) };
                    }
                    kill_group(pid).await;
                    let _ = child.start_kill();
                    let status = child.wait().await.ok();
                    watch::wait_gone(&inits, GRACE).await;
                    break status;
                }
            }
        }
    };
    // Whatever it left behind in its process group, or anywhere in its cgroup, goes too.
    kill_group(pid).await;
    let mut refused_forks = 0;
    if let Some(cgroup) = cgroup {
        refused_forks = cgroup.refused_forks();
        let _ = tokio::task::spawn_blocking(move || drop(cgroup)).await;
    }
    let duration = started.elapsed();
    let kept = tokio::time::timeout(GRACE, output)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();

    let exit_code = status.and_then(|s| s.code());
    let signal = match (mode, status) {
        (Mode::Unsandboxed, Some(s)) => std::os::unix::process::ExitStatusExt::signal(&s),
        (Mode::Bwrap, _) => exit_code.filter(|c| *c > 128).map(|c| c - 128),
        _ => None,
    };
    // Scrubbed before it is cut: a secret across the cut would otherwise leave a piece.
    let mut tail = tail(&redactor.scrub(&String::from_utf8_lossy(&kept)));
    let mut note = |line: String| {
        if !tail.is_empty() {
            tail.push('\n');
        }
        tail.push_str(&format!("[healbot: {line}]"));
    };
    if timed_out {
        note(format!("killed after {}s", timeout.as_secs_f64()));
    }
    if let Some(l) = &limit {
        note(format!("killed: {l}"));
    } else if refused_forks > 0 {
        let l = watch::too_many_processes(&settings.limits);
        note(format!("{refused_forks} forks refused: {l}"));
        limit = Some(l);
    }
    if let Some(why) = signal.and_then(|s| limits::explain_signal(s, &settings.limits)) {
        note(format!("stopped by {why}"));
    }
    Ok(RunResult {
        exit_code,
        output_tail: tail,
        duration,
        timed_out,
        limit,
    })
}

/// A pipe whose ends are closed on exec (the child gets its copies as stdout and stderr).
fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`, which we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Reads to the end, holding only the last [`KEEP_BYTES`].
async fn read_tail(mut pipe: tokio::net::unix::pipe::Receiver) -> Vec<u8> {
    let mut kept = Vec::with_capacity(KEEP_BYTES);
    let mut chunk = vec![0u8; 16 * 1024];
    while let Ok(n) = pipe.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&chunk[..n]);
        if kept.len() > 2 * KEEP_BYTES {
            kept.drain(..kept.len() - KEEP_BYTES);
        }
    }
    if kept.len() > KEEP_BYTES {
        kept.drain(..kept.len() - KEEP_BYTES);
    }
    kept
}

/// SIGKILLs the process group `pid` leads until none of it is left (a fork bomb forks while
/// the first kill goes round).
async fn kill_group(pid: u32) {
    // 0 and 1 would mean our own group and every process we may signal.
    let Ok(pgid) = i32::try_from(pid) else { return };
    if pgid <= 1 {
        return;
    }
    for _ in 0..100 {
        // SAFETY: kill(2) with a negative pid signals that process group only.
        if unsafe { libc::kill(-pgid, libc::SIGKILL) } != 0 {
            return; // ESRCH: nothing left
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The last [`TAIL_LINES`] lines, at most [`TAIL_BYTES`].
pub(crate) fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.trim_end().lines().collect();
    let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    if tail.len() <= TAIL_BYTES {
        return tail;
    }
    let mut start = tail.len() - TAIL_BYTES;
    while !tail.is_char_boundary(start) {
        start += 1;
    }
    tail[start..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let t = tail(&text);
        assert!(t.starts_with("line 60") && t.ends_with("line 99"), "{t}");
        let long = "é".repeat(10_000);
        assert!(tail(&long).len() <= TAIL_BYTES);
    }
}
