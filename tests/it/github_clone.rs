//! `healbot serve` clones repositories with git: the fake GitHub serves git's smart HTTP through
//! Debian's `git http-backend`, behind GitHub's installation-token check. The clone is cached
//! under the state directory, shallow to the configured depth, fetched again before each use,
//! never holds the token, and gives the orchestrator the history that revert and blame need.

use crate::support::app::{App, AppOptions, FULL_ROLLOUT, REPO};
use crate::support::github::{FakeGithub, APP_ID};
use healbot::forge::github::{
    AppCredentials, AppId, AppKey, CloneSettings, GithubConfig, GithubForge,
};
use healbot::forge::{PrNumber, RepoRef, Workspaces};
use healbot::operation::OpState;
use std::path::{Path, PathBuf};

const SHOP: &str = "acme/shop";

fn forge(fake: &FakeGithub, clones: &Path, depth: u32) -> GithubForge {
    let key = AppKey::from_file(&crate::support::github::test_key_path()).expect("test key");
    let mut config = GithubConfig::new(
        fake.url(),
        AppCredentials {
            app_id: AppId(APP_ID),
            key,
        },
    );
    config.clones = Some(CloneSettings {
        dir: clones.to_path_buf(),
        depth,
    });
    GithubForge::new(config).expect("forge")
}

