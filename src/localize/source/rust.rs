//! Rust source analysis on the tree-sitter syntax tree (the same grammar the fix templates
//! match with, so healbot has one Rust parser): the function that encloses a line, what it
//! returns (a `Result` or `Option` return means `?` is valid there), and the expressions on a
//! line that can panic (`unwrap`/`expect`, indexing, slicing, division, overflowing arithmetic,
//! `as` casts, `assert!`, `RefCell` borrows, `panic!`-like macros, std calls that check an
//! index), also inside the arguments of macros whose tokens read as comma-separated expressions
//! (`format!`, `assert!`, `write!`, …). For following a bad value to the caller it also records
//! `let` bindings (what each is computed from and which fns it calls) and calls (their argument
//! texts). tree-sitter keeps going past a syntax error, so a file that rustc's newest syntax or
//! a half-finished edit breaks is still read everywhere else.

use super::SourceError;
use tree_sitter::{Node, Parser, Tree};

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
    /// The return type as written (`Result<u8, Error>`), empty without one.
    pub return_type: String,
    pub start_line: u32,
    pub end_line: u32,
    /// The line of the body's first statement (the closing brace's for an empty body): where a
    /// check of the parameters goes.
    pub body_start_line: u32,
    /// Whether the fn takes `self` (a method call passes it as the receiver).
    pub has_receiver: bool,
    /// Every non-`self` parameter by position; `""` for a pattern that is not a name.
    pub param_slots: Vec<String>,
}

/// The kind of expression that can panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum PanicKind {
    /// `.unwrap()` (`unwrap_unchecked` is not listed: it cannot panic).
    Unwrap,
    Expect,
    Index,
    Slice,
    Division,
    Arithmetic,
    Cast,
    /// `assert!(cond)`, `assert_eq!(a, b)` and the `debug_` forms: a precondition that failed.
    Assert,
    /// `RefCell::borrow_mut()` / `borrow()`: already borrowed.
    Borrow,
    /// `panic!`, `unreachable!`, `todo!`, `unimplemented!`: the message is the code's own.
    Explicit,
    /// A std method that checks an index or a length itself (`remove`, `insert`, `split_at`,
    /// `swap`, `copy_from_slice`, …).
    CheckedCall,
}

/// An expression on a line that can panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PanicSite {
    pub kind: PanicKind,
    /// The whole expression (`user.email.unwrap()`, `items[i]`, `a / b`).
    pub text: String,
    /// The value that was bad: the receiver of `unwrap`, the indexed value, the divisor, the
    /// asserted condition, the method of a checked call.
    pub operand: String,
    /// The operator of arithmetic (`-`, `+=`, `*`, `<<`, unary `-`).
    pub operator: String,
    /// 1-based line and column of the operator (the method name for calls), as panics print.
    pub line: u32,
    pub column: u32,
    /// The names the panic depends on directly: the roots of the index, the range bounds, the
    /// divisor, the operands, the asserted condition (`line_col` for `v[line_col.line as
    /// usize]`); for `unwrap`/`expect`, the receiver when it is a bare name. `self` is left out.
    pub inputs: Vec<String>,
    /// String literals inside the expression (an `expect`'s or an assertion's message).
    pub literals: Vec<String>,
}

/// A `let name = init;` and the names its initializer uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LetBinding {
    pub name: String,
    pub line: u32,
    /// The last line of the block the binding lives in: it is not visible after it.
    pub scope_end: u32,
    pub uses: Vec<String>,
    /// The fns and methods the initializer calls, by name (`parse`, `find_row`).
    pub calls: Vec<String>,
}

/// A check that leaves the fn (or the loop) early: `if s.len() < 20 { return Err(…) }`,
/// `let Some(x) = … else { return }`. The place to fix when a check exists but misses the
/// case that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    pub line: u32,
    /// The condition (or the `let … else` pattern and value) as written.
    pub condition: String,
    /// The names the condition reads (`s.len() < 20` → `s`).
    pub names: Vec<String>,
}

/// A call (`f(a, b)`, `Type::f(a)`, `x.f(a)`) and the source text of its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RustCall {
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
    guards: Vec<Guard>,
    has_errors: bool,
}

/// The tree-sitter grammar used for Rust everywhere in healbot.
pub fn language() -> tree_sitter::Language {
    tree_sitter_rust::LANGUAGE.into()
}

