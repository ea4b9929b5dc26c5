//! Rust source analysis with syn (span-locations): the function that encloses a line, what it
//! returns (a `Result` or `Option` return means `?` is valid there), and the expressions on a
//! line that can panic (`unwrap`/`expect`, indexing, slicing, division, overflowing arithmetic,
//! `as` casts). Ranking reads the line's syntax from here; the fix stage reads the return type.

use super::SourceError;
use proc_macro2::Span;
use quote_free::text_of;
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
}

/// A parsed Rust file.
pub struct RustSource {
    text: String,
    fns: Vec<RustFn>,
    sites: Vec<PanicSite>,
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
        };
        v.visit_file(&file);
        let (fns, sites) = (v.fns, v.sites);
        Ok(RustSource { text, fns, sites })
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
}

struct Collector<'a> {
    text: &'a str,
    impl_type: Option<String>,
    fns: Vec<RustFn>,
    sites: Vec<PanicSite>,
}

impl Collector<'_> {
    fn function(&mut self, sig: &syn::Signature, span: Span) {
        let name = sig.ident.to_string();
        let qualified_name = match &self.impl_type {
            Some(t) => format!("{t}::{name}"),
            None => name.clone(),
        };
        let parameters = sig
            .inputs
            .iter()
            .filter_map(|a| match a {
                syn::FnArg::Typed(t) => match &*t.pat {
                    syn::Pat::Ident(i) => Some(i.ident.to_string()),
                    _ => None,
                },
                syn::FnArg::Receiver(_) => None,
            })
            .collect();
        self.fns.push(RustFn {
            name,
            qualified_name,
            parameters,
            returns: return_kind(&sig.output),
            start_line: span.start().line as u32,
            end_line: span.end().line as u32,
        });
    }

    fn site(&mut self, kind: PanicKind, whole: Span, at: Span, operand: Span) {
        self.sites.push(PanicSite {
            kind,
            text: text_of(self.text, whole),
            operand: text_of(self.text, operand),
            line: at.start().line as u32,
            column: at.start().column as u32 + 1,
        });
    }
}

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
            self.site(kind, m.span(), m.method.span(), m.receiver.span());
        }
        syn::visit::visit_expr_method_call(self, m);
    }

    fn visit_expr_index(&mut self, e: &'ast syn::ExprIndex) {
        let kind = match &*e.index {
            syn::Expr::Range(_) => PanicKind::Slice,
            _ => PanicKind::Index,
        };
        self.site(kind, e.span(), e.span(), e.expr.span());
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
            let operand = if kind == PanicKind::Division {
                e.right.span()
            } else {
                e.span()
            };
            self.site(kind, e.span(), e.span(), operand);
        }
        syn::visit::visit_expr_binary(self, e);
    }

    fn visit_expr_cast(&mut self, e: &'ast syn::ExprCast) {
        self.site(PanicKind::Cast, e.span(), e.span(), e.expr.span());
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

    #[test]
    fn a_syntax_error_is_typed() {
        assert!(matches!(
            RustSource::parse("fn f( {"),
            Err(SourceError::Syntax { .. })
        ));
    }
}
