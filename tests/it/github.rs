//! The GitHub App forge against the fake GitHub: the real JWT and installation-token code, a
//! full `Forge` walk with its idempotent writes, the GitHub-only calls (check run, reaction,
//! permission) and the rate-limit rules. The fake validates every request and response against
//! GitHub's OpenAPI schemas; `assert_clean` fails a test on any mismatch.

use crate::support::github::{FakeGithub, Injection, APP_ID, BOT_LOGIN, INSTALLATION_ID};
use healbot::forge::github::{
    AppCredentials, AppId, AppKey, CheckConclusion, CheckRunSpec, CommentId, GithubConfig,
    GithubForge, InstallationId, RetryPolicy,
};
use healbot::forge::{
    CommitSha, FileChange, Forge, ForgeError, NewPullRequest, PrNumber, PrState, RepoRef,
    ReviewState,
};
use healbot::model::Permission;
use std::time::{Duration, Instant};

const REPO: &str = "acme/shop";

fn repo() -> RepoRef {
    RepoRef(REPO.into())
}

fn config(fake: &FakeGithub) -> GithubConfig {
    let key = AppKey::from_file(&crate::support::github::test_key_path()).expect("test key");
    let mut config = GithubConfig::new(
        fake.url(),
        AppCredentials {
            app_id: AppId(APP_ID),
            key,
        },
    );
    config.retry = RetryPolicy {
        max_attempts: 5,
        backoff_base: Duration::from_millis(50),
        max_wait: Duration::from_secs(10),
    };
    config
}

async fn setup() -> (FakeGithub, GithubForge) {
    let fake = FakeGithub::start().await;
    fake.add_repo(
        REPO,
        "main",
        &[
            ("app/handler.py", "def handle(x):\n    return x[0]\n"),
            ("README.md", "shop\n"),
        ],
    );
    let forge = GithubForge::new(config(&fake)).expect("forge");
    (fake, forge)
}

fn change(path: &str, content: &str) -> FileChange {
    FileChange {
        path: path.into(),
        content: Some(content.into()),
    }
}