fn parse_tree(text: &str) -> Result<Tree, SourceError> {
    let mut parser = Parser::new();
    parser
        .set_language(&language())
        .map_err(|e| SourceError::Language(e.to_string()))?;
    parser.parse(text, None).ok_or(SourceError::Parse)
}

impl RustSource {
    /// Parses `text`; a syntax error leaves the rest of the file analysed (see
    /// [`RustSource::has_errors`]).
    pub fn parse(text: impl Into<String>) -> Result<Self, SourceError> {
        let text = text.into();
        let tree = parse_tree(&text)?;
        let lines = LineIndex::new(&text);
        let mut c = Collector {
            text: &text,
            file: &text,
            lines: &lines,
            shift: 0,
            impl_type: None,
            fns: Vec::new(),
            sites: Vec::new(),
            lets: Vec::new(),
            calls: Vec::new(),
            guards: Vec::new(),
            blocks: Vec::new(),
            in_test: false,
        };
        c.visit(tree.root_node());
        let (fns, sites, lets, calls, guards) = (c.fns, c.sites, c.lets, c.calls, c.guards);
        Ok(RustSource {
            has_errors: tree.root_node().has_error(),
            text,
            fns,
            sites,
            lets,
            calls,
            guards,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the file holds a syntax error (the rest is analysed all the same).
    pub fn has_errors(&self) -> bool {
        self.has_errors
    }

    /// The innermost function whose body covers `line`.
    pub(crate) fn enclosing_fn(&self, line: u32) -> Option<&RustFn> {
        self.fns
            .iter()
            .filter(|f| f.start_line <= line && line <= f.end_line)
            .min_by_key(|f| f.end_line - f.start_line)
    }

    /// The expressions on `line` that can panic, in source order.
    pub(crate) fn panic_sites(&self, line: u32) -> Vec<&PanicSite> {
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
    pub(crate) fn binding_before(&self, f: &RustFn, name: &str, line: u32) -> Option<&LetBinding> {
        self.lets
            .iter()
            .filter(|l| l.name == name && f.start_line <= l.line && l.line < line)
            .filter(|l| line <= l.scope_end)
            .max_by_key(|l| l.line)
    }

    /// The early-exit checks of `f` before `line`, nearest first.
    pub(crate) fn guards_before(&self, f: &RustFn, line: u32) -> Vec<&Guard> {
        let mut out: Vec<&Guard> = self
            .guards
            .iter()
            .filter(|g| f.start_line <= g.line && g.line < line)
            .collect();
        out.sort_by_key(|g| std::cmp::Reverse(g.line));
        out
    }

    /// The calls whose expression covers `line`, innermost (shortest) first.
    pub(crate) fn calls_at(&self, line: u32) -> Vec<&RustCall> {
        let mut out: Vec<&RustCall> = self
            .calls
            .iter()
            .filter(|c| c.start_line <= line && line <= c.end_line)
            .collect();
        out.sort_by_key(|c| c.end_line - c.start_line);
        out
    }
}

/// Byte offsets to 1-based lines and 1-based columns counted in chars (what panics print).
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        LineIndex { starts }
    }

    fn line(&self, at: usize) -> u32 {
        (self.starts.partition_point(|&s| s <= at)) as u32
    }

    fn column(&self, text: &str, at: usize) -> u32 {
        let start = self.starts[self.line(at) as usize - 1];
        text.get(start..at).map_or(0, |s| s.chars().count()) as u32 + 1
    }
}

/// Macros whose first argument is a condition that panics when false.
const ASSERT_MACROS: &[&str] = &["assert", "debug_assert"];
/// Macros that compare their two arguments and panic when they differ (or match).
const ASSERT_CMP_MACROS: &[&str] = &[
    "assert_eq",
    "assert_ne",
    "debug_assert_eq",
    "debug_assert_ne",
];
/// Macros that always panic.
const EXPLICIT_MACROS: &[&str] = &["panic", "unreachable", "todo", "unimplemented"];
/// std methods that panic on a bad index or length themselves.
const CHECKED_METHODS: &[&str] = &[
    "remove",
    "insert",
    "swap_remove",
    "split_at",
    "split_at_mut",
    "split_off",
    "swap",
    "copy_from_slice",
    "clone_from_slice",
    "drain",
    "truncate_to",
    "chunks",
    "windows",
    "step_by",
];

struct Collector<'a> {
    /// The text the nodes index into (a macro's re-parsed arguments use their own).
    text: &'a str,
    /// The whole file, for columns.
    file: &'a str,
    lines: &'a LineIndex,
    /// Added to a byte of `text` to get the file's byte (non-zero inside a macro's arguments).
    shift: isize,
    impl_type: Option<String>,
    fns: Vec<RustFn>,
    sites: Vec<PanicSite>,
    lets: Vec<LetBinding>,
    calls: Vec<RustCall>,
    guards: Vec<Guard>,
    /// End lines of the blocks being visited, innermost last.
    blocks: Vec<u32>,
    /// Inside a `#[cfg(test)]` module or a `#[test]` fn: code a fix never patches.
    in_test: bool,
}

impl<'a> Collector<'a> {
    fn src(&self, n: Node<'_>) -> String {
        self.text
            .get(n.byte_range())
            .unwrap_or_default()
            .to_string()
    }

