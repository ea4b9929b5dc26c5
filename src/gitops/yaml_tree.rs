//! A YAML document as a tree whose nodes remember their byte positions in the source, so that
//! `yaml_edit` can change one scalar's bytes and leave every other byte alone. Built from
//! yaml-rust2's event parser; its markers count chars, so every position is converted to bytes.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

#[derive(Debug)]
pub(crate) struct Node {
    pub kind: NodeKind,
    /// Byte offset of the node's first character (for a block sequence, its first `-`).
    pub start: usize,
    /// Byte offset just past the node's last token, when known (not for empty or block scalars).
    pub end: Option<usize>,
    pub flow: bool,
}

#[derive(Debug)]
pub(crate) enum NodeKind {
    Scalar(Scalar),
    Map(Vec<(Node, Node)>),
    Seq(Vec<Node>),
    Alias,
}

#[derive(Debug)]
pub(crate) struct Scalar {
    pub value: String,
    pub style: TScalarStyle,
    pub anchored: bool,
    pub tagged: bool,
    /// The exact source bytes of the scalar (quotes included), when they can be replaced as one
    /// run: not for block scalars, empty values or plain scalars folded over several lines.
    pub span: Option<(usize, usize)>,
}

/// A parse failure with its 1-based line and column.
#[derive(Debug)]
pub(crate) struct ParseFailure {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

struct Collector {
    events: Vec<(Event, usize)>,
    /// Byte offset of every char index, plus one entry for the end of the text.
    char_to_byte: Vec<usize>,
}

impl MarkedEventReceiver for Collector {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let last = self.char_to_byte.last().copied().unwrap_or(0);
        let byte = self.char_to_byte.get(mark.index()).copied().unwrap_or(last);
        self.events.push((ev, byte));
    }
}

/// Collections nested deeper than this are refused: the tree is built (and dropped) by
/// recursion, and a repository's YAML must not be able to exhaust the stack. Real manifests
/// nest a dozen levels.
pub(crate) const MAX_DEPTH: usize = 64;

/// Parses every document of `text`.
pub(crate) fn parse(text: &str) -> Result<Vec<Node>, ParseFailure> {
    let mut char_to_byte: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
    char_to_byte.push(text.len());
    let mut collector = Collector {
        events: Vec::new(),
        char_to_byte,
    };
    // Events one at a time: yaml-rust2's own `load` recurses per level and asserts on
    // malformed documents, and this text comes from repositories.
    let mut parser = Parser::new_from_str(text);
    let mut depth = 0usize;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| ParseFailure {
            line: e.marker().line(),
            col: e.marker().col() + 1,
            message: e.info().to_string(),
        })?;
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(ParseFailure {
                        line: mark.line(),
                        col: mark.col() + 1,
                        message: format!(
                            "nested deeper than {MAX_DEPTH} levels; healbot does not edit such YAML"
                        ),
                    });
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
        let end = event == Event::StreamEnd;
        collector.on_event(event, mark);
        if end {
            break;
        }
    }
    let mut builder = Builder {
        text,
        events: collector.events,
        pos: 0,
    };
    builder.documents()
}

struct Builder<'a> {
    text: &'a str,
    events: Vec<(Event, usize)>,
    pos: usize,
}

