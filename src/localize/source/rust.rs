//! Rust source analysis with syn (span-locations): the function that encloses a line, what it
//! returns (a `Result` or `Option` return means `?` is valid there), and the expressions on a
//! line that can panic (`unwrap`/`expect`, indexing, slicing, division, overflowing arithmetic,
//! `as` casts, `assert!`), also inside the arguments of macros whose tokens parse as
//! comma-separated expressions (`format!`, `assert!`, `write!`, …). For following a bad value
//! to the caller it also records `let` bindings (what each is computed from) and calls (their
//! argument texts). Ranking reads the line's syntax from here; the fix stage reads the return
//! type.

use super::SourceError;
use proc_macro2::Span;
use quote_free::text_of;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::Visit;

/// What a function returns, as far as `?` cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnKind {
    Result,
    Option,
    /// `()` or no return type: `?` is not valid.
    Unit,
    Other,
}

/// A function or method and where it lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RustFn {
    pub name: String,
    /// `Type::method` for methods, the name otherwise.
    pub qualified_name: String,
    /// Parameter names (patterns other than identifiers are skipped; `self` is not listed).
    pub parameters: Vec<String>,
    pub returns: ReturnKind,
    pub start_line: u32,
    pub end_line: u32,
    /// Whether the fn takes `self` (a method call passes it as the receiver).
    pub has_receiver: bool,
    /// Every non-`self` parameter by position; `""` for a pattern that is not a name.
    pub param_slots: Vec<String>,
}

/// The kind of expression that can panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PanicKind {
    /// `.unwrap()` (also `unwrap_unchecked` is not listed: it cannot panic).
    Unwrap,
    Expect,
    Index,
    Slice,
    Division,
    Arithmetic,
    Cast,
    /// `assert!(cond)` / `debug_assert!(cond)`: a precondition that failed.
    Assert,
}

/// An expression on a line that can panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanicSite {
    pub kind: PanicKind,
    /// The whole expression (`user.email.unwrap()`, `items[i]`, `a / b`).
    pub text: String,
    /// The value that was bad: the receiver of `unwrap`, the indexed value, the divisor.
    pub operand: String,
    /// 1-based line and column of the operator (the method name for calls), as panics print.
    pub line: u32,
    pub column: u32,
    /// The names the panic depends on directly: the roots of the index, the range bounds, the
    /// divisor, the operands, the asserted condition (`line_col` for `v[line_col.line as
    /// usize]`); for `unwrap`/`expect`, the receiver when it is a bare name. `self` is left out.
    pub inputs: Vec<String>,
}

/// A `let name = init;` and the names its initializer uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LetBinding {
    pub name: String,
    pub line: u32,
    /// The last line of the block the binding lives in: it is not visible after it.
    pub scope_end: u32,
    pub uses: Vec<String>,
}

/// A call (`f(a, b)`, `Type::f(a)`, `x.f(a)`) and the source text of its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RustCall {
    /// The fn or method name (last path segment).
    pub name: String,
    /// Argument texts in order (the receiver of a method call is not one).
    pub args: Vec<String>,
    /// `f(…)`/`Type::f(…)` rather than `x.f(…)`: a method called this way takes `self` first.
    pub path_call: bool,
    pub start_line: u32,
    pub end_line: u32,
}

/// A parsed Rust file.
pub struct RustSource {
    text: String,
    fns: Vec<RustFn>,
    sites: Vec<PanicSite>,
    lets: Vec<LetBinding>,
    calls: Vec<RustCall>,
}