#[tokio::test]
async fn a_full_forge_walk_is_idempotent_and_schema_clean() {
    let (fake, forge) = setup().await;
    let repo = repo();

    assert_eq!(forge.default_branch(&repo).await.expect("default"), "main");
    let main = forge.branch_head(&repo, "main").await.expect("main head");
    assert_eq!(Some(main.0.clone()), fake.branch(REPO, "main"));
    assert!(matches!(
        forge.branch_head(&repo, "nope").await,
        Err(ForgeError::NotFound { .. })
    ));

    forge
        .create_branch(&repo, "healbot/inc-1", &main)
        .await
        .expect("branch");
    // Creating it again leaves it as it is.
    forge
        .create_branch(&repo, "healbot/inc-1", &main)
        .await
        .expect("branch again");

    let changes = [
        change(
            "app/handler.py",
            "def handle(x):\n    return x[0] if x else None\n",
        ),
        FileChange {
            path: "README.md".into(),
            content: None,
        },
    ];
    let first = forge
        .commit(
            &repo,
            "healbot/inc-1",
            "Guard empty input",
            &changes,
            "op-1/patch",
        )
        .await
        .expect("commit");
    let again = forge
        .commit(
            &repo,
            "healbot/inc-1",
            "Guard empty input",
            &changes,
            "op-1/patch",
        )
        .await
        .expect("commit again");
    assert_eq!(first, again, "the same key gives one commit");
    assert_eq!(fake.branch(REPO, "healbot/inc-1"), Some(first.0.clone()));
    assert_eq!(fake.commit_parents(&first.0), vec![main.0.clone()]);
    let message = fake.commit_message(&first.0).expect("message");
    assert!(
        message.ends_with("\n\nHealbot-Idempotency-Key: op-1/patch\n"),
        "{message}"
    );
    assert_eq!(fake.file(REPO, "healbot/inc-1", "README.md"), None);
    assert_eq!(
        forge
            .read_file(&repo, "healbot/inc-1", "app/handler.py")
            .await
            .expect("read")
            .as_deref(),
        Some("def handle(x):\n    return x[0] if x else None\n")
    );
    assert_eq!(
        forge
            .read_file(&repo, "main", "missing.txt")
            .await
            .expect("read"),
        None
    );

    let new = NewPullRequest {
        title: "Fix IndexError in handle".into(),
        body: "## Incident\nIndexError on empty input.\n".into(),
        head: "healbot/inc-1".into(),
        base: "main".into(),
        labels: vec!["healbot".into(), "risk:low".into()],
    };
    let pr = forge.open_pr(&repo, &new).await.expect("open");
    let pr_again = forge.open_pr(&repo, &new).await.expect("open again");
    assert_eq!(pr, pr_again);
    assert_eq!(fake.pr_numbers(REPO), vec![pr.0]);
    assert_eq!(fake.pr_labels(pr.0), vec!["healbot", "risk:low"]);

    let comment = forge
        .comment(&repo, pr, "Gates passed.\n\n<sub>audit seq 7</sub>")
        .await
        .expect("comment");
    fake.expect_comments(&["Gates passed."]);
    fake.add_comment(REPO, pr.0, "alice", "/heal status");
    fake.add_review(REPO, pr.0, "alice", "APPROVED", "lgtm");

    let loaded = forge.pull_request(&repo, pr).await.expect("load");
    assert_eq!(loaded.number, pr);
    assert_eq!(loaded.state, PrState::Open);
    assert_eq!(loaded.head, "healbot/inc-1");
    assert_eq!(loaded.head_sha, first);
    assert_eq!(loaded.base, "main");
    assert_eq!(loaded.labels, vec!["healbot", "risk:low"]);
    assert_eq!(loaded.comments.len(), 2);
    assert_eq!(loaded.comments[0].id, comment);
    assert_eq!(loaded.comments[0].author, BOT_LOGIN);
    assert_eq!(loaded.comments[1].author, "alice");
    assert_eq!(loaded.reviews.len(), 1);
    assert_eq!(loaded.reviews[0].state, ReviewState::Approved);
    assert_eq!(loaded.reviews[0].commit_sha, first);
    insta::assert_snapshot!("github_pr_body", loaded.body);

    let merge = forge.merge(&repo, pr, &first).await.expect("merge");
    assert_eq!(
        fake.commit_parents(&merge.0),
        vec![main.0.clone(), first.0.clone()]
    );
    assert_eq!(fake.branch(REPO, "main"), Some(merge.0.clone()));
    assert_eq!(
        fake.file(REPO, "main", "app/handler.py").as_deref(),
        Some("def handle(x):\n    return x[0] if x else None\n")
    );
    assert_eq!(
        forge.merge(&repo, pr, &first).await.expect("merge again"),
        merge
    );
    let merged = forge.pull_request(&repo, pr).await.expect("load merged");
    assert_eq!(merged.state, PrState::Merged);
    assert_eq!(merged.merge_sha, Some(merge.clone()));
    assert!(
        forge.close(&repo, pr).await.is_err(),
        "a merged PR cannot be closed"
    );

    // A second PR, closed instead of merged; closing twice is fine.
    let head = forge.branch_head(&repo, "main").await.expect("head");
    forge
        .create_branch(&repo, "healbot/inc-2", &head)
        .await
        .expect("branch 2");
    forge
        .commit(
            &repo,
            "healbot/inc-2",
            "Other",
            &[change("x.txt", "x\n")],
            "op-2/patch",
        )
        .await
        .expect("commit 2");
    let pr2 = forge
        .open_pr(
            &repo,
            &NewPullRequest {
                head: "healbot/inc-2".into(),
                labels: vec![],
                ..new.clone()
            },
        )
        .await
        .expect("open 2");
    assert_ne!(pr2, pr);
    forge.close(&repo, pr2).await.expect("close");
    forge.close(&repo, pr2).await.expect("close again");
    assert_eq!(
        forge.pull_request(&repo, pr2).await.expect("load 2").state,
        PrState::Closed
    );
    assert!(
        forge.merge(&repo, pr2, &head).await.is_err(),
        "a closed PR is not merged"
    );
    assert!(matches!(
        forge.pull_request(&repo, PrNumber(99)).await,
        Err(ForgeError::NotFound { .. })
    ));

    fake.assert_clean();
}

