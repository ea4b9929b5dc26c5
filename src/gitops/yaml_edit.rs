//! Comment-preserving edits of users' YAML files. A PR that moves a canary weight must show a
//! one-line diff, so an edit replaces only the bytes of the target scalar (keeping its quoting
//! style) or inserts new lines at the indentation around them; every other byte stays as it was.
//! Each edit re-parses its result and checks the value reads back, so a bad edit is an error,
//! never a corrupted file.
//!
//! Paths: `spec.template.spec.containers[0].image`, `steps[0].setWeight`, and list items found
//! by a key, `containers[name=payment-service].image`. The empty path is the document root.

use super::yaml_path::{parse_path, seg_text, Seg};
use super::yaml_scalar::{indent_lines, plain_ok, render};
use super::yaml_tree::{self, column, Node, NodeKind};
use yaml_rust2::scanner::TScalarStyle;

#[derive(Debug, thiserror::Error)]
pub enum YamlEditError {
    #[error("{file}:{line}:{col}: not valid YAML: {message}")]
    Parse {
        file: String,
        line: usize,
        col: usize,
        message: String,
    },
    #[error("{file}: invalid path `{path}`: {reason}")]
    BadPath {
        file: String,
        path: String,
        reason: String,
    },
    #[error("{file}: `{path}` not found (no `{missing}`)")]
    NotFound {
        file: String,
        path: String,
        missing: String,
    },
    #[error("{file}: `{path}` is {found}, expected {expected}")]
    WrongKind {
        file: String,
        path: String,
        found: &'static str,
        expected: &'static str,
    },
    #[error("{file}: `{path}` cannot be edited in place: {reason}")]
    Unsupported {
        file: String,
        path: String,
        reason: String,
    },
    #[error("{file}: `{path}` already has the key `{key}`")]
    KeyExists {
        file: String,
        path: String,
        key: String,
    },
    #[error("{file}: cannot write {value:?} at `{path}`: {reason}")]
    BadValue {
        file: String,
        path: String,
        value: String,
        reason: String,
    },
    #[error("{file}: has no document {index} (it has {count})")]
    NoDocument {
        file: String,
        index: usize,
        count: usize,
    },
}

/// One YAML file (all its documents), with one document selected for reads and edits.
/// Edits return the new text; the document itself is never changed.
#[derive(Debug)]
pub struct YamlDoc {
    text: String,
    file: String,
    docs: Vec<Node>,
    current: usize,
}