    fn file_byte(&self, at: usize) -> usize {
        (at as isize + self.shift).max(0) as usize
    }

    fn line_of(&self, at: usize) -> u32 {
        self.lines.line(self.file_byte(at))
    }

    fn column_of(&self, at: usize) -> u32 {
        self.lines.column(self.file, self.file_byte(at))
    }

    fn visit(&mut self, n: Node<'_>) {
        match n.kind() {
            "function_item" => self.function(n),
            "impl_item" => {
                let outer = self.impl_type.take();
                self.impl_type = n
                    .child_by_field_name("type")
                    .and_then(|t| self.type_name(t));
                self.children(n);
                self.impl_type = outer;
                return;
            }
            "call_expression" => self.call(n),
            "macro_invocation" => {
                self.macro_invocation(n);
                return;
            }
            "index_expression" => self.index(n),
            "binary_expression" | "compound_assignment_expr" => self.binary(n),
            "unary_expression" if n.child(0).is_some_and(|c| c.kind() == "-") => {
                if let Some(operand) = n.named_child(0) {
                    let inputs = roots(operand, self.text);
                    self.site(PanicKind::Arithmetic, n, n, n, "-", inputs);
                }
            }
            "type_cast_expression" => {
                if let Some(value) = n.child_by_field_name("value") {
                    let inputs = roots(value, self.text);
                    self.site(PanicKind::Cast, n, n, value, "as", inputs);
                }
            }
            "let_declaration" => self.let_binding(n),
            "for_expression" => self.for_binding(n),
            "if_expression" | "while_expression" => self.conditional(n),
            "block" => {
                self.blocks.push(self.line_of(n.end_byte()));
                self.children(n);
                self.blocks.pop();
                return;
            }
            _ => {}
        }
        self.children(n);
    }

    fn children(&mut self, n: Node<'_>) {
        let mut cursor = n.walk();
        let kids: Vec<Node<'_>> = n.children(&mut cursor).collect();
        let mut test_item = false;
        for k in kids {
            if k.kind() == "attribute_item" {
                test_item |= is_test_attribute(&self.src(k));
                continue;
            }
            let outer = self.in_test;
            self.in_test |= test_item && !matches!(k.kind(), "line_comment" | "block_comment");
            self.visit(k);
            self.in_test = outer;
            if !matches!(k.kind(), "line_comment" | "block_comment") {
                test_item = false;
            }
        }
    }

    fn type_name(&self, t: Node<'_>) -> Option<String> {
        match t.kind() {
            "type_identifier" => Some(self.src(t)),
            "generic_type" => t
                .child_by_field_name("type")
                .and_then(|x| self.type_name(x)),
            "scoped_type_identifier" => t.child_by_field_name("name").map(|x| self.src(x)),
            _ => None,
        }
    }

