//! Tests of the local forge on throwaway git repositories made with git2.

use super::git::GitRepo;
use super::*;
use git2::{Repository, RepositoryInitOptions, Signature};
use std::fs;
use tempfile::TempDir;

struct Fixture {
    _dir: TempDir,
    work: PathBuf,
    state: PathBuf,
    forge: LocalForge,
    repo: RepoRef,
}

/// A non-bare repository with `main` checked out and one commit holding `files`.
fn fixture(files: &[(&str, &str)]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("service");
    let state = dir.path().join("state");
    let mut opts = RepositoryInitOptions::new();
    opts.initial_head("main");
    let repo = Repository::init_opts(&work, &opts).unwrap();
    for (path, content) in files {
        let full = work.join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, content).unwrap();
    }
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = Signature::now("dev", "dev@example.com").unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "initial", &tree, &[])
        .unwrap();
    let forge = LocalForge::open(&state).unwrap();
    let repo = forge.register_repo("payment-service", &work).unwrap();
    Fixture {
        _dir: dir,
        work,
        state,
        forge,
        repo,
    }
}

fn write(path: &str, content: &str) -> FileChange {
    FileChange {
        path: path.into(),
        content: Some(content.into()),
    }
}

fn delete(path: &str) -> FileChange {
    FileChange {
        path: path.into(),
        content: None,
    }
}

fn new_pr(head: &str) -> NewPullRequest {
    NewPullRequest {
        title: "Guard missing email".into(),
        body: "body".into(),
        head: head.into(),
        base: "main".into(),
        labels: vec!["healbot".into(), "risk:low".into()],
    }
}

fn commit_count(work: &Path, branch: &str) -> usize {
    let repo = Repository::open(work).unwrap();
    let mut walk = repo.revwalk().unwrap();
    let tip = repo
        .find_branch(branch, git2::BranchType::Local)
        .unwrap()
        .get()
        .target()
        .unwrap();
    walk.push(tip).unwrap();
    walk.count()
}

