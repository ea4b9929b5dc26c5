//! Localization evaluation (issue 4): real-world Rust panics, each with its backtrace, a minimal
//! source tree of the in-app files, and the location of the upstream fix. Every case under
//! `testdata/localize-eval/<case>/` runs through `localize_detailed` (top 5); a case is a top-k
//! hit when one of the first k candidates names the fix file (suffix match) and a fix line.
//! Prints a per-case table and the totals, and fails when the accuracy drops below the floors
//! measured when the set was built, or when the set shrinks. `scripts/bench/localize-eval`
//! runs just this test and shows the table.

use healbot::localize::localize_detailed;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The set must not shrink below this (the issue asks for an evaluation set, not a sample).
const MIN_CASES: usize = 15;
/// Floors from the measurement when the set was built, rounded down to 10%: they catch
/// regressions; raise them when the ranker improves.
const TOP1_FLOOR: f64 = 0.7;
const TOP5_FLOOR: f64 = 0.8;
const TOP: usize = 5;

/// Where the upstream fix sits relative to the panic's stack.
const FIX_AT: &[&str] = &[
    "site",      // the line that panicked (innermost in-app frame)
    "site-fn",   // another line of the function that panicked
    "caller",    // the line of a caller frame further up the stack
    "caller-fn", // another line of a caller's function
    "boundary",  // the last in-app frame before a dependency that panicked
    "off-stack", // a function that is not on the stack at all
];

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    upstream: String,
    panic_kind: String,
    fix_at: String,
    fix: Fix,
    #[serde(default)]
    #[allow(dead_code)]
    notes: String,
}

#[derive(Debug, Deserialize)]
struct Fix {
    file: String,
    line: u32,
    #[serde(default)]
    fix_lines: Vec<u32>,
}

impl Fix {
    fn lines(&self) -> Vec<u32> {
        let mut lines = self.fix_lines.clone();
        if !lines.contains(&self.line) {
            lines.push(self.line);
        }
        lines
    }

    fn matches(&self, file: &str, line: u32) -> bool {
        let same_file = file == self.file
            || self.file.ends_with(&format!("/{file}"))
            || file.ends_with(&format!("/{}", self.file));
        same_file && self.lines().contains(&line)
    }
}

struct Outcome {
    case: Case,
    /// 1-based rank of the first candidate on the fix, within the top 5.
    rank: Option<usize>,
    /// The top candidate, or why there is none.
    top: String,
}

fn eval_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/localize-eval")
}

fn load(dir: &Path) -> Case {
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()))
    };
    let case: Case = serde_norway::from_str(&read("case.yaml"))
        .unwrap_or_else(|e| panic!("{}/case.yaml: {e}", dir.display()));
    let dir_name = dir.file_name().unwrap().to_string_lossy();
    assert_eq!(case.name, dir_name, "case name and directory differ");
    assert!(
        FIX_AT.contains(&case.fix_at.as_str()),
        "{}: fix_at `{}` is not one of {FIX_AT:?}",
        case.name,
        case.fix_at
    );
    assert!(!case.upstream.trim().is_empty() && !case.panic_kind.trim().is_empty());
    // The fix must point at a real line of a real file of the case's tree.
    let fixed = dir.join("repo").join(&case.fix.file);
    let text = std::fs::read_to_string(&fixed)
        .unwrap_or_else(|e| panic!("{}: fix file {}: {e}", case.name, fixed.display()));
    let count = text.lines().count() as u32;
    for line in case.fix.lines() {
        assert!(
            (1..=count).contains(&line),
            "{}: fix line {line} is outside {} ({count} lines)",
            case.name,
            case.fix.file
        );
    }
    case
}

/// Every Rust file of the case's tree must parse, or the ranker's syntax facts would be
/// measured on broken input.
fn assert_sources_parse(case: &str, dir: &Path) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                if let Err(e) = syn::parse_file(&text) {
                    panic!("{case}: {} does not parse: {e}", path.display());
                }
            }
        }
    }
}

