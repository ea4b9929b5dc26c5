//! The `/heal` command grammar, shared by the GitHub App (PR comments) and the local forge's CLI
//! (`healbot pr comment`), so that a person's override means the same on both channels.
//!
//! A comment is parsed as Markdown and only the text of top-level paragraphs counts: a command
//! quoted, shown in a code block or inline code, or written inside HTML is never run. A command
//! is a line that starts with `/heal` (leading spaces allowed); a comment may hold several.
//! Parse errors are user-facing replies (as in rust-lang/triagebot), kept apart from internal
//! errors.

use super::markdown::inline_code;
use pulldown_cmark::{Event, Parser, Tag, TagEnd};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The word that starts every command.
pub const COMMAND_PREFIX: &str = "/heal";

/// At most this many `/heal` lines of one comment are read; the rest are counted and refused
/// as a whole, so one comment cannot make healbot act or answer thousands of times.
pub const MAX_COMMANDS_PER_COMMENT: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verb", rename_all = "snake_case")]
pub enum HealCommand {
    Approve,
    Reject { reason: Option<String> },
    Pause,
    Resume,
    Rollback,
    Retry,
    Status,
    Explain,
    Promote,
    Abort,
    Help,
}

/// Every verb with its argument synopsis and what it asks healbot to do; the help text and the
/// parser both come from this table, so they cannot drift apart.
const VERBS: &[(&str, &str, &str)] = &[
    (
        "approve",
        "",
        "approve the fix at the PR's current head, as an approving review does",
    ),
    (
        "reject",
        " [reason]",
        "reject the fix: healbot closes the PR and stops the operation",
    ),
    ("pause", "", "hold the operation where it is"),
    ("resume", "", "carry a paused operation on"),
    ("rollback", "", "roll the deployed change back"),
    ("retry", "", "retry the step that failed"),
    ("status", "", "show where the operation stands"),
    (
        "explain",
        "",
        "explain the fix: incident, root cause, location, risk and gates",
    ),
    ("promote", "", "move the canary to its next step now"),
    (
        "abort",
        "",
        "stop the operation for good and hand it to a person",
    ),
    ("help", "", "show this list"),
];

impl HealCommand {
    /// The verb as written after `/heal`.
    pub fn verb(&self) -> &'static str {
        match self {
            HealCommand::Approve => "approve",
            HealCommand::Reject { .. } => "reject",
            HealCommand::Pause => "pause",
            HealCommand::Resume => "resume",
            HealCommand::Rollback => "rollback",
            HealCommand::Retry => "retry",
            HealCommand::Status => "status",
            HealCommand::Explain => "explain",
            HealCommand::Promote => "promote",
            HealCommand::Abort => "abort",
            HealCommand::Help => "help",
        }
    }

    /// The reply to `/heal help` and the tail of every parse error: Markdown, for a PR comment.
    pub(crate) fn help_text() -> String {
        let mut text = String::from(
            "healbot understands these commands, each on its own line at the start of a line \
             (not in a quote or code block):\n\n",
        );
        for (verb, args, what) in VERBS {
            text.push_str(&format!("- `{COMMAND_PREFIX} {verb}{args}`: {what}\n"));
        }
        text
    }

    /// Parses the words after `/heal` (the verb and its arguments).
    fn from_words(line: &str, words: &str) -> Result<HealCommand, CommandError> {
        let words = words.trim();
        if words.is_empty() {
            return Err(CommandError::MissingVerb);
        }
        let (verb, rest) = match words.split_once(char::is_whitespace) {
            Some((verb, rest)) => (verb, rest.trim()),
            None => (words, ""),
        };
        let no_argument = |command: HealCommand| {
            if rest.is_empty() {
                Ok(command)
            } else {
                Err(CommandError::UnexpectedArgument {
                    line: line.to_string(),
                    verb: command.verb(),
                    argument: rest.to_string(),
                })
            }
        };
        match verb.to_lowercase().as_str() {
            "approve" => no_argument(HealCommand::Approve),
            "reject" => Ok(HealCommand::Reject {
                reason: (!rest.is_empty()).then(|| rest.to_string()),
            }),
            "pause" => no_argument(HealCommand::Pause),
            "resume" => no_argument(HealCommand::Resume),
            "rollback" => no_argument(HealCommand::Rollback),
            "retry" => no_argument(HealCommand::Retry),
            "status" => no_argument(HealCommand::Status),
            "explain" => no_argument(HealCommand::Explain),
            "promote" => no_argument(HealCommand::Promote),
            "abort" => no_argument(HealCommand::Abort),
            "help" => no_argument(HealCommand::Help),
            _ => Err(CommandError::UnknownVerb {
                line: line.to_string(),
                verb: verb.to_string(),
            }),
        }
    }
}

