//! Applies a template at a location. The edit is a splice of the matched syntax node's byte
//! range (plus a missing import, if the template needs one): every other byte of the file stays
//! as it was, so the PR diff shows the fix and nothing else. The result is a [`Patch`] whose
//! diff comes from `similar`.

use super::placeholder::{segments, Segment};
use super::template::{FixTemplate, FnReturn, Risk, TemplateLanguage};
use super::validate::{check_source, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ops::Range;
use tree_sitter::{Node, Parser, QueryCursor, StreamingIterator, Tree};

/// A proposed change to one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Patch {
    /// Relative to the repository, forward slashes.
    pub file: String,
    pub original: String,
    pub patched: String,
    /// Unified diff with `a/<file>` and `b/<file>` headers.
    pub diff: String,
    pub template_id: String,
    pub confidence: f64,
    pub risk: Risk,
    pub summary: String,
    pub lines_added: usize,
    pub lines_removed: usize,
    /// The 1-based line the template was applied at.
    #[serde(default)]
    pub line: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{template}: no match at line {line}{}", expression.as_ref().map(|e| format!(" for `{e}`")).unwrap_or_default())]
    NoMatch {
        template: String,
        line: u32,
        expression: Option<String>,
    },
    #[error("{template}: cannot re-indent the match at line {line}: a multi-line string spans it")]
    Reindent { template: String, line: u32 },
    #[error("{template}: the fn around line {line} returns no error type healbot can build a value of (no `Err(…)` to reuse)")]
    NoErrorValue { template: String, line: u32 },
    #[error("{template}: the file does not parse before the patch: {source}")]
    Original {
        template: String,
        #[source]
        source: ValidationError,
    },
    #[error("{template}: the patched file does not parse: {source}")]
    Patched {
        template: String,
        #[source]
        source: ValidationError,
    },
    #[error("{template}: the syntax tree parser failed")]
    Parser { template: String },
}

/// The captures of the chosen match, as byte ranges.
struct Chosen {
    captures: HashMap<String, Range<usize>>,
}

/// Applies `template` to `source` (the contents of `file`) at `line`. When `expression` is
/// known and the template has a focus capture, only a match whose focus is that expression
/// counts.
pub fn apply(
    template: &FixTemplate,
    file: &str,
    source: &str,
    line: u32,
    expression: Option<&str>,
) -> Result<Patch, ApplyError> {
    let parser_err = || ApplyError::Parser {
        template: template.id.clone(),
    };
    let mut parser = Parser::new();
    parser
        .set_language(&template.language.grammar())
        .map_err(|_| parser_err())?;
    let tree = parser.parse(source, None).ok_or_else(parser_err)?;
    check_source(template.language, source).map_err(|source| ApplyError::Original {
        template: template.id.clone(),
        source,
    })?;
    let no_match = || ApplyError::NoMatch {
        template: template.id.clone(),
        line,
        expression: expression.map(str::to_string),
    };
    let chosen = choose(template, &tree, source, line, expression).ok_or_else(no_match)?;
    let target = chosen.captures[&template.matcher.target].clone();
    if template.rewrite.contains("{@error}")
        && computed("@error", template, &chosen, source, &tree).is_none()
    {
        return Err(ApplyError::NoErrorValue {
            template: template.id.clone(),
            line,
        });
    }

    let unit = indent_unit(&tree, source);
    let base = line_indent(source, target.start);
    let replacement = render(template, &chosen, source, &tree, base, &unit).ok_or_else(|| {
        ApplyError::Reindent {
            template: template.id.clone(),
            line,
        }
    })?;
    let mut patched = String::with_capacity(source.len() + replacement.len());
    patched.push_str(&source[..target.start]);
    patched.push_str(&replacement);
    patched.push_str(&source[target.end..]);
    // Imports are top-level statements, so they never overlap the target; one below it moves
    // by the splice's growth. Reverse order keeps several imports at one spot in order.
    let growth = replacement.len() as isize - target.len() as isize;
    for import in template.imports.iter().rev() {
        if let Some((at, text)) = import_insertion(template.language, &tree, source, import) {
            let at = if at <= target.start {
                at
            } else {
                at.saturating_add_signed(growth)
            };
            patched.insert_str(at, &text);
        }
    }
    check_source(template.language, &patched).map_err(|source| ApplyError::Patched {
        template: template.id.clone(),
        source,
    })?;

    let summary = template
        .summary
        .as_deref()
        .and_then(|s| fill(s, &chosen, source))
        .unwrap_or_else(|| template.description.clone());
    Ok(make_patch(file, source, patched, template, line, summary))
}