/// Branch `fix` off main with one commit changing `app.py`.
async fn branch_with_fix(f: &Fixture, content: &str) -> CommitSha {
    let main = f.forge.branch_head(&f.repo, "main").await.unwrap();
    f.forge.create_branch(&f.repo, "fix", &main).await.unwrap();
    f.forge
        .commit(
            &f.repo,
            "fix",
            "Fix app",
            &[write("app.py", content)],
            "k-fix",
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn commit_builds_nested_trees_and_deletes_without_touching_the_work_tree() {
    let f = fixture(&[
        ("app.py", "print('hi')\n"),
        ("src/pkg/old.py", "old\n"),
        ("src/pkg/keep.py", "keep\n"),
        ("docs/only.md", "doc\n"),
    ]);
    let main = f.forge.branch_head(&f.repo, "main").await.unwrap();
    f.forge
        .create_branch(&f.repo, "healbot/inc-1", &main)
        .await
        .unwrap();
    let changes = [
        write("src/pkg/new/deep.py", "deep\n"),
        write("app.py", "print('fixed')\n"),
        delete("src/pkg/old.py"),
        delete("docs/only.md"),
        delete("never/existed.txt"),
    ];
    let sha = f
        .forge
        .commit(&f.repo, "healbot/inc-1", "Fix it", &changes, "op-1/patch")
        .await
        .unwrap();

    let read = |git_ref: &'static str, path: &'static str| {
        let forge = &f.forge;
        let repo = &f.repo;
        async move { forge.read_file(repo, git_ref, path).await.unwrap() }
    };
    assert_eq!(
        read("healbot/inc-1", "src/pkg/new/deep.py")
            .await
            .as_deref(),
        Some("deep\n")
    );
    assert_eq!(
        read("healbot/inc-1", "app.py").await.as_deref(),
        Some("print('fixed')\n")
    );
    assert_eq!(
        read("healbot/inc-1", "src/pkg/keep.py").await.as_deref(),
        Some("keep\n")
    );
    assert_eq!(read("healbot/inc-1", "src/pkg/old.py").await, None);
    assert_eq!(
        read("main", "src/pkg/old.py").await.as_deref(),
        Some("old\n")
    );

    let git = Repository::open(&f.work).unwrap();
    let commit = git
        .find_commit(git2::Oid::from_str(&sha.0).unwrap())
        .unwrap();
    assert_eq!(commit.author().name().ok(), Some("healbot"));
    assert_eq!(commit.author().email().ok(), Some("healbot@localhost"));
    assert_eq!(commit.committer().email().ok(), Some("healbot@localhost"));
    assert!(commit
        .message()
        .unwrap()
        .ends_with("\n\nHealbot-Idempotency-Key: op-1/patch\n"));
    // The emptied directory is gone, as git has no empty directories.
    assert!(commit.tree().unwrap().get_name("docs").is_none());
    // `main` is checked out, the commit went to another branch: the folder is as it was.
    assert_eq!(
        fs::read_to_string(f.work.join("app.py")).unwrap(),
        "print('hi')\n"
    );
    assert!(f.work.join("src/pkg/old.py").exists());
}

#[tokio::test]
async fn recommitting_with_the_same_key_returns_the_first_commit() {
    let f = fixture(&[("app.py", "a\n")]);
    let first = branch_with_fix(&f, "b\n").await;
    let before = commit_count(&f.work, "fix");
    let again = f
        .forge
        .commit(
            &f.repo,
            "fix",
            "Fix app",
            &[write("app.py", "c\n")],
            "k-fix",
        )
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(commit_count(&f.work, "fix"), before);
    assert_eq!(f.forge.branch_head(&f.repo, "fix").await.unwrap(), first);
    // A different key is a different commit.
    let other = f
        .forge
        .commit(&f.repo, "fix", "More", &[write("app.py", "c\n")], "k-2")
        .await
        .unwrap();
    assert_ne!(other, first);
}

#[tokio::test]
async fn create_branch_leaves_an_existing_branch_alone() {
    let f = fixture(&[("app.py", "a\n")]);
    let fixed = branch_with_fix(&f, "b\n").await;
    let main = f.forge.branch_head(&f.repo, "main").await.unwrap();
    f.forge.create_branch(&f.repo, "fix", &main).await.unwrap();
    assert_eq!(f.forge.branch_head(&f.repo, "fix").await.unwrap(), fixed);
}

#[tokio::test]
async fn open_pr_twice_gives_one_pr_numbered_from_one() {
    let f = fixture(&[("app.py", "a\n")]);
    let head = branch_with_fix(&f, "b\n").await;
    let first = f.forge.open_pr(&f.repo, &new_pr("fix")).await.unwrap();
    let second = f.forge.open_pr(&f.repo, &new_pr("fix")).await.unwrap();
    assert_eq!(first, PrNumber(1));
    assert_eq!(second, first);
    let prs = f.forge.list_prs(&f.repo).unwrap();
    assert_eq!(prs.len(), 1);
    assert_eq!(prs[0].head_sha, head);
    assert_eq!(prs[0].labels, ["healbot", "risk:low"]);
    assert!(f.state.join("forge/prs/1.json").is_file());
}

#[tokio::test]
async fn merge_makes_a_two_parent_commit_on_main_and_updates_the_folder() {
    let f = fixture(&[("app.py", "a\n"), ("other.txt", "x\n")]);
    let head = branch_with_fix(&f, "fixed\n").await;
    // main moves on meanwhile, so the merge is a real three-way one.
    f.forge
        .commit(
            &f.repo,
            "main",
            "Other",
            &[write("other.txt", "y\n")],
            "k-main",
        )
        .await
        .unwrap();
    let main_before = f.forge.branch_head(&f.repo, "main").await.unwrap();
    let pr = f.forge.open_pr(&f.repo, &new_pr("fix")).await.unwrap();

    let merge = f.forge.merge(&f.repo, pr, &head).await.unwrap();

    let git = Repository::open(&f.work).unwrap();
    let commit = git
        .find_commit(git2::Oid::from_str(&merge.0).unwrap())
        .unwrap();
    let parents: Vec<String> = commit.parent_ids().map(|p| p.to_string()).collect();
    assert_eq!(parents, [main_before.0.clone(), head.0.clone()]);
    assert_eq!(f.forge.branch_head(&f.repo, "main").await.unwrap(), merge);
    assert_eq!(
        fs::read_to_string(f.work.join("app.py")).unwrap(),
        "fixed\n"
    );
    assert_eq!(fs::read_to_string(f.work.join("other.txt")).unwrap(), "y\n");
    assert!(git.statuses(None).unwrap().is_empty(), "work tree is clean");

    let merged = f.forge.pull_request(&f.repo, pr).await.unwrap();
    assert_eq!(merged.state, PrState::Merged);
    assert_eq!(merged.merge_sha.as_ref(), Some(&merge));
    // Merging again is a replay: same commit, nothing new on main.
    assert_eq!(f.forge.merge(&f.repo, pr, &head).await.unwrap(), merge);
    assert_eq!(f.forge.branch_head(&f.repo, "main").await.unwrap(), merge);
}

#[tokio::test]
async fn a_merge_already_on_main_is_found_again_after_a_crash() {
    // The merge commit landed but the PR file was not updated: the next merge finds it.
    let f = fixture(&[("app.py", "a\n")]);
    branch_with_fix(&f, "b\n").await;
    let path = f.forge.repo_path(&f.repo).unwrap();
    let git = GitRepo::open(&f.repo, &path).unwrap();
    let first = git.merge("main", "fix", "Merge", "PR #1").unwrap();
    let again = git.merge("main", "fix", "Merge", "PR #1").unwrap();
    assert_eq!(first, again);
}

#[tokio::test]
async fn a_conflicting_merge_names_the_files_and_leaves_the_pr_open() {
    let f = fixture(&[("app.py", "a\n"), ("src/lib.py", "x\n")]);
    let main = f.forge.branch_head(&f.repo, "main").await.unwrap();
    f.forge.create_branch(&f.repo, "fix", &main).await.unwrap();
    f.forge
        .commit(&f.repo, "fix", "Fix", &[write("src/lib.py", "fix\n")], "k1")
        .await
        .unwrap();
    f.forge
        .commit(
            &f.repo,
            "main",
            "Edit",
            &[write("src/lib.py", "main\n")],
            "k2",
        )
        .await
        .unwrap();
    let main_before = f.forge.branch_head(&f.repo, "main").await.unwrap();
    let pr = f.forge.open_pr(&f.repo, &new_pr("fix")).await.unwrap();
    let head = f.forge.pull_request(&f.repo, pr).await.unwrap().head_sha;

    let err = f.forge.merge(&f.repo, pr, &head).await.unwrap_err();
    match &err {
        ForgeError::Conflict(msg) => {
            assert!(msg.contains("src/lib.py"), "{msg}");
            assert!(msg.contains("#1"), "{msg}");
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert_eq!(
        f.forge.branch_head(&f.repo, "main").await.unwrap(),
        main_before
    );
    assert_eq!(
        f.forge.pull_request(&f.repo, pr).await.unwrap().state,
        PrState::Open
    );
}

#[tokio::test]
async fn a_reopened_forge_sees_prs_comments_and_reviews() {
    let f = fixture(&[("app.py", "a\n")]);
    let head = branch_with_fix(&f, "b\n").await;
    let pr = f.forge.open_pr(&f.repo, &new_pr("fix")).await.unwrap();
    let bot = f
        .forge
        .comment(&f.repo, pr, "Opened for incident 1")
        .await
        .unwrap();
    let person = f
        .forge
        .add_comment_as(&f.repo, pr, "alice", "/heal status")
        .unwrap();
    let review = f
        .forge
        .add_review(&f.repo, pr, "bob", ReviewState::Approved, "lgtm")
        .unwrap();
    assert_eq!((bot, person.id, review.id), (1, 2, 3));
    assert_eq!(review.commit_sha, head);

    let reopened = LocalForge::open(&f.state).unwrap();
    assert_eq!(
        reopened.repos().unwrap(),
        [LocalRepo {
            name: f.repo.clone(),
            path: f.work.canonicalize().unwrap()
        }]
    );
    assert_eq!(reopened.repo_of(pr).unwrap(), f.repo);
    let seen = reopened.pull_request(&f.repo, pr).await.unwrap();
    assert_eq!(seen.comments.len(), 2);
    assert_eq!(seen.comments[0].author, BOT_AUTHOR);
    assert_eq!(seen.comments[1].author, "alice");
    assert_eq!(seen.reviews, [review]);
}

#[tokio::test]
async fn a_push_moves_the_pr_head_past_an_earlier_review() {
    let f = fixture(&[("app.py", "a\n")]);
    let first = branch_with_fix(&f, "b\n").await;
    let pr = f.forge.open_pr(&f.repo, &new_pr("fix")).await.unwrap();
    let review = f
        .forge
        .add_review(&f.repo, pr, "bob", ReviewState::Approved, "")
        .unwrap();
    let second = f
        .forge
        .commit(&f.repo, "fix", "More", &[write("app.py", "c\n")], "k-more")
        .await
        .unwrap();
    let now = f.forge.pull_request(&f.repo, pr).await.unwrap();
    assert_eq!(review.commit_sha, first);
    assert_eq!(now.head_sha, second);
}

#[tokio::test]
async fn a_commit_on_the_checked_out_branch_keeps_the_folder_in_step() {
    let f = fixture(&[("deploy/rollout.yaml", "weight: 0\n")]);
    f.forge
        .commit(
            &f.repo,
            "main",
            "Canary 10%",
            &[write("deploy/rollout.yaml", "weight: 10\n")],
            "canary-10",
        )
        .await
        .unwrap();
    assert_eq!(
        fs::read_to_string(f.work.join("deploy/rollout.yaml")).unwrap(),
        "weight: 10\n"
    );
    let git = Repository::open(&f.work).unwrap();
    assert!(git.statuses(None).unwrap().is_empty(), "work tree is clean");
}

#[tokio::test]
async fn errors_name_what_is_missing() {
    let f = fixture(&[("app.py", "a\n")]);
    let missing_repo = RepoRef("nope".into());
    let err = f.forge.default_branch(&missing_repo).await.unwrap_err();
    assert!(err.to_string().contains("repository nope"), "{err}");
    assert!(err.to_string().contains("payment-service"), "{err}");

    let err = f.forge.branch_head(&f.repo, "ghost").await.unwrap_err();
    assert!(matches!(err, ForgeError::NotFound { .. }));
    assert!(err.to_string().contains("branch ghost"), "{err}");

    let err = f
        .forge
        .pull_request(&f.repo, PrNumber(7))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("PR #7"), "{err}");

    let err = f
        .forge
        .open_pr(&f.repo, &new_pr("ghost"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("branch ghost"), "{err}");

    let err = f
        .forge
        .commit(&f.repo, "main", "x", &[write("../escape", "x")], "k")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("../escape"), "{err}");

    let err = f
        .forge
        .commit(
            &f.repo,
            "main",
            "x",
            &[write("a", "1"), write("a/b", "2")],
            "k",
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("a/b"), "{err}");
}

#[tokio::test]
async fn default_branch_and_reads_of_missing_things() {
    let f = fixture(&[("app.py", "a\n")]);
    assert_eq!(f.forge.default_branch(&f.repo).await.unwrap(), "main");
    assert_eq!(
        f.forge
            .read_file(&f.repo, "main", "nope.txt")
            .await
            .unwrap(),
        None
    );
    let err = f
        .forge
        .read_file(&f.repo, "ghost", "app.py")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ref ghost"), "{err}");
}

#[tokio::test]
async fn closed_and_merged_prs_refuse_what_they_cannot_do() {
    let f = fixture(&[("app.py", "a\n")]);
    branch_with_fix(&f, "b\n").await;
    let pr = f.forge.open_pr(&f.repo, &new_pr("fix")).await.unwrap();
    f.forge.close(&f.repo, pr).await.unwrap();
    f.forge.close(&f.repo, pr).await.unwrap();
    let head = f.forge.pull_request(&f.repo, pr).await.unwrap().head_sha;
    let err = f.forge.merge(&f.repo, pr, &head).await.unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");
    let err = f
        .forge
        .add_review(&f.repo, pr, "bob", ReviewState::Approved, "")
        .unwrap_err();
    assert!(err.to_string().contains("#1"), "{err}");
    // A closed PR frees its head: a new PR for the same branch gets the next number.
    let reopened = f.forge.open_pr(&f.repo, &new_pr("fix")).await.unwrap();
    assert_eq!(reopened, PrNumber(2));
}

#[test]
fn a_corrupt_pr_file_is_named() {
    let f = fixture(&[("app.py", "a\n")]);
    fs::create_dir_all(f.state.join("forge/prs")).unwrap();
    fs::write(f.state.join("forge/prs/1.json"), "{ not json").unwrap();
    let err = f.forge.list_prs(&f.repo).unwrap_err();
    assert!(err.to_string().contains("prs/1.json"), "{err}");
}

#[tokio::test]
async fn concurrent_writers_lose_no_comment() {
    let f = fixture(&[("app.py", "a\n")]);
    branch_with_fix(&f, "b\n").await;
    let pr = f.forge.open_pr(&f.repo, &new_pr("fix")).await.unwrap();
    std::thread::scope(|scope| {
        for i in 0..8 {
            let (state, repo) = (&f.state, &f.repo);
            // Each writer opens its own forge, as separate CLI processes would.
            scope.spawn(move || {
                let forge = LocalForge::open(state).unwrap();
                forge
                    .add_comment_as(repo, pr, &format!("person-{i}"), "hi")
                    .unwrap();
            });
        }
    });
    let seen = f.forge.pull_request(&f.repo, pr).await.unwrap();
    let mut ids: Vec<u64> = seen.comments.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=8).collect::<Vec<_>>());
}
