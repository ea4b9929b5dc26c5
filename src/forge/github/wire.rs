//! The parts of GitHub's JSON replies healbot reads. Only the fields used are declared, so a
//! field GitHub adds (or a nullable one it leaves out) does not break decoding.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub(crate) struct RepoReply {
    pub default_branch: String,
    /// `https://github.com/owner/name.git`: where git fetches from.
    #[serde(default)]
    pub clone_url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RefReply {
    pub object: RefObject,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RefObject {
    pub sha: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ContentReply {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub encoding: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ShaReply {
    pub sha: String,
}

/// `GET /repos/{o}/{r}/commits/{ref}`.
#[derive(Debug, Deserialize)]
pub(crate) struct CommitReply {
    pub sha: String,
    pub commit: CommitDetail,
    #[serde(default)]
    pub parents: Vec<ShaReply>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CommitDetail {
    pub message: String,
    pub tree: ShaReply,
}

#[derive(Debug, Deserialize)]
pub(crate) struct UserReply {
    pub login: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct BranchReply {
    #[serde(rename = "ref")]
    pub name: String,
    pub sha: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LabelReply {
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PullReply {
    pub number: u64,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub state: String,
    #[serde(default)]
    pub merged: Option<bool>,
    #[serde(default)]
    pub merged_at: Option<String>,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    pub head: BranchReply,
    pub base: BranchReply,
    #[serde(default)]
    pub labels: Vec<LabelReply>,
    pub created_at: String,
}

impl PullReply {
    pub(crate) fn is_merged(&self) -> bool {
        self.merged.unwrap_or(false) || self.merged_at.is_some()
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CommentReply {
    pub id: u64,
    #[serde(default)]
    pub user: Option<UserReply>,
    #[serde(default)]
    pub body: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReviewReply {
    pub id: u64,
    #[serde(default)]
    pub user: Option<UserReply>,
    pub state: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub commit_id: Option<String>,
    #[serde(default)]
    pub submitted_at: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct MergeReply {
    pub sha: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct IdReply {
    pub id: u64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PermissionReply {
    pub permission: String,
    #[serde(default)]
    pub role_name: Option<String>,
}
