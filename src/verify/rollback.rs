//! Rolling back a fix the canary or verification rejected: the stable image goes back into the
//! Rollout manifest at weight 0 at once, and a revert PR takes the code change back out for a
//! person to merge. This module says what is written (the files as they were, the commit
//! messages, the revert PR); the orchestrator writes it, each write once
//! (`orchestrator/rollback.rs`).

use crate::forge::{CommitSha, FileChange, PrNumber};
use crate::model::IncidentId;

/// One rollback: why, of which service, back to which image.
#[derive(Debug, Clone, Copy)]
pub struct Rollback<'a> {
    pub incident: &'a IncidentId,
    pub service: &'a str,
    /// Why it rolls back (the failed canary step or verification).
    pub reason: &'a str,
    /// The image tag production ran before the fix.
    pub stable_tag: &'a str,
    /// The Rollout manifest the canary moved.
    pub manifest: &'a str,
}

impl Rollback<'_> {
    /// The manifest commit that puts the stable image back.
    pub(crate) fn manifest_message(&self) -> String {
        format!(
            "rollback({}): back to {} — {}",
            self.service, self.stable_tag, self.reason
        )
    }

    /// The branch of the revert PR.
    pub fn branch(&self) -> String {
        format!("healbot/revert-{}", crate::model::safe_id(&self.incident.0))
    }

    pub fn commit_message(&self) -> String {
        format!(
            "Revert healbot fix for {}\n\nThe canary rejected it: {}",
            self.incident, self.reason
        )
    }

    pub(crate) fn pr_title(&self) -> String {
        format!("Revert healbot fix for {}", self.incident)
    }

    pub fn pr_body(&self, fix_pr: PrNumber, manifest_commit: &CommitSha) -> String {
        format!(
            "healbot rolled back {fix_pr}: {}.\n\nThe stable image `{}` is back in `{}` \
             (commit {}). This PR reverts the code change; a person takes over from here.",
            self.reason,
            self.stable_tag,
            self.manifest,
            manifest_commit.short()
        )
    }

    /// The comment on the fix PR once both are written.
    pub fn comment(&self, manifest_commit: &CommitSha, revert_pr: PrNumber) -> String {
        format!(
            "Rolled back: `{}` is stable again (commit {}). Revert PR: {revert_pr}. A person takes over.",
            self.stable_tag,
            manifest_commit.short()
        )
    }
}

/// The fix's files as they were before it: each patched file's original text, and each file it
/// deleted with its content at the fix's base (`None` when it did not exist there either).
pub(crate) fn restore(
    patched: impl IntoIterator<Item = (String, String)>,
    deleted: impl IntoIterator<Item = (String, Option<String>)>,
) -> Vec<FileChange> {
    patched
        .into_iter()
        .map(|(path, original)| FileChange {
            path,
            content: Some(original),
        })
        .chain(
            deleted
                .into_iter()
                .map(|(path, content)| FileChange { path, content }),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_revert_names_the_incident_the_reason_and_the_stable_image() {
        let incident = IncidentId("inc-7".into());
        let r = Rollback {
            incident: &incident,
            service: "payment-service",
            reason: "canary failed at 10%: error_rate High",
            stable_tag: "v1.4.2",
            manifest: "deploy/rollout.yaml",
        };
        assert_eq!(
            r.manifest_message(),
            "rollback(payment-service): back to v1.4.2 — canary failed at 10%: error_rate High"
        );
        assert_eq!(r.branch(), "healbot/revert-inc-7");
        assert!(r
            .commit_message()
            .ends_with("rejected it: canary failed at 10%: error_rate High"));
        let sha = CommitSha("1f2c7ecd6731727e258a1f56068ce2756f188ee9".into());
        let body = r.pr_body(PrNumber(3), &sha);
        assert!(
            body.contains("`v1.4.2` is back in `deploy/rollout.yaml` (commit 1f2c7ec)"),
            "{body}"
        );
        assert!(r.comment(&sha, PrNumber(4)).contains("Revert PR: #4"));
    }

    #[test]
    fn restore_gives_back_patched_and_deleted_files() {
        let changes = restore(
            [("app.py".to_string(), "old\n".to_string())],
            [("gone.py".to_string(), Some("was here\n".to_string()))],
        );
        assert_eq!(
            changes,
            [
                FileChange {
                    path: "app.py".into(),
                    content: Some("old\n".into())
                },
                FileChange {
                    path: "gone.py".into(),
                    content: Some("was here\n".into())
                }
            ]
        );
    }
}
