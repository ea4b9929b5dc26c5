//! How `yaml_edit` spells a new scalar: in the quoting style the old one had, and plain only
//! where a plain scalar reads back as the same string of the same type.

use yaml_rust2::scanner::TScalarStyle;
use yaml_rust2::Yaml;

/// Writes `value` in the style the old scalar had. A plain scalar stays plain only while that
/// is safe and keeps its type (a string never silently becomes a number); otherwise quoted.
pub(crate) fn render(
    value: &str,
    style: TScalarStyle,
    old: &str,
    tagged: bool,
    in_flow: bool,
) -> String {
    match style {
        TScalarStyle::Plain
            if plain_ok(value, in_flow) && (tagged || type_class(old) == type_class(value)) =>
        {
            value.to_string()
        }
        TScalarStyle::SingleQuoted if !value.chars().any(char::is_control) => {
            format!("'{}'", value.replace('\'', "''"))
        }
        _ => double_quoted(value),
    }
}

pub(crate) fn plain_ok(value: &str, in_flow: bool) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    let dash_ok = first != '-' || value.chars().nth(1).is_some_and(|c| c != ' ');
    value == value.trim()
        && dash_ok
        && !"?:,[]{}#&*!|>'\"%@`".contains(first)
        && !value.chars().any(char::is_control)
        && !value.contains(": ")
        && !value.contains(" #")
        && !value.ends_with(':')
        && !(in_flow && value.contains([',', '[', ']', '{', '}']))
}

#[derive(PartialEq)]
enum TypeClass {
    Number,
    Bool,
    Null,
    Text,
    Other,
}

fn type_class(plain: &str) -> TypeClass {
    match Yaml::from_str(plain) {
        Yaml::Integer(_) | Yaml::Real(_) => TypeClass::Number,
        Yaml::Boolean(_) => TypeClass::Bool,
        Yaml::Null => TypeClass::Null,
        Yaml::String(_) => TypeClass::Text,
        _ => TypeClass::Other,
    }
}

fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Each line of `fragment` on a new line after `pad`; blank lines stay empty.
pub(crate) fn indent_lines(fragment: &str, pad: &str, eol: &str) -> String {
    fragment
        .split('\n')
        .map(|line| {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                eol.to_string()
            } else {
                format!("{eol}{pad}{line}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_style_and_type() {
        assert_eq!(render("10", TScalarStyle::Plain, "0", false, false), "10");
        assert_eq!(
            render("10", TScalarStyle::Plain, "v1", false, false),
            "\"10\""
        );
        assert_eq!(
            render("true", TScalarStyle::Plain, "x", true, false),
            "true"
        );
        assert_eq!(
            render("it's", TScalarStyle::SingleQuoted, "a", false, false),
            "'it''s'"
        );
        assert_eq!(
            render("a\tb", TScalarStyle::SingleQuoted, "a", false, false),
            "\"a\\tb\""
        );
        assert_eq!(
            render("a\"b\\", TScalarStyle::DoubleQuoted, "a", false, false),
            "\"a\\\"b\\\\\""
        );
        assert_eq!(
            render("a,b", TScalarStyle::Plain, "x", false, true),
            "\"a,b\""
        );
        assert_eq!(render("-1", TScalarStyle::Plain, "5", false, false), "-1");
        for unsafe_plain in [
            "", " a", "- a", "#x", "a: b", "a #b", "a:", "*x", "&x", "{a}",
        ] {
            assert!(!plain_ok(unsafe_plain, false), "{unsafe_plain:?}");
        }
    }
}
