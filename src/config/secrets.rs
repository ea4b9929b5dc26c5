//! The secrets healbot holds, kept out of reach of the code it runs: the `HEALBOT_*` secret
//! variables are taken out of the process environment at startup (so no child process and no
//! reader of `/proc/<pid>/environ` finds them), and a [`Redactor`] scrubs every secret healbot
//! holds from text that came from outside (a check's output) before it reaches an audit entry,
//! a PR or a log. Files are the documented way to give healbot a secret; the variables are
//! still read, once.

use super::bot::WEBHOOK_SECRET_ENV;
use super::notify::{
    PAGERDUTY_ROUTING_KEY_ENV, SLACK_WEBHOOK_URL_ENV, SMTP_PASSWORD_ENV, TEAMS_WEBHOOK_URL_ENV,
};
use aho_corasick::{AhoCorasick, MatchKind};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// Variables healbot reads secrets from. Any other `HEALBOT_*` variable whose name ends like a
/// secret's (`_SECRET`, `_TOKEN`, `_PASSWORD`, `_KEY`, `_URL`) is taken too.
pub(crate) const SECRET_ENV_VARS: &[&str] = &[
    WEBHOOK_SECRET_ENV,
    SLACK_WEBHOOK_URL_ENV,
    TEAMS_WEBHOOK_URL_ENV,
    PAGERDUTY_ROUTING_KEY_ENV,
    SMTP_PASSWORD_ENV,
    // May carry a password (redis://:pw@host).
    "HEALBOT_REDIS_URL",
    "HEALBOT_ALERTMANAGER_TOKEN",
    "HEALBOT_ARGO_TOKEN",
    "HEALBOT_GITHUB_PRIVATE_KEY",
    // `healbot rca --neo4j`.
    "NEO4J_PASSWORD",
];

const SECRET_SUFFIXES: &[&str] = &["_SECRET", "_TOKEN", "_PASSWORD", "_KEY", "_URL"];

/// Secrets shorter than this are not redacted: they would blank out ordinary words.
pub(crate) const MIN_REDACTED_LEN: usize = 4;

/// What a redacted secret becomes.
pub(crate) const REDACTED: &str = "[redacted]";

static TAKEN: OnceLock<BTreeMap<String, String>> = OnceLock::new();

/// Whether healbot treats the variable `name` as a secret.
pub(crate) fn is_secret_var(name: &str) -> bool {
    SECRET_ENV_VARS.contains(&name)
        || (name.starts_with("HEALBOT_") && SECRET_SUFFIXES.iter().any(|s| name.ends_with(s)))
}

/// Reads every secret variable, wipes its value where the kernel shows the process's initial
/// environment (`/proc/<pid>/environ`), and removes it from the environment. Returns how many
/// were taken. Call it first thing in `main`, while the process has one thread: changing the
/// environment while another thread reads it is undefined behaviour.
pub fn take_from_environment() -> usize {
    let mut taken = BTreeMap::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if is_secret_var(name) {
            taken.insert(name.to_string(), value.to_string_lossy().into_owned());
        }
    }
    for name in taken.keys() {
        wipe_in_place(name);
        // Sound here: the caller guarantees no other thread exists yet.
        std::env::remove_var(name);
    }
    let count = taken.len();
    // A second call takes nothing new: the first removed the variables.
    let _ = TAKEN.set(taken);
    count
}

/// The value of the secret variable `name`: what [`take_from_environment`] took, or, in a
/// process that never took them (tests, the library used on its own), the environment's.
pub fn env_secret(name: &str) -> Option<String> {
    match TAKEN.get() {
        Some(taken) if is_secret_var(name) => taken.get(name).cloned(),
        _ => std::env::var(name).ok(),
    }
}

/// Every secret value taken from the environment, for the [`Redactor`].
pub(crate) fn taken_values() -> Vec<String> {
    TAKEN
        .get()
        .map(|t| t.values().cloned().collect())
        .unwrap_or_default()
}