#[tokio::test]
async fn a_push_to_the_head_branch_moves_the_pr_head() {
    let (fake, forge) = setup().await;
    let repo = repo();
    let main = forge.branch_head(&repo, "main").await.expect("head");
    forge
        .create_branch(&repo, "healbot/inc-3", &main)
        .await
        .expect("branch");
    let pr = forge
        .open_pr(
            &repo,
            &NewPullRequest {
                title: "t".into(),
                body: "b".into(),
                head: "healbot/inc-3".into(),
                base: "main".into(),
                labels: vec![],
            },
        )
        .await;
    // Nothing to compare: GitHub would refuse a PR without commits, the fake allows it.
    let pr = pr.expect("open");
    let pushed = fake.push(
        REPO,
        "healbot/inc-3",
        &[("b.txt", "b\n")],
        "person's push\n",
    );
    let loaded = forge.pull_request(&repo, pr).await.expect("load");
    assert_eq!(loaded.head_sha, CommitSha(pushed));
    fake.assert_clean();
}

#[tokio::test]
async fn check_run_reaction_and_permission() {
    let (fake, forge) = setup().await;
    let repo = repo();
    let main = forge.branch_head(&repo, "main").await.expect("head");

    let summary = "| gate | result |\n|---|---|\n| error budget | pass |\n| freeze | pass |\n";
    let spec = CheckRunSpec::safety_gates(main.clone(), "All gates passed", summary, None);
    let id = forge
        .create_check_run(&repo, &spec)
        .await
        .expect("check run");
    let done = CheckRunSpec {
        conclusion: Some(CheckConclusion::Success),
        ..spec.clone()
    };
    forge
        .update_check_run(&repo, id, &done)
        .await
        .expect("update");
    let runs = fake.check_runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["name"], "healbot/safety-gates");
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[0]["conclusion"], "success");
    let actions: Vec<&str> = runs[0]["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a["identifier"].as_str())
        .collect();
    assert_eq!(actions, vec!["approve", "rollback"]);
    insta::assert_snapshot!(
        "github_check_run_summary",
        runs[0]["output"]["summary"].as_str().unwrap_or_default()
    );

    forge
        .create_branch(&repo, "healbot/inc-4", &main)
        .await
        .expect("branch");
    let pr = forge
        .open_pr(
            &repo,
            &NewPullRequest {
                title: "t".into(),
                body: "b".into(),
                head: "healbot/inc-4".into(),
                base: "main".into(),
                labels: vec!["healbot".into()],
            },
        )
        .await
        .expect("open");
    let command = fake.add_comment(REPO, pr.0, "alice", "/heal approve");
    forge
        .acknowledge(&repo, CommentId(command))
        .await
        .expect("react");
    forge
        .acknowledge(&repo, CommentId(command))
        .await
        .expect("react twice");
    assert_eq!(fake.reactions(), vec![(command, "eyes".to_string())]);

    fake.set_permission(REPO, "alice", "write");
    fake.set_permission(REPO, "maya", "maintain");
    fake.set_permission(REPO, "rita", "read");
    assert_eq!(
        forge.permission(&repo, "alice").await.expect("perm"),
        Permission::Write
    );
    assert_eq!(
        forge.permission(&repo, "maya").await.expect("perm"),
        Permission::Maintain
    );
    assert_eq!(
        forge.permission(&repo, "rita").await.expect("perm"),
        Permission::Read
    );
    assert_eq!(
        forge.permission(&repo, "mallory").await.expect("perm"),
        Permission::None
    );
    assert!(Permission::Maintain >= Permission::Write);
    assert!(Permission::Read < Permission::Write);

    fake.assert_clean();
}