impl YamlDoc {
    /// Parses `text`; `file` names it in every error.
    pub fn parse(text: &str, file: &str) -> Result<Self, YamlEditError> {
        let docs = yaml_tree::parse(text).map_err(|f| YamlEditError::Parse {
            file: file.to_string(),
            line: f.line,
            col: f.col,
            message: f.message,
        })?;
        Ok(YamlDoc {
            text: text.to_string(),
            file: file.to_string(),
            docs,
            current: 0,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    pub(crate) fn document_count(&self) -> usize {
        self.docs.len()
    }

    /// Selects the document (0-based) that later reads and edits address.
    pub(crate) fn select_document(&mut self, index: usize) -> Result<(), YamlEditError> {
        if index >= self.docs.len() {
            return Err(YamlEditError::NoDocument {
                file: self.file.clone(),
                index,
                count: self.docs.len(),
            });
        }
        self.current = index;
        Ok(())
    }

    /// The value of the scalar at `path` (any style, block scalars included).
    pub fn get(&self, path: &str) -> Result<String, YamlEditError> {
        let node = self.resolve(path)?.node;
        match &node.kind {
            NodeKind::Scalar(s) => Ok(s.value.clone()),
            other => Err(self.wrong_kind(path, other, "a scalar")),
        }
    }

    /// Whether `path` exists; an invalid path or one through an alias is still an error.
    pub fn contains(&self, path: &str) -> Result<bool, YamlEditError> {
        match self.resolve(path) {
            Ok(_) => Ok(true),
            Err(YamlEditError::NotFound { .. } | YamlEditError::WrongKind { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The keys of the mapping at `path`, in file order (non-scalar keys are skipped).
    pub fn keys(&self, path: &str) -> Result<Vec<String>, YamlEditError> {
        let node = self.resolve(path)?.node;
        match &node.kind {
            NodeKind::Map(entries) => Ok(entries
                .iter()
                .filter_map(|(k, _)| scalar_value(k).map(str::to_string))
                .collect()),
            other => Err(self.wrong_kind(path, other, "a mapping")),
        }
    }

    /// Number of items of the sequence at `path`.
    pub(crate) fn seq_len(&self, path: &str) -> Result<usize, YamlEditError> {
        let node = self.resolve(path)?.node;
        match &node.kind {
            NodeKind::Seq(items) => Ok(items.len()),
            other => Err(self.wrong_kind(path, other, "a sequence")),
        }
    }

    /// New text with the scalar at `path` set to `value`, only that scalar's bytes changed.
    pub fn set(&self, path: &str, value: &str) -> Result<String, YamlEditError> {
        self.set_many(&[(path, value)])
    }

    /// Several scalar replacements at once (distinct paths), checked as one edit.
    pub(crate) fn set_many(&self, edits: &[(&str, &str)]) -> Result<String, YamlEditError> {
        let mut plans = Vec::with_capacity(edits.len());
        for &(path, value) in edits {
            plans.push((self.plan_replacement(path, value)?, path, value));
        }
        plans.sort_by_key(|(plan, _, _)| std::cmp::Reverse(plan.span.0));
        let mut text = self.text.clone();
        let mut limit = text.len();
        for (plan, path, _) in &plans {
            let (start, end) = plan.span;
            if end > limit {
                return Err(self.bad_path(path, "edited twice in one change"));
            }
            text.replace_range(start..end, &plan.replacement);
            limit = start;
        }
        let edited = self.reparse(&text)?;
        for (plan, path, value) in &plans {
            if edited.get(&plan.canonical)? != *value {
                return Err(self.bad_value(path, value, "it does not read back unchanged"));
            }
        }
        Ok(text)
    }

    /// New text with `key: value_yaml` added to the mapping at `map_path`, after its last entry
    /// and at its indentation. `value_yaml` is a YAML fragment written at indentation 0.
    pub(crate) fn insert_key(
        &self,
        map_path: &str,
        key: &str,
        value_yaml: &str,
    ) -> Result<String, YamlEditError> {
        let node = self.resolve(map_path)?.node;
        let NodeKind::Map(entries) = &node.kind else {
            return Err(self.wrong_kind(map_path, &node.kind, "a mapping"));
        };
        if entries.iter().any(|(k, _)| scalar_value(k) == Some(key)) {
            return Err(YamlEditError::KeyExists {
                file: self.file.clone(),
                path: map_path.to_string(),
                key: key.to_string(),
            });
        }
        if !plain_ok(key, true) {
            return Err(self.bad_value(map_path, key, "the key would need quoting"));
        }
        let fragment = self.check_fragment(map_path, value_yaml)?;
        let eol = self.eol();
        let text = if node.flow {
            let fragment = self.single_line(map_path, fragment)?;
            let last_end = entries.last().and_then(|(k, v)| v.end.or(k.end));
            self.splice_flow(node.start, last_end, &format!("{key}: {fragment}"))
        } else {
            let pad = " ".repeat(column(&self.text, node.start));
            let rendered = if fragment.contains('\n') {
                format!(
                    "{eol}{pad}{key}:{}",
                    indent_lines(fragment, &format!("{pad}  "), eol)
                )
            } else {
                format!("{eol}{pad}{key}: {fragment}")
            };
            self.splice_block(node, &rendered)
        };
        let inserted = if map_path.is_empty() {
            key.to_string()
        } else {
            format!("{map_path}.{key}")
        };
        self.reparse(&text)?.resolve(&inserted)?;
        Ok(text)
    }

    /// New text with `item_yaml` appended to the sequence at `seq_path`.
    pub(crate) fn push_item(
        &self,
        seq_path: &str,
        item_yaml: &str,
    ) -> Result<String, YamlEditError> {
        let node = self.resolve(seq_path)?.node;
        let NodeKind::Seq(items) = &node.kind else {
            return Err(self.wrong_kind(seq_path, &node.kind, "a sequence"));
        };
        let fragment = self.check_fragment(seq_path, item_yaml)?;
        let text = if node.flow {
            let fragment = self.single_line(seq_path, fragment)?;
            self.splice_flow(node.start, items.last().and_then(|n| n.end), fragment)
        } else {
            let pad = " ".repeat(column(&self.text, node.start));
            let eol = self.eol();
            let mut lines = fragment.split('\n');
            let first = lines.next().unwrap_or_default().trim_end_matches('\r');
            let rest: Vec<&str> = lines.collect();
            let mut rendered = format!("{eol}{pad}- {first}");
            if !rest.is_empty() {
                rendered.push_str(&indent_lines(&rest.join("\n"), &format!("{pad}  "), eol));
            }
            self.splice_block(node, &rendered)
        };
        let count = self.seq_len(seq_path)?;
        if self.reparse(&text)?.seq_len(seq_path)? != count + 1 {
            return Err(self.bad_value(
                seq_path,
                item_yaml,
                "the item did not land in the sequence",
            ));
        }
        Ok(text)
    }

    /// New text without item `index` of the sequence at `seq_path`. In a block sequence the
    /// item's lines go (its `-` line and the deeper-indented lines under it); comments at the
    /// sequence's own indentation stay.
    pub(crate) fn remove_item(
        &self,
        seq_path: &str,
        index: usize,
    ) -> Result<String, YamlEditError> {
        let node = self.resolve(seq_path)?.node;
        let NodeKind::Seq(items) = &node.kind else {
            return Err(self.wrong_kind(seq_path, &node.kind, "a sequence"));
        };
        let item_path = format!("{seq_path}[{index}]");
        let item = items.get(index).ok_or_else(|| YamlEditError::NotFound {
            file: self.file.clone(),
            path: item_path.clone(),
            missing: item_path.clone(),
        })?;
        let (start, end) = if node.flow {
            let end_of = |n: &Node| {
                n.end
                    .ok_or_else(|| self.unsupported(&item_path, "the item's end is unknown"))
            };
            match (index.checked_sub(1), items.get(index + 1)) {
                (_, Some(next)) => (item.start, next.start),
                (Some(prev), None) => (end_of(&items[prev])?, end_of(item)?),
                (None, None) => (item.start, end_of(item)?),
            }
        } else {
            let (line_start, dash_col) = self.dash_line(&item_path, item)?;
            (line_start, self.block_end(item, dash_col))
        };
        let mut text = self.text.clone();
        text.replace_range(start..end, "");
        if self.reparse(&text)?.seq_len(seq_path)? + 1 != items.len() {
            return Err(self.unsupported(&item_path, "removing it did not shorten the sequence"));
        }
        Ok(text)
    }

    /// New text with `item_yaml` inserted as item `index` of the sequence at `seq_path` (before
    /// the item now at `index`; `index` equal to the length appends).
    pub(crate) fn insert_item(
        &self,
        seq_path: &str,
        index: usize,
        item_yaml: &str,
    ) -> Result<String, YamlEditError> {
        let node = self.resolve(seq_path)?.node;
        let NodeKind::Seq(items) = &node.kind else {
            return Err(self.wrong_kind(seq_path, &node.kind, "a sequence"));
        };
        let Some(before) = items.get(index) else {
            if index == items.len() {
                return self.push_item(seq_path, item_yaml);
            }
            return Err(self.bad_path(
                &format!("{seq_path}[{index}]"),
                &format!("the sequence has {} items", items.len()),
            ));
        };
        let fragment = self.check_fragment(seq_path, item_yaml)?;
        let (at, piece) = if node.flow {
            let fragment = self.single_line(seq_path, fragment)?;
            (before.start, format!("{fragment}, "))
        } else {
            let (line_start, dash_col) = self.dash_line(&format!("{seq_path}[{index}]"), before)?;
            let pad = " ".repeat(dash_col);
            let eol = self.eol();
            let mut lines = fragment.split('\n');
            let first = lines.next().unwrap_or_default().trim_end_matches('\r');
            let rest: Vec<&str> = lines.collect();
            let mut rendered = format!("{pad}- {first}");
            if !rest.is_empty() {
                rendered.push_str(&indent_lines(&rest.join("\n"), &format!("{pad}  "), eol));
            }
            rendered.push_str(eol);
            (line_start, rendered)
        };
        let mut text = self.text.clone();
        text.insert_str(at, &piece);
        if self.reparse(&text)?.seq_len(seq_path)? != items.len() + 1 {
            return Err(self.bad_value(
                seq_path,
                item_yaml,
                "the item did not land in the sequence",
            ));
        }
        Ok(text)
    }

    /// The byte offset of the line that holds a block sequence item's `-`, and the `-`'s
    /// column. The `-` must open its line (`- - x` is not edited).
    fn dash_line(&self, path: &str, item: &Node) -> Result<(usize, usize), YamlEditError> {
        let text = &self.text;
        let dash = text[..item.start]
            .trim_end_matches([' ', '\t', '\n', '\r'])
            .len()
            .checked_sub(1)
            .filter(|&d| text.as_bytes()[d] == b'-')
            .ok_or_else(|| self.unsupported(path, "no `-` before the item"))?;
        let line_start = text[..dash].rfind('\n').map_or(0, |i| i + 1);
        if !text[line_start..dash].chars().all(|c| c == ' ') {
            return Err(self.unsupported(path, "the item's `-` does not open its line"));
        }
        Ok((line_start, dash - line_start))
    }

    /// Just past the last line of a block item whose `-` is at column `dash_col`: the line of
    /// its last token and the deeper-indented lines after it, line break included.
    fn block_end(&self, item: &Node, dash_col: usize) -> usize {
        let text = &self.text;
        let last = item.end.unwrap_or(item.start);
        let mut end = text[last..].find('\n').map_or(text.len(), |i| last + i + 1);
        let mut cursor = end;
        while cursor < text.len() {
            let line_end = text[cursor..]
                .find('\n')
                .map_or(text.len(), |i| cursor + i + 1);
            let line = &text[cursor..line_end];
            let body = line.trim_start_matches(' ');
            if !body.trim().is_empty() {
                if line.len() - body.len() <= dash_col {
                    break;
                }
                end = line_end;
            }
            cursor = line_end;
        }
        end
    }

    fn reparse(&self, text: &str) -> Result<YamlDoc, YamlEditError> {
        let mut doc = YamlDoc::parse(text, &self.file)?;
        doc.select_document(self.current)?;
        Ok(doc)
    }

    fn eol(&self) -> &'static str {
        if self.text.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        }
    }

    /// The byte span of the scalar at `path` and the text that replaces it.
    fn plan_replacement(&self, path: &str, value: &str) -> Result<Planned, YamlEditError> {
        let Resolved {
            node,
            in_flow,
            canonical,
        } = self.resolve(path)?;
        let scalar = match &node.kind {
            NodeKind::Scalar(s) => s,
            NodeKind::Alias => {
                return Err(self.unsupported(path, "it is an alias (*name); edit its anchor"))
            }
            other => return Err(self.wrong_kind(path, other, "a scalar")),
        };
        if scalar.anchored {
            return Err(self.unsupported(
                path,
                "it carries an anchor (&name), so every alias would change too",
            ));
        }
        if matches!(scalar.style, TScalarStyle::Literal | TScalarStyle::Folded) {
            return Err(self.unsupported(path, "it is a block scalar (| or >)"));
        }
        let Some(span) = scalar.span else {
            let reason = if scalar.value.is_empty() {
                "it has no value to replace"
            } else {
                "it is a plain scalar folded over several lines"
            };
            return Err(self.unsupported(path, reason));
        };
        if value.contains(['\n', '\r']) {
            return Err(self.bad_value(path, value, "a line break would reflow the file"));
        }
        let replacement = render(value, scalar.style, &scalar.value, scalar.tagged, in_flow);
        Ok(Planned {
            span,
            replacement,
            canonical,
        })
    }

    /// The node at `path` in the selected document.
    fn resolve(&self, path: &str) -> Result<Resolved<'_>, YamlEditError> {
        let segs = parse_path(path).map_err(|reason| self.bad_path(path, &reason))?;
        let mut node = self
            .docs
            .get(self.current)
            .ok_or_else(|| YamlEditError::NoDocument {
                file: self.file.clone(),
                index: self.current,
                count: self.docs.len(),
            })?;
        let mut in_flow = node.flow;
        let mut walked = String::new();
        let mut canonical = String::new();
        for seg in &segs {
            walked.push_str(&seg_text(seg, walked.is_empty()));
            if !matches!(seg, Seg::Match(..)) {
                canonical.push_str(&seg_text(seg, canonical.is_empty()));
            }
            let next = match (seg, &node.kind) {
                (_, NodeKind::Alias) => {
                    return Err(
                        self.unsupported(path, &format!("`{walked}` goes through an alias"))
                    );
                }
                (Seg::Key(k), NodeKind::Map(entries)) => entries
                    .iter()
                    .find(|(key, _)| scalar_value(key) == Some(k.as_str()))
                    .map(|(_, v)| v),
                (Seg::Index(i), NodeKind::Seq(items)) => items.get(*i),
                (Seg::Match(k, v), NodeKind::Seq(items)) => {
                    let found = items.iter().position(|item| has_entry(item, k, v));
                    if let Some(i) = found {
                        canonical.push_str(&format!("[{i}]"));
                    }
                    found.and_then(|i| items.get(i))
                }
                (Seg::Key(_), other) => return Err(self.wrong_kind(&walked, other, "a mapping")),
                (_, other) => return Err(self.wrong_kind(&walked, other, "a sequence")),
            };
            node = next.ok_or_else(|| YamlEditError::NotFound {
                file: self.file.clone(),
                path: path.to_string(),
                missing: walked.clone(),
            })?;
            in_flow |= node.flow;
        }
        Ok(Resolved {
            node,
            in_flow,
            canonical,
        })
    }

    /// Checks that a fragment is YAML on its own and strips its trailing line breaks.
    fn check_fragment<'f>(&self, path: &str, fragment: &'f str) -> Result<&'f str, YamlEditError> {
        let trimmed = fragment.trim_end_matches(['\n', '\r']);
        match yaml_tree::parse(trimmed) {
            Ok(docs) if docs.len() == 1 && !trimmed.trim().is_empty() => Ok(trimmed),
            Ok(_) => Err(self.bad_value(path, fragment, "expected exactly one YAML value")),
            Err(f) => {
                Err(self.bad_value(path, fragment, &format!("line {}: {}", f.line, f.message)))
            }
        }
    }

    fn single_line<'f>(&self, path: &str, fragment: &'f str) -> Result<&'f str, YamlEditError> {
        if fragment.contains('\n') {
            return Err(self.bad_value(path, fragment, "a flow collection takes a one-line value"));
        }
        Ok(fragment)
    }

