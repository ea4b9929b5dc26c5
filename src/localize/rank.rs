//! The ranking rules. Each in-app frame that maps to a repository file starts from its position
//! (innermost highest); the panic's own location line joins the stack where the frames do not
//! reach it (inlined code, no backtrace). The raise site gains when the line's syntax fits what
//! the message says failed (`rank/rust.rs`, `fault.rs`); the bad value is followed back to the
//! caller that chose it (`rank/flow.rs`, `rank/rust_flow.rs`); and places off the stack join
//! (`rank/beyond.rs`): the `let` that computed the value, where a parameter should have been
//! checked, the writers of a field the failing expression reads, the fn that returned the
//! value, the code that holds the panic's own message, lines of the panicking fn changed
//! lately. A chained exception's frames come last. Every candidate says why it ranks where it
//! does; candidates at the same spot as a better one move behind the other places.

use super::blame::Blamer;
use super::fault::{site_facts, Fault};
use super::paths::RepoIndex;
use super::source::python::{FunctionInfo, PythonSource};
use super::source::rust::{PanicSite, RustSource};
use super::stacktrace::{ParsedTrace, TraceLanguage};
use super::Candidate;
use std::path::Path;
use std::rc::Rc;

mod beyond;
mod flow;
mod rust;
mod rust_flow;
mod sites;
mod textual;

/// Where a site comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// An in-app frame of the trace.
    Frame,
    /// The panic's location line, which no frame reached.
    PanicLine,
    /// A place found from another site (a caller's `let`, a field writer, …).
    Derived,
    /// A frame of another exception of the chain.
    Chained,
}

struct Site {
    /// Index into the trace's frames (innermost first); for a derived site, its source's.
    frame: usize,
    /// Position on the stack, innermost first: a frame's is `2 * frame + 1`, the panic line's
    /// sits just inside the first in-app frame.
    depth: usize,
    origin: Origin,
    file: String,
    line: u32,
    info: Option<FunctionInfo>,
    function: String,
    source: Option<Rc<PythonSource>>,
    rust: Option<Rc<RustSource>>,
    score: f64,
    factor: f64,
    expression: Option<String>,
    /// A bare name that held the bad value at the raise site.
    none_name: Option<String>,
    /// Rust: the expression on the raise site's line that panicked.
    panic: Option<PanicSite>,
    /// The frame is a closure (or async block) inside the fn, so the next frame in the same fn
    /// is the same call, not a recursion.
    in_closure: bool,
    reasons: Vec<String>,
}

impl Site {
    /// A place found from `from`, at `line` of `file`.
    fn derived(from: &Site, file: String, line: u32, function: String, score: f64) -> Site {
        Site::derived_at(from.frame, from.depth, file, line, function, score)
    }

    /// A place found by reasoning rather than read off a frame; `frame` and `depth` place it
    /// among the frames (`0, usize::MAX`: below every frame).
    fn derived_at(
        frame: usize,
        depth: usize,
        file: String,
        line: u32,
        function: String,
        score: f64,
    ) -> Site {
        Site {
            frame,
            depth,
            origin: Origin::Derived,
            file,
            line,
            info: None,
            function,
            source: None,
            rust: None,
            score,
            factor: 1.0,
            expression: None,
            none_name: None,
            panic: None,
            in_closure: false,
            reasons: Vec::new(),
        }
    }
}

/// A candidate within this many lines of a better one in the same file is at the same spot.
const NEAR_LINES: u32 = 3;
/// How far such a candidate falls.
const NEAR_PENALTY: f64 = 0.12;
/// How many of the best candidates the spot rule reorders.
const DIVERSE: usize = 40;
/// How many of the best candidates blame is asked about (each answer walks history).
const BLAMED: usize = 12;

pub(super) fn rank(
    repo: &Path,
    index: &RepoIndex,
    trace: &ParsedTrace,
    blamer: &Blamer,
) -> Vec<Candidate> {
    let mut files = sites::Files::new(repo);
    let fault = Fault::of(trace);
    let headline = headline(trace);
    let mut sites = sites::stack_sites(&mut files, index, trace);
    score_stack(&mut sites, trace, &fault, &headline);
    let mut caller = None;
    if trace.language == TraceLanguage::Rust {
        caller = rust_flow::follow_to_caller(&mut sites, &headline);
    } else if fault.is_none() {
        flow::blame_the_caller(&mut sites, trace);
    }
    let cx = beyond::Context {
        trace,
        fault: &fault,
        headline: &headline,
        blamer,
        caller,
    };
    beyond::add(&mut sites, &mut files, index, cx);
    sites.extend(sites::chained_sites(&mut files, index, trace));
    sites.sort_by(|a, b| (b.score * b.factor).total_cmp(&(a.score * a.factor)));
    for site in sites.iter_mut().take(BLAMED) {
        if let Some(change) = blamer.recent_change(&site.file, site.line) {
            site.score += 0.1;
            site.reasons.push(format!(
                "changed recently in {} ({})",
                change.commit, change.summary
            ));
        }
    }
    candidates(sites)
}

