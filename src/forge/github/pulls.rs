//! Pull requests: open (finding the open PR with the same head first), read with comments and
//! reviews, comment, merge (a merged PR returns its merge commit) and close.

use super::client::Method;
use super::wire::{CommentReply, IdReply, MergeReply, PullReply, ReviewReply};
use super::{enc_query, repo_path, to_forge, CommentId, GithubForge};
use crate::forge::{
    Comment, CommitSha, ForgeError, NewPullRequest, PrNumber, PrState, PullRequest, RepoRef,
    Review, ReviewState,
};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

const PAGE: usize = 100;
/// A PR with more than this many comments or reviews is read only up to here.
const MAX_PAGES: usize = 30;

impl GithubForge {
    pub(super) async fn open_pull(
        &self,
        repo: &RepoRef,
        pr: &NewPullRequest,
    ) -> Result<PrNumber, ForgeError> {
        let base = repo_path(repo)?;
        let number = match self.find_open_by_head(repo, &pr.head).await? {
            Some(number) => number,
            None => {
                let body = json!({
                    "title": pr.title,
                    "body": pr.body,
                    "head": pr.head,
                    "base": pr.base,
                });
                let created: PullReply = self
                    .client
                    .repo_call(repo, Method::Post, &format!("{base}/pulls"), Some(&body))
                    .await
                    .map_err(to_forge)?;
                PrNumber(created.number)
            }
        };
        // Also on a found PR: a crash between creating and labelling must still end labelled.
        if !pr.labels.is_empty() {
            let body = json!({ "labels": pr.labels });
            let path = format!("{base}/issues/{}/labels", number.0);
            let _: Value = self
                .client
                .repo_call(repo, Method::Post, &path, Some(&body))
                .await
                .map_err(to_forge)?;
        }
        Ok(number)
    }

    async fn find_open_by_head(
        &self,
        repo: &RepoRef,
        head: &str,
    ) -> Result<Option<PrNumber>, ForgeError> {
        let owner = repo.0.split('/').next().unwrap_or_default();
        let path = format!(
            "{}/pulls?state=open&head={}&per_page={PAGE}",
            repo_path(repo)?,
            enc_query(&format!("{owner}:{head}"))
        );
        let open: Vec<PullReply> = self
            .client
            .repo_call(repo, Method::Get, &path, None)
            .await
            .map_err(to_forge)?;
        // Filter again: the head filter is GitHub's, and a fork's branch has the same name.
        Ok(open
            .into_iter()
            .find(|p| p.head.name == head && p.state == "open")
            .map(|p| PrNumber(p.number)))
    }

    async fn get_pull(&self, repo: &RepoRef, pr: PrNumber) -> Result<PullReply, ForgeError> {
        let path = format!("{}/pulls/{}", repo_path(repo)?, pr.0);
        self.client
            .repo_call(repo, Method::Get, &path, None)
            .await
            .map_err(|e| match e.status() {
                Some(404) => ForgeError::NotFound {
                    what: format!("PR {pr} in repository {}", repo.0),
                },
                _ => to_forge(e),
            })
    }

    pub(super) async fn load_pull(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
    ) -> Result<PullRequest, ForgeError> {
        let reply = self.get_pull(repo, pr).await?;
        let base = repo_path(repo)?;
        let comments: Vec<CommentReply> = self
            .all_pages(repo, &format!("{base}/issues/{}/comments", pr.0))
            .await?;
        let reviews: Vec<ReviewReply> = self
            .all_pages(repo, &format!("{base}/pulls/{}/reviews", pr.0))
            .await?;
        let state = if reply.is_merged() {
            PrState::Merged
        } else if reply.state == "open" {
            PrState::Open
        } else {
            PrState::Closed
        };
        let merge_sha = match state {
            PrState::Merged => reply.merge_commit_sha.clone().map(CommitSha),
            _ => None,
        };
        Ok(PullRequest {
            number: PrNumber(reply.number),
            title: reply.title,
            body: reply.body.unwrap_or_default(),
            head: reply.head.name,
            head_sha: CommitSha(reply.head.sha),
            base: reply.base.name,
            state,
            labels: reply.labels.into_iter().map(|l| l.name).collect(),
            merge_sha,
            comments: comments.into_iter().map(comment).collect(),
            reviews: reviews.into_iter().filter_map(review).collect(),
            created_at: reply.created_at,
        })
    }

