//! Fix templates: one YAML file per template, the same format for the ones compiled into the
//! binary and for a team's own directory. A template is safety-relevant input (it rewrites
//! production code), so loading is strict: unknown fields are rejected, the tree-sitter query
//! must compile, every placeholder must name a capture, and every error names the file and
//! the field.

use super::placeholder::placeholders;
use crate::detect::ErrorPattern;
use crate::localize::source::{python, SourceLanguage};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use tree_sitter::Query;

/// How much harm a wrong application of the template could do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    Low,
    Medium,
    High,
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        })
    }
}

/// The language a template rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateLanguage {
    Python,
    Rust,
    Go,
    #[serde(alias = "js")]
    JavaScript,
    Java,
}

impl TemplateLanguage {
    /// The short name, also the prefix of template ids (`rust.unwrap-or-default`).
    pub fn name(self) -> &'static str {
        match self {
            TemplateLanguage::Python => "python",
            TemplateLanguage::Rust => "rust",
            TemplateLanguage::Go => "go",
            TemplateLanguage::JavaScript => "js",
            TemplateLanguage::Java => "java",
        }
    }

    pub fn grammar(self) -> tree_sitter::Language {
        match self {
            TemplateLanguage::Python => python::language(),
            TemplateLanguage::Rust => tree_sitter_rust::LANGUAGE.into(),
            TemplateLanguage::Go => tree_sitter_go::LANGUAGE.into(),
            TemplateLanguage::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            TemplateLanguage::Java => tree_sitter_java::LANGUAGE.into(),
        }
    }

    /// The language of a source file, from its extension.
    pub(crate) fn of_path(path: &Path) -> Option<Self> {
        Some(match SourceLanguage::of_path(path)? {
            SourceLanguage::Python => TemplateLanguage::Python,
            SourceLanguage::Rust => TemplateLanguage::Rust,
            SourceLanguage::Go => TemplateLanguage::Go,
            SourceLanguage::JavaScript => TemplateLanguage::JavaScript,
            SourceLanguage::Java => TemplateLanguage::Java,
        })
    }

    /// A file name for a template's test case.
    pub(crate) fn sample_file(self) -> &'static str {
        match self {
            TemplateLanguage::Python => "case.py",
            TemplateLanguage::Rust => "case.rs",
            TemplateLanguage::Go => "case.go",
            TemplateLanguage::JavaScript => "case.js",
            TemplateLanguage::Java => "Case.java",
        }
    }

    /// The node kinds of an import statement in this grammar.
    pub(crate) fn import_kinds(self) -> &'static [&'static str] {
        match self {
            TemplateLanguage::Python => &["import_statement", "import_from_statement"],
            TemplateLanguage::Rust => &["use_declaration"],
            TemplateLanguage::Go | TemplateLanguage::Java => &["import_declaration"],
            TemplateLanguage::JavaScript => &["import_statement"],
        }
    }
}

/// What the function around the match returns; `?` is only valid in some.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FnReturn {
    /// `Result<…>` or an alias whose name ends in `Result` (Rust).
    Result,
    /// `Option<…>` (Rust).
    Option,
    /// No value: `()` in Rust, no result list in Go, `void` in Java.
    Unit,
    /// Anything else.
    Other,
}

/// The syntax-level match: a tree-sitter query and the roles of its captures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// A tree-sitter query; its captures name the parts the rewrite uses.
    pub query: String,
    /// The capture whose bytes the rewrite replaces.
    pub target: String,
    /// The capture that must cover the faulty line (default: `target`).
    #[serde(default)]
    pub anchor: Option<String>,
    /// The capture that must equal the faulting expression when localization knows it.
    #[serde(default)]
    pub focus: Option<String>,
    /// The enclosing function must return one of these (empty: any). Rust's `?` needs a
    /// `Result`/`Option`; an early `return;` needs a unit function.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub returns: Vec<FnReturn>,
}

/// A before → after example that `healbot templates test` and `cargo test` check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    pub before: String,
    /// The expected file after the rewrite; `null` means the template must not apply.
    #[serde(deserialize_with = "Option::deserialize")]
    pub after: Option<String>,
    /// The 1-based faulty line in `before`.
    pub line: u32,
    /// The faulting expression localization would report, if any.
    #[serde(default)]
    pub expression: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    id: String,
    description: String,
    patterns: Vec<ErrorPattern>,
    language: TemplateLanguage,
    #[serde(rename = "match")]
    matcher: MatchSpec,
    rewrite: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default)]
    imports: Vec<String>,
    confidence: f64,
    risk: Risk,
    tests: Vec<TestCase>,
}

