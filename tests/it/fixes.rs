//! Integration tests: config fixes on the sample files in `testdata/config/`, reverts on a real
//! git repository built here, and the SapFix order of `fix::candidates`.

use git2::{Repository, Signature, Time};
use healbot::fix::config::{
    propose_config, AppliedConfigFix, ConfigBounds, ConfigContext, ConfigFixError,
};
use healbot::fix::revert_cause::{find_suspect, revert, RevertError, RevertMode};
use healbot::fix::{candidates, embedded_templates, CandidateInput, Fix};
use healbot::localize::localize_detailed;
use std::path::{Path, PathBuf};

fn testdata(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/config")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn cx<'a>(
    pattern: &'a str,
    history: &'a [AppliedConfigFix],
    bounds: &'a ConfigBounds,
) -> ConfigContext<'a> {
    ConfigContext {
        service: "inventory",
        pattern,
        history,
        bounds,
    }
}

/// Every line but the edited one is byte for byte the same, and in the edited line only the
/// value changed.
fn only_the_scalar_changed(original: &str, patched: &str, old: &str, new: &str) {
    let a: Vec<&str> = original.split_inclusive('\n').collect();
    let b: Vec<&str> = patched.split_inclusive('\n').collect();
    assert_eq!(a.len(), b.len());
    let changed: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    let i = changed[0];
    assert_eq!(a[i].replacen(old, new, 1), b[i]);
}

#[test]
fn config_fixes_keep_every_other_byte() {
    let bounds = ConfigBounds::embedded().unwrap();
    for (file, pattern, old, new) in [
        ("values.yaml", "oom_killed", "512Mi", "768Mi"),
        ("values.yaml", "timeout", "30s", "45s"),
        ("deployment.yaml", "oom_killed", "1Gi", "1536Mi"),
        ("deployment.yaml", "high_latency", "2", "3"),
        ("application.yaml", "connection_pool_exhausted", "10", "15"),
        ("application.yaml", "timeout", "30000", "45000"),
    ] {
        let text = testdata(file);
        let p = propose_config(file, &text, &cx(pattern, &[], &bounds)).unwrap();
        assert_eq!(
            (p.old_value.as_str(), p.new_value.as_str()),
            (old, new),
            "{file} {pattern}"
        );
        only_the_scalar_changed(&text, &p.patched, old, new);
        assert!(
            p.diff.starts_with(&format!("--- a/{file}\n+++ b/{file}\n")),
            "{}",
            p.diff
        );
        let patch = p.into_patch();
        assert_eq!((patch.lines_added, patch.lines_removed), (1, 1));
        assert!(patch.template_id.starts_with("config."));
    }
}

#[test]
fn the_third_identical_config_fix_escalates() {
    let bounds = ConfigBounds::embedded().unwrap();
    let mut text = testdata("deployment.yaml");
    let mut history = Vec::new();
    for expected in ["1536Mi", "2304Mi"] {
        let p = propose_config("d.yaml", &text, &cx("oom_killed", &history, &bounds)).unwrap();
        assert_eq!(p.new_value, expected);
        history.push(p.applied("inventory", "oom_killed"));
        text = p.patched;
    }
    let err = propose_config("d.yaml", &text, &cx("oom_killed", &history, &bounds)).unwrap_err();
    assert!(
        matches!(err, ConfigFixError::Recurring { times: 2, .. }),
        "{err}"
    );
}

/// A repository with a history in which one commit introduces a division by zero.
struct History {
    _dir: tempfile::TempDir,
    path: PathBuf,
    bug_sha: String,
    bug_time: i64,
}

const T0: i64 = 1_780_000_000;

const GOOD_APP: &str = "\
import os


def greeting(name):
    return \"hello \" + name


