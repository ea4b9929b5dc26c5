//! The state folder flag, `--state-dir DIR`. Older scripts wrote `--state DIR`, which stays an
//! alias where it cannot be confused; but `--state open` is what `gh` users type to filter pull
//! requests, so a PR state word is never taken for a folder.

use std::path::PathBuf;

const PR_STATE_WORDS: [&str; 4] = ["open", "closed", "merged", "all"];

/// clap value parser for `--state-dir` and its `--state` alias.
pub fn parse(text: &str) -> Result<PathBuf, String> {
    if PR_STATE_WORDS.contains(&text.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "`{text}` is a pull request state, not a folder: the state folder is `--state-dir DIR` \
             (`healbot pr list --state {text}` filters pull requests; `healbot ops list --open` \
             lists unfinished operations)"
        ));
    }
    if text.is_empty() {
        return Err("the state folder is empty".into());
    }
    Ok(PathBuf::from(text))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pr_state_is_not_a_folder() {
        assert!(super::parse("open").unwrap_err().contains("--state-dir"));
        assert!(super::parse("Merged").is_err());
        assert_eq!(
            super::parse("/tmp/hb").unwrap(),
            std::path::PathBuf::from("/tmp/hb")
        );
    }
}