/// A loaded and validated template.
#[derive(Clone)]
pub struct FixTemplate {
    pub id: String,
    pub description: String,
    pub patterns: Vec<ErrorPattern>,
    pub language: TemplateLanguage,
    pub matcher: MatchSpec,
    /// The replacement for the target, with `{capture}` placeholders (`{{`/`}}` for braces).
    /// Indentation is written in 4-space steps and converted to the file's own.
    pub rewrite: String,
    /// One line for the PR, with placeholders; the description when absent.
    pub summary: Option<String>,
    /// The message of the error `{@error}` builds (Rust), with placeholders.
    pub error_message: Option<String>,
    /// Import statements the rewrite needs, added when the file lacks them.
    pub imports: Vec<String>,
    /// In (0, 1].
    pub confidence: f64,
    pub risk: Risk,
    pub tests: Vec<TestCase>,
    /// The file it came from, for error messages.
    pub source: String,
    pub(crate) query: Arc<Query>,
}

impl fmt::Debug for FixTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixTemplate")
            .field("id", &self.id)
            .field("source", &self.source)
            .field("patterns", &self.patterns)
            .field("confidence", &self.confidence)
            .field("risk", &self.risk)
            .finish_non_exhaustive()
    }
}

impl FixTemplate {
    /// Whether the template fixes the error pattern with this id (`null_dereference`, …).
    pub fn fixes(&self, pattern_id: &str) -> bool {
        self.patterns.iter().any(|p| p.id() == pattern_id)
    }

    /// The capture that must cover the faulty line.
    pub fn anchor(&self) -> &str {
        self.matcher
            .anchor
            .as_deref()
            .unwrap_or(&self.matcher.target)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: field `{field}`: {message}")]
    Invalid {
        file: String,
        field: String,
        message: String,
    },
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("template id `{id}` is defined twice: {first} and {second}")]
    Duplicate {
        id: String,
        first: String,
        second: String,
    },
}

/// The templates shipped in `fix-templates/`, compiled into the binary: `build.rs` lists every
/// `*.yaml` of the directory.
const EMBEDDED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/embedded_templates.rs"));

/// The templates compiled into the binary.
pub fn embedded_templates() -> Result<Vec<FixTemplate>, TemplateError> {
    let mut out = Vec::new();
    for (name, text) in EMBEDDED {
        add(
            &mut out,
            parse_template(&format!("fix-templates/{name}"), text)?,
        )?;
    }
    Ok(out)
}

/// Every `*.yaml`/`*.yml` template in `dir`, in file-name order.
pub fn load_templates(dir: &Path) -> Result<Vec<FixTemplate>, TemplateError> {
    let io = |source| TemplateError::Io {
        file: dir.display().to_string(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            files.push(path);
        }
    }
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| TemplateError::Io {
            file: file.clone(),
            source,
        })?;
        add(&mut out, parse_template(&file, &text)?)?;
    }
    Ok(out)
}

fn add(out: &mut Vec<FixTemplate>, t: FixTemplate) -> Result<(), TemplateError> {
    if let Some(first) = out.iter().find(|o| o.id == t.id) {
        return Err(TemplateError::Duplicate {
            id: t.id,
            first: first.source.clone(),
            second: t.source,
        });
    }
    out.push(t);
    Ok(())
}