impl Builder<'_> {
    fn next(&mut self) -> Result<(Event, usize), ParseFailure> {
        let item = self.events.get(self.pos).cloned();
        self.pos += 1;
        item.ok_or_else(|| self.failure(self.text.len(), "unexpected end of events"))
    }

    fn failure(&self, at: usize, message: &str) -> ParseFailure {
        let before = &self.text[..at.min(self.text.len())];
        ParseFailure {
            line: before.matches('\n').count() + 1,
            col: before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
            message: message.to_string(),
        }
    }

    fn documents(&mut self) -> Result<Vec<Node>, ParseFailure> {
        let mut docs = Vec::new();
        loop {
            match self.next()? {
                (Event::StreamStart | Event::DocumentEnd, _) => {}
                (Event::StreamEnd, _) => return Ok(docs),
                (Event::DocumentStart, _) => docs.push(self.node(0)?),
                (_, at) => return Err(self.failure(at, "unexpected event between documents")),
            }
        }
    }

    fn node(&mut self, depth: usize) -> Result<Node, ParseFailure> {
        let (event, at) = self.next()?;
        if depth > MAX_DEPTH {
            return Err(self.failure(
                at,
                &format!("nested deeper than {MAX_DEPTH} levels; healbot does not edit such YAML"),
            ));
        }
        match event {
            Event::Scalar(value, style, anchor, tag) => {
                Ok(self.scalar(value, style, anchor, tag.is_some(), at))
            }
            Event::Alias(_) => Ok(Node {
                kind: NodeKind::Alias,
                start: at,
                end: Some(at + token_len(&self.text[at..])),
                flow: false,
            }),
            Event::SequenceStart(..) => {
                let mut items = Vec::new();
                while !matches!(self.events.get(self.pos), Some((Event::SequenceEnd, _))) {
                    items.push(self.node(depth + 1)?);
                }
                let (_, close) = self.next()?;
                let flow = self.byte_at(at) == Some(b'[') && self.byte_at(close) == Some(b']');
                let start = match items.first() {
                    Some(first) if !flow => self.dash_before(first.start).unwrap_or(at),
                    _ => at,
                };
                let end = if flow {
                    Some(close + 1)
                } else {
                    items.iter().filter_map(|n| n.end).max()
                };
                Ok(Node {
                    kind: NodeKind::Seq(items),
                    start,
                    end,
                    flow,
                })
            }
            Event::MappingStart(..) => {
                let mut entries = Vec::new();
                while !matches!(self.events.get(self.pos), Some((Event::MappingEnd, _))) {
                    let key = self.node(depth + 1)?;
                    let value = self.node(depth + 1)?;
                    entries.push((key, value));
                }
                let (_, close) = self.next()?;
                let flow = self.byte_at(at) == Some(b'{') && self.byte_at(close) == Some(b'}');
                let start = match entries.first() {
                    Some((key, _)) if !flow => key.start,
                    _ => at,
                };
                let end = if flow {
                    Some(close + 1)
                } else {
                    entries
                        .iter()
                        .flat_map(|(k, v)| [k.end, v.end])
                        .flatten()
                        .max()
                };
                Ok(Node {
                    kind: NodeKind::Map(entries),
                    start,
                    end,
                    flow,
                })
            }
            _ => Err(self.failure(at, "unexpected event")),
        }
    }

    fn scalar(
        &self,
        value: String,
        style: TScalarStyle,
        anchor: usize,
        tagged: bool,
        at: usize,
    ) -> Node {
        let rest = &self.text[at..];
        let span = match style {
            // A plain scalar is its own source text unless it was folded over several lines.
            TScalarStyle::Plain if !value.is_empty() && rest.starts_with(value.as_str()) => {
                Some((at, at + value.len()))
            }
            TScalarStyle::SingleQuoted => quoted_len(rest, b'\'').map(|n| (at, at + n)),
            TScalarStyle::DoubleQuoted => quoted_len(rest, b'"').map(|n| (at, at + n)),
            _ => None,
        };
        Node {
            kind: NodeKind::Scalar(Scalar {
                value,
                style,
                anchored: anchor != 0,
                tagged,
                span,
            }),
            start: at,
            end: span.map(|(_, e)| e),
            flow: false,
        }
    }

    fn byte_at(&self, at: usize) -> Option<u8> {
        self.text.as_bytes().get(at).copied()
    }

    /// The `-` that introduces a block sequence's first item: yaml-rust2 marks an indented
    /// sequence at its dash but an indentless one at its first item.
    fn dash_before(&self, item_start: usize) -> Option<usize> {
        let before = self.text[..item_start].trim_end_matches([' ', '\t']);
        before.ends_with('-').then(|| before.len() - 1)
    }
}

/// Length in bytes of a quoted scalar that starts at `s[0]` (the opening quote), both quotes
/// included. Single quotes escape themselves by doubling; double quotes escape with `\`.
fn quoted_len(s: &str, quote: u8) -> Option<usize> {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&quote) {
        return None;
    }
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b if b == quote && quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Length of an alias token such as `*base`.
fn token_len(s: &str) -> usize {
    s.find(|c: char| c.is_whitespace() || ",[]{}".contains(c))
        .unwrap_or(s.len())
}

/// Column (in chars, 0-based) of a byte offset.
pub(crate) fn column(text: &str, at: usize) -> usize {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..at].chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        for deep in [
            "[".repeat(100_000) + &"]".repeat(100_000),
            "{a: ".repeat(50_000) + "1" + &"}".repeat(50_000),
            (0..5_000)
                .map(|i| format!("{}- ", "  ".repeat(i)))
                .collect::<Vec<_>>()
                .join("\n")
                + "x",
        ] {
            let err = parse(&deep).expect_err("refused");
            assert!(
                err.message.contains("nested deeper") || !err.message.is_empty(),
                "{}",
                err.message
            );
        }
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn positions_are_bytes_even_after_non_ascii_text() {
        let text = "# é ü ß\nkey: 'it''s' # ç\nother: \"a\\\"b\"\n";
        let docs = parse(text).unwrap();
        let NodeKind::Map(entries) = &docs[0].kind else {
            panic!("not a map")
        };
        let NodeKind::Scalar(s) = &entries[0].1.kind else {
            panic!("not a scalar")
        };
        let (a, b) = s.span.unwrap();
        assert_eq!(&text[a..b], "'it''s'");
        let NodeKind::Scalar(s) = &entries[1].1.kind else {
            panic!("not a scalar")
        };
        let (a, b) = s.span.unwrap();
        assert_eq!(&text[a..b], "\"a\\\"b\"");
    }

    #[test]
    fn block_and_flow_collections_are_told_apart() {
        let text = "c:\n- [1]\n- x\nd:\n  - {k: v}\n";
        let docs = parse(text).unwrap();
        let NodeKind::Map(entries) = &docs[0].kind else {
            panic!("not a map")
        };
        let c = &entries[0].1;
        assert!(!c.flow);
        assert_eq!(c.start, 3);
        let NodeKind::Seq(items) = &c.kind else {
            panic!("not a seq")
        };
        assert!(items[0].flow);
        let d = &entries[1].1;
        assert!(!d.flow);
        assert_eq!(column(text, d.start), 2);
    }

    #[test]
    fn folded_plain_and_block_scalars_have_no_span() {
        let text = "a: plain\n  folded\nb: |\n  lit\nc:\nd: 1\n";
        let docs = parse(text).unwrap();
        let NodeKind::Map(entries) = &docs[0].kind else {
            panic!("not a map")
        };
        for (_, v) in entries.iter().take(3) {
            let NodeKind::Scalar(s) = &v.kind else {
                panic!("not a scalar")
            };
            assert!(s.span.is_none(), "{s:?}");
        }
    }
}
