//! Unit tests of `verify`: the checker's canonical bytes against `canonical_json` (both
//! paths), chains that hold, every way one breaks (edit, deletion, reordering, rehash, cut-off
//! or malformed line), and the threaded file verifier agreeing with the sequential one.

use super::bytes::Sorted;
use super::*;
use crate::audit::{canonical_json, NewEntry};
use serde_json::json;

fn new_entry(i: u64, detail: serde_json::Value) -> NewEntry {
    NewEntry {
        operation_id: format!("op-{}", i % 3),
        correlation_id: format!("corr-{i}"),
        actor: "healbot".into(),
        action: "note".into(),
        detail,
    }
}

fn chain(n: u64) -> Vec<AuditEntry> {
    let mut out: Vec<AuditEntry> = Vec::new();
    for i in 0..n {
        let prev = out
            .last()
            .map_or(GENESIS_HASH.to_string(), |e| e.hash.clone());
        out.push(AuditEntry::chain(
            new_entry(
                i,
                json!({ "i": i, "z": [1, {"b": 2, "a": 1}], "a": "x\"y\n" }),
            ),
            FIRST_SEQ + i,
            &prev,
            format!("2025-01-01T00:00:{:02}.000000Z", i % 60),
        ));
    }
    out
}

fn to_jsonl(entries: &[AuditEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        serde_json::to_writer(&mut out, e).unwrap();
        out.push(b'\n');
    }
    out
}

#[test]
fn canonical_writer_matches_canonical_json() {
    let details = [
        json!(null),
        json!({}),
        json!({"b": 1, "a": {"d": [3, {"y": 1, "x": 2}], "c": 1.5}}),
        json!({"ünïcode": "é\u{1F600}", "ctl": "\u{0001}\t", "big": u64::MAX, "neg": -3}),
        json!([{"b": 1, "a": 2}, "s", true]),
    ];
    for (i, detail) in details.into_iter().enumerate() {
        let e = AuditEntry::chain(new_entry(i as u64, detail), 7, GENESIS_HASH, "t\"s".into());
        let mut buf = Vec::new();
        write_canonical(&mut buf, &Fields::of(&e));
        assert_eq!(String::from_utf8(buf).unwrap(), canonical_json(&e));
    }
}

/// The fast path says "canonical" only when re-serializing would give the same bytes, and
/// says it for what the file store writes.
#[test]
fn canonical_fast_path_is_never_wrong() {
    let samples = [
        r#"{}"#,
        r#"[]"#,
        r#"null"#,
        r#"{"a":1,"b":[true,false,null],"c":{"d":"x"}}"#,
        r#"{"b":1,"a":2}"#,
        r#"{"a":1,"a":2}"#,
        r#"{"":1,"":2}"#,
        r#"{"":1,"a":{"":[{}]}}"#,
        r#"{"a": 1}"#,
        r#"{"a":1.0}"#,
        r#"{"a":1e5}"#,
        r#"{"a":-0}"#,
        r#"{"a":-12}"#,
        r#"{"a":123456789012345678}"#,
        r#"{"a":1234567890123456789}"#,
        r#"{"a":18446744073709551616}"#,
        r#"{"a":"\u00e9"}"#,
        r#"{"a":"é\u0001"}"#,
        r#"{"a":"\/"}"#,
        r#"{"\u0061":1}"#,
        r#"{"é":1,"z":2}"#,
        r#"{"z":1,"é":2}"#,
        r#"[{"b":1,"a":2}]"#,
        r#"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"#,
        r#""plain""#,
        r#"-5"#,
        r#"{"a":[1,{"b":2,"c":[3]}],"b":"x"}"#,
    ];
    for raw in samples {
        let value: serde_json::Value = serde_json::from_str(raw).unwrap();
        let canonical = serde_json::to_string(&Sorted(&value)).unwrap();
        if is_canonical_json(raw.as_bytes()) {
            assert_eq!(raw, canonical, "fast path accepted a non-canonical text");
        }
    }
    for fast in [
        r#"{}"#,
        r#"null"#,
        r#"{"a":1,"b":[true,false,null],"c":{"d":"x"}}"#,
        r#"{"":1,"a":{"":[{}]}}"#,
        r#"{"a":-12}"#,
        r#"{"a":123456789012345678}"#,
        r#"{"z":1,"é":2}"#,
        r#"{"a":[1,{"b":2,"c":[3]}],"b":"x"}"#,
    ] {
        assert!(is_canonical_json(fast.as_bytes()), "slow path for {fast}");
    }
}

