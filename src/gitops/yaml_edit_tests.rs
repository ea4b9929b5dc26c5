//! Unit tests of `yaml_edit`: every edit must leave all bytes but its own untouched.

use super::*;

const SAMPLE: &str = "\
# top comment: keep me
apiVersion: v1   # trailing comment
kind: Thing

metadata: {name: demo, labels: {app: 'pay'}}   # flow style
spec:
  # the containers
  containers:
    - name: sidecar
      image: \"reg.example.com/side:1.0\"
    - name: payment-service
      image: 'reg.example.com/pay:v1.4.2'   # quoted, single

      port: 8080
  steps:
  - setWeight: 0
  - pause: {}
zeta: last   # key order must survive
";

/// `new` must equal `old` with exactly `old[from..from + len]` replaced by `with`.
fn assert_only_changed(old: &str, new: &str, target: &str, with: &str) {
    let from = old.find(target).expect("target in old text");
    let expected = format!("{}{}{}", &old[..from], with, &old[from + target.len()..]);
    assert_eq!(new, expected);
}

fn doc(text: &str) -> YamlDoc {
    YamlDoc::parse(text, "test.yaml").expect("parses")
}

#[test]
fn reads_scalars_by_index_and_by_key() {
    let d = doc(SAMPLE);
    assert_eq!(
        d.get("spec.containers[0].image").unwrap(),
        "reg.example.com/side:1.0"
    );
    assert_eq!(
        d.get("spec.containers[name=payment-service].image")
            .unwrap(),
        "reg.example.com/pay:v1.4.2"
    );
    assert_eq!(d.get("spec.steps[0].setWeight").unwrap(), "0");
    assert_eq!(d.get("metadata.labels.app").unwrap(), "pay");
    assert_eq!(d.seq_len("spec.steps").unwrap(), 2);
    assert!(d.contains("spec.steps[1].pause").unwrap());
    assert!(!d.contains("spec.steps[1].pauze").unwrap());
}

#[test]
fn replaces_only_the_scalar_and_keeps_its_quotes() {
    let d = doc(SAMPLE);
    let single = d
        .set(
            "spec.containers[name=payment-service].image",
            "reg.example.com/pay:abc'1",
        )
        .unwrap();
    assert_only_changed(
        SAMPLE,
        &single,
        "'reg.example.com/pay:v1.4.2'",
        "'reg.example.com/pay:abc''1'",
    );
    let double = d
        .set("spec.containers[0].image", "reg.example.com/side:\"2\"")
        .unwrap();
    assert_only_changed(
        SAMPLE,
        &double,
        "\"reg.example.com/side:1.0\"",
        "\"reg.example.com/side:\\\"2\\\"\"",
    );
    let plain = d.set("spec.steps[0].setWeight", "10").unwrap();
    assert_only_changed(SAMPLE, &plain, "setWeight: 0", "setWeight: 10");
    let flow = d.set("metadata.name", "demo-2").unwrap();
    assert_only_changed(SAMPLE, &flow, "name: demo,", "name: demo-2,");
}

#[test]
fn plain_scalars_are_quoted_only_when_they_must_be() {
    let d = doc(SAMPLE);
    // A string that looks like a number must stay a string.
    let text = d.set("kind", "10").unwrap();
    assert_only_changed(SAMPLE, &text, "kind: Thing", "kind: \"10\"");
    let text = d.set("zeta", "a: b").unwrap();
    assert_only_changed(SAMPLE, &text, "zeta: last", "zeta: \"a: b\"");
    // Inside a flow mapping a comma would end the scalar.
    let text = d.set("metadata.name", "a,b").unwrap();
    assert_only_changed(SAMPLE, &text, "name: demo,", "name: \"a,b\",");
    assert_eq!(doc(&text).get("metadata.name").unwrap(), "a,b");
}

#[test]
fn several_edits_at_once() {
    let d = doc(SAMPLE);
    let text = d
        .set_many(&[
            ("spec.steps[0].setWeight", "50"),
            (
                "spec.containers[name=payment-service].image",
                "reg.example.com/pay:v2",
            ),
        ])
        .unwrap();
    let expected = SAMPLE
        .replace("setWeight: 0", "setWeight: 50")
        .replace("'reg.example.com/pay:v1.4.2'", "'reg.example.com/pay:v2'");
    assert_eq!(text, expected);
    let twice = d.set_many(&[("kind", "A"), ("kind", "B")]);
    assert!(
        matches!(twice, Err(YamlEditError::BadPath { .. })),
        "{twice:?}"
    );
}