/// Overwrites the value of `name=value` in the C environment block with zero bytes. glibc's
/// `unsetenv` only drops the pointer; the bytes stay in the initial block the kernel shows in
/// `/proc/<pid>/environ` to any process of the same user.
#[cfg(target_os = "linux")]
fn wipe_in_place(name: &str) {
    extern "C" {
        static mut environ: *mut *mut libc::c_char;
    }
    let name = name.as_bytes();
    // SAFETY: single-threaded (see take_from_environment); `environ` is the NULL-terminated
    // array of NUL-terminated strings libc keeps, each writable (the initial block is on the
    // stack, later ones on the heap), and we write only within each string's length.
    unsafe {
        let mut entry = environ;
        if entry.is_null() {
            return;
        }
        while !(*entry).is_null() {
            let text = std::ffi::CStr::from_ptr(*entry).to_bytes();
            let len = text.len();
            if text.starts_with(name) && text.get(name.len()) == Some(&b'=') {
                let value = (*entry).add(name.len() + 1);
                std::ptr::write_bytes(value, 0, len - name.len() - 1);
            }
            entry = entry.add(1);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn wipe_in_place(_name: &str) {}

/// Replaces every secret healbot holds with `[redacted]` in text from outside. Built from the
/// configuration ([`super::bot::BotConfig::redactor`]); `Default` knows no secret.
#[derive(Clone, Default)]
pub struct Redactor {
    matcher: Option<Arc<AhoCorasick>>,
    count: usize,
}

impl Redactor {
    /// A redactor for `secrets`; empty and too short ones are skipped, duplicates merged.
    pub fn new<I, S>(secrets: I) -> Redactor
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut patterns: Vec<String> = secrets
            .into_iter()
            .map(|s| s.as_ref().trim().to_string())
            .filter(|s| s.len() >= MIN_REDACTED_LEN)
            .collect();
        patterns.sort();
        patterns.dedup();
        if patterns.is_empty() {
            return Redactor::default();
        }
        // Leftmost-longest: a secret that contains another is replaced whole.
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .ok()
            .map(Arc::new);
        Redactor {
            count: if matcher.is_some() { patterns.len() } else { 0 },
            matcher,
        }
    }

    /// `text` with every secret replaced by `[redacted]`.
    pub fn scrub(&self, text: &str) -> String {
        match &self.matcher {
            Some(m) => m.replace_all(text, &vec![REDACTED; self.count]),
            None => text.to_string(),
        }
    }

    /// How many distinct secrets it redacts.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.count)
    }
}

/// The lines of a PEM key's body (what a check printing part of the key would show).
pub fn pem_body_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for name in [
            "HEALBOT_WEBHOOK_SECRET",
            "HEALBOT_SMTP_PASSWORD",
            "HEALBOT_ARGO_TOKEN",
            "HEALBOT_SOMETHING_NEW_TOKEN",
            "NEO4J_PASSWORD",
        ] {
            assert!(is_secret_var(name), "{name}");
        }
        for name in ["HEALBOT_LOG", "HEALBOT_STATE", "HEALBOT_REPLICA", "PATH"] {
            assert!(!is_secret_var(name), "{name}");
        }
    }

    #[test]
    fn redactor_scrubs_every_secret_longest_first() {
        let r = Redactor::new(["hunter22", "hunter22-extended", "", "ab", "hunter22"]);
        assert_eq!(r.len(), 2);
        assert_eq!(
            r.scrub("a hunter22-extended b hunter22 c ab"),
            "a [redacted] b [redacted] c ab"
        );
        assert_eq!(Redactor::default().scrub("hunter22"), "hunter22");
        assert_eq!(format!("{r:?}"), "Redactor(2 secrets)");
    }

    #[test]
    fn pem_lines_are_the_body() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx1\nshort\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(pem_body_lines(pem), vec!["MIIEowIBAAKCAQEAx1".to_string()]);
    }
}
