//! Text from outside (a comment's words, an alert's summary, a Rollout's message) goes into
//! PR bodies and comments that GitHub renders as Markdown with HTML. Quoted as it is, it could
//! mention people, link anywhere, inject HTML comments (which hide healbot's own markers) or
//! break out of a table. These helpers make such text inert.

/// Longest quoted text kept; the rest is cut with an ellipsis.
pub const MAX_QUOTED_CHARS: usize = 200;

/// `text` as one inline code span: newlines and control characters become spaces, the fence
/// is longer than any run of backticks inside, so nothing in it is Markdown, HTML or a
/// mention.
pub(crate) fn inline_code(text: &str) -> String {
    let flat = flatten(text);
    let longest_run = flat.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    // A span that starts or ends with a backtick needs a space next to the fence.
    let pad = if flat.starts_with('`') || flat.ends_with('`') || flat.is_empty() {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{flat}{pad}{fence}")
}

/// `text` as plain text in running Markdown: HTML and Markdown punctuation escaped, mentions
/// and references broken, on one line, cut to [`MAX_QUOTED_CHARS`].
pub(crate) fn plain_text(text: &str) -> String {
    let flat = flatten(text);
    let mut out = String::with_capacity(flat.len() + 8);
    for c in flat.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // `@user` and `#123` would notify people or link issues.
            '@' => out.push_str("&#64;"),
            '#' => out.push_str("&#35;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '!' | '|' | '~' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// One line, no control characters, at most [`MAX_QUOTED_CHARS`] characters.
fn flatten(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_QUOTED_CHARS + 1)
        .collect();
    if out.chars().count() > MAX_QUOTED_CHARS {
        out = out.chars().take(MAX_QUOTED_CHARS).collect();
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_code_cannot_be_broken_out_of() {
        assert_eq!(inline_code("zN"), "`zN`");
        assert_eq!(inline_code("a`b"), "``a`b``");
        assert_eq!(inline_code("`x"), "`` `x ``");
        assert_eq!(
            inline_code("line\n<!-- healbot:x -->"),
            "`line <!-- healbot:x -->`"
        );
        // Parsed back by a Markdown parser: one code span, no HTML.
        let md = format!("see {}", inline_code("`` <b>@alice</b> ``"));
        let events: Vec<_> = pulldown_cmark::Parser::new(&md).collect();
        assert!(events
            .iter()
            .any(|e| matches!(e, pulldown_cmark::Event::Code(_))));
        assert!(!events.iter().any(|e| matches!(
            e,
            pulldown_cmark::Event::InlineHtml(_) | pulldown_cmark::Event::Html(_)
        )));
    }

    #[test]
    fn plain_text_escapes_html_markdown_and_mentions() {
        let t = plain_text("<img src=x> **bold** [l](http://e) @alice #12 | x\n<!-- m -->");
        assert!(
            !t.contains('<') && !t.contains('@') && !t.contains('\n'),
            "{t}"
        );
        let events: Vec<_> = pulldown_cmark::Parser::new(&t).collect();
        assert!(!events.iter().any(|e| matches!(
            e,
            pulldown_cmark::Event::InlineHtml(_)
                | pulldown_cmark::Event::Html(_)
                | pulldown_cmark::Event::Start(pulldown_cmark::Tag::Link { .. })
                | pulldown_cmark::Event::Start(pulldown_cmark::Tag::Strong)
        )));
    }

    #[test]
    fn long_text_is_cut() {
        let t = inline_code(&"x".repeat(1000));
        assert!(t.chars().count() < MAX_QUOTED_CHARS + 5);
    }
}