    fn function(&mut self, n: Node<'_>) {
        let Some(name) = n.child_by_field_name("name").map(|x| self.src(x)) else {
            return;
        };
        let qualified_name = match &self.impl_type {
            Some(t) => format!("{t}::{name}"),
            None => name.clone(),
        };
        let mut param_slots = Vec::new();
        let mut has_receiver = false;
        if let Some(params) = n.child_by_field_name("parameters") {
            let mut cursor = params.walk();
            for p in params.named_children(&mut cursor) {
                match p.kind() {
                    "self_parameter" => has_receiver = true,
                    "parameter" => {
                        let pattern = p.child_by_field_name("pattern");
                        param_slots.push(match pattern {
                            Some(x) if x.kind() == "identifier" => self.src(x),
                            Some(x) if x.kind() == "self" => {
                                has_receiver = true;
                                continue;
                            }
                            _ => String::new(),
                        });
                    }
                    _ => {}
                }
            }
        }
        let parameters = param_slots
            .iter()
            .filter(|p| !p.is_empty())
            .cloned()
            .collect();
        let return_type = n
            .child_by_field_name("return_type")
            .map(|t| self.src(t))
            .unwrap_or_default();
        let body_start_line = n
            .child_by_field_name("body")
            .map(|b| {
                let first = b.named_child(0).unwrap_or(b);
                let at = if first == b {
                    b.end_byte().saturating_sub(1)
                } else {
                    first.start_byte()
                };
                self.line_of(at)
            })
            .unwrap_or_else(|| self.line_of(n.start_byte()));
        self.fns.push(RustFn {
            name,
            qualified_name,
            parameters,
            returns: return_kind(&return_type),
            return_type,
            start_line: self.line_of(n.start_byte()),
            end_line: self.line_of(n.end_byte().saturating_sub(1)),
            body_start_line,
            has_receiver,
            param_slots,
        });
    }

    fn site(
        &mut self,
        kind: PanicKind,
        whole: Node<'_>,
        at: Node<'_>,
        operand: Node<'_>,
        operator: &str,
        inputs: Vec<String>,
    ) {
        self.sites.push(PanicSite {
            kind,
            text: self.src(whole),
            operand: self.src(operand),
            operator: operator.to_string(),
            line: self.line_of(at.start_byte()),
            column: self.column_of(at.start_byte()),
            inputs,
            literals: string_literals(whole, self.text),
        });
    }

    fn call(&mut self, n: Node<'_>) {
        let Some(mut func) = n.child_by_field_name("function") else {
            return;
        };
        if func.kind() == "generic_function" {
            match func.child_by_field_name("function") {
                Some(f) => func = f,
                None => return,
            }
        }
        let args: Vec<String> = n
            .child_by_field_name("arguments")
            .map(|a| {
                let mut cursor = a.walk();
                a.named_children(&mut cursor)
                    .filter(|x| x.kind() != "attribute_item")
                    .map(|x| self.src(x))
                    .collect()
            })
            .unwrap_or_default();
        let (name, path_call) = match func.kind() {
            "field_expression" => {
                let Some(field) = func.child_by_field_name("field") else {
                    return;
                };
                let method = self.src(field);
                let receiver = func.child_by_field_name("value");
                if let Some(receiver) = receiver {
                    self.method_site(n, field, receiver, &method);
                }
                (method, false)
            }
            "identifier" => (self.src(func), true),
            "scoped_identifier" => match func.child_by_field_name("name") {
                Some(x) => (self.src(x), true),
                None => return,
            },
            _ => return,
        };
        self.calls.push(RustCall {
            name,
            args,
            path_call,
            start_line: self.line_of(n.start_byte()),
            end_line: self.line_of(n.end_byte().saturating_sub(1)),
        });
    }

    /// `x.unwrap()`, `x.expect(…)`, `cell.borrow_mut()`, `v.remove(i)`: panics report the
    /// method name's position (`#[track_caller]`).
    fn method_site(&mut self, call: Node<'_>, method: Node<'_>, receiver: Node<'_>, name: &str) {
        let kind = match name {
            "unwrap" | "unwrap_err" => PanicKind::Unwrap,
            "expect" | "expect_err" => PanicKind::Expect,
            "borrow" | "borrow_mut" => PanicKind::Borrow,
            n if CHECKED_METHODS.contains(&n) => PanicKind::CheckedCall,
            _ => return,
        };
        let receiver_text = self.src(receiver);
        let mut inputs = if is_name(&receiver_text) {
            vec![receiver_text]
        } else {
            roots(receiver, self.text)
        };
        if kind == PanicKind::CheckedCall {
            if let Some(args) = call.child_by_field_name("arguments") {
                let mut cursor = args.walk();
                for a in args.named_children(&mut cursor) {
                    for r in roots(a, self.text) {
                        if !inputs.contains(&r) {
                            inputs.push(r);
                        }
                    }
                }
            }
        }
        self.site(kind, call, method, receiver, name, inputs);
    }