impl fmt::Display for HealCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{COMMAND_PREFIX} {}", self.verb())?;
        if let HealCommand::Reject {
            reason: Some(reason),
        } = self
        {
            write!(f, " {reason}")?;
        }
        Ok(())
    }
}

/// A `/heal` line that is not a command. `Display` is one line for the person (the words they
/// wrote quoted inertly); [`CommandError::reply`] adds the list of commands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("`{COMMAND_PREFIX}` needs a command after it.")]
    MissingVerb,
    #[error(
        "I don't know the command {} (in {}).",
        inline_code(verb),
        inline_code(line)
    )]
    UnknownVerb { line: String, verb: String },
    #[error(
        "`{COMMAND_PREFIX} {verb}` takes nothing after it, but {} adds {}; nothing was done. \
         Write the command alone on its line.",
        inline_code(line),
        inline_code(argument)
    )]
    UnexpectedArgument {
        line: String,
        verb: &'static str,
        argument: String,
    },
}

impl CommandError {
    /// The whole reply to post: the reason and the list of commands.
    pub fn reply(&self) -> String {
        format!("{self}\n\n{}", HealCommand::help_text())
    }
}

/// The `/heal` lines of one comment: at most [`MAX_COMMANDS_PER_COMMENT`] parsed, in order,
/// and how many more there were.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommentCommands {
    pub lines: Vec<Result<HealCommand, CommandError>>,
    /// `/heal` lines after the first [`MAX_COMMANDS_PER_COMMENT`], not parsed or run.
    pub beyond_limit: usize,
}

/// Every `/heal` line of a comment up to the limit: a command, or the error that explains why
/// the line is not one. Pure: it reads nothing but `body`.
pub fn parse_comment(body: &str) -> CommentCommands {
    if !may_render_a_line_from_a_slash(body) {
        return CommentCommands::default();
    }
    read_comment(body)
}

/// Whether some line of the Markdown `body` may render to text starting with `/` (past the
/// whitespace a command may lead with), looked at without the Markdown parse, which most
/// comments and pull request descriptions (lists and links, but no line that opens with a
/// slash) then skip: it costs several times the parse of their whole webhook payload. A
/// rendered line starts where a source line does (either line ending, soft or hard break),
/// with that line's first character, unless it is one that can render to nothing or to a
/// `/`: an emphasis or image opener, a link's bracket, a backslash escape (and, to be safe,
/// HTML and code). An entity can render to anything, a line break included, anywhere.
fn may_render_a_line_from_a_slash(body: &str) -> bool {
    let bytes = body.as_bytes();
    if memchr::memchr(b'&', bytes).is_some() {
        return true;
    }
    if memchr::memchr(b'/', bytes).is_none() {
        return false;
    }
    let line_starts = memchr::memchr2_iter(b'\r', b'\n', bytes).map(|at| at + 1);
    std::iter::once(0).chain(line_starts).any(|start| {
        // A line ending is one byte, so `start` is on a character's boundary. The trim stops
        // at the line's end, so a run of blank lines is not walked again from each of them.
        let mut chars = body[start..]
            .trim_start_matches(|c: char| c.is_whitespace() && c != '\r' && c != '\n')
            .chars();
        match chars.next() {
            Some('/' | '[' | '\\' | '<' | '`') => true,
            Some('*' | '_' | '!') => chars.next().is_some_and(|c| !c.is_whitespace()),
            _ => false,
        }
    })
}

/// [`parse_comment`] past its look at the source lines: the Markdown parse.
fn read_comment(body: &str) -> CommentCommands {
    let mut out = CommentCommands::default();
    for line in top_level_paragraph_lines(body) {
        if out.lines.len() == MAX_COMMANDS_PER_COMMENT {
            out.beyond_limit += usize::from(is_command_line(&line));
            continue;
        }
        if let Some(parsed) = parse_line(&line) {
            out.lines.push(parsed);
        }
    }
    out
}

/// The commands of a comment (up to [`MAX_COMMANDS_PER_COMMENT`]).
pub fn parse_commands(body: &str) -> Vec<Result<HealCommand, CommandError>> {
    parse_comment(body).lines
}

