//! The engine's byte-exact splicing, indentation and import handling.

use super::*;
use crate::fix::template::parse_template;

fn template(name: &str) -> FixTemplate {
    crate::fix::embedded_templates()
        .unwrap()
        .into_iter()
        .find(|t| t.id == name)
        .unwrap()
}

const PROCESSOR: &str =
    include_str!("../../../testdata/services/payment-service/payment_processor.py");

#[test]
fn none_guard_on_the_demo_changes_only_the_guarded_statement() {
    let patch = apply(
        &template("python.none-guard"),
        "payment_processor.py",
        PROCESSOR,
        26,
        Some("user.email"),
    )
    .unwrap();
    let start = PROCESSOR.find("    send_receipt(").unwrap();
    let end = start + "    send_receipt(user.email, payment_id, amount_cents)".len();
    // Everything outside the statement is byte-for-byte the original.
    assert_eq!(&patch.patched[..start], &PROCESSOR[..start]);
    assert!(patch.patched.ends_with(&PROCESSOR[end..]));
    assert_eq!(
        &patch.patched[start..patch.patched.len() - (PROCESSOR.len() - end)],
        "    if user.email is not None:\n        send_receipt(user.email, payment_id, amount_cents)"
    );
    assert_eq!((patch.lines_added, patch.lines_removed), (2, 1));
    assert!(
        patch
            .diff
            .starts_with("--- a/payment_processor.py\n+++ b/payment_processor.py\n"),
        "{}",
        patch.diff
    );
    assert!(
        patch.diff.contains("+    if user.email is not None:\n"),
        "{}",
        patch.diff
    );
    assert_eq!(patch.template_id, "python.none-guard");
    assert_eq!(patch.risk, Risk::Low);
    assert!(patch.summary.contains("user.email"), "{}", patch.summary);
    assert_eq!(patch.line, 26);
}

#[test]
fn expression_that_matches_nothing_is_no_match() {
    let err = apply(
        &template("python.none-guard"),
        "p.py",
        PROCESSOR,
        26,
        Some("user.name"),
    )
    .unwrap_err();
    assert!(matches!(err, ApplyError::NoMatch { .. }), "{err}");
    assert!(err.to_string().contains("user.name"), "{err}");
}

#[test]
fn tabs_are_kept_as_the_indentation_unit() {
    let src = "def f(user):\n\tif user:\n\t\tnotify(user.email)\n";
    let patch = apply(&template("python.none-guard"), "t.py", src, 3, None).unwrap();
    assert_eq!(
        patch.patched,
        "def f(user):\n\tif user:\n\t\tif user.email is not None:\n\t\t\tnotify(user.email)\n"
    );
}

#[test]
fn crlf_line_endings_survive_outside_the_splice() {
    let src = "def f(user):\r\n    notify(user.email)\r\n    return 1\r\n";
    let patch = apply(&template("python.none-guard"), "t.py", src, 2, None).unwrap();
    assert!(patch.patched.ends_with("    return 1\r\n"));
    assert!(patch.patched.contains("notify(user.email)\r\n    return 1"));
}

#[test]
fn multi_line_strings_are_not_reindented() {
    let src = "def f(user):\n    send(user.email, \"\"\"Hello,\nworld\"\"\")\n";
    let err = apply(&template("python.none-guard"), "t.py", src, 2, None).unwrap_err();
    assert!(matches!(err, ApplyError::Reindent { .. }), "{err}");
}

#[test]
fn a_broken_original_is_reported_not_patched() {
    let src = "def f(user):\n    notify(user.email)\n    return (\n";
    let err = apply(&template("python.none-guard"), "t.py", src, 2, None).unwrap_err();
    assert!(matches!(err, ApplyError::Original { .. }), "{err}");
}

#[test]
fn a_rewrite_that_breaks_syntax_is_rejected() {
    let text = r#"id: python.broken
description: Breaks the file.
patterns: [null_dereference]
language: python
match:
  query: "(expression_statement (call) @call) @statement"
  target: statement
rewrite: "if {call}"
confidence: 0.5
risk: low
tests:
  - {name: one, line: 1, before: "f()\n", after: null}
"#;
    let t = parse_template("python.broken.yaml", text).unwrap();
    let err = apply(&t, "t.py", "f()\n", 1, None).unwrap_err();
    assert!(matches!(err, ApplyError::Patched { .. }), "{err}");
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[test]
fn imports_go_after_the_docstring_or_to_the_top() {
    let retry = template("python.retry-backoff");
    let doc = "\"\"\"Doc.\"\"\"\n\n\ndef f():\n    g()\n";
    let patched = apply(&retry, "t.py", doc, 5, None).unwrap().patched;
    assert!(
        patched.starts_with("\"\"\"Doc.\"\"\"\n\nimport time\n\n\ndef f():\n"),
        "{patched}"
    );
    let bare = "#!/usr/bin/env python3\ndef f():\n    g()\n";
    let patched = apply(&retry, "t.py", bare, 3, None).unwrap().patched;
    assert!(
        patched.starts_with("#!/usr/bin/env python3\nimport time\n\ndef f():\n"),
        "{patched}"
    );
}

#[test]
fn retry_backoff_applies_to_the_demo_line_too() {
    let patch = apply(
        &template("python.retry-backoff"),
        "payment_processor.py",
        PROCESSOR,
        26,
        Some("user.email"),
    )
    .unwrap();
    assert!(
        patch
            .patched
            .contains("from dataclasses import dataclass\nimport time\n"),
        "{}",
        patch.patched
    );
    assert!(patch.patched.contains(
        "        try:\n            send_receipt(user.email, payment_id, amount_cents)\n            break\n"
    ));
    crate::fix::check_syntax(&patch.file, &patch.patched).unwrap();
}

#[test]
fn indent_unit_detection() {
    let mut parser = Parser::new();
    parser
        .set_language(&crate::localize::source::python::language())
        .unwrap();
    for (src, unit) in [
        ("x = 1\n", "    "),
        ("if x:\n  y()\n", "  "),
        ("class A:\n\tdef f(self):\n\t\tpass\n", "\t"),
    ] {
        let tree = parser.parse(src, None).unwrap();
        assert_eq!(indent_unit(&tree, src), unit, "{src:?}");
    }
}
