//! Loading and validation of templates, and the embedded templates' own test cases.

use super::*;

const MINIMAL: &str = r#"id: python.example
description: Example.
patterns: [null_dereference]
language: python
match:
  query: "(expression_statement (call) @call) @statement"
  target: statement
rewrite: "{statement}"
confidence: 0.5
risk: low
tests:
  - {name: one, line: 1, before: "f()\n", after: "f()\n"}
"#;

fn parse(text: &str) -> Result<FixTemplate, TemplateError> {
    parse_template("dir/python.example.yaml", text)
}

#[test]
fn a_minimal_template_loads() {
    let t = parse(MINIMAL).unwrap();
    assert_eq!(t.id, "python.example");
    assert!(t.fixes("null_dereference") && !t.fixes("key_error"));
    assert_eq!(t.anchor(), "statement");
}

/// Each broken variant must fail with the file and the field in the message.
#[test]
fn bad_templates_name_the_file_and_field() {
    let cases: &[(&str, &str, &str)] = &[
        ("risk: low", "risk: low\nextra: 1", "unknown field `extra`"),
        ("risk: low", "risk: severe", "risk"),
        (
            "patterns: [null_dereference]",
            "patterns: [null_pointer]",
            "null_pointer",
        ),
        ("language: python", "language: cobol", "cobol"),
        ("confidence: 0.5", "confidence: 1.5", "field `confidence`"),
        ("id: python.example", "id: python.other", "field `id`"),
        ("id: python.example", "id: Python Example", "field `id`"),
        (
            "(expression_statement (call) @call) @statement",
            "(expression_statement (cal) @call) @statement",
            "field `match.query`",
        ),
        (
            "(expression_statement (call) @call) @statement",
            "(expression_statement (call) @call",
            "field `match.query`",
        ),
        ("target: statement", "target: stmt", "field `match.target`"),
        (
            "target: statement",
            "target: statement\n  focus: nope",
            "field `match.focus`",
        ),
        (
            r#"rewrite: "{statement}""#,
            r#"rewrite: "{stmt}""#,
            "field `rewrite`",
        ),
        (
            r#"rewrite: "{statement}""#,
            r#"rewrite: "{statement""#,
            "field `rewrite`",
        ),
        (
            r#"rewrite: "{statement}""#,
            "rewrite: \"{statement}\"\nimports: [\"time.sleep(1)\"]",
            "field `imports[0]`",
        ),
        ("line: 1,", "line: 3,", "field `tests[0].line`"),
        (
            "  - {name: one, line: 1, before: \"f()\\n\", after: \"f()\\n\"}",
            "  - {name: one, line: 1, before: \"f()\\n\"}",
            "missing field `after`",
        ),
        (
            "description: Example.",
            "description: \"  \"",
            "field `description`",
        ),
    ];
    for (from, to, expected) in cases {
        assert!(MINIMAL.contains(from), "test setup: {from}");
        let text = MINIMAL.replacen(from, to, 1);
        let err = parse(&text).expect_err(to).to_string();
        assert!(err.starts_with("dir/python.example.yaml: "), "{err}");
        assert!(
            err.contains(expected),
            "{to:?} gave {err:?}, wanted {expected:?}"
        );
    }
    let err = parse("tests: [").unwrap_err().to_string();
    assert!(err.starts_with("dir/python.example.yaml: "), "{err}");
}

#[test]
fn embedded_list_matches_the_directory() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fix-templates");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    on_disk.sort();
    let mut embedded: Vec<String> = EMBEDDED.iter().map(|(n, _)| n.to_string()).collect();
    embedded.sort();
    assert_eq!(
        embedded, on_disk,
        "build.rs lists every fix-templates/*.yaml"
    );
    assert_eq!(
        load_templates(&dir).unwrap().len(),
        embedded_templates().unwrap().len()
    );
}

/// `cargo test` runs every template's before → after cases.
#[test]
fn every_embedded_template_passes_its_own_cases() {
    let templates = embedded_templates().unwrap();
    let mut failures = Vec::new();
    for t in &templates {
        assert!(t.tests.len() >= 2, "{}: give at least two test cases", t.id);
        for outcome in crate::fix::run_template_tests(t) {
            if let Some(detail) = outcome.detail {
                failures.push(format!(
                    "{} / {}:\n{detail}",
                    outcome.template, outcome.case
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn duplicate_ids_in_a_directory_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("python.example.yaml"), MINIMAL).unwrap();
    std::fs::write(dir.path().join("python.example.yml"), MINIMAL).unwrap();
    let err = load_templates(dir.path()).unwrap_err();
    assert!(matches!(err, TemplateError::Duplicate { .. }), "{err}");
}
