//! Path globs for protected paths and freeze scopes: `*` and `?` inside one path segment, `**`
//! for any number of segments. A pattern without `/` matches the file name at any depth (as in
//! `.gitignore`), so `*.pem` protects every key file rather than only those at the root: when in
//! doubt, a protection should cover more, not less.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Glob {
    pattern: String,
    segments: Vec<String>,
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, String> {
        let trimmed = pattern.trim();
        if trimmed.is_empty() {
            return Err("empty pattern".to_string());
        }
        if trimmed.contains(['[', ']', '{', '}', '\\']) {
            return Err(format!(
                "{pattern:?}: only *, ? and ** are supported (no [..], {{..}} or escapes)"
            ));
        }
        let anchored = trimmed.starts_with('/') || trimmed.trim_end_matches('/').contains('/');
        let body = trimmed.trim_start_matches('/');
        // `dir/` protects everything below `dir`.
        let body = match body.strip_suffix('/') {
            Some(dir) => format!("{dir}/**"),
            None => body.to_string(),
        };
        let mut segments: Vec<String> = body.split('/').map(str::to_string).collect();
        if segments
            .iter()
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(format!("{pattern:?}: empty, `.` or `..` path segment"));
        }
        if !anchored {
            segments.insert(0, "**".to_string());
        }
        Ok(Glob {
            pattern: pattern.to_string(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// `path` is relative to the repository root, `/`-separated (a leading `./` is ignored).
    pub fn matches(&self, path: &str) -> bool {
        let path = path.trim_start_matches("./").trim_start_matches('/');
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let pattern: Vec<&str> = self.segments.iter().map(String::as_str).collect();
        match_segments(&pattern, &parts)
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

fn match_segments(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| match_segments(rest, &path[skip..])),
        Some((first, rest)) => match path.split_first() {
            Some((p, path_rest)) => {
                match_one(first.as_bytes(), p.as_bytes()) && match_segments(rest, path_rest)
            }
            None => false,
        },
    }
}

/// `*` and `?` within one segment.
fn match_one(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| match_one(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && match_one(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && match_one(rest, &text[1..]),
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
    fn unsupported_syntax_is_refused() {
        for bad in ["", "a/[bc]", "{a,b}", "a/../b", "a//b"] {
            assert!(Glob::new(bad).is_err(), "{bad}");
        }
    }
}
