//! Real git behind the fake GitHub. Every blob, tree and commit the fake stores is written as
//! a git object (so its shas are git's own), and `/<owner>/<name>.git/...` is git's smart HTTP
//! protocol served by Debian's `git http-backend` (run as a CGI per request) on a bare
//! repository holding the fake's refs, so healbot's clone and fetch run against real git.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The object store and the served repositories, in a directory removed with the fake.
pub struct GitObjects {
    dir: tempfile::TempDir,
    store: git2::Repository,
}

impl Default for GitObjects {
    fn default() -> GitObjects {
        let dir = tempfile::tempdir().expect("a directory for the fake's git objects");
        let store = git2::Repository::init_bare(dir.path().join("objects.git"))
            .expect("the fake's object store");
        GitObjects { dir, store }
    }
}

/// A CGI answer: status, headers and body.
pub struct CgiReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The git sha of a blob holding `content`, as GitHub reports it.
pub fn blob_sha(content: &str) -> String {
    git2::Oid::hash_object(git2::ObjectType::Blob, content.as_bytes())
        .expect("hash a blob")
        .to_string()
}

impl GitObjects {
    /// Writes `files` (path → content) as a tree with its subtrees; returns the tree's sha.
    pub fn tree(&self, files: &BTreeMap<String, String>) -> String {
        self.subtree(files, "").to_string()
    }

    fn subtree(&self, files: &BTreeMap<String, String>, prefix: &str) -> git2::Oid {
        let mut builder = self.store.treebuilder(None).expect("tree builder");
        let mut dirs: BTreeMap<&str, ()> = BTreeMap::new();
        for (path, content) in files.range(prefix.to_string()..) {
            let Some(rest) = path.strip_prefix(prefix) else {
                break;
            };
            match rest.split_once('/') {
                Some((dir, _)) => {
                    dirs.insert(dir, ());
                }
                None => {
                    let blob = self.store.blob(content.as_bytes()).expect("write blob");
                    builder.insert(rest, blob, 0o100644).expect("tree entry");
                }
            }
        }
        for dir in dirs.keys() {
            let oid = self.subtree(files, &format!("{prefix}{dir}/"));
            builder.insert(dir, oid, 0o040000).expect("subtree entry");
        }
        builder.write().expect("write tree")
    }

    /// Writes a commit of `tree` on `parents` made at `time` (unix seconds; `None`: now);
    /// returns its sha.
    pub fn commit(
        &self,
        tree: &str,
        parents: &[String],
        message: &str,
        time: Option<i64>,
    ) -> String {
        let now = time.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
        let who = git2::Signature::new("A U Thor", "author@example.com", &git2::Time::new(now, 0))
            .expect("signature");
        let tree = self
            .store
            .find_tree(git2::Oid::from_str(tree).expect("tree sha"))
            .expect("tree in the store");
        let parents: Vec<git2::Commit<'_>> = parents
            .iter()
            .map(|p| {
                self.store
                    .find_commit(git2::Oid::from_str(p).expect("parent sha"))
                    .expect("parent in the store")
            })
            .collect();
        let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
        self.store
            .commit(None, &who, &who, message, &tree, &parents)
            .expect("write commit")
            .to_string()
    }

    /// The root `git http-backend` serves (`GIT_PROJECT_ROOT`).
    fn served_root(&self) -> PathBuf {
        self.dir.path().join("served")
    }

    /// Makes `<root>/<name>.git` a bare repository on the shared objects whose branches are
    /// exactly `refs` (`heads/x` → sha) and whose `HEAD` is `default_branch`.
    fn publish(
        &self,
        name: &str,
        refs: &BTreeMap<String, String>,
        default_branch: &str,
    ) -> PathBuf {
        let path = self.served_root().join(format!("{name}.git"));
        let repo = match git2::Repository::open_bare(&path) {
            Ok(r) => r,
            Err(_) => {
                let r = git2::Repository::init_bare(&path).expect("served repository");
                let objects = self.store.path().join("objects");
                std::fs::write(
                    path.join("objects/info/alternates"),
                    format!("{}\n", objects.display()),
                )
                .expect("alternates");
                r
            }
        };
        let stale: Vec<String> = repo
            .references_glob("refs/heads/*")
            .expect("list refs")
            .filter_map(|r| r.ok()?.name().ok().map(str::to_string))
            .filter(|n| !refs.contains_key(n.trim_start_matches("refs/")))
            .collect();
        for name in stale {
            if let Ok(mut r) = repo.find_reference(&name) {
                r.delete().expect("delete stale ref");
            }
        }
        for (name, sha) in refs {
            let oid = git2::Oid::from_str(sha).expect("ref sha");
            repo.reference(&format!("refs/{name}"), oid, true, "fake GitHub")
                .expect("set ref");
        }
        repo.set_head(&format!("refs/heads/{default_branch}"))
            .expect("set HEAD");
        path
    }

    /// Answers one smart-HTTP request for repository `name` (`owner/repo`): `rest` is what
    /// follows `<name>.git` in the URL path (`/info/refs`, `/git-upload-pack`).
    #[allow(clippy::too_many_arguments)]
    pub fn serve(
        &self,
        name: &str,
        refs: &BTreeMap<String, String>,
        default_branch: &str,
        method: &str,
        rest: &str,
        query: &str,
        content_type: &str,
        body: &[u8],
    ) -> CgiReply {
        self.publish(name, refs, default_branch);
        let backend = Path::new("/usr/lib/git-core/git-http-backend");
        let mut command = if backend.is_file() {
            Command::new(backend)
        } else {
            let mut c = Command::new("git");
            c.arg("http-backend");
            c
        };
        let mut child = command
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_PROJECT_ROOT", self.served_root())
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("PATH_INFO", format!("/{name}.git{rest}"))
            .env("QUERY_STRING", query)
            .env("REQUEST_METHOD", method)
            .env("CONTENT_TYPE", content_type)
            .env("CONTENT_LENGTH", body.len().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start git http-backend");
        // Written from a thread: a large request and a large reply must not block each other.
        let mut stdin = child.stdin.take().expect("stdin");
        let input = body.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().expect("git http-backend output");
        let _ = writer.join();
        parse_cgi(&out.stdout).unwrap_or_else(|| CgiReply {
            status: 500,
            headers: Vec::new(),
            body: format!("git http-backend: {}", String::from_utf8_lossy(&out.stderr))
                .into_bytes(),
        })
    }
}

/// Splits a CGI response into its `Status:`, other headers and body.
fn parse_cgi(out: &[u8]) -> Option<CgiReply> {
    let (head, body) = match find(out, b"\r\n\r\n") {
        Some(i) => (&out[..i], &out[i + 4..]),
        None => {
            let i = find(out, b"\n\n")?;
            (&out[..i], &out[i + 2..])
        }
    };
    let mut status = 200;
    let mut headers = Vec::new();
    for line in String::from_utf8_lossy(head).lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("status") {
            status = v.split(' ').next()?.parse().ok()?;
        } else {
            headers.push((k.to_ascii_lowercase(), v.to_string()));
        }
    }
    Some(CgiReply {
        status,
        headers,
        body: body.to_vec(),
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
