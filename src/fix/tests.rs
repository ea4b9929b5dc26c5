//! `propose` over the payment demo: localization → template → patch.

use super::*;
use crate::localize::localize_detailed;
use std::path::{Path, PathBuf};

fn service() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/services/payment-service")
}

fn payment_localization() -> Localization {
    let trace = include_str!("../../testdata/traces/payment-null.txt");
    localize_detailed(&service(), trace, 5).unwrap()
}

#[test]
fn the_demo_gets_a_none_guard_at_the_caller() {
    let templates = embedded_templates().unwrap();
    let patch = propose(
        &service(),
        &payment_localization(),
        "null_dereference",
        &templates,
        None,
    )
    .unwrap();
    assert_eq!(patch.template_id, "python.none-guard");
    assert_eq!(patch.file, "payment_processor.py");
    assert!(
        patch.diff.contains("+    if user.email is not None:"),
        "{}",
        patch.diff
    );
    check_syntax(&patch.file, &patch.patched).unwrap();
}

#[test]
fn prefer_forces_a_template_whatever_its_patterns() {
    let templates = embedded_templates().unwrap();
    let loc = payment_localization();
    let patch = propose(
        &service(),
        &loc,
        "null_dereference",
        &templates,
        Some("python.retry-backoff"),
    )
    .unwrap();
    assert_eq!(patch.template_id, "python.retry-backoff");
    assert_eq!(patch.file, "payment_processor.py");
    let err = propose(
        &service(),
        &loc,
        "null_dereference",
        &templates,
        Some("python.nope"),
    )
    .unwrap_err();
    assert!(matches!(err, FixError::UnknownTemplate(_)), "{err}");
}

#[test]
fn no_template_or_no_match_is_an_error_with_the_attempts() {
    let templates = embedded_templates().unwrap();
    let loc = payment_localization();
    let err = propose(&service(), &loc, "oom_killed", &templates, None).unwrap_err();
    assert!(matches!(err, FixError::NoTemplateFor(_)), "{err}");
    // A KeyError template finds no subscript on the demo's lines.
    let err = propose(&service(), &loc, "key_error", &templates, None).unwrap_err();
    let FixError::NoMatch { attempts } = &err else {
        panic!("{err}")
    };
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(
        attempts[0].starts_with("payment_processor.py:26"),
        "{attempts:?}"
    );
}

#[test]
fn higher_confidence_wins_when_several_templates_fit() {
    let templates = embedded_templates().unwrap();
    let trace = include_str!("../../testdata/traces/inventory-connection-refused.txt");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/traces/inventory-service");
    let loc = localize_detailed(&repo, trace, 5).unwrap();
    // `timeout` is fixed by requests-timeout (0.75) and retry-backoff (0.6).
    let patch = propose(&repo, &loc, "timeout", &templates, None).unwrap();
    assert_eq!(patch.template_id, "python.requests-timeout");
    assert!(patch.diff.contains("timeout=10"), "{}", patch.diff);
    let patch = propose(&repo, &loc, "transient_connection", &templates, None).unwrap();
    assert_eq!(patch.template_id, "python.retry-backoff");
    assert_eq!(patch.file, "inventory/client.py");
}

/// A repository whose second commit rewrites the faulty line of `app.py` (and maybe adds a
/// file). Returns the directory and the time of the second commit.
fn two_commit_repo(add_file: bool) -> (tempfile::TempDir, i64) {
    let dir = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init(dir.path()).unwrap();
    let commit = |message: &str, time: i64| {
        let mut index = repo.index().unwrap();
        index
            .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig =
            git2::Signature::new("dev", "dev@example.com", &git2::Time::new(time, 0)).unwrap();
        let parent = repo.head().ok().map(|h| h.peel_to_commit().unwrap());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
            .unwrap();
    };
    let before = "def total(values):\n    if not values:\n        return 0\n    return sum(values) / len(values)\n";
    std::fs::write(dir.path().join("app.py"), before).unwrap();
    commit("average", 1_000_000);
    let after = "def total(values):\n    return sum(values) / len(list(values))\n";
    std::fs::write(dir.path().join("app.py"), after).unwrap();
    if add_file {
        std::fs::write(dir.path().join("notes.py"), "NOTE = 1\n").unwrap();
    }
    commit("drop the empty check", 1_000_600);
    (dir, 1_000_600)
}