impl RustSource {
    pub fn parse(text: impl Into<String>) -> Result<Self, SourceError> {
        let text = text.into();
        let file = syn::parse_file(&text).map_err(|e| SourceError::Syntax {
            line: e.span().start().line as u32,
            message: e.to_string(),
        })?;
        let mut v = Collector {
            text: &text,
            impl_type: None,
            fns: Vec::new(),
            sites: Vec::new(),
            lets: Vec::new(),
            calls: Vec::new(),
            blocks: Vec::new(),
        };
        v.visit_file(&file);
        let (fns, sites, lets, calls) = (v.fns, v.sites, v.lets, v.calls);
        Ok(RustSource {
            text,
            fns,
            sites,
            lets,
            calls,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The innermost function whose body covers `line`.
    pub fn enclosing_fn(&self, line: u32) -> Option<&RustFn> {
        self.fns
            .iter()
            .filter(|f| f.start_line <= line && line <= f.end_line)
            .min_by_key(|f| f.end_line - f.start_line)
    }

    /// The expressions on `line` that can panic, in source order.
    pub fn panic_sites(&self, line: u32) -> Vec<&PanicSite> {
        let mut out: Vec<&PanicSite> = self.sites.iter().filter(|s| s.line == line).collect();
        out.sort_by_key(|s| s.column);
        out
    }

    /// The functions of the file.
    pub fn functions(&self) -> &[RustFn] {
        &self.fns
    }

    /// The last `let name = …` of `f` before `line` (the binding a use on `line` sees, as far
    /// as line order tells).
    pub fn binding_before(&self, f: &RustFn, name: &str, line: u32) -> Option<&LetBinding> {
        self.lets
            .iter()
            .filter(|l| l.name == name && f.start_line <= l.line && l.line < line)
            .filter(|l| line <= l.scope_end)
            .max_by_key(|l| l.line)
    }

    /// The calls whose expression covers `line`, innermost (shortest) first.
    pub fn calls_at(&self, line: u32) -> Vec<&RustCall> {
        let mut out: Vec<&RustCall> = self
            .calls
            .iter()
            .filter(|c| c.start_line <= line && line <= c.end_line)
            .collect();
        out.sort_by_key(|c| c.end_line - c.start_line);
        out
    }
}

/// The names an expression's value comes from directly: `a.b as usize` → `a`, `x - y.len()` →
/// `x`, `y`; values computed by a call (`f(a)`) or a macro give none. `self` is left out.
pub fn roots(e: &syn::Expr) -> Vec<String> {
    let mut out = Vec::new();
    collect_roots(e, &mut out);
    out
}

fn collect_roots(e: &syn::Expr, out: &mut Vec<String>) {
    use syn::Expr::*;
    match e {
        Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
            let name = p.path.segments[0].ident.to_string();
            let local = name.starts_with(|c: char| c.is_lowercase() || c == '_');
            if local && name != "self" && !out.contains(&name) {
                out.push(name);
            }
        }
        Field(f) => collect_roots(&f.base, out),
        Cast(c) => collect_roots(&c.expr, out),
        Paren(p) => collect_roots(&p.expr, out),
        Group(g) => collect_roots(&g.expr, out),
        Reference(r) => collect_roots(&r.expr, out),
        Unary(u) => collect_roots(&u.expr, out),
        MethodCall(m) => collect_roots(&m.receiver, out),
        Binary(b) => {
            collect_roots(&b.left, out);
            collect_roots(&b.right, out);
        }
        Index(i) => {
            collect_roots(&i.expr, out);
            collect_roots(&i.index, out);
        }
        Range(r) => {
            for bound in [&r.start, &r.end].into_iter().flatten() {
                collect_roots(bound, out);
            }
        }
        _ => {}
    }
}

/// Every single-segment name an expression mentions (closures and calls included).
fn uses(e: &syn::Expr) -> Vec<String> {
    struct Names(Vec<String>);
    impl<'ast> Visit<'ast> for Names {
        fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
            if p.qself.is_none() && p.path.segments.len() == 1 {
                let name = p.path.segments[0].ident.to_string();
                if !self.0.contains(&name) {
                    self.0.push(name);
                }
            }
            syn::visit::visit_expr_path(self, p);
        }
    }
    let mut names = Names(Vec::new());
    names.visit_expr(e);
    names.0
}

struct Collector<'a> {
    text: &'a str,
    impl_type: Option<String>,
    fns: Vec<RustFn>,
    sites: Vec<PanicSite>,
    lets: Vec<LetBinding>,
    calls: Vec<RustCall>,
    /// End lines of the blocks being visited, innermost last.
    blocks: Vec<u32>,
}

impl Collector<'_> {
    fn function(&mut self, sig: &syn::Signature, span: Span) {
        let name = sig.ident.to_string();
        let qualified_name = match &self.impl_type {
            Some(t) => format!("{t}::{name}"),
            None => name.clone(),
        };
        let param_slots: Vec<String> = sig
            .inputs
            .iter()
            .filter_map(|a| match a {
                syn::FnArg::Typed(t) => Some(match &*t.pat {
                    syn::Pat::Ident(i) => i.ident.to_string(),
                    _ => String::new(),
                }),
                syn::FnArg::Receiver(_) => None,
            })
            .collect();
        let parameters = param_slots
            .iter()
            .filter(|p| !p.is_empty())
            .cloned()
            .collect();
        let has_receiver = matches!(sig.inputs.first(), Some(syn::FnArg::Receiver(_)));
        self.fns.push(RustFn {
            name,
            qualified_name,
            parameters,
            returns: return_kind(&sig.output),
            start_line: span.start().line as u32,
            end_line: span.end().line as u32,
            has_receiver,
            param_slots,
        });
    }

    fn site(&mut self, kind: PanicKind, whole: Span, at: Span, operand: Span, inputs: Vec<String>) {
        self.sites.push(PanicSite {
            kind,
            text: text_of(self.text, whole),
            operand: text_of(self.text, operand),
            line: at.start().line as u32,
            column: at.start().column as u32 + 1,
            inputs,
        });
    }

    fn call<'e>(
        &mut self,
        name: String,
        args: impl Iterator<Item = &'e syn::Expr>,
        path_call: bool,
        span: Span,
    ) {
        let args = args.map(|a| text_of(self.text, a.span())).collect();
        self.calls.push(RustCall {
            name,
            args,
            path_call,
            start_line: span.start().line as u32,
            end_line: span.end().line as u32,
        });
    }
}

