//! Lays out a demo work directory: the payment-service repository (compiled into the binary,
//! so the demo runs from anywhere) as a real git repository tagged with its stable release,
//! registered with the local forge.

use anyhow::Context;
use std::path::Path;

/// The sample service, as in `testdata/services/payment-service`.
pub const PAYMENT_SERVICE: &[(&str, &str)] = &[
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

/// Writes the service into `dir`, makes it a git repository on `main` with one commit tagged
/// [`STABLE_TAG`].
pub fn create_service_repo(dir: &Path) -> anyhow::Result<()> {
    for (path, content) in PAYMENT_SERVICE {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&target, content)
            .with_context(|| format!("writing {}", target.display()))?;
    }
    let mut opts = git2::RepositoryInitOptions::new();
    opts.initial_head("main");
    let repo = git2::Repository::init_opts(dir, &opts)
        .with_context(|| format!("git init {}", dir.display()))?;
    let mut index = repo.index()?;
    index.add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let sig = git2::Signature::now("payments team", "payments@example.com")?;
    let commit = repo.commit(
        Some("HEAD"),
        &sig,
        &sig,
        "payment-service v1.4.2\n\nCharge, then email a receipt.",
        &tree,
        &[],
    )?;
    let object = repo.find_object(commit, None)?;
    repo.tag_lightweight(STABLE_TAG, &object, false)?;
    Ok(())
}