fn make_patch(
    file: &str,
    original: &str,
    patched: String,
    t: &FixTemplate,
    line: u32,
    summary: String,
) -> Patch {
    let super::diff::FileDiff {
        unified,
        added,
        removed,
    } = super::diff::file_diff(file, original, &patched);
    Patch {
        file: file.to_string(),
        original: original.to_string(),
        diff: unified,
        template_id: t.id.clone(),
        confidence: t.confidence,
        risk: t.risk,
        summary: format!("{summary} ({file}:{line}, template {})", t.id),
        lines_added: added,
        lines_removed: removed,
        line,
        patched,
    }
}

/// The best match whose anchor covers the line: the focus equal to the expression when one is
/// known, then the innermost anchor, then the template's own pattern order, then source order.
fn choose(
    t: &FixTemplate,
    tree: &Tree,
    source: &str,
    line: u32,
    expression: Option<&str>,
) -> Option<Chosen> {
    let row = (line as usize).checked_sub(1)?;
    let names = t.query.capture_names();
    // The whole file is searched: a range restriction could cut off captures of a
    // multi-line statement that lie outside the faulty line.
    let mut cursor = QueryCursor::new();
    let mut matches = cursor.matches(&t.query, tree.root_node(), source.as_bytes());
    let wanted = expression.map(squash);
    let mut best: Option<((usize, usize, usize), Chosen)> = None;
    while let Some(m) = matches.next() {
        let mut captures = HashMap::new();
        let mut covers = false;
        for c in m.captures() {
            let name = names[c.index as usize];
            if name == t.anchor() {
                covers |= c.node.start_position().row <= row && row <= c.node.end_position().row;
            }
            captures
                .entry(name.to_string())
                .or_insert_with(|| c.node.byte_range());
        }
        let (Some(anchor), Some(_)) = (captures.get(t.anchor()), captures.get(&t.matcher.target))
        else {
            continue;
        };
        if !t.matcher.returns.is_empty() {
            let target = m
                .captures()
                .iter()
                .find(|c| names[c.index as usize] == t.matcher.target);
            let returns = target.map_or(FnReturn::Other, |c| fn_return(t.language, c.node, source));
            if !t.matcher.returns.contains(&returns) {
                continue;
            }
        }
        if !covers {
            continue;
        }
        if let (Some(focus), Some(wanted)) = (&t.matcher.focus, &wanted) {
            match captures.get(focus) {
                Some(r) if squash(&source[r.clone()]) == *wanted => {}
                _ => continue,
            }
        }
        let key = (anchor.len(), m.pattern_index, anchor.start);
        if best.as_ref().is_none_or(|(k, _)| key < *k) {
            best = Some((key, Chosen { captures }));
        }
    }
    best.map(|(_, c)| c)
}

