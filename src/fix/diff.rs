//! Unified diffs of a patched file, made with `similar`, for every kind of fix (templates, config
//! edits, reverts): the diff the PR shows and its line counts come from one place.

/// A file's unified diff with `a/<file>` and `b/<file>` headers and how many lines it adds and
/// removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileDiff {
    pub unified: String,
    pub added: usize,
    pub removed: usize,
}

pub(crate) fn file_diff(file: &str, original: &str, patched: &str) -> FileDiff {
    let diff = similar::TextDiff::from_lines(original, patched);
    let (mut added, mut removed) = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            similar::ChangeTag::Insert => added += 1,
            similar::ChangeTag::Delete => removed += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    let unified = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{file}"), &format!("b/{file}"))
        .to_string();
    FileDiff {
        unified,
        added,
        removed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_headers() {
        let d = file_diff("x.py", "a\nb\n", "a\nc\nd\n");
        assert_eq!((d.added, d.removed), (2, 1));
        assert!(
            d.unified.starts_with("--- a/x.py\n+++ b/x.py\n"),
            "{}",
            d.unified
        );
    }
}