fn run(dir: &Path) -> Outcome {
    let case = load(dir);
    let repo = dir.join("repo");
    assert_sources_parse(&case.name, &repo);
    let trace = std::fs::read_to_string(dir.join("backtrace.txt")).unwrap();
    match localize_detailed(&repo, &trace, TOP) {
        Ok(loc) => {
            let rank = loc
                .candidates
                .iter()
                .position(|c| case.fix.matches(&c.file, c.line))
                .map(|i| i + 1);
            let top = loc
                .candidates
                .first()
                .map(|c| format!("{}:{}", c.file, c.line))
                .unwrap_or_else(|| "(no candidates)".into());
            Outcome { case, rank, top }
        }
        Err(e) => Outcome {
            case,
            rank: None,
            top: format!("(error: {e})"),
        },
    }
}

#[test]
fn localize_eval_top1_top5_on_real_world_rust_panics() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(eval_dir())
        .expect("testdata/localize-eval exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("case.yaml").is_file())
        .collect();
    dirs.sort();
    let outcomes: Vec<Outcome> = dirs.iter().map(|d| run(d)).collect();
    let n = outcomes.len();

    let mut table = String::new();
    table.push_str(&format!(
        "{:<42} {:<44} {:<10} {:<5} top candidate\n",
        "case", "panic kind", "fix at", "rank"
    ));
    for o in &outcomes {
        let fix = format!("{}:{}", o.case.fix.file, o.case.fix.line);
        table.push_str(&format!(
            "{:<42} {:<44} {:<10} {:<5} {}{}\n",
            o.case.name,
            o.case.panic_kind,
            o.case.fix_at,
            o.rank.map_or("-".to_string(), |r| r.to_string()),
            o.top,
            if o.rank == Some(1) {
                String::new()
            } else {
                format!("  (fix: {fix})")
            }
        ));
    }
    let hits = |k: usize| {
        outcomes
            .iter()
            .filter(|o| o.rank.is_some_and(|r| r <= k))
            .count()
    };
    let (top1, top5) = (hits(1), hits(5));
    let rate = |h: usize| h as f64 / n.max(1) as f64;
    table.push_str(&format!(
        "\ncases: {n}  top-1: {top1}/{n} = {:.1}%  top-5: {top5}/{n} = {:.1}%\n",
        100.0 * rate(top1),
        100.0 * rate(top5)
    ));
    for kind in FIX_AT {
        let of_kind: Vec<&Outcome> = outcomes.iter().filter(|o| o.case.fix_at == *kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        let k1 = of_kind.iter().filter(|o| o.rank == Some(1)).count();
        let k5 = of_kind.iter().filter(|o| o.rank.is_some()).count();
        table.push_str(&format!(
            "  fix at {kind:<10} {:>2} cases  top-1 {k1}  top-5 {k5}\n",
            of_kind.len()
        ));
    }
    println!("\n{table}");

    assert!(
        n >= MIN_CASES,
        "the evaluation set shrank to {n} cases (at least {MIN_CASES})"
    );
    let upstack = outcomes
        .iter()
        .filter(|o| matches!(o.case.fix_at.as_str(), "caller" | "caller-fn"))
        .count();
    assert!(
        upstack * 3 >= n,
        "at least a third of the cases must have the fix up the stack ({upstack} of {n})"
    );
    assert!(
        rate(top1) >= TOP1_FLOOR,
        "top-1 accuracy {:.1}% fell below the floor {:.0}%\n{table}",
        100.0 * rate(top1),
        100.0 * TOP1_FLOOR
    );
    assert!(
        rate(top5) >= TOP5_FLOOR,
        "top-5 accuracy {:.1}% fell below the floor {:.0}%\n{table}",
        100.0 * rate(top5),
        100.0 * TOP5_FLOOR
    );
}