/// Macros whose first argument is a condition that panics when false.
const ASSERT_MACROS: &[&str] = &["assert", "debug_assert"];

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.function(&f.sig, f.span());
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        let outer = self.impl_type.take();
        self.impl_type = match &*i.self_ty {
            syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
            _ => None,
        };
        syn::visit::visit_item_impl(self, i);
        self.impl_type = outer;
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.function(&f.sig, f.span());
        syn::visit::visit_impl_item_fn(self, f);
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if f.default.is_some() {
            self.function(&f.sig, f.span());
        }
        syn::visit::visit_trait_item_fn(self, f);
    }

    fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
        let kind = match m.method.to_string().as_str() {
            "unwrap" => Some(PanicKind::Unwrap),
            "expect" => Some(PanicKind::Expect),
            _ => None,
        };
        if let Some(kind) = kind {
            // Panics report the method name's position (`#[track_caller]`).
            let receiver = text_of(self.text, m.receiver.span());
            let inputs = if is_name(&receiver) {
                vec![receiver]
            } else {
                Vec::new()
            };
            self.site(kind, m.span(), m.method.span(), m.receiver.span(), inputs);
        }
        self.call(m.method.to_string(), m.args.iter(), false, m.span());
        syn::visit::visit_expr_method_call(self, m);
    }

    fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
        if let syn::Expr::Path(p) = &*c.func {
            if let Some(last) = p.path.segments.last() {
                self.call(last.ident.to_string(), c.args.iter(), true, c.span());
            }
        }
        syn::visit::visit_expr_call(self, c);
    }

    fn visit_block(&mut self, b: &'ast syn::Block) {
        self.blocks.push(b.span().end().line as u32);
        syn::visit::visit_block(self, b);
        self.blocks.pop();
    }

    fn visit_local(&mut self, l: &'ast syn::Local) {
        let pat = match &l.pat {
            syn::Pat::Type(t) => &*t.pat,
            p => p,
        };
        if let (syn::Pat::Ident(i), Some(init)) = (pat, &l.init) {
            self.lets.push(LetBinding {
                name: i.ident.to_string(),
                line: l.span().start().line as u32,
                scope_end: self.blocks.last().copied().unwrap_or(u32::MAX),
                uses: uses(&init.expr),
            });
        }
        syn::visit::visit_local(self, l);
    }

    /// Macro arguments are tokens to syn; where they parse as comma-separated expressions
    /// (`format!`, `println!`, `write!`, `assert!`, `assert_eq!`, `vec![a, b]`, …) they are
    /// visited like any other expression, and `assert!`'s condition is itself a panic site.
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        let parsed = m.parse_body_with(Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated);
        if let Ok(args) = parsed {
            let name = m
                .path
                .segments
                .last()
                .map(|s| s.ident.to_string())
                .unwrap_or_default();
            if let (true, Some(cond)) = (ASSERT_MACROS.contains(&name.as_str()), args.first()) {
                let whole = m
                    .path
                    .span()
                    .join(m.delimiter.span().close())
                    .unwrap_or_else(|| m.path.span());
                self.site(
                    PanicKind::Assert,
                    whole,
                    m.path.span(),
                    cond.span(),
                    roots(cond),
                );
            }
            for arg in &args {
                self.visit_expr(arg);
            }
        }
        syn::visit::visit_macro(self, m);
    }

    fn visit_expr_index(&mut self, e: &'ast syn::ExprIndex) {
        let kind = match &*e.index {
            syn::Expr::Range(_) => PanicKind::Slice,
            _ => PanicKind::Index,
        };
        self.site(kind, e.span(), e.span(), e.expr.span(), roots(&e.index));
        syn::visit::visit_expr_index(self, e);
    }

    fn visit_expr_binary(&mut self, e: &'ast syn::ExprBinary) {
        use syn::BinOp::*;
        let kind = match e.op {
            Div(_) | Rem(_) | DivAssign(_) | RemAssign(_) => Some(PanicKind::Division),
            Add(_) | Sub(_) | Mul(_) | AddAssign(_) | SubAssign(_) | MulAssign(_) | Shl(_) => {
                Some(PanicKind::Arithmetic)
            }
            _ => None,
        };
        if let Some(kind) = kind {
            let (operand, inputs) = if kind == PanicKind::Division {
                (e.right.span(), roots(&e.right))
            } else {
                let mut inputs = roots(&e.left);
                collect_roots(&e.right, &mut inputs);
                (e.span(), inputs)
            };
            self.site(kind, e.span(), e.span(), operand, inputs);
        }
        syn::visit::visit_expr_binary(self, e);
    }

    fn visit_expr_cast(&mut self, e: &'ast syn::ExprCast) {
        self.site(
            PanicKind::Cast,
            e.span(),
            e.span(),
            e.expr.span(),
            roots(&e.expr),
        );
        syn::visit::visit_expr_cast(self, e);
    }
}