    fn index(&mut self, n: Node<'_>) {
        let (Some(value), Some(index)) = (n.named_child(0), n.named_child(1)) else {
            return;
        };
        let kind = if index.kind() == "range_expression" {
            PanicKind::Slice
        } else {
            PanicKind::Index
        };
        let inputs = roots(index, self.text);
        self.site(kind, n, n, value, "[]", inputs);
    }

    fn binary(&mut self, n: Node<'_>) {
        let (Some(left), Some(right), Some(op)) = (
            n.child_by_field_name("left"),
            n.child_by_field_name("right"),
            n.child_by_field_name("operator"),
        ) else {
            return;
        };
        let operator = self.src(op);
        let kind = match operator.as_str() {
            "/" | "%" | "/=" | "%=" => PanicKind::Division,
            "+" | "-" | "*" | "<<" | ">>" | "+=" | "-=" | "*=" | "<<=" | ">>=" => {
                PanicKind::Arithmetic
            }
            _ => return,
        };
        // A division fails on its divisor, a shift on its amount (at least the bit width),
        // whatever the left side holds.
        if kind == PanicKind::Division || matches!(operator.as_str(), "<<" | ">>" | "<<=" | ">>=") {
            let inputs = roots(right, self.text);
            self.site(kind, n, n, right, &operator, inputs);
        } else {
            let mut inputs = roots(left, self.text);
            for r in roots(right, self.text) {
                if !inputs.contains(&r) {
                    inputs.push(r);
                }
            }
            self.site(kind, n, n, n, &operator, inputs);
        }
    }

    /// `let x = …`, `let (a, b) = …`, `let Point { x, .. } = …`: every name the pattern binds,
    /// computed from the value. A `let … else { return }` is also a guard.
    fn let_binding(&mut self, n: Node<'_>) {
        let (Some(pattern), Some(value)) = (
            n.child_by_field_name("pattern"),
            n.child_by_field_name("value"),
        ) else {
            return;
        };
        let scope_end = self.blocks.last().copied().unwrap_or(u32::MAX);
        self.bind(pattern, value, self.line_of(n.start_byte()), scope_end);
        if n.child_by_field_name("alternative").is_some() {
            self.guards.push(Guard {
                line: self.line_of(n.start_byte()),
                condition: format!("let {} = {}", self.src(pattern), self.src(value)),
                names: roots(value, self.text),
            });
        }
    }

    fn bind(&mut self, pattern: Node<'_>, value: Node<'_>, line: u32, scope_end: u32) {
        let uses = uses(value, self.text);
        let calls = called_names(value, self.text);
        for name in pattern_names(pattern, self.text) {
            self.lets.push(LetBinding {
                name,
                line,
                scope_end,
                uses: uses.clone(),
                calls: calls.clone(),
            });
        }
    }

    /// `for (i, x) in v.iter().enumerate()`: the loop's names come from the iterated value.
    fn for_binding(&mut self, n: Node<'_>) {
        let (Some(pattern), Some(value)) = (
            n.child_by_field_name("pattern"),
            n.child_by_field_name("value"),
        ) else {
            return;
        };
        let end = self.line_of(n.end_byte().saturating_sub(1));
        self.bind(pattern, value, self.line_of(n.start_byte()), end);
    }

    /// `if let Some(x) = …` and `while let` bind; an `if` whose block leaves early is a guard.
    fn conditional(&mut self, n: Node<'_>) {
        let Some(cond) = n.child_by_field_name("condition") else {
            return;
        };
        let end = self.line_of(n.end_byte().saturating_sub(1));
        let mut lets = Vec::new();
        if cond.kind() == "let_condition" {
            lets.push(cond);
        } else if cond.kind() == "let_chain" {
            let mut cursor = cond.walk();
            lets.extend(
                cond.named_children(&mut cursor)
                    .filter(|c| c.kind() == "let_condition"),
            );
        }
        for l in lets {
            if let (Some(p), Some(v)) = (
                l.child_by_field_name("pattern"),
                l.child_by_field_name("value"),
            ) {
                self.bind(p, v, self.line_of(l.start_byte()), end);
            }
        }
        let exits = n.kind() == "if_expression"
            && n.child_by_field_name("consequence")
                .is_some_and(|b| leaves_early(b, self.text));
        if exits {
            self.guards.push(Guard {
                line: self.line_of(cond.start_byte()),
                condition: self.src(cond),
                names: uses(cond, self.text),
            });
        }
    }

