//! Places off the stack. A stack names where a bad value was used; the fix is often where it
//! was made or where it should have been stopped. From the raise site this adds: the `let`
//! that computed the failing expression's value (and the one before it), the start of the
//! panicking fn when the value is one of its parameters (where a check belongs), the code that
//! writes a field the failing expression reads, the body of the repository fn whose return
//! value was bound, the source lines holding the message's own text (an `expect`, a `panic!`,
//! an error built with that text, an exception raised with it), and the lines of the panicking
//! fn that changed lately. Each says why; all rank below the raise site and the caller that
//! chose the value.

use super::super::blame::Blamer;
use super::super::fault::Fault;
use super::super::paths::{is_test_path, RepoIndex};
use super::super::source::rust::{PanicKind, RustFn, RustSource};
use super::super::source::SourceLanguage;
use super::super::stacktrace::{ParsedTrace, TraceLanguage};
use super::rust as facts;
use super::sites::Files;
use super::{short, Origin, Site};
use regex::Regex;
use std::path::Path;
use std::sync::OnceLock;

/// Method names too common to say anything when a repository fn is called that.
const COMMON_NAMES: &[&str] = &[
    "len",
    "iter",
    "iter_mut",
    "into_iter",
    "map",
    "collect",
    "get",
    "get_mut",
    "unwrap",
    "expect",
    "clone",
    "into",
    "from",
    "new",
    "to_string",
    "to_owned",
    "parse",
    "as_str",
    "as_ref",
    "chars",
    "bytes",
    "count",
    "filter",
    "next",
    "min",
    "max",
    "sum",
    "split",
    "trim",
    "find",
    "position",
    "first",
    "last",
    "push",
    "insert",
    "remove",
    "contains",
    "is_empty",
    "default",
    "fmt",
    "lock",
    "borrow",
    "borrow_mut",
    "read",
    "write",
    "ok",
    "ok_or",
    "and_then",
    "unwrap_or",
    "map_err",
    "cloned",
    "copied",
    "rev",
    "skip",
    "take",
    "zip",
    "enumerate",
];

/// What the places off the stack are found from.
pub(super) struct Context<'a> {
    pub trace: &'a ParsedTrace,
    pub fault: &'a Fault,
    pub headline: &'a str,
    pub blamer: &'a Blamer,
    /// The caller that computed the failing value and the locals its call passed (Rust).
    pub caller: Option<(usize, Vec<String>)>,
}

pub(super) fn add(sites: &mut Vec<Site>, files: &mut Files, index: &RepoIndex, cx: Context<'_>) {
    let raised = sites
        .first()
        .filter(|s| matches!(s.origin, Origin::Frame | Origin::PanicLine))
        .is_some_and(|s| s.panic.is_some() || s.expression.is_some());
    let mut found: Vec<Site> = Vec::new();
    if raised {
        let site = &sites[0];
        if let (Some(src), Some(panic)) = (&site.rust, &site.panic) {
            if let Some(f) = src.enclosing_fn(site.line) {
                let names = failing_names(panic);
                let what = format!("`{}` at line {}", short(&panic.text, 60), site.line);
                // A constant index or range (`s[20..24]`) is not what is wrong: the value was
                // shorter than the code assumed, so a length check that exists and let it
                // through ranks above the line that indexes.
                let constant = matches!(panic.kind, PanicKind::Index | PanicKind::Slice)
                    && panic.inputs.is_empty();
                let below = if constant { -0.02 } else { 0.05 };
                guards(site, src, f, &names, &what, below, &mut found);
                origins(site, src, f, &names, &what, 0.06, files, index, &mut found);
                entry_check_rust(site, src, f, panic, &mut found);
                field_writers(site, src, panic, &mut found);
            }
        } else if let (Some(info), Some(name)) = (&site.info, &site.none_name) {
            if info.parameters.contains(name) && info.line + 1 != site.line {
                let mut s = Site::derived(
                    site,
                    site.file.clone(),
                    info.line + 1,
                    site.function.clone(),
                    site.score - 0.12,
                );
                s.reasons.push(format!(
                    "`{}` takes `{name}` from its caller and uses it unchecked at line {}: a check belongs at its start",
                    info.name, site.line
                ));
                s.expression = Some(name.clone());
                found.push(s);
            }
        }
        recent_in_fn(&sites[0], cx.blamer, &mut found);
    }
    // The languages read as text: from the innermost in-app frame.
    if cx.trace.language != TraceLanguage::Rust {
        if let Some(site) = sites.first().filter(|s| s.origin == Origin::Frame) {
            if let Some(text) = files.text(&site.file) {
                let python = cx.trace.language == TraceLanguage::Python;
                let message = &cx.trace.message;
                super::textual::add(site, &text, cx.fault, message, python, &mut found);
            }
        }
    }
    // The caller that computed the value: its checks and where its locals were made.
    if let Some((at, names)) = &cx.caller {
        let caller = &sites[*at];
        if let Some(src) = &caller.rust {
            if let Some(f) = src.enclosing_fn(caller.line) {
                let what = format!("the call at line {}", caller.line);
                let base = sites[0].score.min(caller.score);
                let mut from_caller = Vec::new();
                let mut anchor = Site::derived(
                    caller,
                    caller.file.clone(),
                    caller.line,
                    caller.function.clone(),
                    base,
                );
                anchor.rust = caller.rust.clone();
                guards(&anchor, src, f, names, &what, 0.07, &mut from_caller);
                origins(
                    &anchor,
                    src,
                    f,
                    names,
                    &what,
                    0.03,
                    files,
                    index,
                    &mut from_caller,
                );
                found.extend(from_caller);
            }
        }
    }
    message_literals(
        sites,
        files,
        index,
        cx.trace,
        cx.fault,
        cx.headline,
        &mut found,
    );
    sites.extend(found);
}

