//! Rust-specific ranking facts. A panic's innermost frames are std's panic machinery
//! (`core::panicking`, `Option::unwrap`), and `#[track_caller]` makes the first in-app frame
//! the line that panicked, so that frame is the raise site. Its syntax (read with syn) says
//! which expression failed and whether the enclosing fn can return the error with `?`.

use super::super::fault::{Fault, SiteFacts};
use super::super::source::rust::{PanicKind, PanicSite, ReturnKind, RustFn, RustSource};
use super::super::stacktrace::{FrameOrigin, ParsedTrace};

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
        Fault::NoneValue | Fault::NoneAttribute { .. } | Fault::ErrValue { .. } => {
            &[(Unwrap, 0.3), (Expect, 0.3)]
        }
        Fault::IndexOutOfRange { .. } | Fault::MissingKey { .. } => {
            &[(Index, 0.3), (CheckedCall, 0.2), (Slice, 0.15)]
        }
        Fault::BadSlice => &[(Slice, 0.3), (CheckedCall, 0.15), (Index, 0.1)],
        Fault::DivisionByZero => &[(Division, 0.3)],
        Fault::Overflow { .. } => &[(Arithmetic, 0.3), (Cast, 0.1)],
        Fault::Borrow => &[(Borrow, 0.3)],
        Fault::Assertion { .. } => &[(Assert, 0.3)],
        Fault::CheckedCall { .. } => &[(CheckedCall, 0.3), (Index, 0.1)],
        // A custom message says nothing std-shaped: a failed `assert!` prints its own, and so
        // do an `expect` and `panic!` on the line.
        Fault::Other => &[
            (Assert, 0.25),
            (Expect, 0.25),
            (Explicit, 0.25),
            (Unwrap, 0.2),
            (Index, 0.1),
            (Division, 0.1),
        ],
    }
}

/// Whether a site of the wanted kind is also the exact expression the message names: the
/// operator of an overflow, the method of a checked call, the asserted condition.
fn exact(site: &PanicSite, fault: &Fault) -> bool {
    let squash = |s: &str| s.split_whitespace().collect::<String>();
    match fault {
        Fault::Overflow { operator: Some(op) } => {
            site.kind == PanicKind::Arithmetic && site.operator.trim_end_matches('=') == *op
                || *op == "neg" && site.operator == "-" && !site.text.contains(' ')
        }
        Fault::CheckedCall { method } => site.operator == *method,
        Fault::Assertion {
            condition: Some(cond),
        } => squash(&site.operand) == squash(cond),
        _ => true,
    }
}

/// What the raise site's line shows: the failing expression and, for `unwrap`/`expect`,
/// whether `?` could carry the error out of the enclosing fn. The printed column picks among
/// several (`a.unwrap() + b.unwrap()`); the operator or method the message names picks among
/// the rest.
pub(super) fn site_facts(
    src: &RustSource,
    column: Option<u32>,
    line: u32,
    fault: &Fault,
) -> (SiteFacts, Option<PanicSite>) {
    let on_line = src.panic_sites(line);
    let mut best: Option<(&PanicSite, f64)> = None;
    for (kind, bonus) in wanted(fault) {
        let hits: Vec<&PanicSite> = on_line
            .iter()
            .copied()
            .filter(|s| s.kind == *kind)
            .collect();
        let hit = column
            .and_then(|c| hits.iter().copied().find(|s| s.column == c))
            .or_else(|| hits.iter().copied().find(|s| exact(s, fault)))
            .or_else(|| hits.first().copied());
        if let Some(hit) = hit {
            best = Some((hit, *bonus));
            break;
        }
    }
    let Some((site, bonus)) = best else {
        return (SiteFacts::default(), None);
    };
    let func = src.enclosing_fn(line);
    let mut why = describe(site, fault);
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
    let facts = SiteFacts {
        expression: Some(match site.kind {
            PanicKind::Unwrap | PanicKind::Expect | PanicKind::Assert | PanicKind::Borrow => {
                site.operand.clone()
            }
            _ => site.text.clone(),
        }),
        none_name,
        bonus,
        why: Some(why),
    };
    (facts, Some(site.clone()))
}

