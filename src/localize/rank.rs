//! The ranking rules. Each in-app frame that maps to a repository file starts from its position
//! (innermost highest), gains when the line's syntax fits the fault or the frame is the last
//! one before a library, gains when the line changed recently, and loses when the repository's
//! line no longer matches the trace. A None that arrived through a parameter moves the top
//! rank to the caller that passed it.

use super::blame::Blamer;
use super::fault::{site_facts, Fault};
use super::paths::RepoIndex;
use super::source::python::{FunctionInfo, PythonSource};
use super::source::rust::{PanicSite, RustFn, RustSource};
use super::source::SourceLanguage;
use super::stacktrace::{FrameOrigin, ParsedTrace, TraceLanguage};
use super::Candidate;
use std::path::Path;

/// How far a line may have moved since the trace was taken and still be found by its code.
const DRIFT_WINDOW: u32 = 25;

struct Site {
    /// Index into the trace's frames (innermost first).
    frame: usize,
    file: String,
    line: u32,
    info: Option<FunctionInfo>,
    function: String,
    source: Option<PythonSource>,
    rust: Option<RustSource>,
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

pub(super) fn rank(
    repo: &Path,
    index: &RepoIndex,
    trace: &ParsedTrace,
    blamer: &Blamer,
) -> Vec<Candidate> {
    let mut sites = sites(repo, index, trace);
    let fault = Fault::of(trace);
    let headline = headline(trace);

    for (k, site) in sites.iter_mut().enumerate() {
        site.score = 0.5 * 0.7f64.powi(k as i32);
        let frame = &trace.frames[site.frame];
        let raised_here = site.frame == 0
            || trace.language == TraceLanguage::Rust && rust::raised_in_app(trace, site.frame);
        if k == 0 && raised_here {
            let facts = match (&site.source, &site.rust) {
                (Some(src), _) => site_facts(src, site.line, &fault, frame),
                (None, Some(src)) => {
                    let (facts, panic) = rust::site_facts(src, frame, site.line, &fault);
                    site.panic = panic;
                    facts
                }
                _ => Default::default(),
            };
            site.none_name = facts.none_name.clone();
            site.score += facts.bonus;
            site.expression = facts.expression;
            site.reasons.push(format!("raised here ({headline})"));
            site.reasons.extend(facts.why);
        } else if k == 0 {
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
    if trace.language == TraceLanguage::Rust {
        rust_caller(&mut sites, &headline);
    } else if fault.is_none() {
        blame_the_caller(&mut sites, trace);
    }
    for site in &mut sites {
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

/// The raise site reads an attribute of a parameter that was None: the value came from the
/// caller's argument, so the call site that passed it ranks first (following the value up
/// while it is only passed through).
fn blame_the_caller(sites: &mut [Site], trace: &ParsedTrace) {
    let Some(first) = sites.first() else { return };
    if first.frame != 0 {
        return;
    }
    let Some(mut name) = first.expression.clone() else {
        return;
    };
    let mut at = 0;
    while let Some(next) = sites.iter().position(|s| s.frame == sites[at].frame + 1) {
        let (callee, param_index) = match &sites[at].info {
            Some(info) => match info.parameters.iter().position(|p| *p == name) {
                Some(i) => (info.clone(), i),
                None => break,
            },
            None => break,
        };
        let Some(arg) = argument_for(&sites[next], &callee, param_index) else {
            break;
        };
        let here = format!("{}:{}", sites[at].file, sites[at].line);
        sites[at].reasons.push(format!(
            "`{name}` is a parameter of `{}`, so the bad value came from its caller",
            callee.name
        ));
        let callee_score = sites[at].score;
        let caller = &mut sites[next];
        caller.score = (caller.score.max(callee_score) + 0.05).min(0.97);
        // The positional note says less than this; replace it.
        caller.reasons.retain(|r| !r.starts_with("in-app frame"));
        caller.reasons.insert(
            0,
            format!(
                "call site that passed the bad value: `{arg}` becomes `{name}` of `{}`, which fails on it at {here} ({})",
                callee.name,
                headline(trace)
            ),
        );
        caller.expression = Some(arg.clone());
        name = arg;
        at = next;
    }
}

/// Rust: when the value the panic depends on is a parameter of the panicking fn (or a local
/// computed from one), a caller chose it. The value is followed up the stack while each caller
/// only hands on its own parameter (`&x`, `x.field`), to the call that computed it. That call
/// ranks above the panic site when the dependence is strong (a failed `assert!`, an index or
/// operand that is the parameter as passed, a divisor computed from one); otherwise just
/// below it. When the call passes a local, the `let` that computed the local is a candidate too.
fn rust_caller(sites: &mut Vec<Site>, headline: &str) {
    let Some(first) = sites.first() else { return };
    let Some(src) = &first.rust else { return };
    let Some(f) = src.enclosing_fn(first.line) else {
        return;
    };
    let tainted = first
        .panic
        .as_ref()
        .and_then(|p| rust::tainted_params(src, f, p))
        .or_else(|| {
            // `x.unwrap()`, `x[0]` with `x` a parameter.
            let name = first.none_name.clone()?;
            f.parameters.contains(&name).then(|| rust::Tainted {
                how: format!("`{name}` is a parameter"),
                names: vec![name],
                strong: false,
            })
        });
    let Some(tainted) = tainted else { return };
    let here = format!("{}:{}", first.file, first.line);
    let site_score = first.score;
    let mut names = tainted.names.clone();
    let mut callee: RustFn = f.clone();
    let mut at = 0;
    // (caller index, the argument it passed, the parameter that received it, the callee)
    let mut hops: Vec<(usize, Option<String>, String, String)> = Vec::new();
    while let Some(next) = next_caller(sites, at) {
        let call = sites[next].rust.as_ref().and_then(|src| {
            src.calls_at(sites[next].line)
                .into_iter()
                .find(|c| c.name == callee.name)
                .cloned()
        });
        let Some(call) = call else {
            hops.push((next, None, names.join("`, `"), callee.name.clone()));
            break;
        };
        let offset = usize::from(callee.has_receiver && call.path_call);
        let args: Vec<(String, String)> = names
            .iter()
            .filter_map(|n| {
                let i = callee.param_slots.iter().position(|p| p == n)?;
                Some((n.clone(), call.args.get(i + offset)?.clone()))
            })
            .collect();
        if args.is_empty() {
            hops.push((next, None, names.join("`, `"), callee.name.clone()));
            break;
        }
        let caller_fn = sites[next]
            .rust
            .as_ref()
            .and_then(|s| s.enclosing_fn(sites[next].line))
            .cloned();
        let through: Vec<(String, String, String)> = match &caller_fn {
            Some(cf) => args
                .iter()
                .filter_map(|(n, a)| {
                    let root = rust::passed_through(a, &cf.parameters)?;
                    Some((n.clone(), a.clone(), root))
                })
                .collect(),
            None => Vec::new(),
        };
        // Name what this caller passes: only the handed-on values when it hands some on.
        let named: Vec<(&str, &str)> = if through.is_empty() {
            args.iter().map(|(n, a)| (n.as_str(), a.as_str())).collect()
        } else {
            through
                .iter()
                .map(|(n, a, _)| (n.as_str(), a.as_str()))
                .collect()
        };
        let shown = named
            .iter()
            .map(|(_, a)| *a)
            .collect::<Vec<_>>()
            .join("`, `");
        let received = named
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join("`, `");
        hops.push((next, Some(shown), received, callee.name.clone()));
        let through: Vec<String> = through.into_iter().map(|(_, _, root)| root).collect();
        match caller_fn {
            Some(cf) if !through.is_empty() => {
                names = through;
                callee = cf;
                at = next;
            }
            _ => break,
        }
    }
    let Some(&(origin, ref origin_arg, _, _)) = hops.last() else {
        return;
    };
    // A call that was found and computes the value is where the value was chosen.
    let confirmed = origin_arg.is_some();
    let origin_score = if tainted.strong && confirmed {
        (site_score + 0.05).min(0.97)
    } else {
        site_score - 0.05
    };
    let last = hops.len() - 1;
    for (k, (idx, arg, param, fname)) in hops.iter().enumerate() {
        let caller = &mut sites[*idx];
        caller.reasons.retain(|r| !r.starts_with("in-app frame"));
        let reason = match (k == last, arg) {
            (true, Some(arg)) => format!(
                "call site that passed the bad value: `{arg}` becomes `{param}` of `{fname}`, which panics on it at {here} ({headline}; {})",
                tainted.how
            ),
            (true, None) => format!(
                "call site that passed the bad value as `{param}` of `{fname}`, which panics on it at {here}"
            ),
            (false, arg) => format!(
                "hands `{}` on unchanged as `{param}` of `{fname}`",
                arg.as_deref().unwrap_or(param)
            ),
        };
        caller.reasons.insert(0, reason);
        let score = if k == last {
            origin_score
        } else {
            site_score - 0.1 - 0.01 * k as f64
        };
        caller.score = caller.score.max(score);
        if k == last {
            caller.expression = arg.clone();
        }
    }
    // The caller passed a local: the `let` that computed it is where the value was made.
    let Some(arg) = origin_arg.as_deref().and_then(rust::bare_name) else {
        return;
    };
    let caller = &sites[origin];
    let Some(src) = &caller.rust else { return };
    let Some(cf) = src.enclosing_fn(caller.line) else {
        return;
    };
    let Some(binding) = src.binding_before(cf, arg, caller.line) else {
        return;
    };
    let reason = format!(
        "computes `{arg}`, which the call at {}:{} passes on to the panic at {here}",
        caller.file, caller.line
    );
    let extra = Site {
        frame: caller.frame,
        file: caller.file.clone(),
        line: binding.line,
        info: None,
        function: caller.function.clone(),
        source: None,
        rust: None,
        score: origin_score - 0.03,
        factor: caller.factor,
        expression: Some(arg.to_string()),
        none_name: None,
        panic: None,
        in_closure: false,
        reasons: vec![reason],
    };
    sites.push(extra);
}

/// The site of the frame that called `sites[at]`'s fn: the next one up the stack, past the
/// frames of the fn itself when `sites[at]` is a closure in it (`Option::map(|x| …)`).
fn next_caller(sites: &[Site], at: usize) -> Option<usize> {
    let key = |s: &Site| {
        s.rust
            .as_ref()
            .and_then(|r| r.enclosing_fn(s.line))
            .map(|f| (s.file.clone(), f.start_line))
    };
    let here = key(&sites[at])?;
    let mut i = at + 1;
    while sites[at].in_closure && i < sites.len() && key(&sites[i]).as_ref() == Some(&here) {
        i += 1;
    }
    (i < sites.len() && sites[i].frame > sites[at].frame).then_some(i)
}

/// The argument expression that the caller's line passes for `callee`'s parameter.
fn argument_for(caller: &Site, callee: &FunctionInfo, param_index: usize) -> Option<String> {
    let src = caller.source.as_ref()?;
    let param = &callee.parameters[param_index];
    let call = src
        .calls(caller.line)
        .into_iter()
        .find(|c| c.name == callee.name)?;
    if let Some(kw) = call
        .arguments
        .iter()
        .find(|a| a.keyword.as_deref() == Some(param.as_str()))
    {
        return Some(kw.text.clone());
    }
    // A method call passes `self`/`cls` implicitly.
    let implicit = usize::from(
        call.via_attribute
            && matches!(
                callee.parameters.first().map(String::as_str),
                Some("self" | "cls")
            ),
    );
    let position = param_index.checked_sub(implicit)?;
    let positional: Vec<_> = call
        .arguments
        .iter()
        .take_while(|a| a.keyword.is_none())
        .collect();
    if positional.iter().take(position + 1).any(|a| a.splat) {
        return None;
    }
    positional.get(position).map(|a| a.text.clone())
}

/// In-app frames that map to a readable repository file, innermost first.
fn sites(repo: &Path, index: &RepoIndex, trace: &ParsedTrace) -> Vec<Site> {
    let mut sites = Vec::new();
    for (i, frame) in trace.frames.iter().enumerate() {
        if frame.origin != FrameOrigin::InApp {
            continue;
        }
        let Some(file) = index.resolve(&frame.file) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(repo.join(&file)) else {
            continue;
        };
        if !super::paths::line_exists(&text, frame.line) {
            // A line past the end: the path matched the wrong file.
            continue;
        }
        let mut site = Site {
            frame: i,
            line: frame.line,
            info: None,
            function: frame.function.clone(),
            source: None,
            rust: None,
            none_name: None,
            panic: None,
            in_closure: frame.function.contains("{{closure}}")
                || frame.function.contains("{closure"),
            score: 0.0,
            factor: 1.0,
            expression: None,
            reasons: Vec::new(),
            file,
        };
        check_drift(&mut site, &text, frame.code.as_deref());
        if SourceLanguage::of_path(Path::new(&site.file)) == Some(SourceLanguage::Python) {
            if let Ok(src) = PythonSource::parse(text) {
                site.info = src.enclosing_function(site.line);
                // `<module>`, `<listcomp>`, `<lambda>` name no `def` to compare with.
                let named = !frame.function.starts_with('<');
                match &site.info {
                    Some(info) => {
                        let same = frame.function == info.name
                            || frame.function == info.qualified_name
                            || frame.function.ends_with(&format!(".{}", info.name));
                        if named && !same {
                            site.factor *= 0.7;
                            site.reasons.push(format!(
                                "the trace says `{}` but the line is in `{}` here",
                                frame.function, info.name
                            ));
                        }
                        site.function = info.qualified_name.clone();
                    }
                    None if named => site.factor *= 0.8,
                    None => {}
                }
                site.source = Some(src);
            }
        } else if SourceLanguage::of_path(Path::new(&site.file)) == Some(SourceLanguage::Rust) {
            if let Ok(src) = RustSource::parse(text) {
                match src.enclosing_fn(site.line) {
                    Some(f) => {
                        if !rust::same_fn(&frame.function, f) && frame.function != "<unknown>" {
                            site.factor *= 0.7;
                            site.reasons.push(format!(
                                "the trace says `{}` but the line is in `{}` here",
                                frame.function, f.name
                            ));
                        }
                        site.function = f.qualified_name.clone();
                    }
                    None => site.factor *= 0.8,
                }
                site.rust = Some(src);
            }
        }
        sites.push(site);
    }
    sites
}

/// Traces come from deployed code; the repository may have moved on. Find the printed code
/// nearby, or rank the frame lower.
fn check_drift(site: &mut Site, text: &str, code: Option<&str>) {
    let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    let at = |n: u32| lines.get((n as usize).wrapping_sub(1)).map(|l| l.trim());
    if at(site.line) == Some(code) {
        return;
    }
    let found = (1..=DRIFT_WINDOW).find_map(|d| {
        [site.line.checked_add(d), site.line.checked_sub(d)]
            .into_iter()
            .flatten()
            .find(|&n| n > 0 && at(n) == Some(code))
    });
    match found {
        Some(n) => {
            site.reasons.push(format!(
                "the code moved from line {} to {n} since the trace",
                site.line
            ));
            site.line = n;
        }
        None => {
            site.factor *= 0.6;
            site.reasons
                .push("the repository's line differs from the trace's".into());
        }
    }
}

fn candidates(sites: Vec<Site>) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for s in sites {
        let score = ((s.score * s.factor).clamp(0.01, 0.99) * 1000.0).round() / 1000.0;
        if let Some(same) = out
            .iter_mut()
            .find(|c| c.file == s.file && c.line == s.line)
        {
            // Recursion repeats a frame: keep the best score, once.
            same.score = same.score.max(score);
            continue;
        }
        out.push(Candidate {
            file: s.file,
            line: s.line,
            function: s.function,
            score,
            reason: s.reasons.join("; "),
            expression: s.expression,
        });
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
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
    if text.chars().count() > 140 {
        format!("{}…", text.chars().take(140).collect::<String>())
    } else {
        text
    }
}

/// `requests` for `…/site-packages/requests/api.py`, `std` for Rust's library, the crate for a
/// registry path, the file name otherwise.
fn library_name(path: &str) -> String {
    let p = path.replace('\\', "/");
    if p.starts_with("/rustc/") {
        return "std".into();
    }
    for marker in ["/site-packages/", "/dist-packages/"] {
        if let Some((_, rest)) = p.split_once(marker) {
            return rest.split('/').next().unwrap_or(rest).to_string();
        }
    }
    if let Some((_, rest)) = p.split_once(".cargo/registry/src/") {
        // index.crates.io-<hash>/<crate>-<version>/src/…
        if let Some(krate) = rest.split('/').nth(1) {
            return krate.to_string();
        }
    }
    p.rsplit('/').next().unwrap_or(&p).to_string()
}

mod rust;

#[cfg(test)]
mod tests;