    /// Macro arguments are tokens to the grammar. Where they read as comma-separated
    /// expressions (`format!`, `println!`, `write!`, `assert!`, `assert_eq!`, `vec![a, b]`, …)
    /// they are parsed again as an array expression and visited like any other code, and an
    /// assertion's condition or a `panic!` is itself a panic site.
    ///
    /// Not in test code: a fix never patches it, and its assertions on large expected values
    /// (`assert_eq!(parse(…), Ok(Ast::…))`, `vec![…]` nested in them) were most of the cost
    /// of reading a real crate's big files (regex-syntax's `ast/parse.rs`: 62% of the lines are
    /// its tests module; `scripts/bench/localize-large`).
    fn macro_invocation(&mut self, n: Node<'_>) {
        if self.in_test {
            return;
        }
        let name = n
            .child_by_field_name("macro")
            .map(|m| match m.kind() {
                "scoped_identifier" => m
                    .child_by_field_name("name")
                    .map(|x| self.src(x))
                    .unwrap_or_default(),
                _ => self.src(m),
            })
            .unwrap_or_default();
        let Some(tokens) = n
            .named_children(&mut n.walk())
            .find(|c| c.kind() == "token_tree")
        else {
            return;
        };
        // The text between the delimiters, at its place in the file.
        let (open, close) = (tokens.start_byte() + 1, tokens.end_byte().saturating_sub(1));
        let Some(inner) = self.text.get(open..close) else {
            return;
        };
        const PREFIX: &str = "fn __healbot_macro() { [";
        let wrapped = format!("{PREFIX}{inner}\n]; }}");
        let Ok(tree) = parse_tree(&wrapped) else {
            return;
        };
        let Some(array) = find_kind(tree.root_node(), "array_expression") else {
            return;
        };
        if array.has_error() && !ASSERT_MACROS.contains(&name.as_str()) {
            // Not expressions (`matches!(x, Some(_))`, a DSL): nothing reliable to read.
            return;
        }
        let args: Vec<Node<'_>> = {
            let mut cursor = array.walk();
            array
                .named_children(&mut cursor)
                .filter(|c| !matches!(c.kind(), "line_comment" | "block_comment"))
                .collect()
        };
        let mut sub = Collector {
            text: &wrapped,
            file: self.file,
            lines: self.lines,
            shift: self.shift + open as isize - PREFIX.len() as isize,
            impl_type: None,
            fns: Vec::new(),
            sites: Vec::new(),
            lets: Vec::new(),
            calls: Vec::new(),
            guards: Vec::new(),
            blocks: Vec::new(),
            in_test: false,
        };
        let whole_text = self.src(n);
        let line = self.line_of(n.start_byte());
        let column = self.column_of(n.start_byte());
        let literals = string_literals(n, self.text);
        let macro_site = |kind: PanicKind, operand: String, inputs: Vec<String>| PanicSite {
            kind,
            text: whole_text.clone(),
            operand,
            operator: name.clone(),
            line,
            column,
            inputs,
            literals: literals.clone(),
        };
        if ASSERT_MACROS.contains(&name.as_str()) {
            if let Some(cond) = args.first() {
                let site = macro_site(PanicKind::Assert, sub.src(*cond), roots(*cond, &wrapped));
                self.sites.push(site);
            }
        } else if ASSERT_CMP_MACROS.contains(&name.as_str()) && args.len() >= 2 {
            let op = if name.ends_with("_ne") { "!=" } else { "==" };
            let operand = format!("{} {op} {}", sub.src(args[0]), sub.src(args[1]));
            let mut inputs = roots(args[0], &wrapped);
            for r in roots(args[1], &wrapped) {
                if !inputs.contains(&r) {
                    inputs.push(r);
                }
            }
            let site = macro_site(PanicKind::Assert, operand, inputs);
            self.sites.push(site);
        } else if EXPLICIT_MACROS.contains(&name.as_str()) {
            let operand = args.first().map(|a| sub.src(*a)).unwrap_or_default();
            let site = macro_site(PanicKind::Explicit, operand, Vec::new());
            self.sites.push(site);
        }
        for a in args {
            sub.visit(a);
        }
        self.sites.extend(sub.sites);
        self.calls.extend(sub.calls);
        self.lets.extend(sub.lets);
    }
}

