//! Integration tests: localize and the fix templates, through the real `healbot` binary and,
//! for the whole repair step, through the library on a copy of the payment service whose
//! patched code is then run with python3.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn healbot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the healbot binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn localize_json_puts_the_call_site_that_passed_none_first() {
    let out = healbot(&[
        "localize",
        "--repo",
        "testdata/services/payment-service",
        "--trace",
        "testdata/traces/payment-null.txt",
        "--top",
        "3",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON output");
    let list = v.as_array().expect("an array");
    assert!(!list.is_empty() && list.len() <= 3);
    let top = &list[0];
    assert_eq!(top["file"], "payment_processor.py");
    assert_eq!(top["line"], 26);
    assert_eq!(top["function"], "process_payment");
    let reason = top["reason"].as_str().unwrap();
    assert!(
        reason.contains("passed the bad value") && reason.contains("user.email"),
        "{reason}"
    );
    for c in list {
        let score = c["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&score), "{c}");
        assert!(
            !c["file"].as_str().unwrap().starts_with('/'),
            "relative paths: {c}"
        );
    }
    assert_eq!(list[1]["file"], "receipts.py");
    assert_eq!(list[1]["line"], 9);
}

#[test]
fn localize_text_and_bad_inputs() {
    let out = healbot(&[
        "localize",
        "--repo",
        "testdata/traces/inventory-service",
        "--trace",
        "testdata/traces/inventory-connection-refused.txt",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("1. inventory/client.py:9  fetch_stock"),
        "{text}"
    );

    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.txt");
    std::fs::write(&junk, "nothing to see here\n").unwrap();
    let out = healbot(&[
        "localize",
        "--repo",
        "testdata/services/payment-service",
        "--trace",
        junk.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    // One line that says what was looked for, said once.
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no stack trace found in 1 lines"), "{err}");
    assert_eq!(err.matches("looked for").count(), 1, "{err}");
    let out = healbot(&[
        "localize",
        "--repo",
        "no/such/dir",
        "--trace",
        "testdata/traces/payment-null.txt",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no/such/dir"), "{}", stderr(&out));
}

/// A real panic (rustc 1.95) as Docker's json-file driver stores it, one JSON record per line.
#[test]
fn localize_reads_a_panic_out_of_docker_json_logs() {
    let out = healbot(&[
        "localize",
        "--repo",
        "testdata/traces/formats/src/rust",
        "--trace",
        "testdata/traces/formats/rust-slice-docker.jsonl",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON output");
    assert_eq!(v[0]["file"], "src/lib.rs");
    assert_eq!(v[0]["line"], 4);
    let reason = v[0]["reason"].as_str().unwrap();
    assert!(reason.contains("char boundary"), "{reason}");
}

#[test]
fn templates_list_and_test_pass_on_the_shipped_templates() {
    let out = healbot(&["templates", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for id in [
        "python.none-guard",
        "python.retry-backoff",
        "python.dict-get",
        "python.zero-division-guard",
        "python.index-bounds-check",
        "python.requests-timeout",
    ] {
        assert!(
            stdout(&out).contains(id),
            "{id} missing from:\n{}",
            stdout(&out)
        );
    }
    let out = healbot(&["templates", "test", "--dir", "fix-templates"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(" 0 failed"), "{}", stdout(&out));
    let out = healbot(&["templates", "test", "python.none-guard"]);
    assert!(out.status.success());
    assert!(!stdout(&out).contains("python.dict-get"));
}

#[test]
fn templates_test_fails_on_a_wrong_case_and_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let good =
        std::fs::read_to_string(root().join("fix-templates/python.none-guard.yaml")).unwrap();
    let wrong = good.replacen(
        "          if user.email is not None:",
        "          if user.email:",
        1,
    );
    assert_ne!(good, wrong, "test setup");
    let file = dir.path().join("python.none-guard.yaml");
    std::fs::write(&file, wrong).unwrap();
    let out = healbot(&["templates", "test", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("FAIL  python.none-guard / argument read from an attribute"),
        "{}",
        stdout(&out)
    );

    std::fs::write(&file, good.replacen("risk: low", "risk: lowish", 1)).unwrap();
    let out = healbot(&["templates", "list", "--dir", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("python.none-guard.yaml") && err.contains("lowish"),
        "{err}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Runs the service's real code for a user without an email.
fn pay_user_without_email(service: &Path) -> Output {
    Command::new("python3")
        .args([
            "-c",
            "from payment_processor import process_payment; process_payment('user-7', 1250)",
        ])
        .current_dir(service)
        .output()
        .expect("python3 runs")
}

#[tokio::test]
async fn trace_to_validated_patch_that_stops_the_crash() {
    use healbot::fix::{embedded_templates, propose, run_check, CheckRequest, Sandbox};
    let dir = tempfile::tempdir().unwrap();
    let service = dir.path().join("payment-service");
    copy_dir(&root().join("testdata/services/payment-service"), &service);

    // The traceback the shipped test data holds is what this code really raises.
    let before = pay_user_without_email(&service);
    assert!(!before.status.success());
    let trace = stderr(&before);
    assert!(
        trace.contains("AttributeError: 'NoneType' object has no attribute 'split'"),
        "{trace}"
    );

    let localization = healbot::localize::localize_detailed(&service, &trace, 5).unwrap();
    assert_eq!(
        localization.faulting_expression.as_deref(),
        Some("user.email")
    );
    let templates = embedded_templates().unwrap();
    let patch = propose(
        &service,
        &localization,
        "null_dereference",
        &templates,
        None,
    )
    .unwrap();
    assert_eq!(patch.template_id, "python.none-guard");
    assert_eq!((patch.lines_added, patch.lines_removed), (2, 1));
    std::fs::write(service.join(&patch.file), &patch.patched).unwrap();

    let after = pay_user_without_email(&service);
    assert!(
        after.status.success(),
        "the patched code still fails:\n{}",
        stderr(&after)
    );
    let check = run_check(
        &Sandbox::default(),
        CheckRequest::new(
            &service,
            "python3 -m unittest discover -s tests -q",
            std::time::Duration::from_secs(60),
        ),
    )
    .await;
    assert!(check.passed, "{check:?}");
}
