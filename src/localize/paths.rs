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

    #[cfg(test)]
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
        // The longest shared suffix wins; between equals, a repository path that is wholly a
        // suffix of the printed one (`semver.go` for `…/blang/semver/semver.go`, not
        // `v4/semver.go`) wins over one that is not.
        let mut best: Option<(usize, bool, &String)> = None;
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
            let whole = shared == file.split('/').count();
            match best {
                Some((n, w, _)) if (shared, whole) < (n, w) => {}
                Some((n, w, _)) if (shared, whole) == (n, w) => tie = true,
                _ => {
                    best = Some((shared, whole, file));
                    tie = false;
                }
            }
        }
        let best = best.map(|(n, _, f)| (n, f));
        match best {
            Some((shared, file)) if !tie && suffix_is_enough(shared, file, &wanted) => {
                Some(file.clone())
            }
            _ => None,
        }
    }
}

/// A match on the file name alone is no match when both paths name a directory there and the
/// directories differ (`tests/flow_control.rs` is not `src/proto/streams/flow_control.rs`).
/// One shared directory, or a side that is only a file name, is enough.
fn suffix_is_enough(shared: usize, file: &str, wanted: &[&str]) -> bool {
    let file_parts = file.split('/').count();
    shared >= 2 || shared == file_parts || shared == wanted.len()
}

/// Whether a repository path is test or benchmark code (`tests/`, `test_x.py`, `x_test.go`,
/// `x.test.js`, `x.spec.ts`, `src/test/java/`, `benches/`, `__tests__/`): never a place to fix
/// and never where a product message is written.
pub(crate) fn is_test_path(path: &str) -> bool {
    let p = path.replace('\\', "/");
    let dirs = [
        "tests",
        "test",
        "__tests__",
        "testing",
        "benches",
        "spec",
        "testdata",
        "fixtures",
    ];
    let mut parts: Vec<&str> = p.split('/').collect();
    let name = parts.pop().unwrap_or_default();
    if parts.iter().any(|d| dirs.contains(d)) {
        return true;
    }
    let stem = name.split('.').next().unwrap_or(name);
    name.starts_with("test_")
        || stem.ends_with("_test")
        || stem.ends_with("_tests")
        || name.contains(".test.")
        || name.contains(".spec.")
        || stem == "tests"
        || stem == "conftest"
        || (name.ends_with(".java") || name.ends_with(".kt")) && stem.ends_with("Test")
}

/// Whether `line` (1-based) exists in `text`: a trace line past the end of the file means the
/// path was mapped to the wrong file (or a very different version of it).
pub(crate) fn line_exists(text: &str, line: u32) -> bool {
    line >= 1 && (line as usize) <= text.lines().count()
}

/// The crate and the path within it of a dependency path:
/// `…/.cargo/registry/src/<index>/<crate>-<version>/src/x.rs` → (`crate`, `src/x.rs`), and
/// `…/.cargo/git/checkouts/<crate>-<hash>/<rev>/src/x.rs` → (`crate`, `src/x.rs`).
pub(crate) fn dependency_crate(printed: &str) -> Option<(String, String)> {
    let p = normalize(printed);
    if let Some((_, rest)) = p.split_once(".cargo/registry/src/") {
        let mut parts = rest.splitn(3, '/');
        let (_index, dir, tail) = (parts.next()?, parts.next()?, parts.next()?);
        return Some((crate_of_versioned(dir)?.to_string(), tail.to_string()));
    }
    if let Some((_, rest)) = p.split_once(".cargo/git/checkouts/") {
        let mut parts = rest.splitn(3, '/');
        let (dir, _rev, tail) = (parts.next()?, parts.next()?, parts.next()?);
        let name = dir.rsplit_once('-').map_or(dir, |(n, _)| n);
        return Some((name.to_string(), tail.to_string()));
    }
    None
}

/// `mdbook-0.4.36` → `mdbook`, `foo-bar-1.0.0-alpha.1` → `foo-bar`: the name ends before the
/// first `-` followed by a digit.
fn crate_of_versioned(dir: &str) -> Option<&str> {
    let bytes = dir.as_bytes();
    (1..bytes.len())
        .find(|&i| bytes[i - 1] == b'-' && bytes[i].is_ascii_digit())
        .map(|i| &dir[..i - 1])
}

/// The repository's own crates: `[package] name` of the root `Cargo.toml` and of every
/// workspace member, each with its directory relative to the repository (`""` for the root).
/// Crate names are given with `-` replaced by `_` as well, since paths keep the dash.
pub(crate) fn own_crates(repo: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(root) = std::fs::read_to_string(repo.join("Cargo.toml")) else {
        return out;
    };
    if let Some(name) = manifest_value(&root, "package", "name") {
        out.push((name, String::new()));
    }
    for member in workspace_members(&root) {
        let dirs: Vec<String> = match member.strip_suffix("/*") {
            Some(parent) => std::fs::read_dir(repo.join(parent))
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| format!("{parent}/{}", e.file_name().to_string_lossy()))
                .collect(),
            None => vec![member],
        };
        for dir in dirs {
            let manifest = std::fs::read_to_string(repo.join(&dir).join("Cargo.toml"));
            if let Some(name) = manifest
                .ok()
                .and_then(|m| manifest_value(&m, "package", "name"))
            {
                out.push((name, dir));
            }
        }
    }
    out
}

/// A `key = "value"` string of a `[section]` of a manifest (enough of TOML for `name`).
fn manifest_value(manifest: &str, section: &str, key: &str) -> Option<String> {
    let mut current = String::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            current = line.trim_matches(['[', ']']).trim().to_string();
            continue;
        }
        if current != section {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.trim() == key {
            let v = v.trim();
            return v.strip_prefix('"')?.split('"').next().map(str::to_string);
        }
    }
    None
}

