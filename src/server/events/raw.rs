//! What can be told of a webhook body from its bytes alone, before any parse. Most deliveries
//! are comments without a `/heal` line, which healbot does nothing with; parsing their 15 KB
//! costs as much as verifying their signature, so the intake asks these questions first and
//! parses only a body that may matter. Every answer errs towards "parse it".

use memchr::memchr_iter;
use memchr::memmem::Finder;
use std::sync::LazyLock;

/// Where `/heal` may start, in either case of its first letter: `/h` is rare in GitHub's
/// payloads (unlike `/`, which every URL has hundreds of), so few hits need a closer look.
static SLASH_H: LazyLock<[Finder<'static>; 2]> =
    LazyLock::new(|| [Finder::new("/h"), Finder::new("/H")]);

/// Whether a string of the JSON `body` may decode to text holding `/heal` (in any ASCII case,
/// as the command grammar reads it). `false` is certain: decoded text holds `/heal` only where
/// the raw bytes do, or where a `\uXXXX` escape spells one of its characters.
pub fn may_hold_heal_line(body: &[u8]) -> bool {
    let spelled = SLASH_H.iter().any(|finder| {
        finder.find_iter(body).any(|at| {
            body.get(at + 2..at + 5)
                .is_some_and(|rest| rest.eq_ignore_ascii_case(b"eal"))
        })
    });
    // `\/` needs no look: the slash it decodes to is in the bytes too.
    spelled || memchr_iter(b'\\', body).any(|at| body.get(at + 1) == Some(&b'u'))
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
        assert!(may_hold_heal_line(br#"{"body":"/heal approve"}"#));
        assert!(may_hold_heal_line(br#"{"body":"lgtm\r\n/HeAl pause"}"#));
        // Escapes that decode to the command's characters.
        assert!(may_hold_heal_line(br#"{"body":"\/heal approve"}"#));
        assert!(may_hold_heal_line(br#"{"body":"\u002fheal approve"}"#));
        assert!(may_hold_heal_line(br#"{"body":"/\u0068eal approve"}"#));
        // At the very end of the bytes.
        assert!(may_hold_heal_line(b"/heal"));
    }

    #[test]
    fn bodies_without_one_are_told_apart() {
        assert!(!may_hold_heal_line(
            br#"{"body":"lgtm","url":"https://x/y/hea"}"#
        ));
        assert!(!may_hold_heal_line(
            br#"{"body":"line\r\n\"quoted\" \\ done"}"#
        ));
        assert!(!may_hold_heal_line(b"/hea"));
        assert!(!may_hold_heal_line(b""));
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
