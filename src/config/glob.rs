//! Path globs for protected paths and freeze scopes, matched by `globset` (linear time, no
//! backtracking on patterns such as `*a*a*a*b`): `*` and `?` inside one path segment, `**` for
//! any number of segments, `{a,b}` alternatives and `[...]` classes. A pattern without `/`
//! matches the file name at any depth (as in `.gitignore`), so `*.pem` protects every key file
//! rather than only those at the root: when in doubt, a protection should cover more, not less.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Glob {
    pattern: String,
    matcher: globset::GlobMatcher,
}

impl PartialEq for Glob {
    fn eq(&self, other: &Glob) -> bool {
        self.pattern == other.pattern
    }
}

impl Eq for Glob {}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.pattern)
    }
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, String> {
        let trimmed = pattern.trim();
        if trimmed.is_empty() {
            return Err("empty pattern".to_string());
        }
        let anchored = trimmed.starts_with('/') || trimmed.trim_end_matches('/').contains('/');
        let body = trimmed.trim_start_matches('/');
        // `dir/` protects everything below `dir`.
        let body = match body.strip_suffix('/') {
            Some(dir) => format!("{dir}/**"),
            None => body.to_string(),
        };
        if body
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(format!("{pattern:?}: empty, `.` or `..` path segment"));
        }
        let full = if anchored { body } else { format!("**/{body}") };
        let matcher = globset::GlobBuilder::new(&full)
            .literal_separator(true)
            .backslash_escape(true)
            .empty_alternates(false)
            .build()
            .map_err(|e| format!("{pattern:?}: {}", e.kind()))?
            .compile_matcher();
        Ok(Glob {
            pattern: pattern.to_string(),
            matcher,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// `path` is relative to the repository root, `/`-separated (a leading `./` is ignored).
    pub fn matches(&self, path: &str) -> bool {
        let path = path.trim_start_matches("./").trim_start_matches('/');
        self.matcher.is_match(path)
    }
}

impl TryFrom<String> for Glob {
    type Error = String;
    fn try_from(pattern: String) -> Result<Glob, String> {
        Glob::new(&pattern)
    }
}

impl From<Glob> for String {
    fn from(glob: Glob) -> String {
        glob.pattern
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        Glob::new(pattern).unwrap().matches(path)
    }

    #[test]
    fn star_stays_inside_a_segment() {
        assert!(m("src/*.py", "src/a.py"));
        assert!(!m("src/*.py", "src/sub/a.py"));
        assert!(m("src/?.py", "src/a.py"));
        assert!(!m("src/?.py", "src/ab.py"));
    }

    #[test]
    fn double_star_spans_segments() {
        assert!(m(".github/**", ".github/workflows/ci.yml"));
        assert!(m("**/secrets/**", "app/secrets/key.txt"));
        assert!(m("**/secrets/**", "secrets/key.txt"));
        assert!(!m(".github/**", "src/.github.rs"));
    }

    #[test]
    fn bare_names_match_at_any_depth_and_dirs_cover_their_contents() {
        assert!(m("*.pem", "certs/server.pem"));
        assert!(m("*.pem", "server.pem"));
        assert!(m("migrations/", "migrations/001.sql"));
        assert!(m("/Makefile", "Makefile"));
        assert!(!m("/Makefile", "sub/Makefile"));
        assert!(m("x.py", "./x.py"));
    }

    #[test]
    fn alternatives_and_classes() {
        assert!(m("src/*.{pem,key}", "src/a.key"));
        assert!(!m("src/*.{pem,key}", "src/a.txt"));
        assert!(m("deploy/[ab]*/**", "deploy/alpha/x.yaml"));
        assert!(!m("deploy/[ab]*/**", "deploy/gamma/x.yaml"));
    }

    #[test]
    fn many_stars_do_not_backtrack() {
        // Exponential for a backtracking matcher; linear for globset's automaton.
        let long = format!("{}c", "a".repeat(5_000));
        assert!(!m("*a*a*a*a*a*a*a*a*a*a*a*a*b", &long));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in ["", "a/[bc", "{a,b", "a/../b", "a//b"] {
            assert!(Glob::new(bad).is_err(), "{bad}");
        }
    }
}