/// The names the failing value comes from: the index and operands, and the indexed or
/// unwrapped value itself (its length or its None came from where it was made).
fn failing_names(panic: &super::PanicSite) -> Vec<String> {
    let mut names: Vec<String> = panic.inputs.clone();
    let operand_root = panic
        .operand
        .trim_start_matches(['&', '*'])
        .split(['.', '['])
        .next()
        .filter(|r| is_identifier(r) && *r != "self")
        .map(str::to_string);
    if let Some(root) = operand_root {
        if !names.contains(&root) {
            names.push(root);
        }
    }
    names
}

/// An early-exit check of the fn before `site` that reads one of `names` (`if s.len() < 20 {
/// return Err(…) }` before `s[20..24]` fails): it exists and misses the failing case, so it is
/// the check to fix. Nearest first; at most two.
#[allow(clippy::too_many_arguments)]
fn guards(
    site: &Site,
    src: &RustSource,
    f: &RustFn,
    names: &[String],
    what: &str,
    below: f64,
    found: &mut Vec<Site>,
) {
    let relevant = src
        .guards_before(f, site.line)
        .into_iter()
        .filter(|g| g.names.iter().any(|n| names.contains(n)))
        .take(2);
    for (k, g) in relevant.enumerate() {
        let read: Vec<&str> = g
            .names
            .iter()
            .filter(|n| names.contains(n))
            .map(String::as_str)
            .collect();
        let mut s = Site::derived(
            site,
            site.file.clone(),
            g.line,
            site.function.clone(),
            site.score - below - 0.04 * k as f64,
        );
        s.reasons.push(format!(
            "checks `{}` (`{}`) before {what} fails on it: the check misses the failing case",
            read.join("`, `"),
            short(&g.condition, 60),
        ));
        s.expression = Some(g.condition.clone());
        found.push(s);
    }
}

/// The `let` (or `for`, `if let`) that computed each of `names` before `site`, the one before
/// that, and the repository fns whose results they bound.
#[allow(clippy::too_many_arguments)]
fn origins(
    site: &Site,
    src: &RustSource,
    f: &RustFn,
    names: &[String],
    what: &str,
    below: f64,
    files: &mut Files,
    index: &RepoIndex,
    found: &mut Vec<Site>,
) {
    let mut frontier: Vec<(String, u32, u32)> = names
        .iter()
        .filter(|n| !f.parameters.contains(n))
        .map(|n| (n.clone(), site.line, 0))
        .rev()
        .collect();
    let mut seen: Vec<u32> = Vec::new();
    while let Some((name, before, hop)) = frontier.pop() {
        let Some(binding) = src.binding_before(f, &name, before) else {
            continue;
        };
        if binding.line == site.line || seen.contains(&binding.line) || hop > 2 {
            continue;
        }
        seen.push(binding.line);
        let mut s = Site::derived(
            site,
            site.file.clone(),
            binding.line,
            site.function.clone(),
            site.score - below - 0.04 * f64::from(hop),
        );
        let uses = if hop == 0 {
            what.to_string()
        } else {
            "the failing value".to_string()
        };
        s.reasons.push(format!(
            "computes `{name}` (line {}), which {uses} depends on",
            binding.line
        ));
        s.expression = Some(name.clone());
        found.push(s);
        for used in &binding.uses {
            if !f.parameters.contains(used) && used != &name {
                frontier.insert(0, (used.clone(), binding.line, hop + 1));
            }
        }
        for call in binding
            .calls
            .iter()
            .filter(|c| !COMMON_NAMES.contains(&c.as_str()))
        {
            if let Some((file, fun)) = find_fn(call, &site.file, src, files, index) {
                if file == site.file && fun.start_line <= site.line && site.line <= fun.end_line {
                    continue; // recursion into the fn itself
                }
                let mut p = Site::derived(
                    site,
                    file,
                    fun.body_start_line,
                    fun.qualified_name.clone(),
                    site.score - below - 0.08 - 0.04 * f64::from(hop),
                );
                p.reasons.push(format!(
                    "`{}` returns the value bound to `{name}` at {}:{}, which {what} depends on",
                    fun.name, site.file, binding.line
                ));
                found.push(p);
            }
        }
    }
}