/// The parameters of the panicking fn `f` that the failing value comes from.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Tainted {
    pub names: Vec<String>,
    /// The caller that chose the value is the likelier place to fix: a failed precondition
    /// (`assert!`), an index or an operand that is a parameter as passed, or a divisor computed
    /// from one (an empty list, a zero count). Otherwise the panic site stays first.
    pub strong: bool,
    /// How the value depends on them, for the reason line.
    pub how: String,
}

pub(super) fn tainted_params(src: &RustSource, f: &RustFn, site: &PanicSite) -> Option<Tainted> {
    let is_param = |n: &String| f.parameters.contains(n);
    let strong_kind = matches!(
        site.kind,
        PanicKind::Assert
            | PanicKind::Index
            | PanicKind::Division
            | PanicKind::Arithmetic
            | PanicKind::CheckedCall
    );
    let direct: Vec<String> = site
        .inputs
        .iter()
        .filter(|n| is_param(n))
        .cloned()
        .collect();
    if !direct.is_empty() {
        let how = format!(
            "`{}` uses the parameter{} `{}`",
            short(&site.text),
            if direct.len() > 1 { "s" } else { "" },
            direct.join("`, `")
        );
        return Some(Tainted {
            names: direct,
            strong: strong_kind,
            how,
        });
    }
    // One step back: a local computed from a parameter.
    let mut names = Vec::new();
    let mut how = Vec::new();
    for input in &site.inputs {
        let Some(binding) = src.binding_before(f, input, site.line) else {
            continue;
        };
        let from: Vec<&String> = binding.uses.iter().filter(|n| is_param(n)).collect();
        for p in &from {
            if !names.contains(*p) {
                names.push((*p).clone());
            }
        }
        if !from.is_empty() {
            how.push(format!(
                "`{input}` (line {}) is computed from the parameter `{}`",
                binding.line,
                from.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("`, `")
            ));
        }
    }
    (!names.is_empty()).then(|| Tainted {
        names,
        strong: site.kind == PanicKind::Division,
        how: how.join(", "),
    })
}

/// The parameter an argument hands on unchanged (`&x`, `x.clone()`, `*x`, `x.field` → `x`),
/// when the argument is only a place of one of `params`.
pub(super) fn passed_through(arg: &str, params: &[String]) -> Option<String> {
    let mut a = arg.trim();
    loop {
        let before = a;
        a = a
            .trim_start_matches('&')
            .trim_start_matches('*')
            .trim_start();
        a = a.strip_prefix("mut ").unwrap_or(a).trim();
        for suffix in [".clone()", ".to_owned()", ".as_ref()"] {
            a = a.strip_suffix(suffix).unwrap_or(a);
        }
        if a == before {
            break;
        }
    }
    let root = a.split('.').next()?;
    let place = a.split('.').all(|part| {
        let mut chars = part.chars();
        chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && chars.all(|c| c.is_alphanumeric() || c == '_')
    });
    (place && params.iter().any(|p| p == root)).then(|| root.to_string())
}

/// A bare local name (after `&`, `*`), for finding where the caller computed it.
pub(super) fn bare_name(arg: &str) -> Option<&str> {
    let a = arg.trim().trim_start_matches('&').trim_start_matches('*');
    let a = a.strip_prefix("mut ").unwrap_or(a).trim();
    is_identifier(a).then_some(a)
}

/// An expression on one line for a reason: whitespace runs collapsed, at most 80 chars.
fn short(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 80 {
        format!("{}…", one_line.chars().take(79).collect::<String>())
    } else {
        one_line
    }
}

