//! Integration tests: `healbot pr …` through the real binary, on a state directory whose local
//! forge the test prepares itself. Reviews and comments are checked on the forge; the
//! orchestrator behind them may still refuse, but the process must never panic.

use git2::{Repository, RepositoryInitOptions, Signature};
use healbot::forge::{
    FileChange, Forge, LocalForge, NewPullRequest, PrNumber, RepoRef, ReviewState, BOT_AUTHOR,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;

struct Setup {
    dir: TempDir,
    state: PathBuf,
    repo: RepoRef,
}

/// A git repository `payment-service` on `main`, a healbot branch with one fix commit, and PR #1
/// with a comment from the bot.
async fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path().join("payment-service");
    let state = dir.path().join("state");
    let mut opts = RepositoryInitOptions::new();
    opts.initial_head("main");
    let git = Repository::init_opts(&work, &opts).expect("git init");
    std::fs::write(work.join("app.py"), "send_receipt(user.email)\n").expect("write file");
    let mut index = git.index().expect("index");
    index
        .add_path(Path::new("app.py"))
        .expect("add app.py to the index");
    index.write().expect("write index");
    let tree = git
        .find_tree(index.write_tree().expect("write tree"))
        .expect("tree");
    let sig = Signature::now("dev", "dev@example.com").expect("signature");
    git.commit(Some("HEAD"), &sig, &sig, "initial", &tree, &[])
        .expect("initial commit");

    let forge = LocalForge::open(&state).expect("open forge");
    let repo = forge
        .register_repo("payment-service", &work)
        .expect("register repo");
    let main = forge.branch_head(&repo, "main").await.expect("main");
    forge
        .create_branch(&repo, "healbot/inc-1", &main)
        .await
        .expect("branch");
    let change = FileChange {
        path: "app.py".into(),
        content: Some("if user.email:\n    send_receipt(user.email)\n".into()),
    };
    forge
        .commit(
            &repo,
            "healbot/inc-1",
            "Guard missing email",
            &[change],
            "inc-1/patch",
        )
        .await
        .expect("commit");
    let pr = forge
        .open_pr(
            &repo,
            &NewPullRequest {
                title: "Guard missing email in process_payment".into(),
                body: "Incident inc-1: AttributeError on user.email".into(),
                head: "healbot/inc-1".into(),
                base: "main".into(),
                labels: vec!["healbot".into(), "risk:low".into()],
            },
        )
        .await
        .expect("open PR");
    assert_eq!(pr, PrNumber(1));
    forge
        .comment(&repo, pr, "healbot opened this PR for incident inc-1")
        .await
        .expect("bot comment");
    Setup { dir, state, repo }
}