/// `[workspace] members = ["a", "crates/*"]`, also spread over several lines.
fn workspace_members(manifest: &str) -> Vec<String> {
    let mut section = String::new();
    let mut collecting = false;
    let mut text = String::new();
    for line in manifest.lines() {
        let t = line.trim();
        if !collecting && t.starts_with('[') {
            section = t.trim_matches(['[', ']']).trim().to_string();
            continue;
        }
        if collecting {
            text.push_str(t);
            if t.contains(']') {
                break;
            }
        } else if section == "workspace" {
            if let Some((k, v)) = t.split_once('=') {
                if k.trim() == "members" {
                    text.push_str(v.trim());
                    if v.contains(']') {
                        break;
                    }
                    collecting = true;
                }
            }
        }
    }
    text.split('"')
        .skip(1)
        .step_by(2)
        .map(|m| m.trim_end_matches('/').to_string())
        .filter(|m| !m.is_empty())
        .collect()
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
pub(crate) fn strip_known_prefix(path: &str) -> &str {
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
        // A repository path wholly a suffix of the printed one beats one that is not.
        let go = RepoIndex::from_files(["semver.go", "v4/semver.go"].map(String::from));
        assert_eq!(
            go.resolve("/gopath/src/github.com/blang/semver/semver.go")
                .as_deref(),
            Some("semver.go")
        );
        assert_eq!(ix.resolve("/x/__init__.py"), None);
        assert_eq!(
            ix.resolve("/opt/inventory/__init__.py").as_deref(),
            Some("inventory/__init__.py")
        );
        assert_eq!(ix.resolve("<string>"), None);
        assert_eq!(ix.resolve("/app/driver.py"), None);
    }

    #[test]
    fn a_file_name_alone_does_not_match_across_different_directories() {
        let ix = RepoIndex::from_files(
            [
                "src/proto/streams/flow_control.rs",
                "src/proto/streams/prioritize.rs",
                "main.rs",
            ]
            .map(String::from),
        );
        assert_eq!(
            ix.resolve("/home/ci/h2/tests/h2-tests/tests/flow_control.rs"),
            None
        );
        assert_eq!(
            ix.resolve("/home/ci/h2/src/proto/streams/flow_control.rs")
                .as_deref(),
            Some("src/proto/streams/flow_control.rs")
        );
        // One shared directory is enough; so is a side that is only a file name.
        assert_eq!(
            ix.resolve("/build/x/streams/prioritize.rs").as_deref(),
            Some("src/proto/streams/prioritize.rs")
        );
        assert_eq!(
            ix.resolve("prioritize.rs").as_deref(),
            Some("src/proto/streams/prioritize.rs")
        );
        assert_eq!(ix.resolve("/opt/svc/main.rs").as_deref(), Some("main.rs"));
        assert!(line_exists("a\nb\n", 2));
        assert!(!line_exists("a\nb\n", 3));
        assert!(!line_exists("a\n", 0));
    }

    #[test]
    fn dependency_paths_name_their_crate() {
        assert_eq!(
            dependency_crate(
                "/home/u/.cargo/registry/src/index.crates.io-6f17d22bba15001f/mdbook-0.4.36/src/book/summary.rs"
            ),
            Some(("mdbook".into(), "src/book/summary.rs".into()))
        );
        assert_eq!(
            dependency_crate(
                "/r/.cargo/registry/src/github.com-1ecc6299db9ec823/foo-bar-1.0.0-alpha.1/src/lib.rs"
            ),
            Some(("foo-bar".into(), "src/lib.rs".into()))
        );
        assert_eq!(
            dependency_crate("/u/.cargo/git/checkouts/h2-3a0b6a2e2b5a7c1d/1f2d3a4/src/lib.rs"),
            Some(("h2".into(), "src/lib.rs".into()))
        );
        assert_eq!(dependency_crate("/app/src/main.rs"), None);
    }

    #[test]
    fn own_crates_come_from_the_manifests() {
        let dir = tempfile::tempdir().unwrap();
        let write = |f: &str, text: &str| {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write(
            "Cargo.toml",
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[workspace]\nmembers = [\n  \"tools/gen\",\n  \"crates/*\",\n]\n\n[dependencies]\nname = \"nope\"\n",
        );
        write("tools/gen/Cargo.toml", "[package]\nname = \"app-gen\"\n");
        write("crates/core/Cargo.toml", "[package]\nname = \"app_core\"\n");
        let mut crates = own_crates(dir.path());
        crates.sort();
        assert_eq!(
            crates,
            [
                ("app".to_string(), String::new()),
                ("app-gen".to_string(), "tools/gen".to_string()),
                ("app_core".to_string(), "crates/core".to_string()),
            ]
        );
        assert!(own_crates(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn test_paths_of_every_language() {
        for p in [
            "tests/it/main.rs",
            "crates/x/tests/a.rs",
            "benches/b.rs",
            "pkg/test_orders.py",
            "pkg/orders_test.py",
            "internal/api/orders_test.go",
            "src/users.test.js",
            "src/users.spec.ts",
            "src/__tests__/users.js",
            "src/test/java/com/acme/OrderServiceTest.java",
            "src/tests.rs",
            "conftest.py",
        ] {
            assert!(is_test_path(p), "{p}");
        }
        for p in [
            "src/lib.rs",
            "src/testament.rs",
            "src/main/java/com/acme/OrderService.java",
            "pkg/orders.py",
            "contest/run.go",
        ] {
            assert!(!is_test_path(p), "{p}");
        }
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