#[test]
fn both_paths_give_the_same_hash() {
    for detail in [
        json!({"b": 1, "a": "x"}),
        json!({"a": 1.5, "b": "\n"}),
        json!({"a": 1, "b": 2}),
    ] {
        let entry = AuditEntry::chain(new_entry(1, detail), 1, GENESIS_HASH, "t".into());
        let line = serde_json::to_vec(&entry).unwrap();
        assert!(ChainChecker::new().check_line(&line, true).is_ok());
    }
}

#[test]
fn intact_chain_holds() {
    let entries = chain(20);
    let report = verify_reader(&to_jsonl(&entries)[..]).unwrap();
    assert!(report.holds(), "{:?}", report.broken);
    assert_eq!(report.entries, 20);
    assert_eq!(report.head, Some((20, entries[19].hash.clone())));
    assert_eq!(verify_entries(&entries), report);
}

#[test]
fn empty_log_holds_with_no_head() {
    let report = verify_reader(&b""[..]).unwrap();
    assert!(report.holds());
    assert_eq!((report.entries, report.head), (0, None));
}

#[test]
fn edited_field_breaks_at_its_seq() {
    let mut entries = chain(10);
    entries[4].detail = json!({"i": 999});
    let report = verify_reader(&to_jsonl(&entries)[..]).unwrap();
    let broken = report.broken.unwrap();
    assert_eq!((broken.seq, broken.line), (5, 5));
    assert!(matches!(broken.reason, BreakReason::HashMismatch { .. }));
    assert_eq!(report.entries, 4);
    assert_eq!(report.head, Some((4, entries[3].hash.clone())));
}

#[test]
fn edited_seq_reads_as_an_edit() {
    let mut entries = chain(10);
    entries[4].seq = 50;
    let broken = verify_entries(&entries).broken.unwrap();
    assert_eq!((broken.seq, broken.line), (50, 5));
    assert!(matches!(broken.reason, BreakReason::HashMismatch { .. }));
}

#[test]
fn deleted_entry_breaks_at_the_entry_after_the_gap() {
    let mut entries = chain(10);
    entries.remove(4);
    let broken = verify_reader(&to_jsonl(&entries)[..])
        .unwrap()
        .broken
        .unwrap();
    assert_eq!((broken.seq, broken.line), (6, 5));
    assert_eq!(
        broken.reason,
        BreakReason::SeqOutOfOrder {
            expected: 5,
            found: 6,
            prev_hash_links: false
        }
    );
}

#[test]
fn deleted_first_entry_is_found() {
    let mut entries = chain(3);
    entries.remove(0);
    let broken = verify_entries(&entries).broken.unwrap();
    assert_eq!((broken.seq, broken.line), (2, 1));
}

#[test]
fn reordered_entries_break_at_the_first_out_of_place() {
    let mut entries = chain(10);
    entries.swap(4, 5);
    let broken = verify_reader(&to_jsonl(&entries)[..])
        .unwrap()
        .broken
        .unwrap();
    assert_eq!((broken.seq, broken.line), (6, 5));
    assert!(matches!(broken.reason, BreakReason::SeqOutOfOrder { .. }));
}

#[test]
fn rehashed_edit_breaks_at_the_next_entry() {
    let mut entries = chain(10);
    entries[4].detail = json!({"forged": true});
    entries[4].hash = crate::audit::hash_entry(&entries[4]);
    let broken = verify_entries(&entries).broken.unwrap();
    assert_eq!(broken.seq, 6);
    assert!(matches!(
        broken.reason,
        BreakReason::PrevHashMismatch { .. }
    ));
}

#[test]
fn first_entry_must_link_to_genesis() {
    let mut first = chain(1).remove(0);
    first.prev_hash = "1".repeat(64);
    first.hash = crate::audit::hash_entry(&first);
    let broken = verify_entries(&[first]).broken.unwrap();
    assert_eq!(broken.seq, 1);
    assert!(matches!(
        broken.reason,
        BreakReason::PrevHashMismatch { .. }
    ));
}

#[test]
fn truncated_last_line_names_the_seq_it_should_have_had() {
    let bytes = to_jsonl(&chain(10));
    let cut = &bytes[..bytes.len() - 40];
    let report = verify_reader(cut).unwrap();
    let broken = report.broken.unwrap();
    assert_eq!((broken.seq, broken.line), (10, 10));
    assert!(matches!(broken.reason, BreakReason::Truncated { .. }));
    assert_eq!(report.entries, 9);
}

