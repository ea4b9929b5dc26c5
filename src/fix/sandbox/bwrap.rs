//! The bubblewrap command line: which namespaces, which folders (read-only system and caches,
//! the writable worktree, a private `/tmp`), and the check's whole environment. Everything the
//! check can see is listed here; nothing else of the host is mounted.

use crate::config::validation::{ValidationSettings, SYSTEM_DIRS};
use std::ffi::OsString;
use std::path::Path;

/// Searched after `validation.path`.
const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Inside the private `/tmp`, so it is as writable and as bounded as `/tmp`.
const HOME: &str = "/tmp/home";

/// What programs read from `/etc` (libraries, certificates, users, time zone, alternatives).
/// The rest of `/etc` (where secrets are often kept) stays out.
const ETC: &[&str] = &[
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "debian_version",
    "gai.conf",
    "group",
    "host.conf",
    "hosts",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "locale.alias",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "passwd",
    "pki/ca-trust",
    "pki/tls/certs",
    "protocols",
    "services",
    // Not the whole of ssl/: ssl/private is where hosts keep TLS keys.
    "ssl/certs",
    "ssl/openssl.cnf",
    "timezone",
];

/// Tells toolchains there is no network, so they fail at once instead of retrying.
const OFFLINE: &[(&str, &str)] = &[
    ("CARGO_NET_OFFLINE", "true"),
    ("GOPROXY", "off"),
    ("GOTOOLCHAIN", "local"),
    ("npm_config_offline", "true"),
    ("npm_config_update_notifier", "false"),
    ("PIP_NO_INDEX", "1"),
];

/// The check's whole environment: an allow-list, never healbot's own.
pub(super) fn environment(
    settings: &ValidationSettings,
    home: &Path,
    tmp: &Path,
) -> Vec<(String, String)> {
    let mut path: Vec<String> = settings
        .path
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    path.push(SYSTEM_PATH.to_string());
    let mut env = vec![
        ("PATH".to_string(), path.join(":")),
        ("HOME".to_string(), home.display().to_string()),
        ("TMPDIR".to_string(), tmp.display().to_string()),
        ("LANG".to_string(), "C.UTF-8".to_string()),
    ];
    env.extend(OFFLINE.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    // The configured ones last: they may override LANG and the offline hints.
    env.extend(settings.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// bubblewrap's arguments for running `command` in `worktree` (absolute).
pub(super) fn args(settings: &ValidationSettings, worktree: &Path, command: &str) -> Vec<OsString> {
    let mut a = Args::default();
    // Own user, pid, network, ipc, uts and cgroup namespaces; no capabilities even as root;
    // killed with healbot; a new session so it cannot reach healbot's terminal.
    a.flags(&[
        "--unshare-all",
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
    ]);
    for (k, v) in environment(settings, Path::new(HOME), Path::new("/tmp")) {
        a.flags(&["--setenv", &k, &v]);
    }
    for dir in SYSTEM_DIRS {
        let path = Path::new(dir);
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => {
                if let Ok(target) = std::fs::read_link(path) {
                    a.path_pair("--symlink", &target, path);
                }
            }
            Ok(m) if m.is_dir() => a.path_pair("--ro-bind", path, path),
            _ => {}
        }
    }
    a.flags(&["--dir", "/etc"]);
    for name in etc_entries() {
        let p = Path::new("/etc").join(name);
        a.path_pair("--ro-bind-try", &p, &p);
    }
    let tmp_bytes = (settings.limits.tmp_mb * 1024 * 1024).to_string();
    a.flags(&["--proc", "/proc", "--dev", "/dev"]);
    a.flags(&["--size", &tmp_bytes, "--tmpfs", "/dev/shm"]);
    a.flags(&["--size", &tmp_bytes, "--tmpfs", "/tmp", "--dir", HOME]);
    for cache in &settings.caches {
        a.path_pair("--ro-bind", &cache.path, &cache.path);
    }
    a.path_pair("--bind", worktree, worktree);
    // The skeleton bubblewrap built the mounts on (the worktree's parent folders) too.
    a.flags(&["--remount-ro", "/"]);
    a.flag("--chdir");
    a.path(worktree);
    a.flags(&["--", "/bin/sh", "-c", command]);
    a.0
}

/// [`ETC`], and the `python3*` folders (Debian's Python reads its site configuration there).
fn etc_entries() -> Vec<String> {
    let mut names: Vec<String> = ETC.iter().map(|s| s.to_string()).collect();
    if let Ok(dir) = std::fs::read_dir("/etc") {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("python3") {
                names.push(name);
            }
        }
    }
    names.sort();
    names
}

/// Runs `true` in the sandbox with an empty worktree: `Err` names why bubblewrap cannot work
/// here (not installed, no user namespaces, a cache that cannot be mounted).
pub(super) fn probe(settings: &ValidationSettings) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!(
        "healbot-sandbox-probe-{}-{}",
        std::process::id(),
        PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let args = args(settings, &dir, "true");
    let output = std::process::Command::new(&settings.bwrap)
        .args(&args)
        .env_clear()
        .stdin(std::process::Stdio::null())
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let output = output.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "{} is not installed (Debian package `bubblewrap`)",
            settings.bwrap.display()
        ),
        _ => format!("cannot start {}: {e}", settings.bwrap.display()),
    })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    Err(format!(
        "{} fails ({}): {}",
        settings.bwrap.display(),
        output.status,
        first.chars().take(300).collect::<String>()
    ))
}