/// `#[test]`, `#[tokio::test]`, `#[cfg(test)]`, `#[cfg(all(test, …))]`: the item after it is
/// test code (`#[cfg(not(test))]` is not).
fn is_test_attribute(attr: &str) -> bool {
    let a: String = attr.chars().filter(|c| !c.is_whitespace()).collect();
    if a == "#[test]" || a.ends_with("::test]") {
        return true;
    }
    a.starts_with("#[cfg(")
        && !a.contains("not(")
        && a.split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .any(|w| w == "test")
}

/// The names a pattern binds (`(a, mut b)`, `Some(x)`, `Point { x, y: ref z }`, `[first, ..]`).
fn pattern_names(p: Node<'_>, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![p];
    while let Some(x) = stack.pop() {
        match x.kind() {
            "identifier" | "shorthand_field_identifier" => {
                // In `Some(x)` the type path is not a binding; in a struct pattern `x: y` only `y` is.
                let parent = x.parent().map(|q| q.kind());
                let is_type = matches!(parent, Some("scoped_identifier" | "tuple_struct_pattern"))
                    && x.parent().and_then(|q| q.child_by_field_name("type")) == Some(x);
                let name = text.get(x.byte_range()).unwrap_or_default();
                if !is_type
                    && name.starts_with(|c: char| c.is_lowercase() || c == '_')
                    && name != "_"
                {
                    out.push(name.to_string());
                }
            }
            "field_pattern" => {
                match x.child_by_field_name("pattern") {
                    Some(inner) => stack.push(inner),
                    None => {
                        if let Some(name) = x.child_by_field_name("name") {
                            stack.push(name);
                        }
                    }
                }
                continue;
            }
            "scoped_identifier" | "type_identifier" | "scoped_type_identifier" => continue,
            _ => {}
        }
        let mut cursor = x.walk();
        let kids: Vec<Node<'_>> = x.named_children(&mut cursor).collect();
        stack.extend(kids);
    }
    out.reverse();
    out
}

/// Whether a block leaves early: `return`, `break`, `continue`, `?`-less `Err`/`None` as its
/// value, or a panic macro.
fn leaves_early(block: Node<'_>, text: &str) -> bool {
    let mut stack = vec![block];
    while let Some(x) = stack.pop() {
        match x.kind() {
            "return_expression" | "break_expression" | "continue_expression" => return true,
            "macro_invocation" => {
                let name = x
                    .child_by_field_name("macro")
                    .and_then(|m| text.get(m.byte_range()))
                    .unwrap_or_default();
                let name = name.rsplit("::").next().unwrap_or(name);
                if EXPLICIT_MACROS.contains(&name) || name == "bail" {
                    return true;
                }
            }
            "closure_expression" | "function_item" => continue,
            _ => {}
        }
        let mut cursor = x.walk();
        let kids: Vec<Node<'_>> = x.named_children(&mut cursor).collect();
        stack.extend(kids);
    }
    false
}

/// The first node of `kind` in a preorder walk.
fn find_kind<'t>(n: Node<'t>, kind: &str) -> Option<Node<'t>> {
    if n.kind() == kind {
        return Some(n);
    }
    let mut cursor = n.walk();
    let kids: Vec<Node<'t>> = n.named_children(&mut cursor).collect();
    kids.into_iter().find_map(|k| find_kind(k, kind))
}

/// The names an expression's value comes from directly: `a.b as usize` → `a`, `x - y.len()` →
/// `x`, `y`; values computed by a fn call (`f(a)`) or a macro give none. `self` is left out.
pub fn roots(n: Node<'_>, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    collect_roots(n, text, &mut out);
    out
}

