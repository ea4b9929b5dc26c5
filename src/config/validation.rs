//! `healbot.yaml`'s `validation:` section: how a repository's check command is isolated (the
//! sandbox, its limits, the toolchain caches mounted read-only into it) and which commands
//! each repository may run. The check is a stranger's code on healbot's host, so a cache that
//! would expose healbot's own state or secrets is refused here, before anything runs.

use super::secrets::is_secret_var;
use super::yaml::FieldError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Folders of the host every sandbox sees read-only (system binaries and libraries).
pub(crate) const SYSTEM_DIRS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64"];

/// Credential files toolchains keep at the top of their home (cargo, npm, pip, git, curl): a
/// cache holding one would hand the check a token.
pub(crate) const CREDENTIAL_FILES: &[&str] = &[
    "credentials.toml",
    "credentials",
    ".npmrc",
    ".pypirc",
    ".netrc",
    ".git-credentials",
];

/// Variables the sandbox sets itself; `validation.env` cannot replace them.
pub(crate) const RESERVED_ENV: &[&str] = &["PATH", "HOME", "TMPDIR"];

/// `validation:` as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ValidationFile {
    #[serde(default)]
    pub sandbox: SandboxMode,
    /// The bubblewrap binary; `bwrap` on healbot's PATH by default.
    #[serde(default)]
    pub bwrap: Option<PathBuf>,
    /// Folders searched for commands before `/usr/local/bin:/usr/bin:/bin`; each must be inside
    /// `/usr` or a cache.
    #[serde(default)]
    pub path: Vec<PathBuf>,
    /// Toolchains and dependency caches, mounted read-only at the same path.
    #[serde(default)]
    pub caches: Vec<CacheFile>,
    /// Fixed variables for the check (never secrets: the check can print them).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub limits: LimitsFile,
    /// `owner/name` (or `"*"` for every other repository) → the only check commands allowed.
    #[serde(default)]
    pub allowed_commands: BTreeMap<String, Vec<String>>,
}

/// How the check is isolated.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SandboxMode {
    /// bubblewrap: own namespaces (no network), read-only system, only the worktree writable.
    #[default]
    Bwrap,
    /// No isolation (cleared environment and limits only); `serve` warns and `/healthz` says so.
    None,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CacheFile {
    pub path: PathBuf,
    /// A variable set to the cache's path (`CARGO_HOME`, `GOMODCACHE`, …).
    #[serde(default)]
    pub env: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    #[serde(default)]
    pub cpu_seconds: Option<u64>,
    #[serde(default)]
    pub memory_mb: Option<u64>,
    #[serde(default)]
    pub processes: Option<u64>,
    #[serde(default)]
    pub file_size_mb: Option<u64>,
    #[serde(default)]
    pub tmp_mb: Option<u64>,
}

/// Resource limits of one check run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// CPU seconds per process (RLIMIT_CPU).
    pub cpu_seconds: u64,
    /// Memory per process (RLIMIT_DATA) and in total (healbot's watch over the process tree).
    pub memory_mb: u64,
    /// Processes and threads: RLIMIT_NPROC (which the kernel does not apply to root) and
    /// healbot's watch over the process tree.
    pub processes: u64,
    /// Largest file the check may write (RLIMIT_FSIZE).
    pub file_size_mb: u64,
    /// Size of the private `/tmp` (and `/dev/shm`), which holds HOME.
    pub tmp_mb: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            cpu_seconds: 900,
            memory_mb: 4096,
            processes: 1024,
            file_size_mb: 1024,
            tmp_mb: 512,
        }
    }
}

/// A folder mounted read-only into the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    /// Absolute, symlinks resolved.
    pub path: PathBuf,
    pub env: Option<String>,
}

/// The checked `validation:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationSettings {
    pub sandbox: SandboxMode,
    pub bwrap: PathBuf,
    pub path: Vec<PathBuf>,
    pub caches: Vec<Cache>,
    pub env: BTreeMap<String, String>,
    pub limits: Limits,
    pub allowed_commands: BTreeMap<String, Vec<String>>,
}

impl Default for ValidationSettings {
    fn default() -> ValidationSettings {
        ValidationSettings {
            sandbox: SandboxMode::Bwrap,
            bwrap: PathBuf::from("bwrap"),
            path: Vec::new(),
            caches: Vec::new(),
            env: BTreeMap::new(),
            limits: Limits::default(),
            allowed_commands: BTreeMap::new(),
        }
    }
}

/// A path the check must never read, and what it is (for the error).
#[derive(Debug, Clone)]
pub struct Protected {
    pub path: PathBuf,
    pub what: String,
}

