//! `healbot audit verify --against-pr REPO#N`: every pull request healbot wrote on is a copy,
//! outside healbot's storage, of the audit entries it mirrored. The footers of healbot's own
//! comments there (`seq N · hash H`) become expected entries, so a log that lost one of them or
//! rewrote its history fails verification. Comments by anyone else are ignored: a footer typed by
//! a person proves nothing.

use crate::audit::checkpoint::ExpectedEntry;
use crate::config::bot::{BotConfig, WEBHOOK_SECRET_ENV};
use crate::forge::github::{AppCredentials, AppId, AppKey, GithubConfig, GithubForge};
use crate::forge::{Forge, PrNumber, RepoRef};
use anyhow::Context;
use std::path::Path;

/// `owner/name#N`, as GitHub writes a pull request's reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrRef {
    pub repo: RepoRef,
    pub number: PrNumber,
}

impl std::str::FromStr for PrRef {
    type Err = String;

    fn from_str(s: &str) -> Result<PrRef, String> {
        let bad = || format!("`{s}`: expected a pull request as owner/name#N");
        let (repo, number) = s.rsplit_once('#').ok_or_else(bad)?;
        let (owner, name) = repo.split_once('/').ok_or_else(bad)?;
        let valid = |part: &str| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        if !valid(owner) || !valid(name) {
            return Err(bad());
        }
        let number: u64 = number.parse().map_err(|_| bad())?;
        Ok(PrRef {
            repo: RepoRef(repo.to_string()),
            number: PrNumber(number),
        })
    }
}

/// The footers healbot wrote in `text`: `seq N · hash H`.
pub(crate) fn footers_in(text: &str) -> Vec<ExpectedEntry> {
    const MARK: &str = "healbot audit · seq ";
    let mut found = Vec::new();
    for (at, _) in text.match_indices(MARK) {
        let rest = &text[at + MARK.len()..];
        let Some((seq, rest)) = rest.split_once(" · hash ") else {
            continue;
        };
        let hash: String = rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        if let Ok(expected) = format!("{seq}:{hash}").parse::<ExpectedEntry>() {
            found.push(expected);
        }
    }
    found
}

/// Every footer of healbot's own comments on `prs`.
pub(crate) async fn expected_entries(
    config: &Path,
    prs: &[PrRef],
) -> anyhow::Result<Vec<(PrRef, ExpectedEntry)>> {
    let env_secret = crate::config::secrets::env_secret(WEBHOOK_SECRET_ENV);
    let config = BotConfig::load(config, env_secret.as_deref())?;
    let app = config.github.as_ref().context(
        "--against-pr needs the github: section of healbot.yaml (the App's credentials)",
    )?;
    let key = AppKey::from_file(&app.private_key_file)?;
    let forge = GithubForge::new(GithubConfig::new(
        app.api_url.clone(),
        AppCredentials {
            app_id: AppId(app.app_id),
            key,
        },
    ))?;
    let own = forge
        .own_login()
        .await
        .context("cannot read the App's login from GitHub")?;
    let mut all = Vec::new();
    for pr in prs {
        let pull = forge
            .pull_request(&pr.repo, pr.number)
            .await
            .with_context(|| format!("cannot read {}{}", pr.repo.0, pr.number))?;
        // The PR body is left out: people with write access can edit it.
        let before = all.len();
        for comment in pull.comments.iter().filter(|c| c.author == own) {
            all.extend(
                footers_in(&comment.body)
                    .into_iter()
                    .map(|e| (pr.clone(), e)),
            );
        }
        anyhow::ensure!(
            all.len() > before,
            "{}{} has no comment by {own} with an audit footer: nothing to check it against",
            pr.repo.0,
            pr.number
        );
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pr_references_parse_strictly() {
        let pr: PrRef = "acme/payment-service#12".parse().unwrap();
        assert_eq!(pr.repo.0, "acme/payment-service");
        assert_eq!(pr.number, PrNumber(12));
        for bad in [
            "acme#1",
            "acme/x",
            "acme/x#",
            "acme/x#one",
            "/x#1",
            "a b/x#1",
        ] {
            assert!(bad.parse::<PrRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn footers_are_read_from_comment_text() {
        let hash = "ab".repeat(32);
        let text = format!(
            "Merged.\n\n<sub>healbot audit · seq 17 · hash {hash}</sub>\n<!-- healbot:x -->"
        );
        let found = footers_in(&text);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].seq, found[0].hash.as_str()), (17, hash.as_str()));
        assert!(footers_in("healbot audit · seq x · hash zz").is_empty());
    }
}
