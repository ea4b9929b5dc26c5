//! Rust-specific ranking facts. A panic's innermost frames are std's panic machinery
//! (`core::panicking`, `Option::unwrap`), and `#[track_caller]` makes the first in-app frame
//! the line that panicked, so that frame is the raise site. Its syntax (read with syn) says
//! which expression failed and whether the enclosing fn can return the error with `?`.

use super::super::fault::{Fault, SiteFacts};
use super::super::source::rust::{PanicKind, PanicSite, ReturnKind, RustFn, RustSource};
use super::super::stacktrace::{Frame, FrameOrigin, ParsedTrace};

/// Whether every frame inside `first_in_app` is std (the panic machinery), so the in-app frame
/// is where the panic happened rather than a call into a library that panicked.
pub(super) fn raised_in_app(trace: &ParsedTrace, first_in_app: usize) -> bool {
    trace.frames[..first_in_app]
        .iter()
        .all(|f| f.origin == FrameOrigin::Std)
}

/// The expressions that fit the fault, strongest first, with the bonus each earns.
fn wanted(fault: &Fault) -> &'static [(PanicKind, f64)] {
    use PanicKind::*;
    match fault {
        Fault::NoneValue | Fault::NoneAttribute { .. } | Fault::ErrValue => {
            &[(Unwrap, 0.3), (Expect, 0.3)]
        }
        Fault::IndexOutOfRange | Fault::MissingKey { .. } => &[(Index, 0.3), (Slice, 0.15)],
        Fault::BadSlice => &[(Slice, 0.3), (Index, 0.1)],
        Fault::DivisionByZero => &[(Division, 0.3)],
        Fault::Overflow => &[(Arithmetic, 0.3), (Cast, 0.1)],
        // A custom `expect` message says nothing std-shaped; an `expect` on the line fits.
        Fault::Other => &[(Expect, 0.25), (Unwrap, 0.2), (Index, 0.1), (Division, 0.1)],
    }
}

/// What the raise site's line shows: the failing expression and, for `unwrap`/`expect`,
/// whether `?` could carry the error out of the enclosing fn.
pub(super) fn site_facts(src: &RustSource, frame: &Frame, line: u32, fault: &Fault) -> SiteFacts {
    let on_line = src.panic_sites(line);
    let mut best: Option<(&PanicSite, f64)> = None;
    for (kind, bonus) in wanted(fault) {
        let hits: Vec<&PanicSite> = on_line
            .iter()
            .copied()
            .filter(|s| s.kind == *kind)
            .collect();
        // The printed column picks among several (`a.unwrap() + b.unwrap()`).
        let hit = frame
            .column
            .and_then(|c| hits.iter().copied().find(|s| s.column == c))
            .or_else(|| hits.first().copied());
        if let Some(hit) = hit {
            best = Some((hit, *bonus));
            break;
        }
    }
    let Some((site, bonus)) = best else {
        return SiteFacts::default();
    };
    let func = src.enclosing_fn(line);
    let mut why = describe(site);
    if let (Some(f), PanicKind::Unwrap | PanicKind::Expect) = (func, site.kind) {
        why.push_str(&match f.returns {
            ReturnKind::Result => format!("; `{}` returns a Result, so `?` can carry it", f.name),
            ReturnKind::Option => format!("; `{}` returns an Option, so `?` can carry it", f.name),
            _ => format!("; `{}` returns no Result/Option (no `?`)", f.name),
        });
    }
    let none_name = matches!(
        site.kind,
        PanicKind::Unwrap | PanicKind::Expect | PanicKind::Index
    )
    .then(|| site.operand.clone())
    .filter(|o| is_identifier(o));
    SiteFacts {
        expression: Some(match site.kind {
            PanicKind::Unwrap | PanicKind::Expect => site.operand.clone(),
            _ => site.text.clone(),
        }),
        none_name,
        bonus,
        why: Some(why),
    }
}

fn describe(s: &PanicSite) -> String {
    match s.kind {
        PanicKind::Unwrap => format!("`{}` unwraps a value that can be None/Err", s.text),
        PanicKind::Expect => format!("`{}` panics on None/Err", s.text),
        PanicKind::Index => format!("`{}` indexes without a bounds check", s.text),
        PanicKind::Slice => format!("`{}` slices without checking the range", s.text),
        PanicKind::Division => {
            format!("`{}` divides by `{}`, which can be zero", s.text, s.operand)
        }
        PanicKind::Arithmetic => format!("`{}` can overflow", s.text),
        PanicKind::Cast => format!("`{}` truncates or wraps the value", s.text),
    }
}

/// The trace's function name reduced to the fn it names: `app::Store::get::{{closure}}`,
/// `<app::Store as Tr>::get`, `app::f::h0123` → `get` / `f`.
pub(super) fn fn_name(printed: &str) -> &str {
    printed
        .split("::")
        .filter(|s| !s.is_empty() && !s.starts_with("{{") && !s.starts_with('{'))
        .filter(|s| !s.starts_with('h') || s.len() != 17)
        .last()
        .map(|s| s.trim_end_matches('>'))
        .unwrap_or(printed)
}

/// Whether the enclosing fn is the one the trace names (closures and async blocks are
/// printed as `{{closure}}` under it).
pub(super) fn same_fn(printed: &str, f: &RustFn) -> bool {
    let name = fn_name(printed);
    name == f.name || printed.contains(&f.qualified_name)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_names_reduce_to_the_fn() {
        assert_eq!(
            fn_name("userd::handlers::get_user::{{closure}}"),
            "get_user"
        );
        assert_eq!(fn_name("svc::pick"), "pick");
        assert_eq!(fn_name("<svc::Store as svc::Repo>::load"), "load");
        assert_eq!(fn_name("svc::run::{closure#0}::{closure#1}"), "run");
    }
}
