//! Lays out a demo work directory: the payment-service repository (compiled into the binary,
//! so the demo runs from anywhere) as a real git repository tagged with its stable release,
//! registered with the local forge.

use super::Scenario;
use anyhow::Context;
use std::path::Path;

/// The sample service, as in `testdata/services/payment-service`.
pub(crate) const PAYMENT_SERVICE: &[(&str, &str)] = &[
    (
        "payment_processor.py",
        include_str!("../../testdata/services/payment-service/payment_processor.py"),
    ),
    (
        "receipts.py",
        include_str!("../../testdata/services/payment-service/receipts.py"),
    ),
    (
        "users.py",
        include_str!("../../testdata/services/payment-service/users.py"),
    ),
    (
        "ledger.py",
        include_str!("../../testdata/services/payment-service/ledger.py"),
    ),
    (
        "tests/test_payment.py",
        include_str!("../../testdata/services/payment-service/tests/test_payment.py"),
    ),
    (
        ".github/healbot.yml",
        include_str!("../../testdata/services/payment-service/.github/healbot.yml"),
    ),
    (
        "catalog.yaml",
        include_str!("../../testdata/services/payment-service/catalog.yaml"),
    ),
    (
        "deploy/rollout.yaml",
        include_str!("../../testdata/services/payment-service/deploy/rollout.yaml"),
    ),
];

/// The dependency catalog healbot's RCA uses in the demo.
pub const CATALOG: &str = include_str!("../../testdata/services/payment-service/catalog.yaml");

/// The stable release the manifest names, tagged on the first commit.
pub const STABLE_TAG: &str = "v1.4.2";

/// The tag of the healthy release before [`STABLE_TAG`] in the bad-deploy scenario.
pub const PREVIOUS_TAG: &str = "v1.4.1";

/// The summary of the bad-deploy scenario's faulty commit.
pub const BAD_COMMIT_SUMMARY: &str = "Send a receipt for every payment";

/// The line the bad-deploy scenario's release 1.4.1 guards, and the guard.
const UNGUARDED: &str = "    send_receipt(user.email, payment_id, amount_cents)\n";
const GUARDED: &str =
    "    if user.email is not None:\n        send_receipt(user.email, payment_id, amount_cents)\n";

/// Writes the service into `dir` and makes it a git repository on `main` whose head is tagged
/// [`STABLE_TAG`], the release the manifest deploys. For most scenarios that is one commit;
/// for [`Scenario::BadDeploy`] it is a healthy release three days old ([`PREVIOUS_TAG`],
/// customers without an email get no receipt) and, ten minutes before now, a commit that drops
/// that check ([`BAD_COMMIT_SUMMARY`]): the path that worked breaks for them.
pub(crate) fn create_service_repo(dir: &Path, scenario: Scenario) -> anyhow::Result<()> {
    let mut opts = git2::RepositoryInitOptions::new();
    opts.initial_head("main");
    let repo = git2::Repository::init_opts(dir, &opts)
        .with_context(|| format!("git init {}", dir.display()))?;
    let now = chrono::Utc::now().timestamp();
    let head = if scenario == Scenario::BadDeploy {
        let (file, original) = PAYMENT_SERVICE[0];
        anyhow::ensure!(
            original.contains(UNGUARDED),
            "{file} no longer has the line the bad-deploy scenario guards"
        );
        let guarded = original.replacen(UNGUARDED, GUARDED, 1);
        write_files(dir, &[(file, guarded.as_str())])?;
        write_files(dir, &PAYMENT_SERVICE[1..])?;
        let healthy = commit_all(
            &repo,
            "payment-service v1.4.1\n\nCharge, then email a receipt to customers with an address.",
            now - 3 * 24 * 3600,
        )?;
        repo.tag_lightweight(PREVIOUS_TAG, &repo.find_object(healthy, None)?, false)?;
        write_files(dir, &[(file, original)])?;
        commit_all(
            &repo,
            &format!(
                "{BAD_COMMIT_SUMMARY}\n\nThe mail relay checks addresses now, so the service no \
                 longer has to."
            ),
            now - 10 * 60,
        )?
    } else {
        write_files(dir, PAYMENT_SERVICE)?;
        commit_all(
            &repo,
            "payment-service v1.4.2\n\nCharge, then email a receipt.",
            now,
        )?
    };
    let object = repo.find_object(head, None)?;
    repo.tag_lightweight(STABLE_TAG, &object, false)?;
    Ok(())
}

fn write_files(dir: &Path, files: &[(&str, &str)]) -> anyhow::Result<()> {
    for (path, content) in files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&target, content)
            .with_context(|| format!("writing {}", target.display()))?;
    }
    Ok(())
}

/// Commits the whole work tree on `HEAD`, authored at `time` (unix seconds).
fn commit_all(repo: &git2::Repository, message: &str, time: i64) -> anyhow::Result<git2::Oid> {
    let mut index = repo.index()?;
    index.add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let sig = git2::Signature::new(
        "payments team",
        "payments@example.com",
        &git2::Time::new(time, 0),
    )?;
    let parent = match repo.head() {
        Ok(h) => Some(h.peel_to_commit()?),
        Err(_) => None,
    };
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    Ok(repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)?)
}
