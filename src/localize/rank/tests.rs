//! Ranking rules on small repositories: the None followed up through callers, argument
//! mapping for keywords and methods, moved lines, and recent changes.

use crate::localize::localize_detailed;
use std::path::Path;

const CHAIN: &str = r#"def handler(request):
    user = request
    notify(user.email)


def notify(address):
    deliver(address)


def deliver(to):
    return to.lower()


class U:
    email = None


handler(U())
"#;

/// The real traceback of running `CHAIN` with python3.
const CHAIN_TRACE: &str = r#"Traceback (most recent call last):
  File "/tmp/hbchk/app.py", line 18, in <module>
    handler(U())
  File "/tmp/hbchk/app.py", line 3, in handler
    notify(user.email)
  File "/tmp/hbchk/app.py", line 7, in notify
    deliver(address)
  File "/tmp/hbchk/app.py", line 11, in deliver
    return to.lower()
           ^^^^^^^^
AttributeError: 'NoneType' object has no attribute 'lower'
"#;

fn repo_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn lines(loc: &crate::localize::Localization) -> Vec<u32> {
    loc.candidates.iter().map(|c| c.line).collect()
}

#[test]
fn a_passed_through_none_is_followed_to_where_it_came_from() {
    let repo = repo_with(&[("app.py", CHAIN)]);
    let loc = localize_detailed(repo.path(), CHAIN_TRACE, 10).unwrap();
    assert_eq!(lines(&loc)[..3], [3, 7, 11]);
    assert_eq!(loc.candidates[0].function, "handler");
    assert_eq!(loc.faulting_expression.as_deref(), Some("user.email"));
    assert_eq!(loc.candidates[1].expression.as_deref(), Some("address"));
    assert!(loc.candidates[0]
        .reason
        .contains("`user.email` becomes `address` of `notify`"));
}

fn method_trace(call: &str) -> (String, String) {
    let code = format!(
        "class Mailer:\n    def send(self, subject, to=None):\n        return to.strip()\n\n\ndef close(order, mailer):\n    {call}\n"
    );
    let trace = format!(
        "Traceback (most recent call last):\n  File \"/app/mail.py\", line 7, in close\n    {call}\n  File \"/app/mail.py\", line 3, in send\n    return to.strip()\n           ^^^^^^^^\nAttributeError: 'NoneType' object has no attribute 'strip'\n"
    );
    (code, trace)
}

#[test]
fn keyword_and_method_arguments_map_to_the_parameter() {
    for call in [
        "mailer.send(\"closed\", to=order.customer)",
        "mailer.send(\"closed\", order.customer)",
    ] {
        let (code, trace) = method_trace(call);
        let repo = repo_with(&[("mail.py", &code)]);
        let loc = localize_detailed(repo.path(), &trace, 5).unwrap();
        assert_eq!(loc.candidates[0].line, 7, "{call}");
        assert_eq!(
            loc.faulting_expression.as_deref(),
            Some("order.customer"),
            "{call}"
        );
        assert_eq!(loc.candidates[1].function, "Mailer.send");
    }
    // A splat hides which argument lands on `to`: no claim is made.
    let (code, trace) = method_trace("mailer.send(*args)");
    let repo = repo_with(&[("mail.py", &code)]);
    let loc = localize_detailed(repo.path(), &trace, 5).unwrap();
    assert_eq!(loc.candidates[0].line, 3);
}

#[test]
fn a_moved_line_is_found_by_its_code() {
    let moved = format!("import os\nimport sys\n{CHAIN}");
    let repo = repo_with(&[("app.py", &moved)]);
    let loc = localize_detailed(repo.path(), CHAIN_TRACE, 10).unwrap();
    assert_eq!(lines(&loc)[..3], [5, 9, 13]);
    assert!(
        loc.candidates[0].reason.contains("moved from line 3 to 5"),
        "{}",
        loc.candidates[0].reason
    );
}

#[test]
fn a_line_that_no_longer_matches_ranks_lower() {
    let changed = CHAIN.replace("    return to.lower()", "    return to.casefold()");
    let repo = repo_with(&[("app.py", &changed)]);
    let loc = localize_detailed(repo.path(), CHAIN_TRACE, 10).unwrap();
    let site = loc.candidates.iter().find(|c| c.line == 11).unwrap();
    assert!(
        site.reason.contains("differs from the trace"),
        "{}",
        site.reason
    );
    assert!(site.score < 0.6, "{}", site.score);
}

#[test]
fn a_recently_changed_line_gains() {
    use git2::{Repository, Signature};
    let repo_dir = repo_with(&[("app.py", CHAIN)]);
    let repo = Repository::init(repo_dir.path()).unwrap();
    let sig = Signature::now("t", "t@example.com").unwrap();
    let commit = |msg: &str| {
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("app.py")).unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<_> = parent.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, msg, &tree, &parents)
            .unwrap();
    };
    commit("initial import");
    let before = localize_detailed(repo_dir.path(), CHAIN_TRACE, 10).unwrap();
    let edited = CHAIN.replace("    deliver(address)", "    deliver(address)  # hand over");
    std::fs::write(repo_dir.path().join("app.py"), edited).unwrap();
    commit("hand notifications over");
    let trace = CHAIN_TRACE.replace(
        "    deliver(address)\n",
        "    deliver(address)  # hand over\n",
    );
    let after = localize_detailed(repo_dir.path(), &trace, 10).unwrap();
    let score = |l: &crate::localize::Localization| {
        l.candidates.iter().find(|c| c.line == 7).unwrap().score
    };
    assert!(
        score(&after) > score(&before),
        "{} vs {}",
        score(&after),
        score(&before)
    );
    let notify = after.candidates.iter().find(|c| c.line == 7).unwrap();
    assert!(
        notify.reason.contains("hand notifications over"),
        "{}",
        notify.reason
    );
}