/// Parses and validates one template; `file` names it in errors and must be `<id>.yaml`.
pub fn parse_template(file: &str, text: &str) -> Result<FixTemplate, TemplateError> {
    let raw: RawTemplate = serde_norway::from_str(text).map_err(|e| TemplateError::Parse {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    let invalid = |field: &str, message: String| TemplateError::Invalid {
        file: file.to_string(),
        field: field.to_string(),
        message,
    };
    let prefix = format!("{}.", raw.language.name());
    let well_formed = raw.id.strip_prefix(&prefix).is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    });
    if !well_formed {
        return Err(invalid(
            "id",
            format!("`{}` must look like `{prefix}some-name`", raw.id),
        ));
    }
    let stem = Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if stem != raw.id {
        return Err(invalid(
            "id",
            format!("`{}` does not match the file name `{stem}`", raw.id),
        ));
    }
    if raw.description.trim().is_empty() {
        return Err(invalid("description", "must not be empty".into()));
    }
    if raw.patterns.is_empty() {
        return Err(invalid(
            "patterns",
            "name at least one error pattern".into(),
        ));
    }
    if !(raw.confidence > 0.0 && raw.confidence <= 1.0) {
        return Err(invalid(
            "confidence",
            format!("{} is not in (0, 1]", raw.confidence),
        ));
    }
    let query = Query::new(&raw.language.grammar(), &raw.matcher.query).map_err(|e| {
        invalid(
            "match.query",
            format!(
                "line {}, column {}: {:?} error: {}",
                e.row + 1,
                e.column + 1,
                e.kind,
                e.message
            ),
        )
    })?;
    let captures: BTreeSet<&str> = query.capture_names().iter().copied().collect();
    let known = || captures.iter().copied().collect::<Vec<_>>().join(", ");
    let roles = [
        ("match.target", Some(&raw.matcher.target)),
        ("match.anchor", raw.matcher.anchor.as_ref()),
        ("match.focus", raw.matcher.focus.as_ref()),
    ];
    for (field, name) in roles {
        if let Some(name) = name.filter(|n| !captures.contains(n.as_str())) {
            return Err(invalid(
                field,
                format!(
                    "`{name}` is not a capture of the query (captures: {})",
                    known()
                ),
            ));
        }
    }
    if raw.rewrite.trim().is_empty() {
        return Err(invalid("rewrite", "must not be empty".into()));
    }
    for (field, text) in [
        ("rewrite", Some(&raw.rewrite)),
        ("summary", raw.summary.as_ref()),
        ("error_message", raw.error_message.as_ref()),
    ] {
        let Some(text) = text else { continue };
        for name in placeholders(text).map_err(|m| invalid(field, m))? {
            let capture = match name.strip_prefix('@') {
                // The enclosing fn's error value: a Rust rewrite with a message to carry.
                Some("error") if field == "rewrite" => {
                    if raw.language != TemplateLanguage::Rust || raw.error_message.is_none() {
                        return Err(invalid(
                            field,
                            "`{@error}` needs `language: rust` and an `error_message`".into(),
                        ));
                    }
                    continue;
                }
                Some(computed) => match computed
                    .strip_prefix("first_arg.")
                    .or_else(|| computed.strip_prefix("text."))
                {
                    Some(capture) => capture.to_string(),
                    None => {
                        return Err(invalid(
                            field,
                            format!(
                                "`{{{name}}}` is not a computed placeholder (`{{@error}}` in a rewrite, `{{@first_arg.<capture>}}`, `{{@text.<capture>}}`)"
                            ),
                        ))
                    }
                },
                None => name.clone(),
            };
            if !captures.contains(capture.as_str()) {
                return Err(invalid(
                    field,
                    format!("`{{{name}}}` names no capture (captures: {})", known()),
                ));
            }
        }
    }
    for (i, import) in raw.imports.iter().enumerate() {
        if !is_import(raw.language, import) {
            return Err(invalid(
                &format!("imports[{i}]"),
                format!("`{import}` is not one import statement"),
            ));
        }
    }
    if raw.tests.is_empty() {
        return Err(invalid(
            "tests",
            "give at least one before/after case".into(),
        ));
    }
    for (i, case) in raw.tests.iter().enumerate() {
        let lines = case.before.lines().count() as u32;
        if case.line == 0 || case.line > lines {
            return Err(invalid(
                &format!("tests[{i}].line"),
                format!(
                    "{} is outside `before` (1..={lines}) in case `{}`",
                    case.line, case.name
                ),
            ));
        }
    }
    Ok(FixTemplate {
        id: raw.id,
        description: raw.description.trim().to_string(),
        patterns: raw.patterns,
        language: raw.language,
        matcher: raw.matcher,
        rewrite: raw.rewrite.trim_end_matches('\n').to_string(),
        summary: raw.summary.map(|s| s.trim().to_string()),
        error_message: raw.error_message.map(|s| s.trim().to_string()),
        imports: raw
            .imports
            .into_iter()
            .map(|i| i.trim().to_string())
            .collect(),
        confidence: raw.confidence,
        risk: raw.risk,
        tests: raw.tests,
        source: file.to_string(),
        query: Arc::new(query),
    })
}

fn is_import(language: TemplateLanguage, text: &str) -> bool {
    let mut parser = tree_sitter::Parser::new();
    if parser.set_language(&language.grammar()).is_err() {
        return false;
    }
    let Some(tree) = parser.parse(text.trim(), None) else {
        return false;
    };
    let root = tree.root_node();
    root.named_child_count() == 1
        && !root.has_error()
        && root
            .named_child(0)
            .is_some_and(|n| language.import_kinds().contains(&n.kind()))
}

#[cfg(test)]
mod tests;
