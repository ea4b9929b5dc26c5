//! The function's own error path, for Rust templates that turn a panic into an error
//! (`{@error}` in a rewrite): an expression of the error type the enclosing fn returns, carrying
//! the template's message. Known error types get their usual constructor (`String`, `&str`,
//! `Box<dyn Error>`, `anyhow`, `eyre`, `io::Error`, `fmt::Error`); any other type gets an
//! `Err(…)` value the fn (or another fn of the file with the same return type) already builds,
//! so the patch says what the code already says on failure. No such value: no `{@error}`, and
//! the template does not apply. `cargo check` in validation is the final judge.

use tree_sitter::Node;

/// An error value for the fn around `node`, with `message` where the type takes one.
pub(crate) fn rust_error_value(
    root: Node<'_>,
    node: Node<'_>,
    source: &str,
    message: &str,
) -> Option<String> {
    let func = enclosing_fn(node)?;
    let ret = func.child_by_field_name("return_type")?;
    let ret_text = text(ret, source);
    let literal = format!("{message:?}");
    let error_type = error_type(&ret_text, root, source)?;
    let squashed: String = error_type.chars().filter(|c| !c.is_whitespace()).collect();
    let known = match squashed.as_str() {
        "String" | "std::string::String" => Some(format!("String::from({literal})")),
        "&'staticstr" | "&str" => Some(literal.clone()),
        "std::fmt::Error" | "fmt::Error" => Some("std::fmt::Error".to_string()),
        "std::io::Error" | "io::Error" => Some(format!(
            "std::io::Error::new(std::io::ErrorKind::InvalidInput, {literal})"
        )),
        "anyhow::Error" => Some(format!("anyhow::anyhow!({literal})")),
        "eyre::Report" | "color_eyre::Report" => Some(format!("eyre::eyre!({literal})")),
        // Named in full: `?` needs the exact type to convert from.
        t if t.starts_with("Box<dyn") && t.contains("Error") => {
            Some(format!("<{}>::from({literal})", error_type.trim()))
        }
        _ => None,
    };
    if known.is_some() {
        return known;
    }
    // The crate's own type: an `Err(…)` this fn builds, else one of a fn of the file that
    // returns the same type.
    own_err_value(func, source).or_else(|| {
        let mut stack = vec![root];
        while let Some(n) = stack.pop() {
            if n.kind() == "function_item" && n.id() != func.id() {
                let same = n
                    .child_by_field_name("return_type")
                    .is_some_and(|r| squash(&text(r, source)) == squash(&ret_text));
                if same {
                    if let Some(v) = own_err_value(n, source) {
                        return Some(v);
                    }
                }
            }
            let mut cursor = n.walk();
            stack.extend(n.named_children(&mut cursor));
        }
        None
    })
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn text(n: Node<'_>, source: &str) -> String {
    source.get(n.byte_range()).unwrap_or_default().to_string()
}

/// The fn item around `node`; a closure in between hides it (its return type is its own).
fn enclosing_fn(node: Node<'_>) -> Option<Node<'_>> {
    let mut at = node.parent();
    while let Some(n) = at {
        match n.kind() {
            "function_item" => return Some(n),
            "closure_expression" => return None,
            _ => at = n.parent(),
        }
    }
    None
}

/// The `E` of a Result return type: `Result<T, E>`, or what an alias stands for
/// (`io::Result<T>`, `fmt::Result`, `anyhow::Result<T>`, a `type Result<T> = …` of the file,
/// `Result<T>` imported from anyhow or eyre).
fn error_type(ret: &str, root: Node<'_>, source: &str) -> Option<String> {
    let ret = ret.trim();
    let (head, args) = match ret.split_once('<') {
        Some((h, rest)) => (
            squash(h),
            rest.trim_end()
                .strip_suffix('>')
                .unwrap_or(rest)
                .to_string(),
        ),
        None => (squash(ret), String::new()),
    };
    let args = split_top_level(&args);
    match head.as_str() {
        "std::fmt::Result" | "fmt::Result" => return Some("fmt::Error".into()),
        "std::io::Result" | "io::Result" => return Some("io::Error".into()),
        "anyhow::Result" => return Some("anyhow::Error".into()),
        "eyre::Result" | "color_eyre::Result" => return Some("eyre::Report".into()),
        _ => {}
    }
    if !head.ends_with("Result") {
        return None;
    }
    if args.len() == 2 {
        return Some(args[1].trim().to_string());
    }
    // An alias: the file says what it is.
    if head == "Result" {
        for (import, ty) in [
            ("anyhow", "anyhow::Error"),
            ("eyre", "eyre::Report"),
            ("color_eyre", "eyre::Report"),
            ("std::io", "io::Error"),
            ("std::fmt", "fmt::Error"),
        ] {
            let imports_result = source.lines().map(str::trim_start).any(|l| {
                l.strip_prefix("use ")
                    .and_then(|r| r.strip_prefix(import))
                    .and_then(|r| r.strip_prefix("::"))
                    .is_some_and(|r| {
                        r.starts_with("Result") || r.starts_with('{') && r.contains("Result")
                    })
            });
            if imports_result {
                return Some(ty.into());
            }
        }
    }
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if n.kind() == "type_item" {
            let name = n.child_by_field_name("name").map(|x| text(x, source));
            if name.as_deref() == head.rsplit("::").next() {
                let value = n.child_by_field_name("type").map(|t| text(t, source))?;
                let inner = value
                    .split_once('<')?
                    .1
                    .trim_end()
                    .strip_suffix('>')?
                    .to_string();
                let parts = split_top_level(&inner);
                return parts.get(1).map(|p| p.trim().to_string());
            }
        }
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
    }
    None
}

/// Splits `a, B<c, d>, e` at the commas outside brackets.
fn split_top_level(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '<' | '(' | '[' => depth += 1,
            '>' | ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// An `Err(X)` the fn builds whose `X` reads no local (`Error(())`, `Error::TooShort`,
/// `ParseError::new(Kind::Eof)`): it can stand anywhere in the fn.
fn own_err_value(func: Node<'_>, source: &str) -> Option<String> {
    let body = func.child_by_field_name("body")?;
    let mut stack = vec![body];
    let mut found = Vec::new();
    while let Some(n) = stack.pop() {
        if n.kind() == "closure_expression" || n.kind() == "function_item" {
            continue;
        }
        if n.kind() == "call_expression" {
            let callee = n.child_by_field_name("function").map(|f| text(f, source));
            if callee.as_deref() == Some("Err") {
                let args = n.child_by_field_name("arguments")?;
                if args.named_child_count() == 1 {
                    let value = args.named_child(0)?;
                    if reads_no_local(value, source) {
                        found.push((n.start_byte(), text(value, source)));
                    }
                }
            }
        }
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
    }
    found.sort();
    found.into_iter().next().map(|(_, v)| v)
}

/// Whether an expression is built only from paths, literals and calls of paths (no local
/// variable, no `self`).
fn reads_no_local(n: Node<'_>, source: &str) -> bool {
    let mut stack = vec![n];
    while let Some(x) = stack.pop() {
        match x.kind() {
            "self" => return false,
            "identifier" => {
                let parent = x.parent().map(|p| p.kind());
                let in_path = matches!(
                    parent,
                    Some("scoped_identifier" | "scoped_type_identifier" | "generic_function")
                );
                let name = text(x, source);
                let type_like = name.starts_with(|c: char| c.is_uppercase());
                let callee = parent == Some("call_expression")
                    && x.parent().and_then(|p| p.child_by_field_name("function")) == Some(x);
                if !in_path && !type_like && !callee {
                    return false;
                }
            }
            "macro_invocation" => {
                // `format!("…", x)` may read locals; a macro of literals alone does not.
                let body = text(x, source);
                if body.contains(|c: char| c.is_lowercase()) && body.split('"').count() < 3 {
                    return false;
                }
            }
            _ => {}
        }
        let mut cursor = x.walk();
        stack.extend(x.named_children(&mut cursor));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(src: &str, needle: &str) -> Option<String> {
        let mut parser = tree_sitter::Parser::new();
        parser
            .set_language(&tree_sitter_rust::LANGUAGE.into())
            .unwrap();
        let tree = parser.parse(src, None).unwrap();
        let at = src.find(needle).unwrap();
        let node = tree
            .root_node()
            .descendant_for_byte_range(at, at + needle.len())
            .unwrap();
        rust_error_value(tree.root_node(), node, src, "`a - b` underflowed")
    }

    #[test]
    fn known_types_get_their_constructor() {
        let cases = [
            ("fn f(a: u8, b: u8) -> Result<u8, String> { Ok(a - b) }", "String::from(\"`a - b` underflowed\")"),
            ("fn f(a: u8, b: u8) -> Result<u8, &'static str> { Ok(a - b) }", "\"`a - b` underflowed\""),
            ("fn f(a: u8, b: u8) -> Result<u8, Box<dyn std::error::Error>> { Ok(a - b) }", "<Box<dyn std::error::Error>>::from(\"`a - b` underflowed\")"),
            ("fn f(a: u8, b: u8) -> std::io::Result<u8> { Ok(a - b) }", "std::io::Error::new(std::io::ErrorKind::InvalidInput, \"`a - b` underflowed\")"),
            ("fn f(a: u8, b: u8) -> anyhow::Result<u8> { Ok(a - b) }", "anyhow::anyhow!(\"`a - b` underflowed\")"),
            ("use anyhow::Result;\nfn f(a: u8, b: u8) -> Result<u8> { Ok(a - b) }", "anyhow::anyhow!(\"`a - b` underflowed\")"),
            ("fn f(w: &mut std::fmt::Formatter, a: u8, b: u8) -> std::fmt::Result { write!(w, \"{}\", a - b) }", "std::fmt::Error"),
        ];
        for (src, want) in cases {
            assert_eq!(value(src, "a - b").as_deref(), Some(want), "{src}");
        }
    }

    #[test]
    fn other_types_reuse_an_error_the_code_builds() {
        let own = "struct Error(());\nfn parse(s: &[u8]) -> Result<u8, Error> {\n    if s.is_empty() { return Err(Error(())); }\n    Ok(s[0] - s[1])\n}\n";
        assert_eq!(value(own, "s[0] - s[1]").as_deref(), Some("Error(())"));
        // One that reads a local is not reused; another fn of the same type is asked.
        let other = "enum E { Short(usize), Bad }\nfn a(s: &[u8]) -> Result<u8, E> {\n    if s.len() < 2 { return Err(E::Short(s.len())); }\n    Ok(s[0] - s[1])\n}\nfn b() -> Result<u8, E> { Err(E::Bad) }\n";
        assert_eq!(value(other, "s[0] - s[1]").as_deref(), Some("E::Bad"));
        // An alias of the file.
        let alias = "type Result<T> = std::result::Result<T, String>;\nfn f(a: u8, b: u8) -> Result<u8> { Ok(a - b) }";
        assert_eq!(
            value(alias, "a - b").as_deref(),
            Some("String::from(\"`a - b` underflowed\")")
        );
        // Nothing to build one from, a closure in between, an Option: none.
        assert_eq!(
            value(
                "struct E;\nfn f(a: u8, b: u8) -> Result<u8, E> { Ok(a - b) }",
                "a - b"
            ),
            None
        );
        assert_eq!(value("fn f(v: &[u8]) -> Result<Vec<u8>, String> { Ok(v.iter().map(|a| a - 1).collect()) }", "a - 1"), None);
        assert_eq!(
            value("fn f(a: u8, b: u8) -> Option<u8> { Some(a - b) }", "a - b"),
            None
        );
    }
}
