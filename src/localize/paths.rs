//! Maps the paths a trace prints (container paths such as `/app/…`, CI checkouts such as
//! `/home/runner/work/<repo>/<repo>/…`, a developer's absolute checkout) to files of the
//! repository being fixed. The build prefix is unknown in general, so the rule is: the repository
//! file that shares the longest path suffix with the printed path wins, and a tie is no answer.

use std::path::Path;

/// Directories that never hold the service's own source.
const SKIP_DIRS: &[&str] = &[
    ".git",
    "target",
    "node_modules",
    "__pycache__",
    ".venv",
    "venv",
    "site-packages",
    ".tox",
    ".mypy_cache",
];

/// A bound on the walk, so a huge checkout cannot stall localization.
const MAX_FILES: usize = 200_000;

/// The files of a repository, relative and with forward slashes.
#[derive(Debug, Clone, Default)]
pub struct RepoIndex {
    files: Vec<String>,
}

impl RepoIndex {
    /// Walks `repo`, skipping VCS, build and virtualenv directories.
    pub fn scan(repo: &Path) -> std::io::Result<Self> {
        let mut files = Vec::new();
        let mut stack = vec![(repo.to_path_buf(), String::new())];
        while let Some((dir, rel)) = stack.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let child_rel = if rel.is_empty() {
                    name.clone()
                } else {
                    format!("{rel}/{name}")
                };
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    if !SKIP_DIRS.contains(&name.as_str()) {
                        stack.push((entry.path(), child_rel));
                    }
                } else if kind.is_file() && files.len() < MAX_FILES {
                    files.push(child_rel);
                }
            }
        }
        files.sort();
        Ok(RepoIndex { files })
    }

    /// An index over a given file list (tests, or a list from git).
    pub fn from_files<I: IntoIterator<Item = String>>(files: I) -> Self {
        let mut files: Vec<String> = files.into_iter().map(|f| f.replace('\\', "/")).collect();
        files.sort();
        RepoIndex { files }
    }

    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// The repository file a printed path refers to: the longest shared suffix of path
    /// components (at least the file name); `None` when nothing matches or two files tie.
    pub fn resolve(&self, printed: &str) -> Option<String> {
        let normalized = normalize(printed);
        if normalized.starts_with('<') {
            return None; // `<string>`, `<stdin>`, `<frozen …>`: no file behind it
        }
        let stripped = strip_known_prefix(&normalized);
        if self
            .files
            .binary_search_by(|f| f.as_str().cmp(stripped))
            .is_ok()
        {
            return Some(stripped.to_string());
        }
        let wanted: Vec<&str> = normalized.split('/').filter(|c| !c.is_empty()).collect();
        let mut best: Option<(usize, &String)> = None;
        let mut tie = false;
        for file in &self.files {
            let shared = file
                .rsplit('/')
                .zip(wanted.iter().rev())
                .take_while(|(a, b)| a == *b)
                .count();
            if shared == 0 {
                continue;
            }
            match best {
                Some((n, _)) if shared < n => {}
                Some((n, _)) if shared == n => tie = true,
                _ => {
                    best = Some((shared, file));
                    tie = false;
                }
            }
        }
        match best {
            Some((_, file)) if !tie => Some(file.clone()),
            _ => None,
        }
    }
}

/// Forward slashes, no `./`, no Windows drive.
pub fn normalize(printed: &str) -> String {
    let mut p = printed.trim().replace('\\', "/");
    if p.len() > 2 && p.as_bytes()[1] == b':' && p.as_bytes()[0].is_ascii_alphabetic() {
        p = p[2..].to_string();
    }
    while let Some(rest) = p.strip_prefix("./") {
        p = rest.to_string();
    }
    p
}

/// Removes the build and container prefixes that are common enough to know by name. The
/// suffix match in [`RepoIndex::resolve`] covers every other prefix.
pub fn strip_known_prefix(path: &str) -> &str {
    const PREFIXES: &[&str] = &[
        "/app/",
        "/usr/src/app/",
        "/srv/app/",
        "/workspace/",
        "/code/",
    ];
    for prefix in PREFIXES {
        if let Some(rest) = path.strip_prefix(prefix) {
            return rest;
        }
    }
    // GitHub Actions checks out to /home/runner/work/<repo>/<repo>/.
    if let Some(rest) = path.strip_prefix("/home/runner/work/") {
        let mut parts = rest.splitn(3, '/');
        if let (Some(_), Some(_), Some(tail)) = (parts.next(), parts.next(), parts.next()) {
            return tail;
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> RepoIndex {
        RepoIndex::from_files(
            [
                "payment_processor.py",
                "receipts.py",
                "src/handlers/users.rs",
                "src/main.rs",
                "tools/main.rs",
                "inventory/__init__.py",
                "billing/__init__.py",
            ]
            .map(String::from),
        )
    }

    #[test]
    fn container_ci_and_relative_paths() {
        let ix = index();
        assert_eq!(
            ix.resolve("/app/receipts.py").as_deref(),
            Some("receipts.py")
        );
        assert_eq!(
            ix.resolve("/tmp/x/work/payment_processor.py").as_deref(),
            Some("payment_processor.py")
        );
        assert_eq!(
            ix.resolve("/home/runner/work/svc/svc/src/main.rs")
                .as_deref(),
            Some("src/main.rs")
        );
        assert_eq!(
            ix.resolve("./src/handlers/users.rs").as_deref(),
            Some("src/handlers/users.rs")
        );
        assert_eq!(
            ix.resolve("C:\\build\\svc\\src\\handlers\\users.rs")
                .as_deref(),
            Some("src/handlers/users.rs")
        );
    }

    #[test]
    fn longest_suffix_wins_and_ties_give_nothing() {
        let ix = index();
        assert_eq!(ix.resolve("/x/src/main.rs").as_deref(), Some("src/main.rs"));
        assert_eq!(ix.resolve("/x/y/main.rs"), None);
        assert_eq!(ix.resolve("/x/__init__.py"), None);
        assert_eq!(
            ix.resolve("/opt/inventory/__init__.py").as_deref(),
            Some("inventory/__init__.py")
        );
        assert_eq!(ix.resolve("<string>"), None);
        assert_eq!(ix.resolve("/app/driver.py"), None);
    }

    #[test]
    fn scan_skips_vcs_and_virtualenvs() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "a.py",
            "pkg/b.py",
            ".git/config",
            ".venv/lib/c.py",
            "pkg/__pycache__/b.pyc",
        ] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let ix = RepoIndex::scan(dir.path()).unwrap();
        assert_eq!(ix.files(), ["a.py", "pkg/b.py"]);
    }
}