/// Every file under `root`.
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// A plain libgit2 fetch of `url` into a fresh bare repository, with `password` as the
/// installation token when given.
async fn fetch_with(url: String, password: Option<String>) -> Result<(), git2::Error> {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = git2::Repository::init_bare(dir.path())?;
        let mut remote = repo.remote_anonymous(&url)?;
        let mut callbacks = git2::RemoteCallbacks::new();
        let mut asked = false;
        callbacks.credentials(move |_, _, _| match (&password, asked) {
            (Some(p), false) => {
                asked = true;
                git2::Cred::userpass_plaintext("x-access-token", p)
            }
            _ => Err(git2::Error::from_str("no (more) credentials")),
        });
        let mut options = git2::FetchOptions::new();
        options.remote_callbacks(callbacks);
        remote.fetch(&["+refs/heads/*:refs/heads/*"], Some(&mut options), None)?;
        repo.refname_to_id("refs/heads/main").map(|_| ())
    })
    .await
    .expect("fetch task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_over_http_needs_a_valid_installation_token() {
    let fake = FakeGithub::start().await;
    fake.add_repo(SHOP, "main", &[("README.md", "shop\n")]);
    let url = format!("{}/{SHOP}.git", fake.url());

    let err = fetch_with(url.clone(), None).await.expect_err("no token");
    assert!(err.message().contains("credentials"), "{err}");
    let refused = fake.git_refused();
    assert!(refused >= 1, "the fake answered 401");

    let err = fetch_with(url.clone(), Some("ghs_made_up".into()))
        .await
        .expect_err("a token GitHub never issued");
    assert!(fake.git_refused() > refused, "{err}");

    let token = fake.issue_token();
    fetch_with(url, Some(token)).await.expect("a valid token");
    fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_are_shallow_fetched_again_and_never_hold_the_token() {
    let fake = FakeGithub::start().await;
    fake.add_repo(SHOP, "main", &[("app.py", "x = 0\n")]);
    for n in 1..=4 {
        fake.push(
            SHOP,
            "main",
            &[("app.py", &format!("x = {n}\n"))],
            &format!("x is {n}\n"),
        );
    }
    let state = tempfile::tempdir().expect("tempdir");
    let clones = state.path().join("git");
    let forge = forge(&fake, &clones, 3);
    let repo = RepoRef(SHOP.into());

    // History for blame and revert: a checkout at HEAD reaching back `depth` commits.
    let checkout = state.path().join("scratch/history");
    assert!(forge
        .history(&repo, "HEAD", &checkout)
        .await
        .expect("history"));
    let git = git2::Repository::open(&checkout).expect("open the checkout");
    assert!(git.is_shallow(), "depth 3 of 5 commits is shallow");
    let mut walk = git.revwalk().expect("revwalk");
    walk.push_head().expect("push HEAD");
    let walked: Vec<String> = walk
        .map(|oid| {
            let commit = git.find_commit(oid.expect("oid")).expect("commit");
            healbot::gitops::commit_summary(&commit)
        })
        .collect();
    assert_eq!(walked, ["x is 4", "x is 3", "x is 2"]);
    let blame = git.blame_file(Path::new("app.py"), None).expect("blame");
    let line = blame.get_line(1).expect("line 1");
    let blamed = git.find_commit(line.final_commit_id()).expect("commit");
    assert_eq!(blamed.summary().ok().flatten(), Some("x is 4"));
    assert_eq!(
        std::fs::read_to_string(checkout.join("app.py")).unwrap(),
        "x = 4\n"
    );

    // A push after the clone is fetched before the next use.
    let newest = fake.push(SHOP, "main", &[("app.py", "x = 5\n")], "x is 5\n");
    let tree = state.path().join("scratch/tree");
    let sha = forge.export(&repo, "main", &tree).await.expect("export");
    assert_eq!(sha.0, newest);
    assert_eq!(
        std::fs::read_to_string(tree.join("app.py")).unwrap(),
        "x = 5\n"
    );
    assert!(
        !tree.join(".git").exists(),
        "a validation tree is files only"
    );

    // One clone, reused: bare, under `<dir>/<owner>/<name>.git`, with no remote configured.
    let clone = git2::Repository::open_bare(clones.join("acme/shop.git")).expect("the clone");
    assert_eq!(clone.remotes().expect("remotes").len(), 0);
    assert_eq!(
        clone.refname_to_id("refs/heads/main").unwrap().to_string(),
        newest
    );

    // Nothing under the state directory holds a token the fake issued.
    let tokens = fake.issued_tokens();
    assert!(!tokens.is_empty(), "the forge asked for a token");
    for file in files_under(state.path()) {
        let bytes = std::fs::read(&file).expect("read");
        let text = String::from_utf8_lossy(&bytes);
        for token in &tokens {
            assert!(
                !text.contains(token.as_str()),
                "{} holds the token",
                file.display()
            );
        }
        assert!(!text.contains("x-access-token"), "{}", file.display());
    }
    fake.assert_clean();
}

/// The incident starts ten minutes after a commit that dropped a guard on the faulty line:
/// `serve` finds it by blame in its clone, opens a PR that reverts it, and the PR goes through
/// review and the canary like any fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reverts_the_commit_that_caused_the_incident() {
    const UNGUARDED: &str = "    send_receipt(user.email, payment_id, amount_cents)\n";
    const GUARDED: &str =
        "    if user.email is not None:\n        send_receipt(user.email, payment_id, amount_cents)\n";
    // The alert's startsAt (2026-11-28T02:00:00Z), which is when the incident began.
    let started = chrono::DateTime::parse_from_rfc3339("2026-11-28T02:00:00Z")
        .unwrap()
        .timestamp();
    let original = std::fs::read_to_string(
        Path::new(crate::support::app::SERVICE_DIR).join("payment_processor.py"),
    )
    .unwrap();
    assert!(original.contains(UNGUARDED));
    let guarded = original.replacen(UNGUARDED, GUARDED, 1);
    let mut t = App::start_with(AppOptions {
        extra_files: vec![("payment_processor.py".into(), guarded.clone())],
        seeded_at: Some(started - 3 * 24 * 3600),
        ..AppOptions::default()
    })
    .await;
    let bad = t.fake.push_at(
        REPO,
        "main",
        &[("payment_processor.py", &original)],
        "Send a receipt for every payment\n",
        Some(started - 600),
    );
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);

    let forge = t.app.orchestrator().forge.clone();
    let pr = forge
        .pull_request(&RepoRef(REPO.into()), PrNumber(1))
        .await
        .unwrap();
    assert!(
        pr.body.contains(&bad[..10]),
        "the PR names the commit: {}",
        pr.body
    );
    assert!(pr.body.to_lowercase().contains("revert"), "{}", pr.body);
    assert_eq!(
        t.fake.file(REPO, &pr.head_sha.0, "payment_processor.py"),
        Some(guarded),
        "the PR restores the guard"
    );

    t.production.heal();
    t.approve(1, 9001).await;
    assert_eq!(t.state_of_only_operation().await, OpState::Completed);
    t.fake.expect_comments(&FULL_ROLLOUT);
    assert!(t
        .state
        .path()
        .join("state/git/acme/payment-service.git")
        .is_dir());
    t.fake.assert_clean();
}