#[test]
fn malformed_middle_line_is_named() {
    let mut bytes = to_jsonl(&chain(3));
    let first_newline = bytes.iter().position(|b| *b == b'\n').unwrap();
    bytes.splice(first_newline + 1..first_newline + 1, *b"not json\n");
    let broken = verify_reader(&bytes[..]).unwrap().broken.unwrap();
    assert_eq!((broken.seq, broken.line), (2, 2));
    assert!(matches!(broken.reason, BreakReason::Malformed { .. }));
}

#[test]
fn unknown_fields_and_missing_fields_are_malformed() {
    let line = br#"{"seq":1,"ts":"t","operation_id":"o","correlation_id":"c","actor":"a","action":"x","detail":null,"prev_hash":"0","hash":"h","extra":1}"#;
    let broken = verify_reader(&[&line[..], b"\n"].concat()[..])
        .unwrap()
        .broken
        .unwrap();
    assert!(matches!(broken.reason, BreakReason::Malformed { .. }));
    let broken = verify_reader(&br#"{"seq":1}"#[..]).unwrap().broken.unwrap();
    assert!(matches!(broken.reason, BreakReason::Truncated { .. }));
}

#[test]
fn escaped_strings_verify() {
    let mut entries = chain(2);
    let prev = entries[1].hash.clone();
    entries.push(AuditEntry::chain(
        NewEntry {
            operation_id: "op \"quoted\" \\ /".into(),
            correlation_id: "tab\there".into(),
            actor: "ünï".into(),
            action: "a\nb".into(),
            detail: json!({"k": "\u{0000}"}),
        },
        3,
        &prev,
        "ts".into(),
    ));
    assert!(verify_reader(&to_jsonl(&entries)[..]).unwrap().holds());
}

/// Every kind of damage at every position, checked by the chunked, threaded file verifier
/// with chunk sizes that cut lines everywhere: it must agree with the sequential reader.
#[test]
fn threaded_file_verifier_agrees_with_the_sequential_one() {
    let entries = chain(12);
    let lines: Vec<Vec<u8>> = entries
        .iter()
        .map(|e| serde_json::to_vec(e).unwrap())
        .collect();
    let join = |ls: &[Vec<u8>]| -> Vec<u8> {
        ls.iter()
            .flat_map(|l| l.iter().chain(b"\n"))
            .copied()
            .collect()
    };
    let mut variants = vec![join(&lines), Vec::new()];
    for k in 0..lines.len() {
        let mut edited = entries.clone();
        edited[k].actor = "mallory".into();
        variants.push(to_jsonl(&edited));
        let mut deleted = lines.clone();
        deleted.remove(k);
        variants.push(join(&deleted));
        if k + 1 < lines.len() {
            let mut swapped = lines.clone();
            swapped.swap(k, k + 1);
            variants.push(join(&swapped));
        }
        let mut garbage = lines.clone();
        garbage[k] = b"{not json".to_vec();
        variants.push(join(&garbage));
    }
    let whole = join(&lines);
    for cut in [1, 30, 200, whole.len() / 2] {
        variants.push(whole[..whole.len() - cut].to_vec());
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.jsonl");
    for (i, bytes) in variants.iter().enumerate() {
        std::fs::write(&path, bytes).unwrap();
        let expected = verify_reader(&bytes[..]).unwrap();
        for chunk_bytes in [1, 97, 400, 1 << 20] {
            for workers in [2, 3] {
                let got = verify_file_in_chunks(&path, chunk_bytes, workers).unwrap();
                assert_eq!(
                    got, expected,
                    "variant {i}, chunk {chunk_bytes}, {workers} workers"
                );
            }
        }
        assert_eq!(verify_file(&path).unwrap(), expected);
    }
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = verify_file(&dir.path().join("absent.jsonl")).unwrap_err();
    assert!(err.to_string().contains("absent.jsonl"), "{err}");
}

#[test]
fn display_names_seq_and_line() {
    let mut entries = chain(3);
    entries.remove(1);
    let broken = verify_entries(&entries).broken.unwrap();
    let text = broken.to_string();
    assert!(
        text.starts_with("chain broken at seq 3 (line 2): seq 3 where seq 2 was expected"),
        "{text}"
    );
}