#[test]
fn the_selector_key_itself_can_be_edited() {
    let d = doc(SAMPLE);
    let text = d
        .set("spec.containers[name=sidecar].name", "proxy")
        .unwrap();
    assert_only_changed(SAMPLE, &text, "name: sidecar", "name: proxy");
}

#[test]
fn non_ascii_text_before_the_target_does_not_shift_the_edit() {
    let text = "# größe: ü é ß 😀\nimage: app:v1 # ç\n";
    let out = doc(text).set("image", "app:v2").unwrap();
    assert_eq!(out, "# größe: ü é ß 😀\nimage: app:v2 # ç\n");
}

#[test]
fn errors_name_the_path_and_the_file() {
    let d = doc(SAMPLE);
    let err = d
        .get("spec.containers[name=nope].image")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("test.yaml") && err.contains("spec.containers[name=nope]"),
        "{err}"
    );
    let err = d.get("spec.strategy.canary").unwrap_err().to_string();
    assert!(
        err.contains("test.yaml") && err.contains("no `spec.strategy`"),
        "{err}"
    );
    let err = d.get("spec.containers.image").unwrap_err().to_string();
    assert!(
        err.contains("`spec.containers.image` is a sequence"),
        "{err}"
    );
    assert!(matches!(
        d.get("spec..x"),
        Err(YamlEditError::BadPath { .. })
    ));
    assert!(matches!(
        d.get("spec[x]"),
        Err(YamlEditError::BadPath { .. })
    ));
    let err = YamlDoc::parse("a: [1\n", "bad.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("bad.yaml:"), "{err}");
}

#[test]
fn refuses_block_scalars_anchors_aliases_and_folded_plain() {
    let text = "a: |\n  body\nb: &x 1\nc: *x\nd: folded\n  plain\ne:\n";
    let d = doc(text);
    for path in ["a", "b", "c", "d", "e"] {
        let err = d.set(path, "v").unwrap_err();
        assert!(
            matches!(err, YamlEditError::Unsupported { .. }),
            "{path}: {err}"
        );
        assert!(err.to_string().contains(&format!("`{path}`")), "{err}");
    }
    assert!(d.set("a", "two\nlines").is_err());
}

#[test]
fn inserts_a_key_after_the_last_entry_at_its_indentation() {
    let text = "\
spec:
  strategy:
    canary:
      # steps healbot drives
      steps:
        - setWeight: 0
        - pause: {}

  # trailing comment of spec
  replicas: 2
";
    let out = doc(text)
        .insert_key(
            "spec.strategy.canary",
            "analysis",
            "templates:\n  - templateName: pay\nstartingStep: 1\n",
        )
        .unwrap();
    let added = "\n      analysis:\n        templates:\n          - templateName: pay\n        startingStep: 1";
    assert_only_changed(
        text,
        &out,
        "- pause: {}\n",
        &format!("- pause: {{}}{added}\n"),
    );
    let d = doc(&out);
    assert_eq!(
        d.get("spec.strategy.canary.analysis.templates[0].templateName")
            .unwrap(),
        "pay"
    );
    assert_eq!(d.get("spec.replicas").unwrap(), "2");
    let again = d.insert_key("spec.strategy.canary", "analysis", "{}");
    assert!(matches!(again, Err(YamlEditError::KeyExists { .. })));
}

#[test]
fn inserts_into_flow_collections_and_sequences() {
    let text = "steps:\n- setWeight: 0\n- pause: {}\nlist: [a]\nlast: 1\n";
    let d = doc(text);
    let out = d.insert_key("steps[1].pause", "duration", "30s").unwrap();
    assert_only_changed(text, &out, "pause: {}", "pause: {duration: 30s}");
    let out = d.push_item("list", "b").unwrap();
    assert_only_changed(text, &out, "[a]", "[a, b]");
    let out = d
        .push_item("steps", "analysis:\n  templates:\n    - templateName: t")
        .unwrap();
    let added = "\n- analysis:\n    templates:\n      - templateName: t";
    assert_only_changed(text, &out, "- pause: {}", &format!("- pause: {{}}{added}"));
    assert_eq!(doc(&out).seq_len("steps").unwrap(), 3);
    assert!(d.push_item("list", "x: [").is_err());
}

