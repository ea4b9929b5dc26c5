//! Exporting a repository tree from the fake GitHub through `Workspaces for GithubForge`: the
//! contents API walked recursively, revisions resolved to full shas, re-exports clean, and every
//! request and response valid against GitHub's schemas.

use crate::support::github::{FakeGithub, APP_ID};
use healbot::forge::github::{AppCredentials, AppId, AppKey, GithubConfig, GithubForge};
use healbot::forge::Workspaces;
use healbot::forge::{ForgeError, RepoRef};
use std::collections::BTreeMap;
use std::path::Path;

const REPO: &str = "acme/shop";

fn forge(fake: &FakeGithub) -> GithubForge {
    let key = AppKey::from_file(&crate::support::github::test_key_path()).expect("test key");
    let config = GithubConfig::new(
        fake.url(),
        AppCredentials {
            app_id: AppId(APP_ID),
            key,
        },
    );
    GithubForge::new(config).expect("forge")
}

/// Every file under `root`, relative path → content.
fn files_under(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("under root");
                let rel = rel.to_string_lossy().replace('\\', "/");
                out.insert(rel, std::fs::read_to_string(&path).expect("read file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn expected(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(p, c)| (p.to_string(), c.to_string()))
        .collect()
}

#[tokio::test]
async fn exports_head_and_older_commits_without_stale_files() {
    let fake = FakeGithub::start().await;
    let v1 = [
        ("README.md", "shop\n"),
        ("src/a.py", "def a():\n    return 1\n"),
        ("src/pkg/b.py", "from src.a import a\n"),
    ];
    let first = fake.add_repo(REPO, "main", &v1);
    let second = fake.push(
        REPO,
        "main",
        &[
            ("src/a.py", "def a():\n    return 2\n"),
            ("src/pkg/deep/c.py", "C = 3\n"),
        ],
        "Change a, add c\n",
    );
    let forge = forge(&fake);
    let repo = RepoRef(REPO.into());
    let tmp = tempfile::tempdir().expect("tempdir");
    let dest = tmp.path().join("ws");

    let head = forge
        .export(&repo, "HEAD", &dest)
        .await
        .expect("export HEAD");
    assert_eq!(head.0, second);
    assert_eq!(head.0.len(), 40, "a full sha: {head}");
    assert_eq!(
        files_under(&dest),
        expected(&[
            ("README.md", "shop\n"),
            ("src/a.py", "def a():\n    return 2\n"),
            ("src/pkg/b.py", "from src.a import a\n"),
            ("src/pkg/deep/c.py", "C = 3\n"),
        ])
    );

    // A branch name resolves to the same commit.
    let by_branch = forge
        .export(&repo, "main", &dest)
        .await
        .expect("export main");
    assert_eq!(by_branch, head);

    // The older commit into the same directory: its tree exactly, no leftovers from HEAD.
    let old = forge
        .export(&repo, &first, &dest)
        .await
        .expect("export old");
    assert_eq!(old.0, first);
    assert_eq!(files_under(&dest), expected(&v1));
    assert!(!dest.join("src/pkg/deep").exists(), "stale directory left");

    fake.assert_clean();
}

#[tokio::test]
async fn an_unknown_revision_is_not_found() {
    let fake = FakeGithub::start().await;
    fake.add_repo(REPO, "main", &[("README.md", "shop\n")]);
    let forge = forge(&fake);
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = forge
        .export(
            &RepoRef(REPO.into()),
            "no-such-branch",
            &tmp.path().join("ws"),
        )
        .await
        .expect_err("unknown branch");
    assert!(matches!(err, ForgeError::NotFound { .. }), "{err:?}");
    fake.assert_clean();
}