fn revert_input_candidates(dir: &Path, at: i64) -> Candidates {
    let trace = "Traceback (most recent call last):\n  File \"/app/app.py\", line 2, in total\n    return sum(values) / len(list(values))\nZeroDivisionError: division by zero\n";
    let loc = localize_detailed(dir, trace, 5).unwrap();
    let templates = embedded_templates().unwrap();
    let bounds = config::ConfigBounds::embedded().unwrap();
    candidates(&CandidateInput {
        repo: dir,
        localization: &loc,
        pattern: "division_by_zero",
        templates: &templates,
        incident_start: Some(at + 60),
        revert_window_secs: 3600,
        service: "app",
        config_files: &[],
        history: &[],
        bounds: &bounds,
    })
}

#[test]
fn a_commit_of_one_hunk_is_offered_as_a_plain_revert() {
    let (dir, at) = two_commit_repo(false);
    let found = revert_input_candidates(dir.path(), at);
    let Fix::Revert(r) = &found.candidates[0].fix else {
        panic!("{found:?}")
    };
    // The hunk revert is the whole commit: one candidate, named as `git revert` would.
    assert_eq!(r.mode, RevertMode::Full, "{found:?}");
    assert!(r.message().starts_with("Revert \"drop the empty check\"\n"));
    assert!(found.candidates[0]
        .reason
        .starts_with("revert of the whole commit"));
    assert!(
        !found.candidates[1..]
            .iter()
            .any(|c| matches!(c.fix, Fix::Revert(_))),
        "{found:?}"
    );
    assert!(found.candidates[0].fix.describe().starts_with("revert of "));
    assert!(found.candidates[0].fix.deleted().is_empty());
}

#[test]
fn a_full_revert_deletes_the_files_the_commit_added() {
    let (dir, at) = two_commit_repo(true);
    let found = revert_input_candidates(dir.path(), at);
    let modes: Vec<(RevertMode, Vec<String>)> = found
        .candidates
        .iter()
        .filter_map(|c| match &c.fix {
            Fix::Revert(r) => Some((r.mode, c.fix.deleted())),
            _ => None,
        })
        .collect();
    assert_eq!(
        modes,
        [
            (RevertMode::Hunk, vec![]),
            (RevertMode::Full, vec!["notes.py".to_string()])
        ],
        "{found:?}"
    );
    assert!(found.candidates[1]
        .fix
        .describe()
        .ends_with("(drop the empty check)"));
}

#[test]
fn without_a_code_location_only_config_fixes_are_offered_in_kind_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    // Declared before the manifest: the timeout still comes after the replicas.
    std::fs::write(
        dir.path().join("config/settings.yaml"),
        "ledger:\n  timeout_seconds: 2 # per request\n",
    )
    .unwrap();
    std::fs::copy(
        service().join("deploy/rollout.yaml"),
        dir.path().join("rollout.yaml"),
    )
    .unwrap();
    let bounds = config::ConfigBounds::embedded().unwrap();
    let files = [
        "config/settings.yaml".to_string(),
        "rollout.yaml".to_string(),
    ];
    let input = ConfigInput {
        repo: dir.path(),
        pattern: "high_latency",
        service: "payment-service",
        config_files: &files,
        history: &[],
        bounds: &bounds,
    };
    let found = config_candidates(&input);
    let described: Vec<String> = found.candidates.iter().map(|c| c.fix.describe()).collect();
    assert_eq!(
        described,
        [
            "config replicas `spec.replicas` in rollout.yaml: 4 → 6",
            "config timeout `ledger.timeout_seconds` in config/settings.yaml: 2 → 3",
        ],
        "{found:?}"
    );

    let none = config_candidates(&ConfigInput {
        config_files: &[],
        ..input
    });
    assert!(none.candidates.is_empty());
    assert_eq!(
        none.skipped,
        ["config: `payment-service` declares no config files (`manifests` in .github/healbot.yml)"]
    );
    let code = config_candidates(&ConfigInput {
        pattern: "null_dereference",
        ..input
    });
    assert!(code.candidates.is_empty());
    assert!(code.skipped[0].contains("`null_dereference`"), "{code:?}");
}