static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn flag(&mut self, f: &str) {
        self.0.push(f.into());
    }

    fn flags(&mut self, fs: &[&str]) {
        self.0.extend(fs.iter().map(OsString::from));
    }

    fn path(&mut self, p: &Path) {
        self.0.push(p.as_os_str().to_owned());
    }

    fn path_pair(&mut self, flag: &str, from: &Path, to: &Path) {
        self.flag(flag);
        self.path(from);
        self.path(to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validation::Cache;
    use std::path::PathBuf;

    /// The mounts in order: (kind, destination).
    fn mounts(args: &[OsString]) -> Vec<(String, PathBuf)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let a = args[i].to_string_lossy().to_string();
            if matches!(a.as_str(), "--ro-bind" | "--bind" | "--ro-bind-try") && i + 2 < args.len()
            {
                out.push((a, PathBuf::from(&args[i + 2])));
                i += 3;
            } else {
                i += 1;
            }
        }
        out
    }

    #[test]
    fn only_the_worktree_is_writable_and_the_environment_is_an_allow_list() {
        let mut settings = ValidationSettings::default();
        settings.caches.push(Cache {
            path: PathBuf::from("/opt/cargo"),
            env: Some("CARGO_HOME".into()),
        });
        settings
            .env
            .insert("CARGO_HOME".into(), "/opt/cargo".into());
        settings.path.push(PathBuf::from("/opt/cargo/bin"));
        let args = args(&settings, Path::new("/w/repo"), "make test");
        let text: Vec<String> = args.iter().map(|a| a.to_string_lossy().into()).collect();
        let writable: Vec<_> = mounts(&args)
            .into_iter()
            .filter(|(kind, _)| kind == "--bind")
            .collect();
        assert_eq!(
            writable,
            vec![("--bind".to_string(), PathBuf::from("/w/repo"))]
        );
        assert!(mounts(&args).contains(&("--ro-bind".to_string(), PathBuf::from("/opt/cargo"))));
        assert!(!mounts(&args).iter().any(|(_, p)| p == Path::new("/etc")
            || p.starts_with("/etc/ssl/private")
            || p == Path::new("/etc/ssl")
            || p == Path::new("/etc/shadow")
            || p == Path::new("/root")));
        let joined = text.join(" ");
        for needle in [
            "--unshare-all",
            "--cap-drop ALL",
            "--clearenv",
            "--setenv PATH /opt/cargo/bin:/usr/local/bin:/usr/bin:/bin",
            "--setenv HOME /tmp/home",
            "--setenv CARGO_HOME /opt/cargo",
            "--chdir /w/repo -- /bin/sh -c make test",
        ] {
            assert!(joined.contains(needle), "{needle} in {joined}");
        }
        // Every variable is set explicitly; none is inherited.
        let names: Vec<&str> = text
            .windows(2)
            .filter(|w| w[0] == "--setenv")
            .map(|w| w[1].as_str())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with("HEALBOT_")),
            "{names:?}"
        );
    }
}
