//! Integration tests: canary. `healbot canary judge` is run as a user runs it, on the sample
//! files in testdata/canary, and its JSON and exit codes are checked against the contract.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/canary")
        .join(name)
}

fn healbot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(args)
        .output()
        .expect("the healbot binary runs")
}

/// Runs `canary judge` on `<pair>-baseline.json` and `<pair>-canary.json` with the test config.
fn judge_pair(pair: &str, extra: &[&str]) -> Output {
    let baseline = data(&format!("{pair}-baseline.json"));
    let canary = data(&format!("{pair}-canary.json"));
    let config = data("config.yaml");
    let mut args = vec![
        "canary",
        "judge",
        "--baseline",
        baseline.to_str().expect("utf-8 path"),
        "--canary",
        canary.to_str().expect("utf-8 path"),
        "--config",
        config.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    healbot(&args)
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn metric<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["metrics"]
        .as_array()
        .expect("metrics is an array")
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no metric {name} in {report:#}"))
}

/// Every field the design's contract names, with its type.
fn assert_contract(report: &Value) {
    let score = report["score"].as_f64().expect("score is a number");
    assert!((0.0..=100.0).contains(&score), "score {score}");
    let verdict = report["verdict"].as_str().expect("verdict is a string");
    assert!(["Pass", "Marginal", "Fail", "Inconclusive"].contains(&verdict));
    let metrics = report["metrics"].as_array().expect("metrics is an array");
    assert!(!metrics.is_empty());
    for m in metrics {
        assert!(m["name"].is_string(), "{m}");
        let class = m["classification"].as_str().expect("classification");
        assert!(["Pass", "High", "Low", "NoData"].contains(&class), "{m}");
        for key in ["p_value", "effect_size"] {
            let v = m.get(key).unwrap_or_else(|| panic!("{key} missing in {m}"));
            assert!(v.is_number() || v.is_null(), "{m}");
        }
    }
}

#[test]
fn passing_canary_passes() {
    let out = judge_pair("pass", &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report = json_of(&out);
    assert_contract(&report);
    assert_eq!(report["verdict"], "Pass", "{report:#}");
    assert_eq!(report["score"], 100.0);
    for name in ["requests", "error_rate", "latency_p99", "cpu"] {
        let m = metric(&report, name);
        assert_eq!(m["classification"], "Pass", "{m}");
        assert!(m["p_value"].as_f64().is_some_and(|p| p > 0.02), "{m}");
    }
    let e = metric(&report, "error_rate");
    assert!(e["effect_size"]
        .as_f64()
        .is_some_and(|r| (r - 1.0).abs() < 0.3));
    assert_eq!(e["critical"], true);
}

#[test]
fn rising_error_rate_fails() {
    let out = judge_pair("fail", &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report = json_of(&out);
    assert_contract(&report);
    assert_eq!(report["verdict"], "Fail");
    let e = metric(&report, "error_rate");
    assert_eq!(e["classification"], "High", "{e}");
    assert!(e["p_value"].as_f64().is_some_and(|p| p < 1e-6), "{e}");
    assert!(e["effect_size"].as_f64().is_some_and(|r| r > 5.0), "{e}");
    assert!(e["ci_low"].as_f64().is_some_and(|l| l > 0.0), "{e}");
    assert_eq!(e["threshold_breached"], true, "{e}");
    let reason = report["reason"].as_str().expect("reason");
    assert!(reason.contains("error_rate"), "{reason}");
    // The other metrics did not move.
    assert_eq!(metric(&report, "latency_p99")["classification"], "Pass");
}

#[test]
fn low_traffic_canary_is_inconclusive() {
    let out = judge_pair("low-traffic", &["--format", "json"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let report = json_of(&out);
    assert_contract(&report);
    assert_eq!(report["verdict"], "Inconclusive");
    let reason = report["reason"].as_str().expect("reason");
    assert!(
        reason.contains("requests") && reason.contains("min_samples"),
        "{reason}"
    );
}

#[test]
fn without_a_config_defaults_apply() {
    let baseline = data("fail-baseline.json");
    let canary = data("fail-canary.json");
    let out = healbot(&[
        "canary",
        "judge",
        "--baseline",
        baseline.to_str().expect("utf-8 path"),
        "--canary",
        canary.to_str().expect("utf-8 path"),
        "--format",
        "json",
    ]);
    let report = json_of(&out);
    assert_contract(&report);
    // error_rate is High but not critical by default: 3 of 4 metrics pass, a marginal 75.
    assert_eq!(metric(&report, "error_rate")["classification"], "High");
    assert_eq!(report["score"], 75.0);
    assert_eq!(report["verdict"], "Marginal");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn text_output_is_a_table_and_a_verdict_line() {
    let out = judge_pair("fail", &[]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("metric"), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("error_rate (critical)") && l.contains("High")),
        "{text}"
    );
    let last = lines.last().expect("a verdict line");
    assert!(last.starts_with("verdict: Fail (score "), "{text}");
}

#[test]
fn bad_sample_file_names_file_and_field() {
    let bad = data("bad.json");
    let good = data("pass-canary.json");
    let out = healbot(&[
        "canary",
        "judge",
        "--baseline",
        bad.to_str().expect("utf-8 path"),
        "--canary",
        good.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.json"), "{err}");
    assert!(
        err.contains("\"error_rate\"[1]") && err.contains("n/a"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_file_and_bad_config_exit_2() {
    let good = data("pass-canary.json");
    let good = good.to_str().expect("utf-8 path");
    let out = healbot(&[
        "canary",
        "judge",
        "--baseline",
        "/nonexistent/baseline.json",
        "--canary",
        good,
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/baseline.json"));

    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("judge.yaml");
    std::fs::write(&config, "metrics:\n  error_rate:\n    critcal: true\n").expect("write");
    let out = healbot(&[
        "canary",
        "judge",
        "--baseline",
        good,
        "--canary",
        good,
        "--config",
        config.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("judge.yaml") && err.contains("critcal"),
        "{err}"
    );

    let samples = dir.path().join("list.json");
    std::fs::write(&samples, "[1, 2, 3]").expect("write");
    let out = healbot(&[
        "canary",
        "judge",
        "--baseline",
        good,
        "--canary",
        samples.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("list.json") && err.contains("JSON object"),
        "{err}"
    );
}

#[test]
fn help_lists_the_exit_codes() {
    let out = healbot(&["canary", "judge", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for line in [
        "0  Pass or Marginal",
        "1  Fail",
        "2  bad input",
        "3  Inconclusive",
    ] {
        assert!(help.contains(line), "{help}");
    }
}