impl ValidationSettings {
    /// Checks `file`; relative paths are taken from `base`. `protected` lists what no cache may
    /// contain (the state directory, secret files, the App's key).
    pub fn from_file(
        file: ValidationFile,
        base: &Path,
        protected: &[Protected],
    ) -> Result<ValidationSettings, FieldError> {
        let mut caches = Vec::new();
        let mut env = BTreeMap::new();
        for (i, cache) in file.caches.iter().enumerate() {
            let field = format!("validation.caches[{i}]");
            let full = base.join(&cache.path);
            let path = std::fs::canonicalize(&full).map_err(|e| {
                FieldError::new(
                    format!("{field}.path"),
                    format!("cannot read {}: {e}", full.display()),
                )
            })?;
            if !path.is_dir() {
                return Err(FieldError::new(
                    format!("{field}.path"),
                    format!("{} is not a folder", path.display()),
                ));
            }
            if path == Path::new("/") {
                return Err(FieldError::new(
                    format!("{field}.path"),
                    "the whole file system is not a cache",
                ));
            }
            for p in protected {
                if absolute(&p.path).starts_with(&path) {
                    return Err(FieldError::new(
                        format!("{field}.path"),
                        format!(
                            "{} holds {} ({}): the check must never read it",
                            path.display(),
                            p.what,
                            p.path.display()
                        ),
                    ));
                }
            }
            if let Some(file) = CREDENTIAL_FILES.iter().find(|f| path.join(f).exists()) {
                return Err(FieldError::new(
                    format!("{field}.path"),
                    format!(
                        "{} holds {file} (a registry or git credential) that the check could \
                         read: mount the folders the build needs instead (e.g. registry/ and bin/)",
                        path.display()
                    ),
                ));
            }
            if let Some(name) = &cache.env {
                check_env_name(&format!("{field}.env"), name)?;
                if env
                    .insert(name.clone(), path.display().to_string())
                    .is_some()
                {
                    return Err(FieldError::new(
                        format!("{field}.env"),
                        format!("{name} is set by another cache"),
                    ));
                }
            }
            caches.push(Cache {
                path,
                env: cache.env.clone(),
            });
        }
        for (name, value) in &file.env {
            let field = format!("validation.env.{name}");
            check_env_name(&field, name)?;
            if env.insert(name.clone(), value.clone()).is_some() {
                return Err(FieldError::new(field, "also set by a cache's env"));
            }
        }
        let mut path = Vec::new();
        for (i, dir) in file.path.iter().enumerate() {
            let full = absolute(&base.join(dir));
            let seen = SYSTEM_DIRS.iter().any(|d| full.starts_with(d))
                || caches.iter().any(|c| full.starts_with(&c.path));
            if !seen {
                return Err(FieldError::new(
                    format!("validation.path[{i}]"),
                    format!(
                        "{} is not inside the sandbox: it must be under /usr or a cache \
                         (add its folder to validation.caches)",
                        full.display()
                    ),
                ));
            }
            path.push(full);
        }
        let limits = limits(&file.limits)?;
        for (repo, commands) in &file.allowed_commands {
            let field = format!("validation.allowed_commands.{repo}");
            let well_formed = repo == "*"
                || matches!(repo.split_once('/'), Some((o, n)) if !o.is_empty() && !n.is_empty() && !n.contains('/'));
            if !well_formed {
                return Err(FieldError::new(
                    field,
                    "not a repository like owner/name (or \"*\" for every other one)",
                ));
            }
            if commands.is_empty() || commands.iter().any(|c| c.trim().is_empty()) {
                return Err(FieldError::new(
                    field,
                    "name at least one command, and no empty one",
                ));
            }
        }
        Ok(ValidationSettings {
            sandbox: file.sandbox,
            bwrap: file
                .bwrap
                .map(|b| base.join(b))
                .unwrap_or_else(|| PathBuf::from("bwrap")),
            path,
            caches,
            env,
            limits,
            allowed_commands: file.allowed_commands,
        })
    }

    /// The commands `repo` may run, when healbot.yaml pins them (its own list, else `"*"`'s).
    pub(crate) fn allowed_for(&self, repo: &str) -> Option<&[String]> {
        self.allowed_commands
            .get(repo)
            .or_else(|| self.allowed_commands.get("*"))
            .map(Vec::as_slice)
    }
}