    /// Inserts `entry` into a flow collection that opens at `open`: after its last entry, or
    /// right after the bracket when it is empty.
    fn splice_flow(&self, open: usize, last_end: Option<usize>, entry: &str) -> String {
        let (at, piece) = match last_end {
            Some(end) => (end, format!(", {entry}")),
            None => (open + 1, entry.to_string()),
        };
        let mut text = self.text.clone();
        text.insert_str(at, &piece);
        text
    }

    /// Inserts `rendered` (which starts with a line break) after the last line of a block
    /// collection: the line of its last token, and deeper-indented lines after it (block scalar
    /// bodies, nested comments). Blank lines and shallower comments stay after the insertion.
    fn splice_block(&self, node: &Node, rendered: &str) -> String {
        let text = &self.text;
        let indent = column(text, node.start);
        let last = node.end.unwrap_or(node.start);
        let mut line_end = text[last..].find('\n').map_or(text.len(), |i| last + i);
        let mut cursor = line_end;
        while cursor < text.len() {
            let start = cursor + 1;
            let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
            let line = &text[start..end];
            let body = line.trim_start_matches(' ');
            if !body.trim().is_empty() {
                if line.len() - body.len() <= indent {
                    break;
                }
                line_end = end;
            }
            cursor = end;
        }
        let at = if text[..line_end].ends_with('\r') {
            line_end - 1
        } else {
            line_end
        };
        let mut out = text.clone();
        out.insert_str(at, rendered);
        out
    }