fn is_command_line(line: &str) -> bool {
    let line = line.trim();
    line.get(..COMMAND_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(COMMAND_PREFIX))
        && line[COMMAND_PREFIX.len()..]
            .chars()
            .next()
            .is_none_or(char::is_whitespace)
}

/// `None` when the line is not a command at all (`/healing`, prose).
fn parse_line(line: &str) -> Option<Result<HealCommand, CommandError>> {
    let line = line.trim();
    let prefix = line.get(..COMMAND_PREFIX.len())?;
    if !prefix.eq_ignore_ascii_case(COMMAND_PREFIX) {
        return None;
    }
    let rest = &line[COMMAND_PREFIX.len()..];
    // `/healing` or `/heal-me` is a word of its own, not the command.
    if rest.chars().next().is_some_and(|c| !c.is_whitespace()) {
        return None;
    }
    Some(HealCommand::from_words(line, rest))
}

/// The lines of text of the comment's top-level paragraphs. Everything else (code blocks, block
/// quotes, lists, headings, HTML blocks) is skipped. Inline code and inline HTML stay in the line
/// as written, so a line that starts with them does not start with `/heal`.
fn top_level_paragraph_lines(body: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut depth = 0usize;
    let mut current: Option<String> = None;
    for event in Parser::new(body) {
        match event {
            Event::Start(tag) => {
                if depth == 0 && matches!(tag, Tag::Paragraph) {
                    current = Some(String::new());
                }
                depth += 1;
            }
            Event::End(tag) => {
                depth = depth.saturating_sub(1);
                if depth == 0 && matches!(tag, TagEnd::Paragraph) {
                    if let Some(text) = current.take() {
                        lines.extend(text.lines().map(|l| l.trim_end_matches('\r').to_string()));
                    }
                }
            }
            Event::Text(text) => {
                if let Some(current) = current.as_mut() {
                    current.push_str(&text);
                }
            }
            Event::Code(code) => {
                if let Some(current) = current.as_mut() {
                    current.push('`');
                    current.push_str(&code);
                    current.push('`');
                }
            }
            Event::InlineHtml(html) => {
                if let Some(current) = current.as_mut() {
                    current.push_str(&html);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(current) = current.as_mut() {
                    current.push('\n');
                }
            }
            _ => {}
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands(body: &str) -> Vec<HealCommand> {
        parse_commands(body)
            .into_iter()
            .map(|r| r.expect("a command"))
            .collect()
    }

    /// The look at the source lines may only skip a comment the Markdown parse finds no
    /// `/heal` line in: every way Markdown can open a line with a slash it did not write there.
    #[test]
    fn a_comment_skipped_before_the_markdown_parse_has_no_command_line() {
        let commanded = [
            "/heal approve",
            "  /HEAL pause",
            "lgtm\r/heal approve",
            "lgtm\r\n\u{a0}/heal approve",
            "&#47;heal approve",
            "&sol;heal approve",
            "lgtm&#10;/heal approve",
            "/he*al* approve",
            "*/heal approve*",
            "**/heal** approve",
            "_/heal_ approve",
            "[](https://example.com)/heal approve",
            "[/heal](https://example.com) approve",
            "![](https://example.com/x.png)/heal approve",
            "\\/heal approve",
            "lgtm  \n/heal approve",
            "lgtm\\\n/heal approve",
            "<span\n/heal approve>",
            "*lgtm\n/heal approve*",
        ];
        for text in commanded {
            assert!(
                !read_comment(text).lines.is_empty(),
                "{text:?} holds a command"
            );
            assert!(may_render_a_line_from_a_slash(text), "{text:?}");
            assert_eq!(parse_comment(text), read_comment(text), "{text:?}");
        }
        let description = "Fixes the retry loop.\r\n\r\n- [the issue](https://github.com/o/r/issues/1)\r\n* see `src/retry.rs`\r\n\r\nLooks good: https://ci.example/run/2 /heal is run by hand.";
        for text in [
            description,
            "* /heal approve",
            "- /heal approve",
            "no slash at all",
            "> /heal approve",
        ] {
            assert!(!may_render_a_line_from_a_slash(text), "{text:?}");
            assert_eq!(read_comment(text), CommentCommands::default(), "{text:?}");
        }
    }

    #[test]
    fn one_command_per_verb() {
        let cases = [
            ("approve", HealCommand::Approve),
            ("reject", HealCommand::Reject { reason: None }),
            ("pause", HealCommand::Pause),
            ("resume", HealCommand::Resume),
            ("rollback", HealCommand::Rollback),
            ("retry", HealCommand::Retry),
            ("status", HealCommand::Status),
            ("explain", HealCommand::Explain),
            ("promote", HealCommand::Promote),
            ("abort", HealCommand::Abort),
            ("help", HealCommand::Help),
        ];
        assert_eq!(cases.len(), VERBS.len());
        for (verb, expected) in cases {
            assert_eq!(expected.verb(), verb);
            assert_eq!(commands(&format!("/heal {verb}")), [expected], "{verb}");
        }
    }

    #[test]
    fn reject_keeps_its_reason() {
        assert_eq!(
            commands("/heal reject   the guard hides a real bug  "),
            [HealCommand::Reject {
                reason: Some("the guard hides a real bug".into())
            }]
        );
    }

    #[test]
    fn several_commands_in_one_comment() {
        let body =
            "Thanks, looks right.\n/heal approve\n\nAnd then:\n\n/heal status\n/heal explain";
        assert_eq!(
            commands(body),
            [
                HealCommand::Approve,
                HealCommand::Status,
                HealCommand::Explain
            ]
        );
    }

    #[test]
    fn commands_must_start_the_line() {
        assert!(parse_commands("please /heal approve").is_empty());
        assert!(parse_commands("I said: /heal approve\nthanks").is_empty());
    }

    #[test]
    fn leading_spaces_tabs_and_extra_whitespace_are_fine() {
        assert_eq!(commands("   /heal    approve   "), [HealCommand::Approve]);
        assert_eq!(commands("/heal\tpause"), [HealCommand::Pause]);
        assert_eq!(commands("text\n   /heal resume"), [HealCommand::Resume]);
    }

    #[test]
    fn crlf_line_endings() {
        let body = "LGTM\r\n/heal approve\r\n/heal reject too risky\r\n\r\n/heal status\r\n";
        assert_eq!(
            commands(body),
            [
                HealCommand::Approve,
                HealCommand::Reject {
                    reason: Some("too risky".into())
                },
                HealCommand::Status
            ]
        );
    }

    #[test]
    fn prefix_and_verb_ignore_case_but_the_reason_keeps_it() {
        assert_eq!(commands("/HEAL Approve"), [HealCommand::Approve]);
        assert_eq!(
            commands("/Heal REJECT Breaks API"),
            [HealCommand::Reject {
                reason: Some("Breaks API".into())
            }]
        );
    }

    #[test]
    fn words_that_only_start_with_heal_are_not_commands() {
        assert!(parse_commands("/healing approve").is_empty());
        assert!(parse_commands("/heal-approve").is_empty());
        assert!(parse_commands("/healbot approve").is_empty());
        assert!(parse_commands("heal approve").is_empty());
    }

    #[test]
    fn fenced_and_indented_code_blocks_are_ignored() {
        let fenced = "Run this:\n\n```\n/heal approve\n```\n\n~~~md\n/heal rollback\n~~~\n";
        assert!(parse_commands(fenced).is_empty());
        let indented = "Example:\n\n    /heal approve\n";
        assert!(parse_commands(indented).is_empty());
        let indented_first = "    /heal approve";
        assert!(parse_commands(indented_first).is_empty());
    }

    #[test]
    fn inline_code_is_ignored() {
        assert!(parse_commands("`/heal approve`").is_empty());
        assert!(parse_commands("Type `/heal approve` to approve.").is_empty());
        // Inline code across a line break stays on one line.
        assert!(parse_commands("Type `x\n/heal approve` to approve.").is_empty());
    }

    #[test]
    fn block_quotes_are_ignored() {
        assert!(parse_commands("> /heal approve").is_empty());
        assert!(parse_commands("> > /heal approve").is_empty());
        // A line right after a quote is part of it (lazy continuation), as GitHub renders it.
        assert!(parse_commands("> you wrote\n/heal approve").is_empty());
        assert_eq!(
            commands("> you wrote\n\n/heal approve"),
            [HealCommand::Approve]
        );
    }

    #[test]
    fn html_is_ignored() {
        assert!(parse_commands("<!-- /heal approve -->").is_empty());
        assert!(parse_commands("<details>\n/heal approve\n</details>").is_empty());
        assert!(parse_commands("<b>/heal approve</b>").is_empty());
    }

    #[test]
    fn lists_and_headings_are_not_top_level_paragraphs() {
        assert!(parse_commands("- /heal approve").is_empty());
        assert!(parse_commands("1. /heal approve").is_empty());
        assert!(parse_commands("# /heal approve").is_empty());
    }

    #[test]
    fn a_bare_heal_gets_a_helpful_reply() {
        let results = parse_commands("/heal");
        assert_eq!(results, [Err(CommandError::MissingVerb)]);
        let reply = results[0].as_ref().unwrap_err().reply();
        assert!(reply.contains("needs a command"), "{reply}");
        assert!(reply.contains("`/heal approve`"), "{reply}");
        assert_eq!(parse_commands("/heal   "), [Err(CommandError::MissingVerb)]);
    }

    #[test]
    fn an_unknown_verb_gets_the_list_of_verbs() {
        let results = parse_commands("/heal frobnicate now");
        let err = results[0].clone().unwrap_err();
        assert_eq!(
            err,
            CommandError::UnknownVerb {
                line: "/heal frobnicate now".into(),
                verb: "frobnicate".into()
            }
        );
        let reply = err.reply();
        assert!(reply.contains("`frobnicate`"), "{reply}");
        for (verb, _, _) in VERBS {
            assert!(
                reply.contains(&format!("`/heal {verb}")),
                "{verb} in {reply}"
            );
        }
    }

    #[test]
    fn arguments_after_a_verb_that_takes_none_are_refused() {
        let results = parse_commands("/heal approve please");
        let err = results[0].clone().unwrap_err();
        assert!(matches!(
            err,
            CommandError::UnexpectedArgument { verb: "approve", ref argument, .. } if argument == "please"
        ));
        assert!(err.to_string().contains("nothing was done"));
    }

    #[test]
    fn errors_and_commands_keep_their_order() {
        let results = parse_commands("/heal pause\n/heal nope\n/heal resume");
        assert_eq!(results.len(), 3);
        assert_eq!(results[0], Ok(HealCommand::Pause));
        assert!(results[1].is_err());
        assert_eq!(results[2], Ok(HealCommand::Resume));
    }

    #[test]
    fn emphasis_does_not_hide_a_command() {
        assert_eq!(commands("**/heal approve**"), [HealCommand::Approve]);
    }

    #[test]
    fn display_round_trips_through_the_parser() {
        let all = [
            HealCommand::Approve,
            HealCommand::Reject { reason: None },
            HealCommand::Reject {
                reason: Some("flaky test".into()),
            },
            HealCommand::Rollback,
            HealCommand::Help,
        ];
        for command in all {
            let text = command.to_string();
            assert!(text.starts_with("/heal "));
            assert_eq!(commands(&text), [command]);
        }
    }

    #[test]
    fn a_comment_is_read_up_to_the_limit_and_the_rest_counted() {
        let body: String = (0..7000).map(|i| format!("/heal z{i}\n\n")).collect();
        let parsed = parse_comment(&body);
        assert_eq!(parsed.lines.len(), MAX_COMMANDS_PER_COMMENT);
        assert_eq!(parsed.beyond_limit, 7000 - MAX_COMMANDS_PER_COMMENT);
        let mixed =
            "/heal status\nprose\n/heal pause\n/healing\n/heal a\n/heal b\n/heal c\n/heal d";
        let parsed = parse_comment(mixed);
        assert_eq!(parsed.lines.len(), 5);
        assert_eq!(parsed.beyond_limit, 1);
    }

    #[test]
    fn quoted_words_cannot_inject_markdown_or_html() {
        let [Err(e)] = &parse_commands("/heal `x`<!--healbot:hide-->@alice")[..] else {
            panic!("one error expected");
        };
        let text = e.to_string();
        let events: Vec<_> = Parser::new(&text).collect();
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, Event::InlineHtml(_) | Event::Html(_))),
            "{text}"
        );
        assert!(!text.contains('\n'));
        assert!(e.reply().contains("/heal approve"));
    }

    #[test]
    fn help_lists_every_verb() {
        let help = HealCommand::help_text();
        for (verb, _, _) in VERBS {
            assert!(help.contains(&format!("`/heal {verb}")), "{verb}");
        }
    }

    #[test]
    fn odd_input_does_not_panic() {
        for body in [
            "",
            "\n\n",
            "/",
            "/hea",
            "/heal\u{a0}approve",
            "é/heal",
            "```",
            "> ",
        ] {
            let _ = parse_commands(body);
        }
        // A non-breaking space separates like a space.
        assert_eq!(commands("/heal\u{a0}approve"), [HealCommand::Approve]);
    }
}