    async fn all_pages<T: DeserializeOwned>(
        &self,
        repo: &RepoRef,
        path: &str,
    ) -> Result<Vec<T>, ForgeError> {
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let url = format!("{path}?per_page={PAGE}&page={page}");
            let items: Vec<T> = self
                .client
                .repo_call(repo, Method::Get, &url, None)
                .await
                .map_err(to_forge)?;
            let full = items.len() == PAGE;
            all.extend(items);
            if !full {
                break;
            }
        }
        Ok(all)
    }

    /// Posts a comment on a PR (PR comments are issue comments on GitHub).
    pub(crate) async fn post_comment(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
        body: &str,
    ) -> Result<CommentId, ForgeError> {
        let path = format!("{}/issues/{}/comments", repo_path(repo)?, pr.0);
        let reply: IdReply = self
            .client
            .repo_call(repo, Method::Post, &path, Some(&json!({ "body": body })))
            .await
            .map_err(to_forge)?;
        Ok(CommentId(reply.id))
    }

    pub(super) async fn merge_pull(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
        head: &CommitSha,
    ) -> Result<CommitSha, ForgeError> {
        let current = self.get_pull(repo, pr).await?;
        if current.is_merged() {
            return current.merge_commit_sha.map(CommitSha).ok_or_else(|| {
                ForgeError::Api(format!(
                    "PR {pr} in {} is merged but has no merge commit",
                    repo.0
                ))
            });
        }
        if current.state != "open" {
            return Err(ForgeError::Api(format!(
                "PR {pr} in repository {} is closed and cannot be merged",
                repo.0
            )));
        }
        let path = format!("{}/pulls/{}/merge", repo_path(repo)?, pr.0);
        // Pinned to the commit healbot validated: GitHub answers 409 when the head moved, so
        // a push in between is never merged unvalidated.
        if current.head.sha != head.0 {
            return Err(ForgeError::Conflict(format!(
                "PR {pr} in repository {}: the head is {}, not the validated {}",
                repo.0,
                CommitSha(current.head.sha.clone()).short(),
                head.short()
            )));
        }
        let body = json!({ "merge_method": "merge", "sha": head.0 });
        let merged: Result<MergeReply, _> = self
            .client
            .repo_call(repo, Method::Put, &path, Some(&body))
            .await;
        match merged {
            Ok(reply) => Ok(CommitSha(reply.sha)),
            Err(e) if matches!(e.status(), Some(405) | Some(409)) => Err(ForgeError::Conflict(
                format!("PR {pr} in repository {} cannot be merged: {e}", repo.0),
            )),
            Err(e) => Err(to_forge(e)),
        }
    }

    pub(super) async fn close_pull(&self, repo: &RepoRef, pr: PrNumber) -> Result<(), ForgeError> {
        let current = self.get_pull(repo, pr).await?;
        if current.is_merged() {
            return Err(ForgeError::Api(format!(
                "PR {pr} is merged and cannot be closed"
            )));
        }
        if current.state != "open" {
            return Ok(());
        }
        let path = format!("{}/pulls/{}", repo_path(repo)?, pr.0);
        let _: Value = self
            .client
            .repo_call(
                repo,
                Method::Patch,
                &path,
                Some(&json!({ "state": "closed" })),
            )
            .await
            .map_err(to_forge)?;
        Ok(())
    }
}

fn comment(c: CommentReply) -> Comment {
    Comment {
        id: c.id,
        author: c.user.map(|u| u.login).unwrap_or_else(|| "ghost".into()),
        body: c.body.unwrap_or_default(),
        created_at: c.created_at,
    }
}

/// A review healbot understands; pending reviews (not submitted) are left out.
fn review(r: ReviewReply) -> Option<Review> {
    let state = match r.state.as_str() {
        "APPROVED" => ReviewState::Approved,
        "CHANGES_REQUESTED" => ReviewState::ChangesRequested,
        "COMMENTED" => ReviewState::Commented,
        "DISMISSED" => ReviewState::Dismissed,
        _ => return None,
    };
    Some(Review {
        id: r.id,
        author: r.user.map(|u| u.login).unwrap_or_else(|| "ghost".into()),
        state,
        body: r.body.unwrap_or_default(),
        commit_sha: CommitSha(r.commit_id.unwrap_or_default()),
        submitted_at: r.submitted_at.unwrap_or_default(),
    })
}
