//! Source analysis per language: turns a `file:line` from a trace into syntax (the enclosing
//! function, the statement and what it does). One sibling file per language: Python uses
//! tree-sitter, Rust uses syn.

pub mod python;
pub mod rust;

use serde::{Deserialize, Serialize};
use std::path::Path;

/// Languages whose source healbot can analyse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SourceLanguage {
    Python,
    Rust,
    Go,
    JavaScript,
    Java,
}

impl SourceLanguage {
    /// The language of a file, from its extension.
    pub(crate) fn of_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "py" | "pyw" => Some(SourceLanguage::Python),
            "rs" => Some(SourceLanguage::Rust),
            "go" => Some(SourceLanguage::Go),
            "js" | "mjs" | "cjs" | "jsx" => Some(SourceLanguage::JavaScript),
            "java" => Some(SourceLanguage::Java),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("the tree-sitter grammar cannot be loaded: {0}")]
    Language(String),
    #[error("the parser gave no syntax tree")]
    Parse,
    #[error("syntax error at line {line}: {message}")]
    Syntax { line: u32, message: String },
}