#[test]
fn keeps_crlf_line_endings() {
    let text = "a:\r\n  b: 1\r\nc: 2\r\n";
    let out = doc(text).insert_key("a", "z", "3").unwrap();
    assert_eq!(out, "a:\r\n  b: 1\r\n  z: 3\r\nc: 2\r\n");
    let out = doc(text).set("a.b", "7").unwrap();
    assert_eq!(out, "a:\r\n  b: 7\r\nc: 2\r\n");
}

#[test]
fn addresses_later_documents() {
    let text = "kind: Service\n---\nkind: Rollout\nspec: {replicas: 1}\n";
    let mut d = doc(text);
    assert_eq!(d.document_count(), 2);
    d.select_document(1).unwrap();
    let out = d.set("spec.replicas", "3").unwrap();
    assert_only_changed(text, &out, "replicas: 1", "replicas: 3");
    assert!(d.select_document(2).is_err());
}

#[test]
fn inserts_into_a_list_item_and_at_the_root() {
    let out = doc(SAMPLE)
        .insert_key(
            "spec.containers[name=payment-service]",
            "imagePullPolicy",
            "Always",
        )
        .unwrap();
    assert_only_changed(
        SAMPLE,
        &out,
        "      port: 8080\n",
        "      port: 8080\n      imagePullPolicy: Always\n",
    );
    let text = "a: 1\nb:\n  c: |\n    body\n\n    more\n    # not a comment\n# root comment";
    let out = doc(text).insert_key("b", "d", "2").unwrap();
    assert_only_changed(
        text,
        &out,
        "    # not a comment\n",
        "    # not a comment\n  d: 2\n",
    );
    assert_eq!(
        doc(&out).get("b.c").unwrap(),
        "body\n\nmore\n# not a comment\n"
    );
    let out = doc(text).insert_key("", "z", "[1, 2]").unwrap();
    // A comment no deeper than the mapping's keys stays after the new entry.
    assert_only_changed(
        text,
        &out,
        "\n# root comment",
        "\nz: [1, 2]\n# root comment",
    );
    let out = doc("a: 1").insert_key("", "z", "2").unwrap();
    assert_eq!(out, "a: 1\nz: 2");
}

#[test]
fn removes_and_inserts_block_sequence_items_by_their_lines() {
    let d = doc(SAMPLE);
    let removed = d.remove_item("spec.steps", 1).unwrap();
    assert_only_changed(SAMPLE, &removed, "  - pause: {}\n", "");
    // A multi-line item goes with the lines under it; the comment above the list stays.
    let removed = d.remove_item("spec.containers", 0).unwrap();
    assert_only_changed(
        SAMPLE,
        &removed,
        "    - name: sidecar\n      image: \"reg.example.com/side:1.0\"\n",
        "",
    );
    assert!(removed.contains("  # the containers\n"));
    // Inserted before an item, at its indentation; the end appends.
    let back = doc(&d.remove_item("spec.steps", 1).unwrap())
        .insert_item("spec.steps", 1, "pause: {}")
        .unwrap();
    assert_eq!(back, SAMPLE);
    let first = d
        .insert_item("spec.steps", 0, "pause: {duration: 1m}")
        .unwrap();
    assert!(first.contains("  steps:\n  - pause: {duration: 1m}\n  - setWeight: 0\n"));
    assert!(d.insert_item("spec.steps", 3, "pause: {}").is_err());
    assert!(matches!(
        d.remove_item("spec.steps", 2),
        Err(YamlEditError::NotFound { .. })
    ));
    assert!(matches!(
        d.remove_item("kind", 0),
        Err(YamlEditError::WrongKind { .. })
    ));
}

#[test]
fn removes_and_inserts_flow_sequence_items() {
    let text = "steps: [{setWeight: 10}, {pause: {}}, {setWeight: 50}]\n";
    let d = doc(text);
    assert_eq!(
        d.remove_item("steps", 1).unwrap(),
        "steps: [{setWeight: 10}, {setWeight: 50}]\n"
    );
    assert_eq!(
        d.remove_item("steps", 2).unwrap(),
        "steps: [{setWeight: 10}, {pause: {}}]\n"
    );
    assert_eq!(
        d.insert_item("steps", 1, "{pause: {duration: 1m}}")
            .unwrap(),
        "steps: [{setWeight: 10}, {pause: {duration: 1m}}, {pause: {}}, {setWeight: 50}]\n"
    );
}