const RUST_CHAIN: &str = "pub fn fit(total: usize, pad: usize) -> usize {
    total - pad
}

pub fn layout(width: usize) -> usize {
    fit(width, 4)
}

pub fn run(cols: usize) -> usize {
    let width = cols / 2;
    layout(width)
}

pub fn grow(n: usize) -> usize {
    let m = n + 1;
    m * 1000
}

pub fn start() -> usize {
    grow(usize::MAX / 2)
}
";

fn rust_trace(message: &str, frames: &[(&str, &str, u32)]) -> String {
    let mut t = format!(
        "thread 'main' panicked at src/lib.rs:{}:5:\n{message}\nstack backtrace:\n   0: rust_begin_unwind\n             at /rustc/abc/library/std/src/panicking.rs:645:5\n   1: core::panicking::panic\n             at /rustc/abc/library/core/src/panicking.rs:127:5\n",
        frames[0].2
    );
    for (i, (func, file, line)) in frames.iter().enumerate() {
        t.push_str(&format!(
            "   {}: app::{func}\n             at /build/app/{file}:{line}:5\n",
            i + 2
        ));
    }
    t
}

#[test]
fn rust_a_parameter_operand_is_followed_to_the_call_that_computed_it() {
    let repo = repo_with(&[
        ("src/lib.rs", RUST_CHAIN),
        ("src/other.rs", "fn main() {\n}\n"),
    ]);
    let trace = rust_trace(
        "attempt to subtract with overflow",
        &[
            ("fit", "src/lib.rs", 2),
            ("layout", "src/lib.rs", 6),
            ("run", "src/lib.rs", 11),
            // Past the end of src/other.rs: the wrong file, so no candidate.
            ("main", "src/other.rs", 50),
        ],
    );
    let loc = localize_detailed(repo.path(), &trace, 10).unwrap();
    // The `let` at line 10 is the same spot as the call at 11: the other places come first.
    assert_eq!(lines(&loc), [11, 2, 6, 10]);
    let top = &loc.candidates[0];
    assert!(
        top.reason.contains("`width` becomes `width` of `layout`"),
        "{}",
        top.reason
    );
    assert!(
        loc.candidates[3]
            .reason
            .contains("computes `width` (line 10), which the call at line 11 depends on"),
        "{}",
        loc.candidates[3].reason
    );
    assert!(loc.candidates[2]
        .reason
        .contains("hands `width` on unchanged as `total` of `fit`"));
    assert!(loc.candidates.iter().all(|c| c.file == "src/lib.rs"));
}

#[test]
fn rust_an_overflow_computed_from_a_parameter_keeps_the_site_first() {
    let repo = repo_with(&[("src/lib.rs", RUST_CHAIN)]);
    let trace = rust_trace(
        "attempt to multiply with overflow",
        &[("grow", "src/lib.rs", 16), ("start", "src/lib.rs", 20)],
    );
    let loc = localize_detailed(repo.path(), &trace, 10).unwrap();
    assert_eq!(lines(&loc), [16, 20, 15]);
    assert!(
        loc.candidates[2].reason.contains("computes `m` (line 15)"),
        "{}",
        loc.candidates[2].reason
    );
    assert!(
        loc.candidates[1]
            .reason
            .contains("`usize::MAX / 2` becomes `n` of `grow`"),
        "{}",
        loc.candidates[1].reason
    );
    assert!(loc.candidates[1]
        .reason
        .contains("`m` (line 15) is computed from the parameter `n`"));
}

#[test]
fn rust_a_failed_assert_on_parameters_blames_the_caller() {
    let src = "pub fn index_of(x: u16, width: u16) -> usize {\n    assert!(\n        x < width,\n        \"outside: {}\",\n        x\n    );\n    x as usize\n}\n\npub fn draw(n: u16) {\n    index_of(n + 1, 10);\n}\n";
    let repo = repo_with(&[("src/lib.rs", src)]);
    let trace = rust_trace(
        "outside: 12",
        &[("index_of", "src/lib.rs", 2), ("draw", "src/lib.rs", 11)],
    );
    let loc = localize_detailed(repo.path(), &trace, 10).unwrap();
    assert_eq!(lines(&loc), [11, 2]);
    assert!(
        loc.candidates[1]
            .reason
            .contains("holds the text of the message"),
        "{}",
        loc.candidates[1].reason
    );
    assert!(
        loc.candidates[1]
            .reason
            .contains("fails when `x < width` is false"),
        "{}",
        loc.candidates[1].reason
    );
    assert_eq!(loc.candidates[1].expression.as_deref(), Some("x < width"));
}

#[test]
fn rust_a_length_check_that_misses_a_constant_index_ranks_first() {
    let src = "pub fn parse(s: &[u8]) -> Option<u32> {\n    if s.len() < 20 || s[10] != b' ' {\n        return None;\n    }\n    let year = &s[20..24];\n    Some(year.len() as u32)\n}\n\npub fn run() {\n    parse(b\"Sun Nov  6 08:49:37 \");\n}\n";
    let repo = repo_with(&[("src/lib.rs", src)]);
    let trace = rust_trace(
        "range end index 24 out of range for slice of length 20",
        &[("parse", "src/lib.rs", 5), ("run", "src/lib.rs", 10)],
    );
    let loc = localize_detailed(repo.path(), &trace, 10).unwrap();
    assert_eq!(lines(&loc)[..2], [2, 5]);
    assert!(
        loc.candidates[0]
            .reason
            .contains("checks `s` (`s.len() < 20"),
        "{}",
        loc.candidates[0].reason
    );
}