#[tokio::test]
async fn one_token_serves_many_calls_and_is_refreshed_near_expiry() {
    let (fake, forge) = setup().await;
    let repo = repo();
    for _ in 0..5 {
        forge.branch_head(&repo, "main").await.expect("head");
    }
    assert_eq!(fake.token_requests(), 1);

    // Tokens that expire within the refresh margin are replaced on the next call.
    let (fake, forge) = setup().await;
    fake.set_token_ttl(60);
    forge.branch_head(&repo, "main").await.expect("head");
    forge.branch_head(&repo, "main").await.expect("head");
    assert_eq!(fake.token_requests(), 2);

    let token = forge
        .client()
        .installation_token(InstallationId(INSTALLATION_ID))
        .await
        .expect("token");
    assert!(
        !format!("{token:?}").contains("ghs_"),
        "Debug must hide the token"
    );
    fake.assert_clean();
}

#[tokio::test]
async fn a_wrong_app_key_is_refused_without_leaking_it() {
    let fake = FakeGithub::start().await;
    fake.add_repo(REPO, "main", &[("a", "a\n")]);
    let mut config = config(&fake);
    config.app.app_id = AppId(1);
    let forge = GithubForge::new(config).expect("forge");
    let err = forge
        .branch_head(&repo(), "main")
        .await
        .expect_err("bad iss");
    let msg = err.to_string();
    assert!(msg.contains("401"), "{msg}");
    assert!(!msg.contains("BEGIN"), "{msg}");
    assert_eq!(fake.token_requests(), 0);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (fake, forge) = setup().await;
    forge.branch_head(&repo(), "main").await.expect("warm up");
    fake.inject(Injection::RetryAfter(1));
    let start = Instant::now();
    forge.branch_head(&repo(), "main").await.expect("head");
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    fake.assert_clean();
}

#[tokio::test]
async fn an_exhausted_limit_waits_for_the_reset() {
    let (fake, forge) = setup().await;
    forge.branch_head(&repo(), "main").await.expect("warm up");
    fake.inject(Injection::Exhausted(1));
    let start = Instant::now();
    forge.branch_head(&repo(), "main").await.expect("head");
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );

    // A success that uses up the window makes the next call wait for the reset too.
    fake.inject(Injection::LastOfWindow(1));
    forge
        .branch_head(&repo(), "main")
        .await
        .expect("last of window");
    let start = Instant::now();
    forge
        .branch_head(&repo(), "main")
        .await
        .expect("after reset");
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    fake.assert_clean();
}

#[tokio::test]
async fn secondary_limits_back_off_and_give_up() {
    let (fake, forge) = setup().await;
    forge.branch_head(&repo(), "main").await.expect("warm up");
    fake.inject(Injection::Secondary);
    fake.inject(Injection::Secondary);
    let start = Instant::now();
    forge.branch_head(&repo(), "main").await.expect("head");
    // 50 ms, then 100 ms.
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );

    for _ in 0..5 {
        fake.inject(Injection::Secondary);
    }
    let err = forge
        .branch_head(&repo(), "main")
        .await
        .expect_err("gives up");
    assert!(err.to_string().contains("rate limited"), "{err}");
    fake.assert_clean();
}

#[tokio::test]
async fn writes_to_one_installation_go_one_at_a_time() {
    let (fake, forge) = setup().await;
    let forge = std::sync::Arc::new(forge);
    let repo = repo();
    let main = forge.branch_head(&repo, "main").await.expect("head");
    let mut tasks = Vec::new();
    for i in 0..4 {
        let forge = forge.clone();
        let repo = repo.clone();
        let main = main.clone();
        tasks.push(tokio::spawn(async move {
            forge
                .create_branch(&repo, &format!("healbot/par-{i}"), &main)
                .await
        }));
    }
    for t in tasks {
        t.await.expect("join").expect("branch");
    }
    for i in 0..4 {
        assert_eq!(
            fake.branch(REPO, &format!("healbot/par-{i}")),
            Some(main.0.clone())
        );
    }
    fake.assert_clean();
}