/// A repository fn named `name`: in the same file first, else the only one in the repository's
/// Rust files (several of that name say nothing).
fn find_fn(
    name: &str,
    here: &str,
    src: &RustSource,
    files: &mut Files,
    index: &RepoIndex,
) -> Option<(String, RustFn)> {
    let local: Vec<&RustFn> = src.functions().iter().filter(|f| f.name == name).collect();
    if local.len() == 1 {
        return Some((here.to_string(), local[0].clone()));
    }
    if !local.is_empty() {
        return None;
    }
    let needle = format!("fn {name}");
    let mut hits: Vec<(String, RustFn)> = Vec::new();
    for file in rust_files(index) {
        if file == here {
            continue;
        }
        let Some(text) = files.text(file) else {
            continue;
        };
        if !text.contains(&needle) {
            continue;
        }
        let Some(parsed) = files.get(file).and_then(|f| f.rust) else {
            continue;
        };
        for f in parsed.functions().iter().filter(|f| f.name == name) {
            hits.push((file.to_string(), f.clone()));
        }
        if hits.len() > 1 {
            return None;
        }
    }
    hits.pop()
}

fn rust_files(index: &RepoIndex) -> impl Iterator<Item = &str> {
    index
        .files()
        .iter()
        .map(String::as_str)
        .filter(|f| f.ends_with(".rs") && !is_test_path(f))
}

/// The value comes in as a parameter and is used unchecked: the start of the fn is where a
/// check (or an early return) belongs.
fn entry_check_rust(
    site: &Site,
    src: &RustSource,
    f: &RustFn,
    panic: &super::PanicSite,
    found: &mut Vec<Site>,
) {
    let Some(tainted) = facts::tainted_params(src, f, panic) else {
        return;
    };
    if f.body_start_line == site.line {
        return;
    }
    let mut s = Site::derived(
        site,
        site.file.clone(),
        f.body_start_line,
        site.function.clone(),
        site.score - 0.1,
    );
    s.reasons.push(format!(
        "`{}` takes `{}` from its caller and the panic at line {} depends on it unchecked ({}): a check belongs at its start",
        f.name,
        tainted.names.join("`, `"),
        site.line,
        tainted.how
    ));
    s.expression = tainted.names.first().cloned();
    found.push(s);
}

/// `self.pos` in `self.items[self.pos]`, `self.len` in `assert!(self.len <= self.cap)`: the
/// code of this file that writes the field set the value that failed.
fn field_writers(site: &Site, src: &RustSource, panic: &super::PanicSite, found: &mut Vec<Site>) {
    static FIELD: OnceLock<Regex> = OnceLock::new();
    let field_re = FIELD
        .get_or_init(|| Regex::new(r"\bself\.([a-z_][a-z0-9_]*)").expect("static regex compiles"));
    let text = match panic.kind {
        PanicKind::Assert | PanicKind::Unwrap | PanicKind::Expect | PanicKind::Borrow => {
            &panic.operand
        }
        _ => &panic.text,
    };
    let mut fields: Vec<&str> = field_re
        .captures_iter(text)
        .filter_map(|c| c.get(1).map(|m| m.as_str()))
        .collect();
    fields.dedup();
    let lines: Vec<&str> = src.text().lines().collect();
    let mut added = 0;
    for field in fields.into_iter().take(3) {
        let Ok(writer) = Regex::new(&format!(
            r"\.{field}\s*(?:[-+*/|&]?=[^=]|\.(?:push|insert|extend|clear|take|replace|truncate|pop|remove)\b)|\b{field}\s*:\s*[^:\s]"
        )) else {
            continue;
        };
        for (i, line) in lines.iter().enumerate() {
            let n = i as u32 + 1;
            if n == site.line || !writer.is_match(line) || line.trim_start().starts_with("//") {
                continue;
            }
            // `field: Type` in the struct itself is no write: only lines inside a fn count.
            if src.enclosing_fn(n).is_none() {
                continue;
            }
            let mut s = Site::derived(
                site,
                site.file.clone(),
                n,
                src.enclosing_fn(n)
                    .map(|f| f.qualified_name.clone())
                    .unwrap_or_default(),
                site.score - 0.14 - 0.02 * f64::from(added),
            );
            s.reasons.push(format!(
                "sets `self.{field}`, which `{}` at line {} reads when it fails",
                short(text, 60),
                site.line
            ));
            found.push(s);
            added += 1;
            if added >= 4 {
                return;
            }
        }
    }
}