/// What the function around `node` returns. A closure in between hides the function (its
/// own return type is rarely written), so it counts as `Other`.
fn fn_return(language: TemplateLanguage, node: Node<'_>, source: &str) -> FnReturn {
    let mut at = node.parent();
    while let Some(n) = at {
        match (language, n.kind()) {
            (TemplateLanguage::Rust, "function_item") => {
                let Some(ty) = n.child_by_field_name("return_type") else {
                    return FnReturn::Unit;
                };
                let text = source.get(ty.byte_range()).unwrap_or_default();
                let name = text.split('<').next().unwrap_or_default();
                let name = name.rsplit("::").next().unwrap_or_default().trim();
                return match name {
                    "()" => FnReturn::Unit,
                    "Option" => FnReturn::Option,
                    n if n.ends_with("Result") => FnReturn::Result,
                    _ => FnReturn::Other,
                };
            }
            (
                TemplateLanguage::Go,
                "function_declaration" | "method_declaration" | "func_literal",
            ) => {
                return match n.child_by_field_name("result") {
                    None => FnReturn::Unit,
                    Some(_) => FnReturn::Other,
                };
            }
            (TemplateLanguage::Java, "method_declaration") => {
                return match n.child_by_field_name("type") {
                    Some(t) if t.kind() == "void_type" => FnReturn::Unit,
                    _ => FnReturn::Other,
                };
            }
            (TemplateLanguage::Java, "constructor_declaration") => return FnReturn::Unit,
            (
                _,
                "closure_expression"
                | "lambda_expression"
                | "arrow_function"
                | "function_expression"
                | "function_declaration"
                | "function_definition"
                | "method_definition",
            ) => return FnReturn::Other,
            _ => at = n.parent(),
        }
    }
    FnReturn::Other
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The rewrite with captures filled in and indented for its place; `None` when a multi-line
/// capture would need re-indenting inside a string.
fn render(
    t: &FixTemplate,
    chosen: &Chosen,
    source: &str,
    tree: &Tree,
    base: &str,
    unit: &str,
) -> Option<String> {
    let mut out = String::new();
    for (i, line) in t.rewrite.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if line.trim().is_empty() {
            continue;
        }
        let spaces = line.len() - line.trim_start_matches(' ').len();
        let extra = format!("{}{}", unit.repeat(spaces / 4), " ".repeat(spaces % 4));
        if i > 0 {
            out.push_str(base);
        }
        out.push_str(&extra);
        for seg in segments(&line[spaces..]).ok()? {
            match seg {
                Segment::Text(s) => out.push_str(&s),
                Segment::Capture(name) if name.starts_with('@') => {
                    out.push_str(&computed(&name, t, chosen, source, tree)?);
                }
                Segment::Capture(name) => {
                    let range = chosen.captures.get(&name)?.clone();
                    out.push_str(&reindent(
                        &source[range.clone()],
                        range.start,
                        &extra,
                        tree,
                    )?);
                }
            }
        }
    }
    Some(out)
}

/// A value the engine computes for a rewrite: `{@error}`, the enclosing fn's own error with the
/// template's message (see `error_path`); `{@first_arg.c}`, the first argument of the macro
/// arguments captured as `c`. `None` when there is none.
fn computed(
    name: &str,
    t: &FixTemplate,
    chosen: &Chosen,
    source: &str,
    tree: &Tree,
) -> Option<String> {
    match name {
        "@error" => {
            let message = fill(t.error_message.as_deref()?, chosen, source)?;
            let target = chosen.captures.get(&t.matcher.target)?.clone();
            let node = tree
                .root_node()
                .descendant_for_byte_range(target.start, target.end)?;
            super::error_path::rust_error_value(tree.root_node(), node, source, &message)
        }
        _ => {
            if let Some(capture) = name.strip_prefix("@text.") {
                let range = chosen.captures.get(capture)?.clone();
                return Some(literal_text(&source[range]));
            }
            let capture = name.strip_prefix("@first_arg.")?;
            let range = chosen.captures.get(capture)?.clone();
            first_arg(&source[range])
        }
    }
}

/// `"config has a port"` → `config has a port` (a string literal's text between its quotes).
fn literal_text(literal: &str) -> String {
    let t = literal
        .trim()
        .trim_start_matches(['r', 'b'])
        .trim_start_matches('#');
    let t = t.trim_end_matches('#');
    t.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(t)
        .replace("\\\"", "\"")
}

/// `(a < b, "msg {}", x)` → `a < b`: the first comma-separated item inside the delimiters.
fn first_arg(tokens: &str) -> Option<String> {
    let inner = tokens.trim();
    let inner = inner.get(1..inner.len().checked_sub(1)?)?;
    let mut depth = 0i32;
    let mut in_str = false;
    let mut prev = ' ';
    for (i, c) in inner.char_indices() {
        match c {
            '"' if prev != '\\' => in_str = !in_str,
            '(' | '[' | '{' if !in_str => depth += 1,
            ')' | ']' | '}' if !in_str => depth -= 1,
            ',' if !in_str && depth == 0 => return Some(inner[..i].trim().to_string()),
            _ => {}
        }
        prev = c;
    }
    let whole = inner.trim();
    (!whole.is_empty()).then(|| whole.to_string())
}

/// Shifts the continuation lines of a multi-line capture by `extra`.
fn reindent(text: &str, start: usize, extra: &str, tree: &Tree) -> Option<String> {
    if extra.is_empty() || !text.contains('\n') {
        return Some(text.to_string());
    }
    let mut out = String::new();
    let mut offset = start;
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            if in_string(tree, offset) {
                return None;
            }
            if !line.trim().is_empty() {
                out.push_str(extra);
            }
        }
        out.push_str(line);
        offset += line.len() + 1;
    }
    Some(out)
}

