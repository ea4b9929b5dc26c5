use super::*;

fn repo_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn tests_the_reproducer_and_dependencies_are_protected() {
    let repo = repo_with(&[
        ("repro.py", ""),
        ("examples/crash.rs", ""),
        ("src/lib.rs", ""),
    ]);
    let p = Protected::new(
        repo.path(),
        Some("python3 repro.py && cargo run --example crash"),
    );
    for file in [
        "repro.py",
        "examples/crash.rs",
        "tests/it.rs",
        "pkg/test_orders.py",
        "vendor/serde/src/lib.rs",
        "node_modules/x/index.js",
        "../outside.rs",
    ] {
        assert!(p.blocks(file), "{file}");
    }
    assert!(!p.blocks("src/lib.rs"));
    assert!(!p.blocks("examples/other.rs"));
}

#[test]
fn patterns_come_from_the_message_and_the_fault() {
    let p = patterns(
        "thread 'main' panicked at src/lib.rs:2:5:\nattempt to subtract with overflow\n",
        &Fault::Overflow {
            operator: Some("-"),
        },
    );
    assert_eq!(p, ["overflow"]);
    let p = patterns("x", &Fault::NoneValue);
    assert_eq!(p, ["unwrap_on_none", "null_dereference"]);
}

#[test]
fn the_copy_leaves_out_git_and_cargo_output() {
    let repo = repo_with(&[
        ("Cargo.toml", "[package]\nname = \"x\"\n"),
        ("src/lib.rs", "pub fn f() {}\n"),
        ("target/debug/big", "x"),
        (".git/HEAD", "ref"),
        ("docs/target/page.md", "kept: no manifest next to it"),
    ]);
    let to = tempfile::tempdir().unwrap();
    copy_tree(repo.path(), &to.path().join("c")).unwrap();
    let c = to.path().join("c");
    assert!(c.join("src/lib.rs").is_file());
    assert!(!c.join("target").exists() && !c.join(".git").exists());
    assert!(c.join("docs/target/page.md").is_file());
}

const APP: &str = "def average(totals):\n    return sum(totals) / len(totals)\n\n\ndef report(totals):\n    print(average(totals))\n";
const REPRO: &str = "from app import report\nreport([])\n";
const TRACE: &str = "Traceback (most recent call last):\n  File \"/srv/repro.py\", line 2, in <module>\n    report([])\n  File \"/srv/app.py\", line 6, in report\n    print(average(totals))\n  File \"/srv/app.py\", line 2, in average\n    return sum(totals) / len(totals)\n           ~~~~~~~~~~~~^~~~~~~~~~~~~\nZeroDivisionError: division by zero\n";

#[tokio::test]
async fn the_first_patch_that_passes_the_check_wins_and_the_repository_is_untouched() {
    let repo = repo_with(&[("app.py", APP), ("repro.py", REPRO)]);
    let templates = crate::fix::embedded_templates().unwrap();
    let input = SearchInput {
        repo: repo.path(),
        trace: TRACE,
        check: Some("python3 repro.py"),
        top: 5,
        max_attempts: 8,
        timeout: Duration::from_secs(60),
        templates: &templates,
        sandbox: &crate::fix::Sandbox::new(Default::default(), Default::default()),
        progress: None,
    };
    let report = search(&input).await.unwrap();
    assert!(report.validated, "{report:#?}");
    let fix = report.fix.as_ref().unwrap();
    assert_eq!((fix.kind, fix.file.as_str()), ("template", "app.py"));
    assert!(
        report.diff.starts_with("--- a/app.py\n+++ b/app.py\n"),
        "{}",
        report.diff
    );
    let check = report.check.as_ref().unwrap();
    assert_eq!(
        (check.exit_code, check.baseline_exit_code),
        (Some(0), Some(1))
    );
    assert_eq!(report.candidates.last().unwrap().outcome, "validated");
    // Nothing of the repository changed; the reproducer was never a candidate.
    assert_eq!(
        std::fs::read_to_string(repo.path().join("app.py")).unwrap(),
        APP
    );
    assert!(report.candidates.iter().all(|c| c.file != "repro.py"));
    let json = serde_json::to_value(&report).unwrap();
    for key in ["validated", "fix", "diff", "check", "candidates"] {
        assert!(json.get(key).is_some(), "{key}: {json}");
    }
}

#[tokio::test]
async fn a_check_that_never_passes_validates_nothing() {
    let repo = repo_with(&[("app.py", APP), ("repro.py", REPRO)]);
    let templates = crate::fix::embedded_templates().unwrap();
    let input = SearchInput {
        repo: repo.path(),
        trace: TRACE,
        check: Some("exit 3"),
        top: 5,
        max_attempts: 3,
        timeout: Duration::from_secs(60),
        templates: &templates,
        sandbox: &crate::fix::Sandbox::new(Default::default(), Default::default()),
        progress: None,
    };
    let report = search(&input).await.unwrap();
    assert!(!report.validated && report.fix.is_none() && report.diff.is_empty());
    assert!(!report.candidates.is_empty());
    assert!(
        report
            .candidates
            .iter()
            .all(|c| c.outcome.starts_with("check failed (exit 3)")),
        "{:?}",
        report.candidates
    );
}
