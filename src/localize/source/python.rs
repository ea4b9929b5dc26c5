//! Python source analysis on the tree-sitter syntax tree: what a trace line means. Ranking asks
//! which function encloses a line, what the line dereferences, subscripts or divides, which
//! calls it makes with which arguments, and whether a name is a parameter (then a bad value
//! came from the caller). Byte ranges here are what the fix engine splices.

use super::SourceError;
use std::ops::Range;
use tree_sitter::{Node, Parser, Point, Tree};

/// The tree-sitter grammar used for Python everywhere in healbot.
pub fn language() -> tree_sitter::Language {
    tree_sitter_python::LANGUAGE.into()
}

/// A parser set to Python.
pub fn parser() -> Result<Parser, SourceError> {
    let mut parser = Parser::new();
    parser
        .set_language(&language())
        .map_err(|e| SourceError::Language(e.to_string()))?;
    Ok(parser)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FunctionInfo {
    /// The name after `def`.
    pub name: String,
    /// `Class.method` for methods, else the name.
    pub qualified_name: String,
    /// Parameter names in order, `self`/`cls` included, without `*`/`**`.
    pub parameters: Vec<String>,
    /// 1-based line of the `def`.
    pub line: u32,
    pub byte_range: Range<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The tree-sitter node kind (`expression_statement`, `return_statement`, …).
    pub kind: String,
    pub byte_range: Range<usize>,
    pub start_line: u32,
    pub end_line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttributeAccess {
    /// The expression before the dot (`user` in `user.email`).
    pub object: String,
    pub attribute: String,
    /// The whole access, `user.email`.
    pub text: String,
    pub byte_range: Range<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argument {
    /// The name of a keyword argument.
    pub keyword: Option<String>,
    /// The argument's expression (the value of a keyword argument).
    pub text: String,
    /// `*args` or `**kwargs`: positions after it are unknown.
    pub splat: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallSite {
    /// The called expression, `self.mailer.send`.
    pub callee: String,
    /// Its last name, `send`.
    pub name: String,
    /// Whether the callee is reached through an attribute (a method call: `self` is implicit).
    pub via_attribute: bool,
    pub arguments: Vec<Argument>,
    pub byte_range: Range<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subscript {
    pub value: String,
    pub index: String,
    pub text: String,
    pub byte_range: Range<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Division {
    pub dividend: String,
    pub operator: String,
    pub divisor: String,
    pub text: String,
    pub byte_range: Range<usize>,
}

/// A parsed Python file.
pub(crate) struct PythonSource {
    text: String,
    tree: Tree,
}

impl PythonSource {
    pub fn parse(text: impl Into<String>) -> Result<Self, SourceError> {
        let text = text.into();
        let tree = parser()?.parse(&text, None).ok_or(SourceError::Parse)?;
        Ok(PythonSource { text, tree })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text of a node.
    pub(crate) fn node_text(&self, node: Node<'_>) -> &str {
        self.text.get(node.byte_range()).unwrap_or_default()
    }

    /// The 1-based line's text without its newline.
    pub(crate) fn line_text(&self, line: u32) -> Option<&str> {
        self.text
            .split('\n')
            .nth(line.checked_sub(1)? as usize)
            .map(|l| l.trim_end_matches('\r'))
    }

    /// The innermost statement that covers the line (a compound statement when the line is its
    /// header).
    pub(crate) fn statement_node(&self, line: u32) -> Option<Node<'_>> {
        let text = self.line_text(line)?;
        let column = text.len() - text.trim_start().len();
        if text.trim().is_empty() {
            return None;
        }
        let at = Point::new(line as usize - 1, column);
        let mut node = self.tree.root_node().descendant_for_point_range(at, at)?;
        loop {
            if is_statement(node.kind()) {
                return Some(node);
            }
            node = node.parent()?;
        }
    }

    #[cfg(test)]
    pub fn statement_at(&self, line: u32) -> Option<Statement> {
        self.statement_node(line).map(|n| Statement {
            kind: n.kind().to_string(),
            byte_range: n.byte_range(),
            start_line: n.start_position().row as u32 + 1,
            end_line: n.end_position().row as u32 + 1,
        })
    }

    /// The function whose body holds the line; `None` at module level.
    pub(crate) fn enclosing_function(&self, line: u32) -> Option<FunctionInfo> {
        let mut node = self.statement_node(line)?;
        while node.kind() != "function_definition" {
            node = node.parent()?;
        }
        let name = self
            .node_text(node.child_by_field_name("name")?)
            .to_string();
        let mut qualified = name.clone();
        let mut up = node.parent();
        while let Some(n) = up {
            if n.kind() == "class_definition" {
                if let Some(class) = n.child_by_field_name("name") {
                    qualified = format!("{}.{qualified}", self.node_text(class));
                }
            }
            up = n.parent();
        }
        let parameters = node
            .child_by_field_name("parameters")
            .map(|p| self.parameter_names(p))
            .unwrap_or_default();
        Some(FunctionInfo {
            name,
            qualified_name: qualified,
            parameters,
            line: node.start_position().row as u32 + 1,
            byte_range: node.byte_range(),
        })
    }

    #[cfg(test)]
    /// Whether `name` is a parameter of the function enclosing the line.
    pub fn is_parameter(&self, line: u32, name: &str) -> bool {
        self.enclosing_function(line)
            .is_some_and(|f| f.parameters.iter().any(|p| p == name))
    }

    fn parameter_names(&self, params: Node<'_>) -> Vec<String> {
        let mut names = Vec::new();
        let mut cursor = params.walk();
        for p in params.named_children(&mut cursor) {
            let ident = match p.kind() {
                "identifier" => Some(p),
                "default_parameter" | "typed_default_parameter" => p.child_by_field_name("name"),
                "typed_parameter" | "list_splat_pattern" | "dictionary_splat_pattern" => {
                    first_identifier(p)
                }
                _ => None,
            };
            if let Some(ident) = ident {
                names.push(self.node_text(ident).to_string());
            }
        }
        names
    }

    /// Nodes of `kind` within the statement at the line whose rows include the line.
    fn nodes_on_line(&self, line: u32, kind: &str) -> Vec<Node<'_>> {
        let Some(stmt) = self.statement_node(line) else {
            return Vec::new();
        };
        let row = line as usize - 1;
        let mut found = Vec::new();
        let mut stack = vec![stmt];
        while let Some(n) = stack.pop() {
            if n.start_position().row > row || n.end_position().row < row {
                continue;
            }
            if n.kind() == kind {
                found.push(n);
            }
            let mut cursor = n.walk();
            stack.extend(n.named_children(&mut cursor));
        }
        found.sort_by_key(|n| n.start_byte());
        found
    }

    /// `a.b` accesses on the line, outermost first in source order.
    pub(crate) fn attribute_accesses(&self, line: u32) -> Vec<AttributeAccess> {
        self.nodes_on_line(line, "attribute")
            .into_iter()
            .filter_map(|n| {
                Some(AttributeAccess {
                    object: self.node_text(n.child_by_field_name("object")?).to_string(),
                    attribute: self
                        .node_text(n.child_by_field_name("attribute")?)
                        .to_string(),
                    text: self.node_text(n).to_string(),
                    byte_range: n.byte_range(),
                })
            })
            .collect()
    }

    /// Calls on the line with their arguments.
    pub fn calls(&self, line: u32) -> Vec<CallSite> {
        self.nodes_on_line(line, "call")
            .into_iter()
            .filter_map(|n| {
                let function = n.child_by_field_name("function")?;
                let name = match function.kind() {
                    "attribute" => self.node_text(function.child_by_field_name("attribute")?),
                    _ => self.node_text(function),
                };
                let mut arguments = Vec::new();
                if let Some(args) = n.child_by_field_name("arguments") {
                    let mut cursor = args.walk();
                    for a in args
                        .named_children(&mut cursor)
                        .filter(|a| a.kind() != "comment")
                    {
                        arguments.push(self.argument(a));
                    }
                }
                Some(CallSite {
                    callee: self.node_text(function).to_string(),
                    name: name.to_string(),
                    via_attribute: function.kind() == "attribute",
                    arguments,
                    byte_range: n.byte_range(),
                })
            })
            .collect()
    }

    fn argument(&self, a: Node<'_>) -> Argument {
        match a.kind() {
            "keyword_argument" => Argument {
                keyword: a
                    .child_by_field_name("name")
                    .map(|k| self.node_text(k).to_string()),
                text: a
                    .child_by_field_name("value")
                    .map_or("", |v| self.node_text(v))
                    .to_string(),
                splat: false,
            },
            kind => Argument {
                keyword: None,
                text: self.node_text(a).to_string(),
                splat: matches!(kind, "list_splat" | "dictionary_splat"),
            },
        }
    }

    /// `a[i]` subscripts on the line (slices included).
    pub fn subscripts(&self, line: u32) -> Vec<Subscript> {
        self.nodes_on_line(line, "subscript")
            .into_iter()
            .filter_map(|n| {
                Some(Subscript {
                    value: self.node_text(n.child_by_field_name("value")?).to_string(),
                    index: self
                        .node_text(n.child_by_field_name("subscript")?)
                        .to_string(),
                    text: self.node_text(n).to_string(),
                    byte_range: n.byte_range(),
                })
            })
            .collect()
    }

    /// `/`, `//` and `%` operations on the line.
    pub(crate) fn divisions(&self, line: u32) -> Vec<Division> {
        self.nodes_on_line(line, "binary_operator")
            .into_iter()
            .filter_map(|n| {
                let operator = self.node_text(n.child_by_field_name("operator")?);
                if !matches!(operator, "/" | "//" | "%") {
                    return None;
                }
                Some(Division {
                    dividend: self.node_text(n.child_by_field_name("left")?).to_string(),
                    operator: operator.to_string(),
                    divisor: self.node_text(n.child_by_field_name("right")?).to_string(),
                    text: self.node_text(n).to_string(),
                    byte_range: n.byte_range(),
                })
            })
            .collect()
    }
}

fn first_identifier(node: Node<'_>) -> Option<Node<'_>> {
    let mut cursor = node.walk();
    let found = node
        .named_children(&mut cursor)
        .find(|c| c.kind() == "identifier");
    found
}

/// Statement node kinds of the Python grammar.
pub(crate) fn is_statement(kind: &str) -> bool {
    kind.ends_with("_statement")
        || matches!(
            kind,
            "function_definition" | "class_definition" | "decorated_definition"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROCESSOR: &str =
        include_str!("../../../testdata/services/payment-service/payment_processor.py");
    const RECEIPTS: &str = include_str!("../../../testdata/services/payment-service/receipts.py");

    #[test]
    fn enclosing_function_and_parameters() {
        let src = PythonSource::parse(RECEIPTS).unwrap();
        let f = src.enclosing_function(9).unwrap();
        assert_eq!(f.name, "send_receipt");
        assert_eq!(f.parameters, ["address", "payment_id", "amount_cents"]);
        assert!(src.is_parameter(9, "address"));
        assert!(!src.is_parameter(9, "local"));
        assert_eq!(src.enclosing_function(5), None);
    }

    #[test]
    fn statement_and_call_arguments_on_the_demo_line() {
        let src = PythonSource::parse(PROCESSOR).unwrap();
        let stmt = src.statement_at(26).unwrap();
        assert_eq!(stmt.kind, "expression_statement");
        assert_eq!(
            &PROCESSOR[stmt.byte_range.clone()],
            "send_receipt(user.email, payment_id, amount_cents)"
        );
        let calls = src.calls(26);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].name, "send_receipt");
        assert_eq!(calls[0].arguments[0].text, "user.email");
        let attrs = src.attribute_accesses(26);
        assert_eq!(attrs[0].object, "user");
        assert_eq!(attrs[0].attribute, "email");
        assert_eq!(src.enclosing_function(26).unwrap().name, "process_payment");
    }

    #[test]
    fn methods_keywords_splats_subscripts_and_divisions() {
        let code = "class Shop:\n    def total(self, items, *rest, scale: int = 1, **kw):\n        x = self.rates[items[0]] / scale // 2\n        self.mailer.send(x, to=kw['to'], *rest)\n";
        let src = PythonSource::parse(code).unwrap();
        let f = src.enclosing_function(3).unwrap();
        assert_eq!(f.qualified_name, "Shop.total");
        assert_eq!(f.parameters, ["self", "items", "rest", "scale", "kw"]);
        let subs = src.subscripts(3);
        assert_eq!(subs[0].text, "self.rates[items[0]]");
        assert_eq!(subs[1].index, "0");
        let divs = src.divisions(3);
        assert_eq!(divs.len(), 2);
        assert!(divs
            .iter()
            .any(|d| d.operator == "/" && d.divisor == "scale"));
        let call = &src.calls(4)[0];
        assert!(call.via_attribute);
        assert_eq!(call.callee, "self.mailer.send");
        assert_eq!(call.arguments[1].keyword.as_deref(), Some("to"));
        assert_eq!(call.arguments[1].text, "kw['to']");
        assert!(call.arguments[2].splat);
    }

    #[test]
    fn multi_line_statement_and_blank_lines() {
        let code = "def f(a):\n    g(\n        a.b,\n    )\n\n";
        let src = PythonSource::parse(code).unwrap();
        assert_eq!(src.statement_at(3).unwrap().start_line, 2);
        assert_eq!(src.attribute_accesses(3)[0].text, "a.b");
        assert_eq!(src.calls(3)[0].name, "g");
        assert_eq!(src.statement_at(5), None);
        assert_eq!(src.statement_at(99), None);
    }
}