fn describe(s: &PanicSite, fault: &Fault) -> String {
    match s.kind {
        PanicKind::Unwrap => format!("`{}` unwraps a value that can be None/Err", short(&s.text)),
        PanicKind::Expect => format!("`{}` panics on None/Err", short(&s.text)),
        PanicKind::Index => match fault {
            Fault::IndexOutOfRange { len: Some(0), .. } => format!(
                "`{}` indexes without a bounds check, and the collection was empty",
                s.text
            ),
            Fault::IndexOutOfRange {
                len: Some(len),
                index: Some(i),
            } => format!(
                "`{}` indexes without a bounds check ({i} past a length of {len})",
                s.text
            ),
            _ => format!("`{}` indexes without a bounds check", s.text),
        },
        PanicKind::Slice => match fault {
            Fault::BadSlice => format!(
                "`{}` slices without checking the range (or a char boundary)",
                s.text
            ),
            _ => format!("`{}` slices without checking the range", s.text),
        },
        PanicKind::Division => {
            format!("`{}` divides by `{}`, which can be zero", s.text, s.operand)
        }
        PanicKind::Arithmetic => format!("`{}` can overflow", short(&s.text)),
        PanicKind::Cast => format!("`{}` truncates or wraps the value", s.text),
        PanicKind::Assert => format!(
            "`{}` fails when `{}` is false",
            short(&s.text),
            short(&s.operand)
        ),
        PanicKind::Borrow => format!(
            "`{}` borrows a RefCell that is already borrowed elsewhere",
            short(&s.text)
        ),
        PanicKind::Explicit => format!("`{}` panics by design", short(&s.text)),
        PanicKind::CheckedCall => format!(
            "`{}` checks its index or length itself and panics",
            short(&s.text)
        ),
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

    const SRC: &str = r#"fn truncate(widths: &[usize], termwidth: usize, pad: usize) -> usize {
    let used = widths.len();
    termwidth - used - pad
}

fn split(total: usize, parts: &[u8]) -> usize {
    let flexible = parts.iter().filter(|p| **p == 0).count();
    total / flexible
}

fn grow(rep: &Rep, child: usize) -> usize {
    let rep_min = usize::try_from(rep.min).unwrap_or(0);
    let scaled = child * 2;
    scaled * rep_min
}
"#;

    fn taint(line: u32) -> Option<Tainted> {
        let src = RustSource::parse(SRC).unwrap();
        let site = src.panic_sites(line)[0].clone();
        let f = src.enclosing_fn(line).unwrap();
        tainted_params(&src, f, &site)
    }

    #[test]
    fn parameters_behind_the_failing_value() {
        // Operands that are parameters as passed: the caller chose them.
        let t = taint(3).unwrap();
        assert_eq!(t.names, ["termwidth", "pad"]);
        assert!(t.strong);
        // A divisor computed from a parameter: an empty list came from the caller.
        let t = taint(8).unwrap();
        assert_eq!(
            (t.names.clone(), t.strong),
            (vec!["parts".to_string()], true)
        );
        assert!(t.how.contains("`flexible` (line 7)"), "{}", t.how);
        // A product computed from a parameter: the arithmetic itself is the suspect.
        let t = taint(14).unwrap();
        assert_eq!(t.names, ["child", "rep"]);
        assert!(!t.strong);
    }

    #[test]
    fn arguments_passed_through_or_computed() {
        let params = ["x".to_string(), "line_col".to_string()];
        assert_eq!(passed_through("&x", &params).as_deref(), Some("x"));
        assert_eq!(passed_through("&mut x", &params).as_deref(), Some("x"));
        assert_eq!(
            passed_through("line_col.line", &params).as_deref(),
            Some("line_col")
        );
        assert_eq!(passed_through("x.clone()", &params).as_deref(), Some("x"));
        assert_eq!(passed_through("x - 1", &params), None);
        assert_eq!(passed_through("y", &params), None);
        assert_eq!(bare_name("&visible"), Some("visible"));
        assert_eq!(bare_name("a + b"), None);
        assert_eq!(
            short("assert!(\n    x >= 1\n        && y < 2,\n)"),
            "assert!( x >= 1 && y < 2, )"
        );
        assert_eq!(short(&"a".repeat(100)).chars().count(), 80);
    }
}