fn limits(file: &LimitsFile) -> Result<Limits, FieldError> {
    let d = Limits::default();
    let pick = |name: &str, value: Option<u64>, default: u64, low: u64| {
        let v = value.unwrap_or(default);
        if v < low {
            Err(FieldError::new(
                format!("validation.limits.{name}"),
                format!("must be at least {low}, got {v}"),
            ))
        } else {
            Ok(v)
        }
    };
    Ok(Limits {
        cpu_seconds: pick("cpu_seconds", file.cpu_seconds, d.cpu_seconds, 1)?,
        memory_mb: pick("memory_mb", file.memory_mb, d.memory_mb, 64)?,
        // bwrap, its init and the shell are three already.
        processes: pick("processes", file.processes, d.processes, 8)?,
        file_size_mb: pick("file_size_mb", file.file_size_mb, d.file_size_mb, 1)?,
        tmp_mb: pick("tmp_mb", file.tmp_mb, d.tmp_mb, 1)?,
    })
}

fn check_env_name(field: &str, name: &str) -> Result<(), FieldError> {
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(FieldError::new(
            field,
            format!("{name:?} is not a variable name"),
        ));
    }
    if RESERVED_ENV.contains(&name) {
        return Err(FieldError::new(
            field,
            format!("{name} is set by the sandbox (use validation.path for PATH)"),
        ));
    }
    if name.starts_with("HEALBOT_") || is_secret_var(name) {
        return Err(FieldError::new(
            field,
            format!("{name} is healbot's own: the check never gets it"),
        ));
    }
    Ok(())
}

/// `path` made absolute, symlinks resolved when it exists.
fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::parse_strict;

    fn parse(
        yaml: &str,
        base: &Path,
        protected: &[Protected],
    ) -> Result<ValidationSettings, String> {
        let file: ValidationFile = parse_strict(yaml).map_err(|e| e.to_string())?;
        ValidationSettings::from_file(file, base, protected).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_bwrap_with_limits() {
        let s = parse("sandbox: bwrap\n", Path::new("/"), &[]).unwrap();
        assert_eq!(s, ValidationSettings::default());
        let s = parse("sandbox: none\n", Path::new("/"), &[]).unwrap();
        assert_eq!(s.sandbox, SandboxMode::None);
        let e = parse("sandbox: docker\n", Path::new("/"), &[]).unwrap_err();
        assert!(e.contains("sandbox") && e.contains("docker"), "{e}");
    }

    #[test]
    fn caches_env_path_and_commands() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cargo/bin")).unwrap();
        let yaml = "caches: [{path: cargo, env: CARGO_HOME}]\npath: [cargo/bin]\n\
                    env: {GOFLAGS: -mod=mod}\nlimits: {processes: 64}\n\
                    allowed_commands: {acme/pay: [make test], \"*\": [cargo test]}\n";
        let s = parse(yaml, dir.path(), &[]).unwrap();
        let cargo = std::fs::canonicalize(dir.path().join("cargo")).unwrap();
        assert_eq!(s.caches[0].path, cargo);
        assert_eq!(s.env["CARGO_HOME"], cargo.display().to_string());
        assert_eq!(s.env["GOFLAGS"], "-mod=mod");
        assert_eq!(s.path, vec![cargo.join("bin")]);
        assert_eq!(s.limits.processes, 64);
        assert_eq!(s.limits.memory_mb, Limits::default().memory_mb);
        assert_eq!(s.allowed_for("acme/pay").unwrap(), ["make test"]);
        assert_eq!(s.allowed_for("acme/other").unwrap(), ["cargo test"]);
    }

    #[test]
    fn refusals_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::create_dir_all(dir.path().join("cargo")).unwrap();
        std::fs::write(dir.path().join("cargo/credentials.toml"), "token").unwrap();
        let protected = [Protected {
            path: state.clone(),
            what: "healbot's state directory".into(),
        }];
        let cases = [
            (
                "caches: [{path: missing}]",
                "validation.caches[0].path: cannot read",
            ),
            ("caches: [{path: .}]", "holds healbot's state directory"),
            ("caches: [{path: /}]", "whole file system"),
            ("caches: [{path: cargo}]", "holds credentials.toml"),
            (
                "path: [/opt/x/bin]",
                "validation.path[0]: /opt/x/bin is not inside",
            ),
            (
                "env: {PATH: /x}",
                "validation.env.PATH: PATH is set by the sandbox",
            ),
            ("env: {HEALBOT_WEBHOOK_SECRET: x}", "is healbot's own"),
            ("env: {\"1X\": x}", "not a variable name"),
            (
                "limits: {processes: 2}",
                "validation.limits.processes: must be at least 8",
            ),
            ("allowed_commands: {acme: [x]}", "not a repository"),
            ("allowed_commands: {acme/pay: []}", "at least one command"),
            ("sandbox: bwrap\ntypo: 1", "typo"),
        ];
        for (yaml, expected) in cases {
            let e = parse(yaml, dir.path(), &protected).unwrap_err();
            assert!(e.contains(expected), "{yaml}: {e}");
        }
    }
}