fn return_kind(output: &syn::ReturnType) -> ReturnKind {
    let syn::ReturnType::Type(_, ty) = output else {
        return ReturnKind::Unit;
    };
    match &**ty {
        syn::Type::Path(p) => match p.path.segments.last().map(|s| s.ident.to_string()) {
            // `io::Result<T>`, `anyhow::Result<T>` and aliases named `…Result` count too.
            Some(n) if n.ends_with("Result") => ReturnKind::Result,
            Some(n) if n == "Option" => ReturnKind::Option,
            _ => ReturnKind::Other,
        },
        syn::Type::Tuple(t) if t.elems.is_empty() => ReturnKind::Unit,
        _ => ReturnKind::Other,
    }
}

/// A bare name or a field path of one (`x`, `line_col.line`).
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && chars.all(|c| c.is_alphanumeric() || c == '_')
        })
}

/// Source text behind a span, kept byte-exact (no token re-printing).
mod quote_free {
    use proc_macro2::Span;

    pub fn text_of(text: &str, span: Span) -> String {
        let (s, e) = (span.start(), span.end());
        match (
            offset(text, s.line, s.column),
            offset(text, e.line, e.column),
        ) {
            (Some(a), Some(b)) if a <= b => text[a..b].to_string(),
            _ => String::new(),
        }
    }

    /// Byte offset of a 1-based line and a 0-based column counted in chars.
    pub fn offset(text: &str, line: usize, column: usize) -> Option<usize> {
        let start: usize = text
            .split_inclusive('\n')
            .take(line.checked_sub(1)?)
            .map(str::len)
            .sum();
        let rest = text.get(start..)?;
        let within = rest
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(rest.len()))
            .nth(column)?;
        Some(start + within)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"use std::collections::HashMap;

struct Store { users: HashMap<u64, String> }

impl Store {
    fn domain(&self, id: u64) -> Result<String, Error> {
        let email = self.users.get(&id).unwrap();
        Ok(email.split('@').nth(1).expect("has @").to_string())
    }
}

fn average(xs: &[u32], n: u32) -> u32 {
    let first = xs[0] + xs[1..][0];
    let small = n as u8;
    first / n
}

fn find(v: Vec<i32>) -> Option<i32> {
    let run = || v.first().copied().unwrap();
    Some(run())
}
"#;

    #[test]
    fn enclosing_fn_and_return_kind() {
        let src = RustSource::parse(SRC).unwrap();
        let f = src.enclosing_fn(7).unwrap();
        assert_eq!(f.qualified_name, "Store::domain");
        assert_eq!(f.returns, ReturnKind::Result);
        assert_eq!(f.parameters, ["id"]);
        let g = src.enclosing_fn(14).unwrap();
        assert_eq!((g.name.as_str(), g.returns), ("average", ReturnKind::Other));
        let h = src.enclosing_fn(19).unwrap();
        assert_eq!((h.name.as_str(), h.returns), ("find", ReturnKind::Option));
        assert!(src.enclosing_fn(3).is_none());
    }