fn in_string(tree: &Tree, at: usize) -> bool {
    let mut node: Option<Node<'_>> = tree.root_node().descendant_for_byte_range(at, at);
    while let Some(n) = node {
        let string = matches!(
            n.kind(),
            "string"
                | "string_literal"
                | "raw_string_literal"
                | "interpreted_string_literal"
                | "template_string"
                | "text_block"
        );
        if string && n.start_byte() < at {
            return true;
        }
        node = n.parent();
    }
    false
}

/// Fills a summary's placeholders; a multi-line capture becomes one line.
fn fill(text: &str, chosen: &Chosen, source: &str) -> Option<String> {
    let mut out = String::new();
    for seg in segments(text).ok()? {
        match seg {
            Segment::Text(s) => out.push_str(&s),
            Segment::Capture(name) => {
                let capture = if let Some(c) = name.strip_prefix("@first_arg.") {
                    first_arg(&source[chosen.captures.get(c)?.clone()])?
                } else if let Some(c) = name.strip_prefix("@text.") {
                    literal_text(&source[chosen.captures.get(c)?.clone()])
                } else {
                    source[chosen.captures.get(&name)?.clone()].to_string()
                };
                out.push_str(&capture.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
    }
    Some(out)
}

/// The whitespace before the first character of the line holding `at`.
fn line_indent(source: &str, at: usize) -> &str {
    let start = source[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = &source[start..];
    &line[..line.len() - line.trim_start_matches([' ', '\t']).len()]
}

/// The file's indentation step: how much a block is indented past its header.
fn indent_unit(tree: &Tree, source: &str) -> String {
    let mut stack = vec![tree.root_node()];
    while let Some(n) = stack.pop() {
        if matches!(
            n.kind(),
            "block" | "statement_block" | "declaration_list" | "class_body"
        ) {
            if let (Some(parent), Some(first)) = (n.parent(), n.named_child(0)) {
                let outer = line_indent(source, parent.start_byte());
                let inner = line_indent(source, first.start_byte());
                if first.start_position().row > parent.start_position().row
                    && inner.len() > outer.len()
                {
                    if let Some(step) = inner.strip_prefix(outer) {
                        return step.to_string();
                    }
                }
            }
        }
        let mut cursor = n.walk();
        let children: Vec<_> = n.named_children(&mut cursor).collect();
        stack.extend(children.into_iter().rev());
    }
    "    ".to_string()
}

/// Where and what to insert so the file has `import`; `None` when it already does.
fn import_insertion(
    language: TemplateLanguage,
    tree: &Tree,
    source: &str,
    import: &str,
) -> Option<(usize, String)> {
    let root = tree.root_node();
    let mut cursor = root.walk();
    let top: Vec<Node<'_>> = root.named_children(&mut cursor).collect();
    let wanted = squash(import);
    let is_import = |n: &Node<'_>| language.import_kinds().contains(&n.kind());
    if top
        .iter()
        .filter(|n| is_import(n))
        .any(|n| squash(&source[n.byte_range()]) == wanted)
    {
        return None;
    }
    // After the first group of imports (the standard library's, by convention).
    if let Some(first) = top.iter().position(is_import) {
        let mut last = first;
        while top.get(last + 1).is_some_and(|n| {
            is_import(n) && n.start_position().row == top[last].end_position().row + 1
        }) {
            last += 1;
        }
        return Some((top[last].end_byte(), format!("\n{import}")));
    }
    // After the module docstring, else at the top (below a shebang or coding comment).
    if let Some(doc) = top.first().filter(|n| {
        n.kind() == "expression_statement" && n.named_child(0).is_some_and(|c| c.kind() == "string")
    }) {
        return Some((doc.end_byte(), format!("\n\n{import}")));
    }
    let mut at = 0;
    for line in source.split_inclusive('\n') {
        // Python's shebang and coding comments; the other languages' header comments.
        let header = match language {
            TemplateLanguage::Python => line.starts_with('#'),
            _ => line.starts_with("//") || line.starts_with("#!"),
        };
        if !header {
            break;
        }
        at += line.len();
    }
    Some((at, format!("{import}\n\n")))
}

#[cfg(test)]
mod tests;