def version():
    return os.environ.get(\"VERSION\", \"dev\")


def describe(values):
    # A summary line for the logs.
    return \"%d values\" % len(values)


def average(values):
    total = sum(values)
    count = len(values) or 1
    return total / count
";

fn commit(repo: &Repository, files: &[(&str, &str)], msg: &str, time: i64) -> String {
    let root = repo.workdir().unwrap().to_path_buf();
    let mut index = repo.index().unwrap();
    for (file, text) in files {
        std::fs::write(root.join(file), text).unwrap();
        index.add_path(Path::new(file)).unwrap();
    }
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = Signature::new("dev", "dev@example.com", &Time::new(time, 0)).unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<_> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, msg, &tree, &parents)
        .unwrap()
        .to_string()
}

fn history() -> History {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    commit(
        &repo,
        &[("app.py", GOOD_APP), ("settings.py", "RETRIES = 3\n")],
        "initial import",
        T0,
    );
    let bug_time = T0 + 86_400;
    // The bug: `or 1` dropped; the same commit also renames the greeting and the setting.
    let buggy = GOOD_APP
        .replace("len(values) or 1", "len(values)")
        .replace("\"hello \"", "\"hi \"");
    let bug_sha = commit(
        &repo,
        &[("app.py", &buggy), ("settings.py", "RETRIES = 5\n")],
        "Simplify average and greet shorter",
        bug_time,
    );
    let later = buggy.replace("\"dev\"", "\"unknown\"");
    commit(
        &repo,
        &[("app.py", &later)],
        "Default version is unknown",
        bug_time + 60,
    );
    commit(
        &repo,
        &[("README.md", "# app\n")],
        "Add a README",
        bug_time + 120,
    );
    History {
        path: dir.path().to_path_buf(),
        _dir: dir,
        bug_sha,
        bug_time,
    }
}

/// The line `return total / count` in app.py.
const BUG_LINE: u32 = 20;

#[test]
fn the_commit_before_the_incident_that_changed_the_line_is_the_suspect() {
    let h = history();
    let start = h.bug_time + 600;
    let suspect = find_suspect(&h.path, "app.py", BUG_LINE - 1, start, 3600)
        .unwrap()
        .unwrap();
    assert_eq!(suspect.sha, h.bug_sha);
    assert_eq!(suspect.summary, "Simplify average and greet shorter");
    // The faulty line itself came from the initial import: no suspect.
    assert_eq!(
        find_suspect(&h.path, "app.py", BUG_LINE, start, 3600).unwrap(),
        None
    );
    // Too long after the commit: not a suspect.
    assert_eq!(
        find_suspect(&h.path, "app.py", BUG_LINE - 1, start + 7 * 86_400, 3600).unwrap(),
        None
    );
    // An incident before the commit cannot be its fault.
    assert_eq!(
        find_suspect(&h.path, "app.py", BUG_LINE - 1, T0 + 10, 3600).unwrap(),
        None
    );
}

#[test]
fn hunk_and_full_reverts_on_the_current_head() {
    let h = history();
    let suspect = find_suspect(&h.path, "app.py", BUG_LINE - 1, h.bug_time + 600, 3600)
        .unwrap()
        .unwrap();
    let head_app = std::fs::read_to_string(h.path.join("app.py")).unwrap();

    let hunk = revert(&h.path, &suspect, RevertMode::Hunk).unwrap();
    assert_eq!(hunk.sha, h.bug_sha);
    assert_eq!(hunk.files.len(), 1);
    let f = &hunk.files[0];
    assert_eq!(f.file, "app.py");
    assert_eq!(f.original, head_app);
    // Only the faulty hunk comes back; the greeting change and the later commit stay.
    assert_eq!(
        f.patched,
        head_app.replace("count = len(values)\n", "count = len(values) or 1\n")
    );
    assert!(
        f.diff
            .contains("-    count = len(values)\n+    count = len(values) or 1\n"),
        "{}",
        f.diff
    );
    assert!(hunk
        .message()
        .starts_with("Revert \"Simplify average and greet shorter\""));

    let full = revert(&h.path, &suspect, RevertMode::Full).unwrap();
    let files: Vec<&str> = full.files.iter().map(|f| f.file.as_str()).collect();
    assert_eq!(files, ["app.py", "settings.py"]);
    assert_eq!(
        full.files[0].patched,
        GOOD_APP.replace("\"dev\"", "\"unknown\""),
        "the whole commit is undone, later commits are kept"
    );
    assert_eq!(full.files[1].patched, "RETRIES = 3\n");
    assert_eq!(full.patches().len(), 2);
}

