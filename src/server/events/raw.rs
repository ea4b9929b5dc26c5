//! What can be told of a webhook body from its bytes alone, before the whole payload is
//! parsed. Most deliveries are comments without a `/heal` line, which healbot does nothing
//! with; parsing their 15 KB costs as much as verifying their signature, so the intake asks
//! these questions first and parses only a body that may matter. Every answer errs towards
//! "parse it".

use crate::forge::parse_comment;
use memchr::memchr_iter;
use memchr::memmem::Finder;
use std::sync::LazyLock;

/// The key of the strings a comment's text can be in (the comment's and the issue's `body`).
static BODY_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("\"body\""));

/// Whether the JSON `body` may hold a `/heal` line, as the command grammar reads it. `false`
/// is certain: every string under a `"body"` key is read with the grammar itself (Markdown
/// included: `&#47;heal` or `/he*al*` are commands to it), and a body that could hide such a
/// key or text from this byte search (a `\uXXXX` escape, a `body` that is not a plain string)
/// is left to the parser.
pub fn may_hold_heal_line(body: &[u8]) -> bool {
    if memchr_iter(b'\\', body).any(|at| body.get(at + 1) == Some(&b'u')) {
        return true;
    }
    BODY_KEY.find_iter(body).any(|at| {
        let Some(value) = skip_space(&body[at + 6..]).strip_prefix(b":") else {
            // `"body"` as a value, not a key.
            return false;
        };
        let value = skip_space(value);
        if value.starts_with(b"null") {
            return false;
        }
        match string_at(value) {
            Some(text) => holds_heal_line(&text),
            None => true,
        }
    })
}

/// Whether `text` has a line the command grammar reads as a `/heal` command (or refuses as
/// one); the grammar skips most texts before its Markdown parse.
fn holds_heal_line(text: &str) -> bool {
    let found = parse_comment(text);
    !found.lines.is_empty() || found.beyond_limit > 0
}

/// The JSON string that `bytes` starts with, decoded; `None` when it is not one.
fn string_at(bytes: &[u8]) -> Option<String> {
    let inner = bytes.strip_prefix(b"\"")?;
    let mut at = 0;
    loop {
        at += memchr::memchr2(b'"', b'\\', inner.get(at..)?)?;
        if inner[at] == b'"' {
            break;
        }
        at += 2;
    }
    serde_json::from_slice(&bytes[..at + 2]).ok()
}

/// The `action` of a body whose first member is a plain `"action": "word"`, as GitHub writes
/// every payload; `None` for any other shape (the caller then parses the whole body).
pub fn leading_action(body: &[u8]) -> Option<&str> {
    let rest = skip_space(body).strip_prefix(b"{")?;
    let rest = skip_space(rest).strip_prefix(b"\"action\"")?;
    let rest = skip_space(rest).strip_prefix(b":")?;
    let rest = skip_space(rest).strip_prefix(b"\"")?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    if rest[end] != b'"' {
        return None;
    }
    let word = std::str::from_utf8(&rest[..end]).ok()?;
    // Control characters are not valid inside a JSON string: leave such a body to the parser.
    if word.chars().any(char::is_control) {
        return None;
    }
    let rest = skip_space(&rest[end + 1..]);
    matches!(rest.first(), Some(b',' | b'}')).then_some(word)
}

fn skip_space(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .unwrap_or(bytes.len());
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heal_line_is_seen_in_any_case_and_any_spelling() {
        for body in [
            &br#"{"body":"/heal approve"}"#[..],
            br#"{"body":"lgtm\r\n/HeAl pause"}"#,
            br#"{"x": 1, "body" : "  /heal rollback"}"#,
            // JSON escapes that decode to the command's characters.
            br#"{"body":"\/heal approve"}"#,
            br#"{"body":"\u002fheal approve"}"#,
            br#"{"b\u006fdy":"/heal approve"}"#,
            // Markdown that renders to it.
            br#"{"body":"&#47;heal approve"}"#,
            br#"{"body":"&sol;heal approve"}"#,
            br#"{"body":"/he*al* approve"}"#,
            br#"{"body":"/h[](https://example.com)eal approve"}"#,
            // A body the search cannot read.
            br#"{"body":{"text":"/heal approve"}}"#,
            br#"{"body":"/heal approve"#,
            br#"{"body":"/heal approve\"#,
        ] {
            assert!(
                may_hold_heal_line(body),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn bodies_without_one_are_told_apart() {
        for body in [
            &br#"{"body":"lgtm","url":"https://x/y/heal"}"#[..],
            br#"{"body":"line\r\n\"quoted\" \\ /heal in a \"string\""}"#,
            br#"{"body":"```\n/heal approve\n```"}"#,
            br#"{"body":"> /heal approve"}"#,
            br#"{"body":null,"title":"/heal approve"}"#,
            br#"{"text":"\"body\": is a word here"}"#,
            b"",
        ] {
            assert!(
                !may_hold_heal_line(body),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let sent =
            include_bytes!("../../../testdata/github-webhooks/issue_comment/created.payload.json");
        assert!(!may_hold_heal_line(sent));
    }

    #[test]
    fn the_leading_action_is_read_as_github_writes_it() {
        assert_eq!(
            leading_action(b"{\n  \"action\": \"created\",\n  \"issue\": {}}"),
            Some("created")
        );
        assert_eq!(leading_action(br#"{"action":"closed"}"#), Some("closed"));
        let sent =
            include_bytes!("../../../testdata/github-webhooks/issue_comment/created.payload.json");
        assert_eq!(leading_action(sent), Some("created"));
    }

    #[test]
    fn any_other_shape_is_left_to_the_parser() {
        for body in [
            &br#"{"issue":{},"action":"created"}"#[..],
            br#"{"action":"cre\"ated"}"#,
            br#"{"action":"cre\u0061ted"}"#,
            br#"{"action":7}"#,
            br#"{"action":"created" "x"}"#,
            br#"{"action":"created"#,
            b"{\"action\":\"a\tb\"}",
            br#"["action"]"#,
            b"",
        ] {
            assert_eq!(
                leading_action(body),
                None,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
