//! A repository's CODEOWNERS file, parsed: who owns which paths. A MANUAL_REVIEW fix that
//! touches an owned path waits for one of its owners, as GitHub's "require review from Code
//! Owners" would; the file is what that rule reads, so it is the one source both agree on.
//! Syntax as GitHub documents it: one `pattern owner…` rule per line, `#` comments, gitignore
//! patterns, and the last matching rule wins (a rule with no owners leaves a path unowned).

use super::glob::Glob;

/// Where GitHub looks for the file, in its order: the first that exists is used.
pub(crate) const CODEOWNERS_PATHS: [&str; 3] =
    [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"];

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CodeOwners {
    rules: Vec<(Glob, Vec<String>)>,
}

/// An owner as written, without the `@`: a login (`alice`), a team (`acme/payments`) or an
/// email address.
pub(crate) type Owner = String;

impl CodeOwners {
    /// Lines GitHub would ignore as invalid are skipped with the reason, as GitHub does
    /// (it shows them as errors and applies the rest).
    pub fn parse(text: &str) -> (CodeOwners, Vec<String>) {
        let mut rules = Vec::new();
        let mut problems = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split(" #").next().unwrap_or_default().trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let Some(pattern) = words.next() else {
                continue;
            };
            match Glob::new(pattern) {
                Ok(glob) => rules.push((
                    glob,
                    words
                        .map(|w| w.trim_start_matches('@').to_string())
                        .collect(),
                )),
                Err(e) => problems.push(format!("line {}: {e}", n + 1)),
            }
        }
        (CodeOwners { rules }, problems)
    }

    /// The owners of `path` (relative to the root): the last rule matching it or a directory
    /// above it; empty when no rule owns it.
    pub fn owners(&self, path: &str) -> &[Owner] {
        let path = path.trim_start_matches("./").trim_start_matches('/');
        self.rules
            .iter()
            .rev()
            .find(|(glob, _)| within(path).any(|p| glob.matches(p)))
            .map_or(&[], |(_, owners)| owners.as_slice())
    }
}

/// `path` and every directory above it: `a/b/c.py`, `a/b`, `a`.
fn within(path: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(path), |p| p.rsplit_once('/').map(|(dir, _)| dir))
}

/// Whether `login` is among `owners` (logins compare case-insensitively, as on GitHub).
pub(crate) fn is_owner(owners: &[Owner], login: &str) -> bool {
    owners.iter().any(|o| o.eq_ignore_ascii_case(login))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_matching_rule_wins_and_directories_cover_their_files() {
        let (c, problems) = CodeOwners::parse(
            "# owners\n* @platform\n/payments/ @alice @acme/payments\ndocs @writer # docs\n\
             payments/README.md\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.owners("main.go"), ["platform"]);
        assert_eq!(
            c.owners("payments/api/charge.py"),
            ["alice", "acme/payments"]
        );
        assert_eq!(c.owners("src/docs/intro.md"), ["writer"]);
        assert!(
            c.owners("payments/README.md").is_empty(),
            "an owner-less rule unowns"
        );
        assert!(is_owner(c.owners("payments/x.py"), "Alice"));
    }

    #[test]
    fn a_bad_pattern_is_reported_and_the_rest_applies() {
        let (c, problems) = CodeOwners::parse("a/../b @x\n*.py @bob\n");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("line 1:"), "{problems:?}");
        assert_eq!(c.owners("x/y.py"), ["bob"]);
        assert!(CodeOwners::parse("").0.owners("x").is_empty());
    }
}
