//! Rust: the value a panic depends on is followed back to the caller that chose it, through
//! callers that only hand it on, to the call that computed it (and the `let` behind that).

use super::super::source::rust::RustFn;
use super::rust as facts;
use super::Site;

/// Rust: when the value the panic depends on is a parameter of the panicking fn (or a local
/// computed from one), a caller chose it. The value is followed up the stack while each caller
/// only hands on its own parameter (`&x`, `x.field`), to the call that computed it. That call
/// ranks above the panic site when the dependence is strong (a failed `assert!`, an index or
/// operand that is the parameter as passed, a divisor computed from one); otherwise just
/// below it. Returns the caller that computed the value and the locals its call passes, for
/// the places that made them (see `beyond`).
pub(super) fn follow_to_caller(sites: &mut [Site], headline: &str) -> Option<(usize, Vec<String>)> {
    let first = sites.first()?;
    let src = first.rust.as_ref()?;
    let f = src.enclosing_fn(first.line)?;
    let tainted = first
        .panic
        .as_ref()
        .and_then(|p| facts::tainted_params(src, f, p))
        .or_else(|| {
            // `x.unwrap()`, `x[0]` with `x` a parameter.
            let name = first.none_name.clone()?;
            f.parameters.contains(&name).then(|| facts::Tainted {
                how: format!("`{name}` is a parameter"),
                names: vec![name],
                strong: false,
            })
        });
    let tainted = tainted?;
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
                    let root = facts::passed_through(a, &cf.parameters)?;
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
    let &(origin, ref origin_arg, _, _) = hops.last()?;
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
    // The caller passed locals: where they were made is found from here.
    let passed: Vec<String> = origin_arg
        .as_deref()
        .map(|args| {
            args.split("`, `")
                .filter_map(facts::bare_name)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Some((origin, passed))
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
    (i < sites.len() && sites[i].depth > sites[at].depth).then_some(i)
}