    fn wrong_kind(&self, path: &str, found: &NodeKind, expected: &'static str) -> YamlEditError {
        let found = match found {
            NodeKind::Scalar(_) => "a scalar",
            NodeKind::Map(_) => "a mapping",
            NodeKind::Seq(_) => "a sequence",
            NodeKind::Alias => "an alias",
        };
        YamlEditError::WrongKind {
            file: self.file.clone(),
            path: path.to_string(),
            found,
            expected,
        }
    }

    fn unsupported(&self, path: &str, reason: &str) -> YamlEditError {
        YamlEditError::Unsupported {
            file: self.file.clone(),
            path: path.to_string(),
            reason: reason.to_string(),
        }
    }

    fn bad_path(&self, path: &str, reason: &str) -> YamlEditError {
        YamlEditError::BadPath {
            file: self.file.clone(),
            path: path.to_string(),
            reason: reason.to_string(),
        }
    }

    fn bad_value(&self, path: &str, value: &str, reason: &str) -> YamlEditError {
        YamlEditError::BadValue {
            file: self.file.clone(),
            path: path.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// One scalar replacement: the source bytes it covers and what goes there.
struct Planned {
    span: (usize, usize),
    replacement: String,
    canonical: String,
}

/// A node found by a path.
struct Resolved<'a> {
    node: &'a Node,
    /// Whether the node sits inside a flow collection (where `,[]{}` end a plain scalar).
    in_flow: bool,
    /// The path with every `[key=value]` replaced by its index, still valid after the edit
    /// changes the value that selected the item.
    canonical: String,
}

fn has_entry(item: &Node, key: &str, value: &str) -> bool {
    match &item.kind {
        NodeKind::Map(entries) => entries
            .iter()
            .any(|(k, v)| scalar_value(k) == Some(key) && scalar_value(v) == Some(value)),
        _ => false,
    }
}

fn scalar_value(node: &Node) -> Option<&str> {
    match &node.kind {
        NodeKind::Scalar(s) => Some(s.value.as_str()),
        _ => None,
    }
}

#[cfg(test)]
#[path = "yaml_edit_tests.rs"]
mod tests;