#[test]
fn a_revert_that_conflicts_with_a_later_change_is_a_clear_error() {
    let h = history();
    let suspect = find_suspect(&h.path, "app.py", BUG_LINE - 1, h.bug_time + 600, 3600)
        .unwrap()
        .unwrap();
    let repo = Repository::open(&h.path).unwrap();
    let head_app = std::fs::read_to_string(h.path.join("app.py")).unwrap();
    let changed = head_app.replace("count = len(values)\n", "count = len(list(values))\n");
    commit(
        &repo,
        &[("app.py", &changed)],
        "Accept iterables",
        h.bug_time + 900,
    );
    let err = revert(&h.path, &suspect, RevertMode::Hunk).unwrap_err();
    let RevertError::Conflict { files, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(files, &["app.py"]);
    assert!(err.to_string().contains(&h.bug_sha), "{err}");
}

#[test]
fn candidates_come_revert_first_then_templates_then_config() {
    let h = history();
    std::fs::write(h.path.join("values.yaml"), testdata("values.yaml")).unwrap();
    let trace = "Traceback (most recent call last):\n  File \"/app/app.py\", line 20, in average\n    return total / count\nZeroDivisionError: division by zero\n";
    let loc = localize_detailed(&h.path, trace, 5).unwrap();
    let templates = embedded_templates().unwrap();
    let bounds = ConfigBounds::embedded().unwrap();
    let files = vec!["values.yaml".to_string()];
    let mut input = CandidateInput {
        repo: &h.path,
        localization: &loc,
        pattern: "division_by_zero",
        templates: &templates,
        incident_start: Some(h.bug_time + 600),
        revert_window_secs: 3600,
        service: "app",
        config_files: &files,
        history: &[],
        bounds: &bounds,
    };
    // The faulty line itself is old, but localization follows the divisor to where it is set
    // (line 19), which the suspect commit changed: its revert comes first, then the template.
    let found = candidates(&input);
    assert!(
        matches!(&found.candidates[0].fix, Fix::Revert(r) if r.mode == RevertMode::Hunk),
        "{found:?}"
    );
    assert!(
        found.candidates[0].reason.contains("app.py:19"),
        "{}",
        found.candidates[0].reason
    );
    assert!(
        found
            .candidates
            .iter()
            .any(|c| matches!(c.fix, Fix::Template(_))),
        "{found:?}"
    );

    // The line above it (the one the commit changed) is a localized candidate too.
    let trace = trace
        .replace("line 20", "line 19")
        .replace("return total / count", "count = len(values)");
    let loc = localize_detailed(&h.path, &trace, 5).unwrap();
    input.localization = &loc;
    let found = candidates(&input);
    let kinds: Vec<&str> = found
        .candidates
        .iter()
        .map(|c| match &c.fix {
            Fix::Revert(r) if r.mode == RevertMode::Hunk => "revert-hunk",
            Fix::Revert(_) => "revert-full",
            Fix::Template(_) => "template",
            Fix::Config(_) => "config",
        })
        .collect();
    assert_eq!(kinds, ["revert-hunk", "revert-full"], "{found:?}");
    assert!(
        found.candidates[0].reason.contains("600s after"),
        "{}",
        found.candidates[0].reason
    );

    // A config pattern gets its config fix after the others; repeated, it escalates.
    input.pattern = "oom_killed";
    input.incident_start = None;
    let found = candidates(&input);
    let Fix::Config(p) = &found.candidates[0].fix else {
        panic!("{found:?}")
    };
    assert_eq!(p.new_value, "768Mi");
    let history = vec![
        p.applied("app", "oom_killed"),
        p.applied("app", "oom_killed"),
    ];
    input.history = &history;
    let found = candidates(&input);
    assert!(found.candidates.is_empty(), "{found:?}");
    assert!(found.escalation.unwrap().contains("escalated"));
}
