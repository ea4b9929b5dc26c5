//! Python: a None that arrived through a parameter was passed by the caller. The raise site
//! reads an attribute of a parameter that was None, so the call site that passed it ranks
//! first, following the value up while it is only passed through.

use super::super::source::python::FunctionInfo;
use super::super::stacktrace::ParsedTrace;
use super::{headline, Site};

/// The raise site reads an attribute of a parameter that was None: the value came from the
/// caller's argument, so the call site that passed it ranks first (following the value up
/// while it is only passed through).
pub(super) fn blame_the_caller(sites: &mut [Site], trace: &ParsedTrace) {
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
