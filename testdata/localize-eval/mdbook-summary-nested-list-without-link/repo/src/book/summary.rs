use anyhow::{bail, Context, Error, Result};
use pulldown_cmark::{Event, Parser, Tag};
use std::path::PathBuf;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub location: Option<PathBuf>,
    pub number: Option<SectionNumber>,
    pub nested_items: Vec<SummaryItem>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SectionNumber(pub Vec<u32>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SummaryItem {
    Link(Link),
    Separator,
    PartTitle(String),
}

impl SummaryItem {
    fn maybe_link_mut(&mut self) -> Option<&mut Link> {
        match *self {
            SummaryItem::Link(ref mut l) => Some(l),
            _ => None,
        }
    }
}

struct SummaryParser<'a> {
    src: &'a str,
    stream: pulldown_cmark::OffsetIter<'a, 'a>,
    offset: usize,
    back: Option<Event<'a>>,
}

impl<'a> SummaryParser<'a> {
    fn parse_nested_numbered(&mut self, parent: &SectionNumber) -> Result<Vec<SummaryItem>> {
        let mut items = Vec::new();

        loop {
            match self.next_event() {
                Some(Event::Start(Tag::Item)) => {
                    let item = self.parse_nested_item(parent, items.len())?;
                    items.push(item);
                }
                Some(Event::Start(Tag::List(..))) => {
                    // Skip this tag after comment bacause it is not nested.
                    if items.is_empty() {
                        continue;
                    }
                    let last_item = items.last_mut().and_then(SummaryItem::maybe_link_mut).unwrap();
                    let mut nested_items = self.parse_nested_numbered(&last_item.number.clone().unwrap())?;
                    last_item.nested_items.append(&mut nested_items);
                }
                Some(Event::End(Tag::List(..))) => break,
                Some(_) => {}
                None => break,
            }
        }

        Ok(items)
    }

    fn parse_nested_item(&mut self, parent: &SectionNumber, num_existing_items: usize) -> Result<SummaryItem> {
        loop {
            match self.next_event() {
                Some(Event::Start(Tag::Paragraph)) => continue,
                Some(Event::Start(Tag::Link(_type, href, _title))) => {
                    let mut link = self.parse_link(href.to_string());
                    let mut number = parent.clone();
                    number.0.push(num_existing_items as u32 + 1);
                    link.number = Some(number);
                    return Ok(SummaryItem::Link(link));
                }
                other => {
                    bail!(self.parse_error(format!("Expected a link, found {:?}", other)));
                }
            }
        }
    }

    fn parse_link(&mut self, href: String) -> Link {
        let href = href.replace("%20", " ");
        let link_content = collect_events!(self.stream, end Tag::Link(..));
        let name = stringify_events(link_content);
        let path = if href.is_empty() { None } else { Some(PathBuf::from(href)) };
        Link { name, location: path, number: None, nested_items: Vec::new() }
    }

    fn next_event(&mut self) -> Option<Event<'a>> {
        let next = self.back.take().or_else(|| {
            self.stream.next().map(|(ev, range)| {
                self.offset = range.start;
                ev
            })
        });
        next
    }

    fn parse_error<D: std::fmt::Display>(&self, msg: D) -> Error {
        anyhow::anyhow!("failed to parse SUMMARY.md at offset {}: {}", self.offset, msg)
    }
}

fn stringify_events(events: Vec<Event<'_>>) -> String {
    events
        .into_iter()
        .filter_map(|t| match t {
            Event::Text(text) | Event::Code(text) => Some(text.into_string()),
            Event::SoftBreak => Some(String::from(" ")),
            _ => None,
        })
        .collect()
}
