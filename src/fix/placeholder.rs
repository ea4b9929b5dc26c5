//! The placeholder syntax of template rewrites and summaries: `{capture}` stands for the
//! text a query capture matched, `{{` and `}}` for literal braces (Python f-strings and dicts
//! need them). Shared by template validation and the engine so both read the text alike.

/// A piece of a rewrite or summary text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Text(String),
    Capture(String),
}

/// Splits `text` into literal text and `{capture}` placeholders; `{{` and `}}` are braces.
pub fn segments(text: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    name.push(c);
                }
                // `@…` names a value the engine computes (`{@error}`, `{@first_arg.args}`).
                let valid = name
                    .strip_prefix('@')
                    .unwrap_or(&name)
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
                if !closed || name.is_empty() || !valid {
                    return Err(format!(
                        "`{{{name}` is not a placeholder (write `{{{{` for a brace)"
                    ));
                }
                out.push(Segment::Text(std::mem::take(&mut literal)));
                out.push(Segment::Capture(name));
            }
            '}' => return Err("a lone `}` (write `}}` for a brace)".into()),
            c => literal.push(c),
        }
    }
    out.push(Segment::Text(literal));
    Ok(out)
}

/// The capture names a text refers to.
pub fn placeholders(text: &str) -> Result<Vec<String>, String> {
    Ok(segments(text)?
        .into_iter()
        .filter_map(|s| match s {
            Segment::Capture(n) => Some(n),
            Segment::Text(_) => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_braces() {
        assert_eq!(
            segments("a {x} {{b}}").unwrap(),
            vec![
                Segment::Text("a ".into()),
                Segment::Capture("x".into()),
                Segment::Text(" {b}".into())
            ]
        );
        assert_eq!(placeholders("{a}.get({b})").unwrap(), ["a", "b"]);
        assert!(segments("a } b").is_err());
        assert!(segments("{a b}").is_err());
        assert!(segments("{open").is_err());
    }
}
