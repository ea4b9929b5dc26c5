//! The sandbox a repository's check command runs in. The command comes from the repository
//! (`.github/healbot.yml`) or a person (`healbot fix --check`), so it is a stranger's code on
//! healbot's host: it runs under bubblewrap with its own namespaces (no network, its own
//! processes), a cleared environment, the system and the configured caches read-only, only its
//! worktree and a private `/tmp` writable, and CPU, memory, process and file-size limits. When
//! no sandbox can be made, the check does not run (the caller escalates) unless healbot.yaml
//! says `validation: {sandbox: none}`.

mod bwrap;
mod limits;
mod pids;
mod run;
mod watch;

pub use run::RunResult;

use crate::config::secrets::Redactor;
use crate::config::validation::{SandboxMode, ValidationSettings};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Why a check did not run. Shown on the escalation and in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckRefused {
    #[error(
        "no sandbox to run the check in ({reason}): install bubblewrap and allow user \
         namespaces, or set `validation: {{sandbox: none}}` in healbot.yaml to run checks \
         without isolation"
    )]
    NoSandbox { reason: String },
    #[error(
        "`{command}` is not a check command healbot.yaml allows for {repo} \
         (validation.allowed_commands: {allowed})"
    )]
    NotAllowed {
        repo: String,
        command: String,
        allowed: String,
    },
    #[error("cannot prepare the check: {0}")]
    Setup(String),
}

/// What the sandbox can do on this host, for `/healthz` and the startup log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxStatus {
    /// bubblewrap works: checks run isolated.
    Bwrap,
    /// `sandbox: none`: checks run without isolation.
    Unsandboxed,
    /// bubblewrap is configured but cannot run here: checks are refused.
    Unavailable(String),
}

impl SandboxStatus {
    /// One line for `/healthz`.
    pub fn describe(&self) -> String {
        match self {
            SandboxStatus::Bwrap => "bwrap".to_string(),
            SandboxStatus::Unsandboxed => {
                "none: check commands run without isolation (validation.sandbox: none)".to_string()
            }
            SandboxStatus::Unavailable(why) => {
                format!("unavailable: {why}; check commands are refused and fixes escalated")
            }
        }
    }
}

/// The configured sandbox and the secrets to scrub from what the check prints.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    settings: Arc<ValidationSettings>,
    redactor: Redactor,
}

impl Sandbox {
    pub fn new(settings: ValidationSettings, redactor: Redactor) -> Sandbox {
        Sandbox {
            settings: Arc::new(settings),
            redactor,
        }
    }

    pub fn settings(&self) -> &ValidationSettings {
        &self.settings
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Tries the sandbox once with an empty worktree (a few milliseconds).
    pub fn status(&self) -> SandboxStatus {
        match self.settings.sandbox {
            SandboxMode::None => SandboxStatus::Unsandboxed,
            SandboxMode::Bwrap => match bwrap::probe(&self.settings) {
                Ok(()) => SandboxStatus::Bwrap,
                Err(why) => SandboxStatus::Unavailable(why),
            },
        }
    }

    /// Refuses `command` when healbot.yaml pins the commands `repo` may run and it is not one.
    pub(crate) fn check_allowed(
        &self,
        repo: Option<&str>,
        command: &str,
    ) -> Result<(), CheckRefused> {
        let repo = repo.unwrap_or("*");
        match self.settings.allowed_for(repo) {
            Some(list) if !list.iter().any(|c| c.trim() == command.trim()) => {
                Err(CheckRefused::NotAllowed {
                    repo: repo.to_string(),
                    command: command.to_string(),
                    allowed: list
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
            _ => Ok(()),
        }
    }

    /// Runs `command` with `sh -c` in `worktree`, killing everything it started after
    /// `timeout` or when it goes over a limit. The output tail is capped and scrubbed of every
    /// secret the redactor knows.
    pub async fn run(
        &self,
        worktree: &Path,
        command: &str,
        timeout: Duration,
    ) -> Result<RunResult, CheckRefused> {
        let worktree = std::fs::canonicalize(worktree)
            .map_err(|e| CheckRefused::Setup(format!("worktree {}: {e}", worktree.display())))?;
        if !worktree.is_dir() {
            return Err(CheckRefused::Setup(format!(
                "worktree {} is not a folder",
                worktree.display()
            )));
        }
        match self.settings.sandbox {
            SandboxMode::Bwrap => {
                let probe = self.settings.clone();
                tokio::task::spawn_blocking(move || bwrap::probe(&probe))
                    .await
                    .map_err(|e| CheckRefused::Setup(e.to_string()))?
                    .map_err(|reason| CheckRefused::NoSandbox { reason })?;
                let mut cmd = tokio::process::Command::new(&self.settings.bwrap);
                cmd.args(bwrap::args(&self.settings, &worktree, command));
                // bubblewrap gets no environment at all: its own process inside the sandbox
                // shows it in /proc/1/environ. The check's variables are --setenv arguments.
                let env = Vec::new();
                run::run(
                    cmd,
                    env,
                    run::Mode::Bwrap,
                    &self.settings,
                    &self.redactor,
                    timeout,
                )
                .await
            }
            SandboxMode::None => {
                let scratch = run::Scratch::new()?;
                let mut cmd = tokio::process::Command::new("/bin/sh");
                cmd.arg("-c").arg(command).current_dir(&worktree);
                let env = bwrap::environment(&self.settings, &scratch.home(), &scratch.tmp());
                run::run(
                    cmd,
                    env,
                    run::Mode::Unsandboxed,
                    &self.settings,
                    &self.redactor,
                    timeout,
                )
                .await
            }
        }
    }
}