/// The stack's own order and what the raise site's line shows.
fn score_stack(sites: &mut [Site], trace: &ParsedTrace, fault: &Fault, headline: &str) {
    for (k, site) in sites.iter_mut().enumerate() {
        site.score = 0.5 * 0.7f64.powi(k as i32);
        let frame = &trace.frames[site.frame];
        let raised_here = site.origin == Origin::PanicLine
            || site.frame == 0
            || trace.language == TraceLanguage::Rust && rust::raised_in_app(trace, site.frame);
        if k == 0 && raised_here {
            let facts = match (&site.source, &site.rust) {
                (Some(src), _) => site_facts(src, site.line, fault, frame),
                (None, Some(src)) => {
                    let column = match site.origin {
                        Origin::PanicLine => trace.panic_location.as_ref().and_then(|l| l.column),
                        _ => frame.column,
                    };
                    let (facts, panic) = rust::site_facts(src, column, site.line, fault);
                    site.panic = panic;
                    facts
                }
                _ => Default::default(),
            };
            site.none_name = facts.none_name.clone();
            site.score += facts.bonus;
            site.expression = facts.expression;
            site.reasons.push(match site.origin {
                Origin::PanicLine => format!(
                    "raised here ({headline}): the panic names this line, which no frame of the backtrace reaches"
                ),
                _ => format!("raised here ({headline})"),
            });
            site.reasons.extend(facts.why);
        } else if k == 0 && site.frame > 0 {
            let lib = &trace.frames[site.frame - 1];
            site.score += 0.25;
            site.reasons.push(format!(
                "last in-app frame before the library call `{}` ({}) that raised {headline}",
                lib.function,
                library_name(&lib.file)
            ));
        } else {
            site.reasons
                .push(format!("in-app frame {} of the stack", k + 1));
        }
    }
}

/// Sites to candidates: one per place (recursion repeats a frame; the best score stays), then
/// best first, where a candidate at the spot of a better one (within [`NEAR_LINES`] in the
/// same file) falls by [`NEAR_PENALTY`], so the first few name different places.
fn candidates(sites: Vec<Site>) -> Vec<Candidate> {
    let mut all: Vec<Candidate> = Vec::new();
    for s in sites {
        let score = (s.score * s.factor).clamp(0.01, 0.99);
        if let Some(same) = all
            .iter_mut()
            .find(|c| c.file == s.file && c.line == s.line)
        {
            if score > same.score {
                same.score = score;
                same.reason = s.reasons.join("; ");
                same.expression = s.expression.or(same.expression.take());
            }
            continue;
        }
        all.push(Candidate {
            file: s.file,
            line: s.line,
            function: s.function,
            score,
            reason: s.reasons.join("; "),
            expression: s.expression,
        });
    }
    all.sort_by(|a, b| b.score.total_cmp(&a.score));
    // The spot rule reorders the head; a deep recursion's long tail keeps its order.
    let tail = all.split_off(all.len().min(DIVERSE));
    let mut out: Vec<Candidate> = Vec::with_capacity(all.len() + tail.len());
    while !all.is_empty() {
        let adjusted = |c: &Candidate| {
            let near = out
                .iter()
                .any(|o| o.file == c.file && o.line.abs_diff(c.line) <= NEAR_LINES);
            if near {
                c.score - NEAR_PENALTY
            } else {
                c.score
            }
        };
        let best = (0..all.len())
            .max_by(|&a, &b| {
                adjusted(&all[a])
                    .total_cmp(&adjusted(&all[b]))
                    .then(b.cmp(&a))
            })
            .unwrap_or(0);
        let mut c = all.remove(best);
        c.score = (adjusted(&c).clamp(0.01, 0.99) * 1000.0).round() / 1000.0;
        out.push(c);
    }
    out.extend(tail.into_iter().map(|mut c| {
        c.score = (c.score * 1000.0).round() / 1000.0;
        c
    }));
    out
}

/// `AttributeError: 'NoneType' object has no attribute 'split'`, shortened for a reason line.
fn headline(trace: &ParsedTrace) -> String {
    let first = trace.message.lines().next().unwrap_or_default();
    let text = if first.is_empty() {
        trace.exception.clone()
    } else {
        format!("{}: {first}", trace.exception)
    };
    short(&text, 140)
}

/// Text on one line, at most `max` chars.
fn short(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > max {
        format!("{}…", one_line.chars().take(max - 1).collect::<String>())
    } else {
        one_line
    }
}

/// `requests` for `…/site-packages/requests/api.py`, `std` for Rust's library, the crate for a
/// registry path, the file name otherwise.
fn library_name(path: &str) -> String {
    let p = path.replace('\\', "/");
    if p.starts_with("/rustc/") {
        return "std".into();
    }
    for marker in ["/site-packages/", "/dist-packages/", "/node_modules/"] {
        if let Some((_, rest)) = p.split_once(marker) {
            return rest.split('/').next().unwrap_or(rest).to_string();
        }
    }
    if let Some((krate, _)) = super::paths::dependency_crate(&p) {
        return krate;
    }
    p.rsplit('/').next().unwrap_or(&p).to_string()
}

#[cfg(test)]
mod tests;
