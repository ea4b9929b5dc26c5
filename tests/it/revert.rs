//! Integration tests: fixes other than templates through the whole orchestrator. The
//! bad-deploy demo scenario (an incident right after the commit that caused it) must end in a
//! PR that reverts exactly that commit, validated, canaried and completed; a connection-pool
//! incident must carry a config fix to a PR.

use healbot::demo::{self, Demo, DemoOptions, Scenario};
use healbot::detect::{ErrorPattern, Incident, PatternMatch, Signal};
use healbot::forge::{Forge, LocalForge, PrState, PullRequest, RepoRef};
use healbot::model::{IncidentId, Severity};
use healbot::operation::OpState;
use healbot::orchestrator::{artifacts, OperationSpec, Progress};
use std::path::Path;
use std::time::Duration;

fn repo() -> RepoRef {
    RepoRef("payment-service".into())
}

fn prs(state: &Path) -> Vec<PullRequest> {
    LocalForge::open(state)
        .expect("open forge")
        .list_prs(&repo())
        .expect("list PRs")
}

fn git(workdir: &Path) -> git2::Repository {
    git2::Repository::open(workdir.join("repos/payment-service")).expect("open repo")
}

fn tagged(git: &git2::Repository, tag: &str) -> git2::Oid {
    git.revparse_single(tag)
        .and_then(|o| o.peel_to_commit())
        .map(|c| c.id())
        .unwrap_or_else(|e| panic!("{tag}: {e}"))
}