fn collect_roots(n: Node<'_>, text: &str, out: &mut Vec<String>) {
    match n.kind() {
        "identifier" => {
            let name = text.get(n.byte_range()).unwrap_or_default().to_string();
            let local = name.starts_with(|c: char| c.is_lowercase() || c == '_');
            if local && name != "self" && !out.contains(&name) {
                out.push(name);
            }
        }
        "field_expression" => {
            if let Some(v) = n.child_by_field_name("value") {
                collect_roots(v, text, out);
            }
        }
        "type_cast_expression" | "reference_expression" => {
            if let Some(v) = n.child_by_field_name("value") {
                collect_roots(v, text, out);
            }
        }
        "call_expression" => {
            // A method call's value comes from its receiver (`v.len()` → `v`).
            let func = n.child_by_field_name("function");
            let func = match func {
                Some(f) if f.kind() == "generic_function" => f.child_by_field_name("function"),
                f => f,
            };
            if let Some(f) = func.filter(|f| f.kind() == "field_expression") {
                if let Some(v) = f.child_by_field_name("value") {
                    collect_roots(v, text, out);
                }
            }
        }
        "binary_expression" => {
            for field in ["left", "right"] {
                if let Some(x) = n.child_by_field_name(field) {
                    collect_roots(x, text, out);
                }
            }
        }
        "parenthesized_expression"
        | "unary_expression"
        | "index_expression"
        | "range_expression"
        | "try_expression" => {
            let mut cursor = n.walk();
            let kids: Vec<Node<'_>> = n.named_children(&mut cursor).collect();
            for k in kids {
                collect_roots(k, text, out);
            }
        }
        _ => {}
    }
}

/// Every single-segment name an expression mentions (closures and calls included).
fn uses(n: Node<'_>, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![n];
    while let Some(x) = stack.pop() {
        if x.kind() == "identifier" {
            let parent = x.parent().map(|p| p.kind());
            let part_of_path =
                matches!(parent, Some("scoped_identifier" | "scoped_type_identifier"));
            let is_macro_name = parent == Some("macro_invocation");
            if !part_of_path && !is_macro_name {
                let name = text.get(x.byte_range()).unwrap_or_default().to_string();
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        }
        let mut cursor = x.walk();
        let kids: Vec<Node<'_>> = x.children(&mut cursor).collect();
        stack.extend(kids.into_iter().rev());
    }
    out
}

/// The fns and methods an expression calls, by their last path segment.
fn called_names(n: Node<'_>, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![n];
    while let Some(x) = stack.pop() {
        if x.kind() == "call_expression" {
            let mut func = x.child_by_field_name("function");
            if let Some(f) = func.filter(|f| f.kind() == "generic_function") {
                func = f.child_by_field_name("function");
            }
            let name = func.and_then(|f| match f.kind() {
                "identifier" => Some(f),
                "scoped_identifier" => f.child_by_field_name("name"),
                "field_expression" => f.child_by_field_name("field"),
                _ => None,
            });
            if let Some(name) = name.and_then(|m| text.get(m.byte_range())) {
                if !out.iter().any(|o| o == name) {
                    out.push(name.to_string());
                }
            }
        }
        let mut cursor = x.walk();
        let kids: Vec<Node<'_>> = x.children(&mut cursor).collect();
        stack.extend(kids.into_iter().rev());
    }
    out
}

/// The contents of the string literals in a node (escapes left as written).
fn string_literals(n: Node<'_>, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![n];
    while let Some(x) = stack.pop() {
        if matches!(x.kind(), "string_literal" | "raw_string_literal") {
            let raw = text.get(x.byte_range()).unwrap_or_default();
            let inner = raw
                .trim_start_matches(['r', '#', 'b'])
                .trim_start_matches('"')
                .trim_end_matches('#')
                .trim_end_matches('"');
            out.push(inner.to_string());
            continue;
        }
        if x.kind() == "token_tree" || x.child_count() > 0 {
            let mut cursor = x.walk();
            let kids: Vec<Node<'_>> = x.children(&mut cursor).collect();
            stack.extend(kids.into_iter().rev());
        }
    }
    out
}

fn return_kind(ty: &str) -> ReturnKind {
    let ty = ty.trim();
    if ty.is_empty() || ty == "()" {
        return ReturnKind::Unit;
    }
    let head = ty.split('<').next().unwrap_or_default();
    let last = head.rsplit("::").next().unwrap_or_default().trim();
    match last {
        // `io::Result<T>`, `anyhow::Result<T>` and aliases named `…Result` count too.
        n if n.ends_with("Result") => ReturnKind::Result,
        "Option" => ReturnKind::Option,
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

#[cfg(test)]
mod tests;