    #[test]
    fn panic_sites_on_a_line() {
        let src = RustSource::parse(SRC).unwrap();
        let s = src.panic_sites(7);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].kind, PanicKind::Unwrap);
        assert_eq!(s[0].operand, "self.users.get(&id)");
        assert_eq!(s[0].text, "self.users.get(&id).unwrap()");
        assert_eq!(s[0].column, 41);
        let e = src.panic_sites(8);
        assert_eq!(e[0].kind, PanicKind::Expect);
        let kinds: Vec<_> = src.panic_sites(13).iter().map(|s| s.kind).collect();
        assert!(kinds.contains(&PanicKind::Index) && kinds.contains(&PanicKind::Slice));
        assert!(kinds.contains(&PanicKind::Arithmetic));
        assert_eq!(src.panic_sites(14)[0].kind, PanicKind::Cast);
        let d = src.panic_sites(15);
        assert_eq!(
            (d[0].kind, d[0].operand.as_str()),
            (PanicKind::Division, "n")
        );
        // Inside a closure, the enclosing fn is still the named one.
        assert_eq!(src.panic_sites(19)[0].kind, PanicKind::Unwrap);
    }

    const FLOW: &str = r#"fn shown(s: &str, len: usize, line_col: LineCol, v: &[u32]) -> String {
    assert!(len <= s.len(), "too long: {}", len);
    let out = format!("{}…", &s[..len]);
    let parts = v.iter().filter(|x| **x > 0).count();
    let each = 100 / parts;
    out + &v[line_col.line as usize].to_string()
}

impl Table {
    fn draw(&self, termwidth: usize, (a, b): (u8, u8)) {
        truncate(&self.widths, termwidth - 2, a);
        Table::draw(self, 3, (a, b));
        self.tick(
            termwidth,
        );
    }
}
"#;

    #[test]
    fn macro_arguments_are_read_as_expressions() {
        let src = RustSource::parse(FLOW).unwrap();
        let a = src.panic_sites(2);
        assert_eq!(a[0].kind, PanicKind::Assert);
        assert_eq!(a[0].operand, "len <= s.len()");
        assert_eq!(a[0].inputs, ["len", "s"]);
        assert_eq!(a[0].column, 5);
        assert!(a[0].text.starts_with("assert!(") && a[0].text.ends_with(')'));
        let slice = src.panic_sites(3);
        assert_eq!(
            (slice[0].kind, slice[0].text.as_str()),
            (PanicKind::Slice, "s[..len]")
        );
        assert_eq!(slice[0].inputs, ["len"]);
    }

    #[test]
    fn inputs_lets_and_calls_for_following_a_value() {
        let src = RustSource::parse(FLOW).unwrap();
        let d = src.panic_sites(5);
        assert_eq!(
            (d[0].kind, d[0].inputs.clone()),
            (PanicKind::Division, vec!["parts".to_string()])
        );
        let index = src
            .panic_sites(6)
            .into_iter()
            .find(|s| s.kind == PanicKind::Index)
            .unwrap();
        assert_eq!(index.inputs, ["line_col"]);
        let f = src.enclosing_fn(5).unwrap();
        let parts = src.binding_before(f, "parts", 5).unwrap();
        assert_eq!(parts.line, 4);
        assert!(parts.uses.contains(&"v".to_string()), "{:?}", parts.uses);
        assert!(src.binding_before(f, "parts", 4).is_none());
        // A binding inside an inner block is not seen after the block.
        let scoped = RustSource::parse(
            "fn g(p: u8) -> u8 {\n    let x = match p {\n        0 => {\n            let x = 1;\n            x\n        }\n        _ => p,\n    };\n    x\n}\n",
        )
        .unwrap();
        let g = scoped.enclosing_fn(9).unwrap();
        assert_eq!(scoped.binding_before(g, "x", 9).unwrap().line, 2);
        assert_eq!(scoped.binding_before(g, "x", 5).unwrap().line, 4);
        let draw = src.enclosing_fn(11).unwrap();
        assert!(draw.has_receiver);
        assert_eq!(draw.param_slots, ["termwidth", ""]);
        assert_eq!(draw.parameters, ["termwidth"]);
        let calls = src.calls_at(11);
        assert_eq!(calls[0].name, "truncate");
        assert_eq!(calls[0].args, ["&self.widths", "termwidth - 2", "a"]);
        let path = src.calls_at(12);
        assert!(path[0].path_call && path[0].args[0] == "self");
        let spread = src.calls_at(14);
        assert_eq!(
            (spread[0].name.as_str(), spread[0].args.clone()),
            ("tick", vec!["termwidth".to_string()])
        );
    }

    #[test]
    fn a_syntax_error_is_typed() {
        assert!(matches!(
            RustSource::parse("fn f( {"),
            Err(SourceError::Syntax { .. })
        ));
    }
}