fn healbot(state: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_healbot"))
        .arg("pr")
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .env_remove("HEALBOT_STATE")
        .output()
        .expect("run healbot");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "healbot panicked: {stderr}");
    assert_ne!(
        output.status.code(),
        Some(101),
        "healbot panicked: {stderr}"
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn pr_one(s: &Setup) -> healbot::forge::PullRequest {
    LocalForge::open(&s.state)
        .expect("reopen forge")
        .pull_request(&s.repo, PrNumber(1))
        .await
        .expect("PR #1")
}

#[tokio::test]
async fn list_shows_number_state_title_branches_and_review_status() {
    let s = setup().await;
    let out = healbot(&s.state, &["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let row = text
        .lines()
        .find(|l| l.starts_with("#1"))
        .unwrap_or_else(|| panic!("no row for #1 in:\n{text}"));
    for expected in [
        "open",
        "Guard missing email in process_payment",
        "healbot/inc-1 → main",
        "awaiting review",
    ] {
        assert!(row.contains(expected), "{expected:?} missing in {row:?}");
    }
}

#[tokio::test]
async fn show_prints_the_pr_with_its_conversation() {
    let s = setup().await;
    let head = pr_one(&s).await.head_sha;
    let out = healbot(&s.state, &["show", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "Guard missing email in process_payment",
        "open",
        head.0.as_str(),
        "healbot, risk:low",
        "Incident inc-1: AttributeError on user.email",
        "healbot opened this PR for incident inc-1",
        BOT_AUTHOR,
    ] {
        assert!(text.contains(expected), "{expected:?} missing in:\n{text}");
    }
}

#[tokio::test]
async fn review_is_recorded_on_the_forge_at_the_head() {
    let s = setup().await;
    let out = healbot(
        &s.state,
        &[
            "review",
            "1",
            "--approve",
            "-m",
            "looks right",
            "--as",
            "alice",
        ],
    );
    let pr = pr_one(&s).await;
    assert_eq!(pr.reviews.len(), 1, "{}", stderr(&out));
    let review = &pr.reviews[0];
    assert_eq!(review.author, "alice");
    assert_eq!(review.state, ReviewState::Approved);
    assert_eq!(review.body, "looks right");
    assert_eq!(review.commit_sha, pr.head_sha);

    let out = healbot(
        &s.state,
        &["review", "#1", "--request-changes", "--as", "bob"],
    );
    let pr = pr_one(&s).await;
    assert_eq!(pr.reviews.len(), 2, "{}", stderr(&out));
    assert_eq!(pr.reviews[1].state, ReviewState::ChangesRequested);

    let listed = stdout(&healbot(&s.state, &["list"]));
    assert!(listed.contains("changes requested by bob"), "{listed}");
}

#[tokio::test]
async fn comment_is_recorded_and_bad_commands_get_a_reply_from_healbot() {
    let s = setup().await;
    let body = "Checking this first.\n/heal pause\n/heal frobnicate\n\n```\n/heal approve\n```";
    let out = healbot(&s.state, &["comment", "1", body, "--as", "bob"]);
    let pr = pr_one(&s).await;
    let authors: Vec<&str> = pr.comments.iter().map(|c| c.author.as_str()).collect();
    assert_eq!(authors, [BOT_AUTHOR, "bob", BOT_AUTHOR], "{}", stderr(&out));
    assert_eq!(pr.comments[1].body, body);
    let reply = &pr.comments[2].body;
    assert!(reply.contains("`frobnicate`"), "{reply}");
    assert!(
        reply.contains("/heal approve"),
        "the reply lists the verbs: {reply}"
    );
    assert!(stdout(&out).contains("frobnicate"), "{}", stdout(&out));
}

#[tokio::test]
async fn a_comment_without_commands_gets_no_reply() {
    let s = setup().await;
    let out = healbot(
        &s.state,
        &[
            "comment",
            "1",
            "> /heal approve\n\nNot yet, `/heal approve` later",
            "--as",
            "bob",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let pr = pr_one(&s).await;
    assert_eq!(pr.comments.len(), 2);
    assert_eq!(pr.comments[1].author, "bob");
}

#[tokio::test]
async fn the_person_defaults_to_user_then_operator() {
    let s = setup().await;
    let run = |user: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_healbot"));
        cmd.args(["pr", "comment", "1", "hello", "--state-dir"])
            .arg(&s.state)
            .env_remove("HEALBOT_STATE");
        match user {
            Some(user) => cmd.env("USER", user),
            None => cmd.env_remove("USER"),
        };
        let out = cmd.output().expect("run healbot");
        assert!(out.status.success(), "{}", stderr(&out));
    };
    run(Some("carol"));
    run(None);
    let pr = pr_one(&s).await;
    let authors: Vec<&str> = pr.comments.iter().map(|c| c.author.as_str()).collect();
    assert_eq!(authors, [BOT_AUTHOR, "carol", "operator"]);
}

#[tokio::test]
async fn the_state_directory_comes_from_the_environment_too() {
    let s = setup().await;
    let out = Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(["pr", "list"])
        .env("HEALBOT_STATE", &s.state)
        .current_dir(s.dir.path())
        .output()
        .expect("run healbot");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("#1"), "{}", stdout(&out));
}

#[tokio::test]
async fn mistakes_fail_with_a_clear_message() {
    let s = setup().await;

    let out = healbot(&s.state, &["show", "99"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("#99"), "{}", stderr(&out));

    let out = healbot(&s.state, &["review", "1", "--approve", "--request-changes"]);
    assert!(!out.status.success());

    let out = healbot(&s.state, &["review", "1"]);
    assert!(!out.status.success());

    let out = healbot(&s.state, &["review", "1", "--approve", "--as", BOT_AUTHOR]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("healbot itself"), "{}", stderr(&out));
    assert!(pr_one(&s).await.reviews.is_empty());

    let out = healbot(&s.state, &["list", "--repo", "nope"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("payment-service"), "{}", stderr(&out));

    let empty = s.dir.path().join("empty-state");
    let out = healbot(&empty, &["list"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no repository"), "{}", stderr(&out));
    assert!(
        !empty.exists(),
        "looking must not create the state directory"
    );
}