/// Lines of the panicking fn that a recent commit changed (not the raise line itself, which
/// blame judges on its own).
fn recent_in_fn(site: &Site, blamer: &Blamer, found: &mut Vec<Site>) {
    let range = match (&site.rust, &site.info) {
        (Some(src), _) => src
            .enclosing_fn(site.line)
            .map(|f| (f.start_line, f.end_line)),
        (None, Some(info)) => {
            let src = site.source.as_ref();
            let end = src
                .map(|s| {
                    s.text()[..info.byte_range.end.min(s.text().len())]
                        .lines()
                        .count() as u32
                })
                .unwrap_or(info.line);
            Some((info.line, end))
        }
        _ => None,
    };
    let Some((start, end)) = range else { return };
    for (n, (line, change)) in blamer
        .recent_lines(&site.file, start, end)
        .into_iter()
        .filter(|(l, _)| l.abs_diff(site.line) > super::NEAR_LINES)
        .take(2)
        .enumerate()
    {
        let mut s = Site::derived(
            site,
            site.file.clone(),
            line,
            site.function.clone(),
            site.score - 0.15 - 0.03 * n as f64,
        );
        s.reasons.push(format!(
            "changed recently in {} ({}), in the fn where the panic happened",
            change.commit, change.summary
        ));
        found.push(s);
    }
}