/// Paths whose blobs differ between two trees.
fn changed_paths(git: &git2::Repository, from: git2::Oid, to: git2::Oid) -> Vec<String> {
    let a = git.find_commit(from).unwrap().tree().unwrap();
    let b = git.find_commit(to).unwrap().tree().unwrap();
    let diff = git.diff_tree_to_tree(Some(&a), Some(&b), None).unwrap();
    diff.deltas()
        .map(|d| {
            d.new_file()
                .path()
                .or_else(|| d.old_file().path())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[tokio::test]
async fn bad_deploy_is_reverted_canaried_and_completed() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = demo::run(DemoOptions {
        scenario: Scenario::BadDeploy,
        workdir: dir.path().to_path_buf(),
        requests: 200,
        seed: 7,
        canary_wait: Duration::ZERO,
        scrape_interval: demo::SCRAPE_INTERVAL,
        pause_for_review: false,
        resume: false,
        incident: None,
    })
    .await
    .expect("the demo runs");
    assert_eq!(
        outcome
            .operations
            .iter()
            .map(|(_, s)| *s)
            .collect::<Vec<_>>(),
        [OpState::Completed],
        "{outcome:?}"
    );
    assert!(outcome.as_expected, "{outcome:?}");

    let git = git(dir.path());
    let bad = tagged(&git, "v1.4.2");
    let healthy = tagged(&git, "v1.4.1");
    let bad_commit = git.find_commit(bad).unwrap();
    assert_eq!(bad_commit.parent_id(0).unwrap(), healthy, "one bad commit");
    let bad_sha = bad.to_string();

    let prs = prs(dir.path());
    let pr = &prs[0];
    assert_eq!(pr.state, PrState::Merged);
    assert!(pr.title.contains("revert"), "{}", pr.title);

    // The PR's commit sits on the bad release and undoes exactly its change.
    let fix = git
        .find_commit(git2::Oid::from_str(&pr.head_sha.0).unwrap())
        .unwrap();
    assert_eq!(
        fix.parent_id(0).unwrap(),
        bad,
        "the fix is on the deployed head"
    );
    assert_eq!(
        fix.tree_id(),
        git.find_commit(healthy).unwrap().tree_id(),
        "reverting the bad commit gives back the healthy release's tree"
    );
    assert_eq!(
        changed_paths(&git, bad, fix.id()),
        changed_paths(&git, healthy, bad),
        "the revert touches the files the bad commit touched, no others"
    );
    let message = fix.message().unwrap_or_default();
    assert!(
        message.starts_with("Revert \"Send a receipt for every payment\"")
            && message.contains(&format!("This reverts commit {bad_sha}.")),
        "{message}"
    );

    // The body says what kind of fix it is, which commit it reverts, and what else was looked at.
    for part in [
        "## Fix (revert): `revert.full`".to_string(),
        format!("Reverts commit {bad_sha}"),
        "Fixes considered".to_string(),
        "python.none-guard".to_string(),
        "not tried: an earlier candidate validated".to_string(),
        "+    if user.email is not None:".to_string(),
        "Validation: re-parses".to_string(),
    ] {
        assert!(
            pr.body.contains(&part),
            "PR body lacks {part:?}:\n{}",
            pr.body
        );
    }
}

/// A connection-pool incident: no revert (the code is old), no template fixes the pattern, so
/// the config fix of the service's database settings goes to the PR.
#[tokio::test]
async fn a_pool_exhaustion_incident_gets_a_config_fix_pr() {
    let dir = tempfile::tempdir().unwrap();
    let session = crate::support::demo_session(dir.path(), 15_000);
    let demo = Demo::create(dir.path(), session).await.expect("demo setup");

    // The service gets database settings, named in its healbot config.
    let repo_path = dir.path().join("repos/payment-service");
    std::fs::create_dir_all(repo_path.join("config")).unwrap();
    std::fs::write(
        repo_path.join("config/database.yaml"),
        "# Connection settings for the ledger database.\ndatabase:\n  host: ledger-db\n  pool_size: 10 # per replica\n",
    )
    .unwrap();
    let config_path = repo_path.join(".github/healbot.yml");
    let config = std::fs::read_to_string(&config_path).unwrap().replace(
        "manifests: [\"deploy/rollout.yaml\"]",
        "manifests: [\"deploy/rollout.yaml\", \"config/database.yaml\"]",
    );
    assert!(config.contains("config/database.yaml"), "{config}");
    std::fs::write(&config_path, config).unwrap();
    let git = git(dir.path());
    let mut index = git.index().unwrap();
    index
        .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = git.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("payments team", "payments@example.com").unwrap();
    let head = git.head().unwrap().peel_to_commit().unwrap();
    git.commit(
        Some("HEAD"),
        &sig,
        &sig,
        "Ledger database settings",
        &tree,
        &[&head],
    )
    .unwrap();

    let trace = "Traceback (most recent call last):\n  \
                 File \"/app/payment_processor.py\", line 24, in process_payment\n    \
                 payment_id = _ledger.charge(user.account_id, amount_cents)\n\
                 sqlalchemy.exc.TimeoutError: QueuePool limit of size 10 overflow 0 reached, \
                 connection timed out, timeout 30\n";
    let incident = Incident {
        id: IncidentId("inc-pool".into()),
        service: "payment-service".into(),
        severity: Severity::High,
        title: "payment-service: database connection pool exhausted".into(),
        detected_at: chrono::Utc::now().timestamp(),
        signals: vec![Signal::ErrorLog {
            service: "payment-service".into(),
            message: "QueuePool limit of size 10 overflow 0 reached".into(),
            stacktrace: Some(trace.into()),
        }],
        pattern: Some(PatternMatch {
            pattern: ErrorPattern::ConnectionPoolExhausted,
            confidence: 0.9,
            evidence: "QueuePool limit of size 10 overflow 0 reached".into(),
        }),
        confidence: None,
    };
    let orchestrator = &demo.orchestrator;
    let id = orchestrator
        .open(OperationSpec {
            incident,
            repo: repo(),
        })
        .await
        .unwrap();
    let progress = orchestrator.drive(&id).await.unwrap();
    let op = orchestrator.journal.operation(&id).await.unwrap();
    assert_eq!(
        progress,
        Progress::Waiting(OpState::AwaitingReview),
        "{:?}",
        op.history
    );
    let plan = op.artifact(&artifacts::PLAN).unwrap().unwrap();
    assert_eq!(plan.fix_kind, healbot::plan::FixKind::Config);

    let pr = healbot::orchestrator::pr_of(&op).unwrap();
    let pr = demo.forge.pull_request(&repo(), pr).await.unwrap();
    assert!(pr.title.contains("config"), "{}", pr.title);
    for part in [
        "## Fix (config): `config.pool-size`",
        "-  pool_size: 10 # per replica",
        "+  pool_size: 15 # per replica",
        "not offered: revert:",
    ] {
        assert!(
            pr.body.contains(part),
            "PR body lacks {part:?}:\n{}",
            pr.body
        );
    }
    let base = git.head().unwrap().peel_to_commit().unwrap().id();
    let fix = git2::Oid::from_str(&pr.head_sha.0).unwrap();
    assert_eq!(changed_paths(&git, base, fix), ["config/database.yaml"]);
}