/// The program's own message (an `expect`'s, a `panic!`'s, an assertion's, an error's built
/// with that text, an exception's) is written somewhere in the source: string literals whose
/// fixed parts (around `{}`, `%s`, `${…}` placeholders) all appear in the message, in order.
fn message_literals(
    sites: &mut [Site],
    files: &mut Files,
    index: &RepoIndex,
    trace: &ParsedTrace,
    fault: &Fault,
    headline: &str,
    found: &mut Vec<Site>,
) {
    let message = match fault {
        Fault::ErrValue { payload } => payload.clone(),
        f if trace.language == TraceLanguage::Rust && f.is_std_message() => return,
        Fault::NoneAttribute { .. } | Fault::NoneValue | Fault::DivisionByZero => return,
        _ => trace.message.lines().take(3).collect::<Vec<_>>().join("\n"),
    };
    if message.trim().chars().count() < 6 {
        return;
    }
    let Some(language) = source_language(trace.language) else {
        return;
    };
    let mut matches: Vec<(String, u32, f64, String)> = Vec::new();
    for file in index.files() {
        let Some(lang) = SourceLanguage::of_path(Path::new(file)) else {
            continue;
        };
        if !language.contains(&lang) || is_test_path(file) {
            continue;
        }
        let Some(text) = files.text(file) else {
            continue;
        };
        for (line, coverage, literal) in literal_matches(&text, &message) {
            matches.push((file.clone(), line, coverage, literal));
        }
    }
    if matches.is_empty() {
        return;
    }
    matches.sort_by(|a, b| b.2.total_cmp(&a.2));
    let best = matches[0].2;
    matches.retain(|m| m.2 >= best - 0.05);
    let unique = matches.len() == 1;
    let no_stack = sites.is_empty();
    for (file, line, coverage, literal) in matches.into_iter().take(3) {
        let why = format!(
            "holds the text of the message ({headline}): `\"{}\"`{}",
            short(&literal, 60),
            if unique {
                ""
            } else {
                ", one of several places that do"
            }
        );
        // A literal on a site's line, or on the lines of its statement just after it (the
        // message of a multi-line `expect(…)` or `assert!(…)`), is that site's.
        let same =
            |s: &&mut Site| s.file == file && line >= s.line && line - s.line <= super::NEAR_LINES;
        if let Some(existing) = sites.iter_mut().find(same) {
            // The raise site's own `expect`/`assert!` text confirms it and adds nothing new.
            if existing.panic.is_none() {
                existing.score += 0.05;
            }
            existing.reasons.push(why);
            continue;
        }
        let base = if no_stack { 0.55 } else { 0.36 };
        let score = base + 0.1 * coverage.min(1.0) + if unique { 0.05 } else { 0.0 };
        let function = files
            .get(&file)
            .and_then(|f| match (f.rust, f.python) {
                (Some(r), _) => r.enclosing_fn(line).map(|f| f.qualified_name.clone()),
                (None, Some(p)) => p.enclosing_function(line).map(|i| i.qualified_name),
                _ => None,
            })
            .unwrap_or_default();
        let mut s = Site::derived_at(0, usize::MAX, file, line, function, score);
        s.reasons.push(why);
        found.push(s);
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// The source languages a runtime's traces come from.
fn source_language(language: TraceLanguage) -> Option<&'static [SourceLanguage]> {
    Some(match language {
        TraceLanguage::Rust => &[SourceLanguage::Rust],
        TraceLanguage::Python => &[SourceLanguage::Python],
        TraceLanguage::Go => &[SourceLanguage::Go],
        TraceLanguage::Java => &[SourceLanguage::Java],
        TraceLanguage::Node => &[SourceLanguage::JavaScript],
    })
}

/// `(line, coverage, literal)` for each string literal of `text` whose fixed parts all occur
/// in `message` in order, covering at least 8 characters and 30% of the message's first line.
pub(super) fn literal_matches(text: &str, message: &str) -> Vec<(u32, f64, String)> {
    static LITERAL: OnceLock<Regex> = OnceLock::new();
    static PLACEHOLDER: OnceLock<Regex> = OnceLock::new();
    let literal_re = LITERAL.get_or_init(|| {
        Regex::new(r#""((?:[^"\\\n]|\\.){5,300})"|'((?:[^'\\\n]|\\.){5,300})'"#)
            .expect("static regex compiles")
    });
    let placeholder = PLACEHOLDER.get_or_init(|| {
        Regex::new(r"\{[^{}]*\}|%[-#+ 0-9.]*[a-zA-Z%]|\$\{[^}]*\}").expect("static regex compiles")
    });
    let first_len = message
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        .max(1);
    let mut out = Vec::new();
    let mut line = 1u32;
    let mut last = 0usize;
    for c in literal_re.captures_iter(text) {
        let Some(m) = c.get(1).or_else(|| c.get(2)) else {
            continue;
        };
        line += memchr::memchr_iter(b'\n', &text.as_bytes()[last..m.start()]).count() as u32;
        last = m.start();
        let literal = m.as_str();
        let decoded = literal
            .replace("\\n", "\n")
            .replace("\\\"", "\"")
            .replace("\\'", "'");
        let segments: Vec<&str> = placeholder
            .split(&decoded)
            .map(str::trim)
            .filter(|s| s.chars().count() >= 3)
            .collect();
        if segments.is_empty() {
            continue;
        }
        let mut from = 0;
        let mut fixed = 0;
        let mut all = true;
        for seg in &segments {
            match message[from..].find(seg) {
                Some(i) => {
                    from += i + seg.len();
                    fixed += seg.chars().count();
                }
                None => {
                    all = false;
                    break;
                }
            }
        }
        let coverage = fixed as f64 / first_len as f64;
        if all && fixed >= 8 && coverage >= 0.3 {
            out.push((line, coverage, literal.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_with_placeholders_match_the_formatted_message() {
        let text = "fn a() {\n    panic!(\"order {} has no customer\", id);\n}\nfn b() { x.expect(\"config has a port\"); }\nfn c() { Err(E::Bad(\"negative width\")) }\nfn d() { log(\"has\") }\n";
        let m = literal_matches(text, "order 17 has no customer");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].0, 2);
        assert_eq!(literal_matches(text, "config has a port")[0].0, 4);
        let m = literal_matches(text, "Bad(\"negative width\")");
        assert_eq!(m[0].0, 5);
        // Too short to say anything.
        assert!(literal_matches(text, "it has no port").is_empty());
        // Python f-strings and %-formats; JS template literals are not literals here.
        let py = "raise ValueError(f\"order is missing {e}\")\nlog.error('cannot place order %s', oid)\n";
        assert_eq!(literal_matches(py, "order is missing 'sku'")[0].0, 1);
        assert_eq!(literal_matches(py, "cannot place order o-17")[0].0, 2);
    }
}
