//! The GitHub webhook events healbot acts on, as typed and lenient serde structs: GitHub adds
//! fields all the time, so only what healbot reads is declared and most of it is optional.
//! Reviews and `/heal` comments become [`Override`]s here, so the GitHub channel and the local
//! forge's CLI hand the orchestrator the same values.

use crate::forge::{
    parse_comment, CommandError, CommitSha, HealCommand, Override, OverrideKind, PrNumber, RepoRef,
    ReviewState,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct User {
    #[serde(default)]
    pub login: String,
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

impl User {
    /// A GitHub App (healbot itself included): its comments never carry a person's override.
    pub(crate) fn is_bot(&self) -> bool {
        self.kind.as_deref() == Some("Bot") || self.login.ends_with("[bot]")
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Repository {
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub full_name: String,
    #[serde(default)]
    pub default_branch: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct InstallationRef {
    pub id: u64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct GitRef {
    #[serde(rename = "ref", default)]
    pub name: String,
    #[serde(default)]
    pub sha: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PullRequest {
    pub number: u64,
    #[serde(default)]
    pub head: GitRef,
    #[serde(default)]
    pub base: GitRef,
    #[serde(default)]
    pub merged: Option<bool>,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    #[serde(default)]
    pub user: Option<User>,
}

/// Actions are open-ended on GitHub's side: anything healbot does not name is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PullRequestAction {
    Opened,
    Closed,
    Synchronize,
    Reopened,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PullRequestEvent {
    pub action: PullRequestAction,
    pub pull_request: PullRequest,
    #[serde(default)]
    pub repository: Repository,
    #[serde(default)]
    pub installation: Option<InstallationRef>,
    #[serde(default)]
    pub sender: User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewAction {
    Submitted,
    Dismissed,
    #[serde(other)]
    Other,
}

/// Webhooks spell review states in lower case (the REST API in upper case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookReviewState {
    #[serde(alias = "APPROVED")]
    Approved,
    #[serde(alias = "CHANGES_REQUESTED")]
    ChangesRequested,
    #[serde(alias = "COMMENTED")]
    Commented,
    #[serde(alias = "DISMISSED")]
    Dismissed,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ReviewBody {
    pub id: u64,
    pub state: WebhookReviewState,
    #[serde(default)]
    pub commit_id: Option<String>,
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub body: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ReviewEvent {
    pub action: ReviewAction,
    pub review: ReviewBody,
    pub pull_request: PullRequest,
    #[serde(default)]
    pub repository: Repository,
    #[serde(default)]
    pub installation: Option<InstallationRef>,
    #[serde(default)]
    pub sender: User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentAction {
    Created,
    Edited,
    Deleted,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct CommentBody {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub user: Option<User>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Issue {
    pub number: u64,
    /// Present only when the issue is a pull request.
    #[serde(default)]
    pub pull_request: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct IssueCommentEvent {
    pub action: CommentAction,
    pub comment: CommentBody,
    pub issue: Issue,
    #[serde(default)]
    pub repository: Repository,
    #[serde(default)]
    pub installation: Option<InstallationRef>,
    #[serde(default)]
    pub sender: User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckRunAction {
    RequestedAction,
    Rerequested,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct CheckRunPr {
    pub number: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct CheckRun {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub head_sha: String,
    #[serde(default)]
    pub pull_requests: Vec<CheckRunPr>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct RequestedAction {
    #[serde(default)]
    pub identifier: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct CheckRunEvent {
    pub action: CheckRunAction,
    pub check_run: CheckRun,
    #[serde(default)]
    pub requested_action: Option<RequestedAction>,
    #[serde(default)]
    pub repository: Repository,
    #[serde(default)]
    pub installation: Option<InstallationRef>,
    #[serde(default)]
    pub sender: User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallationAction {
    Created,
    Deleted,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Installation {
    pub id: u64,
    #[serde(default)]
    pub account: Option<User>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct InstallationEvent {
    pub action: InstallationAction,
    pub installation: Installation,
    #[serde(default)]
    pub repositories: Option<Vec<Repository>>,
    #[serde(default)]
    pub sender: User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallationReposAction {
    Added,
    Removed,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct InstallationReposEvent {
    pub action: InstallationReposAction,
    pub installation: Installation,
    #[serde(default)]
    pub repositories_added: Vec<Repository>,
    #[serde(default)]
    pub repositories_removed: Vec<Repository>,
    #[serde(default)]
    pub sender: User,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PingEvent {
    #[serde(default)]
    pub zen: Option<String>,
    #[serde(default)]
    pub hook_id: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PushEvent {
    #[serde(rename = "ref", default)]
    pub git_ref: String,
    #[serde(default)]
    pub before: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub repository: Repository,
    #[serde(default)]
    pub installation: Option<InstallationRef>,
    /// The pushed commits, with the files each added, modified and removed.
    #[serde(default)]
    pub commits: Vec<PushCommit>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct PushCommit {
    #[serde(default)]
    pub added: Vec<String>,
    #[serde(default)]
    pub modified: Vec<String>,
    #[serde(default)]
    pub removed: Vec<String>,
}

impl PushEvent {
    /// Whether the push may have changed `path`: a commit lists it, or the payload lists no
    /// commits to tell (a force push to an older commit).
    pub fn touches(&self, path: &str) -> bool {
        self.commits.is_empty()
            || self.commits.iter().any(|c| {
                c.added
                    .iter()
                    .chain(&c.modified)
                    .chain(&c.removed)
                    .any(|p| p == path)
            })
    }
}

/// One event healbot knows, by its `X-GitHub-Event` name.
// Each event is moved a couple of times per delivery; boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
/// Serialized as the payload it holds, which `parse_slice` reads back to the same event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum GithubEvent {
    Ping(PingEvent),
    Push(PushEvent),
    PullRequest(PullRequestEvent),
    PullRequestReview(ReviewEvent),
    IssueComment(IssueCommentEvent),
    CheckRun(CheckRunEvent),
    Installation(InstallationEvent),
    InstallationRepositories(InstallationReposEvent),
}

/// A body that does not fit the event it claims to be; `Display` names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{event} payload: {field}: {message}")]
pub struct EventError {
    pub event: String,
    pub field: String,
    pub message: String,
}

fn typed<T: serde::de::DeserializeOwned>(event: &str, body: &Value) -> Result<T, EventError> {
    serde_path_to_error::deserialize(body).map_err(|e| EventError {
        event: event.to_string(),
        field: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

/// A body [`GithubEvent::parse_slice`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Not JSON at all.
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// JSON that does not fit the event.
    #[error(transparent)]
    Shape(#[from] EventError),
}

/// What [`GithubEvent::parse_slice`] read.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub event: Option<GithubEvent>,
    pub action: Option<String>,
}

/// The `action` of any JSON body (events healbot ignores may have any shape).
fn action_of(body: &[u8]) -> Result<Option<String>, BodyError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| BodyError::Malformed(e.to_string()))?;
    Ok(value
        .get("action")
        .and_then(Value::as_str)
        .map(str::to_string))
}

fn typed_slice<T: serde::de::DeserializeOwned>(event: &str, body: &[u8]) -> Result<T, BodyError> {
    // Every webhook is parsed before its 202, so the common case goes without path tracking
    // (about a sixth of the parse in a perf profile); only a body that fails is parsed again
    // to name the field.
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        if e.inner().classify() == serde_json::error::Category::Data {
            BodyError::Shape(EventError {
                event: event.to_string(),
                field: e.path().to_string(),
                message: e.inner().to_string(),
            })
        } else {
            BodyError::Malformed(e.into_inner().to_string())
        }
    })?;
    de.end().map_err(|e| BodyError::Malformed(e.to_string()))?;
    Ok(value)
}

impl GithubEvent {
    /// What the delivery log keeps of a delivery healbot acts on: the members healbot reads,
    /// as compact JSON that [`GithubEvent::parse_slice`] reads back to this same event. A
    /// 15.5 KB comment payload keeps about 400 bytes: the log writes (and syncs) that, not
    /// the whole payload.
    pub fn kept_body(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(self)
    }

    /// Parses `body` as the event `name`; `Ok(None)` for an event healbot does not know.
    pub fn parse(name: &str, body: &Value) -> Result<Option<GithubEvent>, EventError> {
        let event = match name {
            "ping" => GithubEvent::Ping(typed(name, body)?),
            "push" => GithubEvent::Push(typed(name, body)?),
            "pull_request" => GithubEvent::PullRequest(typed(name, body)?),
            "pull_request_review" => GithubEvent::PullRequestReview(typed(name, body)?),
            "issue_comment" => GithubEvent::IssueComment(typed(name, body)?),
            "check_run" => GithubEvent::CheckRun(typed(name, body)?),
            "installation" => GithubEvent::Installation(typed(name, body)?),
            "installation_repositories" => {
                GithubEvent::InstallationRepositories(typed(name, body)?)
            }
            _ => return Ok(None),
        };
        Ok(Some(event))
    }

    /// Parses a raw body as the event `name` in one pass, without building a JSON tree: most
    /// of a 15 KB payload is skipped. `event` is `None` for an event healbot does not know;
    /// `action` is the payload's `action`, for the delivery log.
    pub fn parse_slice(name: &str, body: &[u8]) -> Result<Parsed, BodyError> {
        let event = match name {
            "ping" => GithubEvent::Ping(typed_slice(name, body)?),
            "push" => GithubEvent::Push(typed_slice(name, body)?),
            "pull_request" => GithubEvent::PullRequest(typed_slice(name, body)?),
            "pull_request_review" => GithubEvent::PullRequestReview(typed_slice(name, body)?),
            "issue_comment" => GithubEvent::IssueComment(typed_slice(name, body)?),
            "check_run" => GithubEvent::CheckRun(typed_slice(name, body)?),
            "installation" => GithubEvent::Installation(typed_slice(name, body)?),
            "installation_repositories" => {
                GithubEvent::InstallationRepositories(typed_slice(name, body)?)
            }
            _ => {
                return Ok(Parsed {
                    event: None,
                    action: action_of(body)?,
                })
            }
        };
        let action = match event.action() {
            Some(action) => Some(action.to_string()),
            // An action healbot does not name: read the word itself for the log.
            None if event.has_action() => action_of(body)?,
            None => None,
        };
        Ok(Parsed {
            event: Some(event),
            action,
        })
    }

    /// Whether the payload has an `action` member at all.
    fn has_action(&self) -> bool {
        !matches!(self, GithubEvent::Ping(_) | GithubEvent::Push(_))
    }

    /// The action, when it is one healbot names.
    pub fn action(&self) -> Option<&'static str> {
        match self {
            GithubEvent::Ping(_) | GithubEvent::Push(_) => None,
            GithubEvent::PullRequest(e) => match e.action {
                PullRequestAction::Opened => Some("opened"),
                PullRequestAction::Closed => Some("closed"),
                PullRequestAction::Synchronize => Some("synchronize"),
                PullRequestAction::Reopened => Some("reopened"),
                PullRequestAction::Other => None,
            },
            GithubEvent::PullRequestReview(e) => match e.action {
                ReviewAction::Submitted => Some("submitted"),
                ReviewAction::Dismissed => Some("dismissed"),
                ReviewAction::Other => None,
            },
            GithubEvent::IssueComment(e) => match e.action {
                CommentAction::Created => Some("created"),
                CommentAction::Edited => Some("edited"),
                CommentAction::Deleted => Some("deleted"),
                CommentAction::Other => None,
            },
            GithubEvent::CheckRun(e) => match e.action {
                CheckRunAction::RequestedAction => Some("requested_action"),
                CheckRunAction::Rerequested => Some("rerequested"),
                CheckRunAction::Other => None,
            },
            GithubEvent::Installation(e) => match e.action {
                InstallationAction::Created => Some("created"),
                InstallationAction::Deleted => Some("deleted"),
                InstallationAction::Other => None,
            },
            GithubEvent::InstallationRepositories(e) => match e.action {
                InstallationReposAction::Added => Some("added"),
                InstallationReposAction::Removed => Some("removed"),
                InstallationReposAction::Other => None,
            },
        }
    }

    /// Deliveries with the same key are handled one at a time, in arrival order: those about
    /// one pull request (or issue), one installation, pushes to one repository. `None`: no
    /// order to keep (a ping).
    pub(crate) fn order_key(&self) -> Option<String> {
        let pr = |repo: &Repository, n: u64| Some(format!("pr:{}#{n}", repo.full_name));
        match self {
            GithubEvent::Ping(_) => None,
            GithubEvent::Push(e) => Some(format!("push:{}", e.repository.full_name)),
            GithubEvent::PullRequest(e) => pr(&e.repository, e.pull_request.number),
            GithubEvent::PullRequestReview(e) => pr(&e.repository, e.pull_request.number),
            GithubEvent::IssueComment(e) => pr(&e.repository, e.issue.number),
            GithubEvent::CheckRun(e) => match e.check_run.pull_requests.first() {
                Some(p) => pr(&e.repository, p.number),
                None => Some(format!(
                    "check:{}@{}",
                    e.repository.full_name, e.check_run.head_sha
                )),
            },
            GithubEvent::Installation(e) => Some(format!("installation:{}", e.installation.id)),
            GithubEvent::InstallationRepositories(e) => {
                Some(format!("installation:{}", e.installation.id))
            }
        }
    }

    /// Whether a comment carries `/heal` lines (commands, refused lines or lines past the
    /// limit): a comment without any needs no action from the app.
    pub(crate) fn has_commands(&self) -> bool {
        let found = self.overrides();
        !found.overrides.is_empty() || !found.rejected.is_empty() || found.beyond_limit > 0
    }

    /// Whether healbot acts on this action. Edited and deleted comments are recorded but never
    /// handed on, so an edit can never run a command twice.
    pub fn acts(&self) -> bool {
        match self {
            GithubEvent::Ping(_) | GithubEvent::Push(_) => true,
            GithubEvent::PullRequest(e) => e.action != PullRequestAction::Other,
            GithubEvent::PullRequestReview(e) => e.action != ReviewAction::Other,
            GithubEvent::IssueComment(e) => e.action == CommentAction::Created,
            GithubEvent::CheckRun(e) => e.action != CheckRunAction::Other,
            GithubEvent::Installation(e) => e.action != InstallationAction::Other,
            GithubEvent::InstallationRepositories(e) => e.action != InstallationReposAction::Other,
        }
    }

    /// The overrides a person expressed in this event, and the `/heal` lines that were not
    /// commands (each needs a reply). Bots, healbot included, never override.
    pub fn overrides(&self) -> Overrides {
        let mut out = Overrides::default();
        match self {
            GithubEvent::PullRequestReview(e) if !e.sender.is_bot() => {
                let state = match (e.action, e.review.state) {
                    (ReviewAction::Dismissed, _) => ReviewState::Dismissed,
                    (ReviewAction::Submitted, WebhookReviewState::Approved) => {
                        ReviewState::Approved
                    }
                    (ReviewAction::Submitted, WebhookReviewState::ChangesRequested) => {
                        ReviewState::ChangesRequested
                    }
                    (ReviewAction::Submitted, WebhookReviewState::Commented) => {
                        ReviewState::Commented
                    }
                    _ => return out,
                };
                let repo = &e.repository.full_name;
                let suffix = if state == ReviewState::Dismissed {
                    ":dismissed"
                } else {
                    ""
                };
                out.overrides.push(Override {
                    repo: RepoRef(repo.clone()),
                    pr: PrNumber(e.pull_request.number),
                    actor: e.sender.login.clone(),
                    actor_id: e.sender.id,
                    kind: OverrideKind::Review { state },
                    head_sha: CommitSha(
                        e.review
                            .commit_id
                            .clone()
                            .unwrap_or_else(|| e.pull_request.head.sha.clone()),
                    ),
                    source_id: format!(
                        "github:{repo}:pr{}:review:{}{suffix}",
                        e.pull_request.number, e.review.id
                    ),
                });
            }
            GithubEvent::IssueComment(e)
                if e.action == CommentAction::Created
                    && e.issue.pull_request.is_some()
                    && !e.sender.is_bot()
                    && !e.comment.user.as_ref().is_some_and(User::is_bot) =>
            {
                let repo = &e.repository.full_name;
                let body = e.comment.body.as_deref().unwrap_or("");
                let parsed = parse_comment(body);
                out.beyond_limit = parsed.beyond_limit;
                for (index, parsed) in parsed.lines.into_iter().enumerate() {
                    match parsed {
                        Ok(command) => out.overrides.push(Override {
                            repo: RepoRef(repo.clone()),
                            pr: PrNumber(e.issue.number),
                            actor: e.sender.login.clone(),
                            actor_id: e.sender.id,
                            kind: OverrideKind::Command { command },
                            // Not in the payload: the handler reads the PR head before acting.
                            head_sha: CommitSha(String::new()),
                            source_id: format!(
                                "github:{repo}:pr{}:comment:{}:{}",
                                e.issue.number,
                                e.comment.id,
                                index + 1
                            ),
                        }),
                        Err(reply) => out.rejected.push(reply),
                    }
                }
            }
            GithubEvent::CheckRun(e)
                if e.action == CheckRunAction::RequestedAction && !e.sender.is_bot() =>
            {
                let identifier = e
                    .requested_action
                    .as_ref()
                    .map(|a| a.identifier.as_str())
                    .unwrap_or("");
                let command = match identifier {
                    "approve" => HealCommand::Approve,
                    "rollback" => HealCommand::Rollback,
                    _ => return out,
                };
                let repo = &e.repository.full_name;
                for pr in &e.check_run.pull_requests {
                    out.overrides.push(Override {
                        repo: RepoRef(repo.clone()),
                        pr: PrNumber(pr.number),
                        actor: e.sender.login.clone(),
                        actor_id: e.sender.id,
                        kind: OverrideKind::Command {
                            command: command.clone(),
                        },
                        head_sha: CommitSha(e.check_run.head_sha.clone()),
                        // Stable: a replay with a new delivery id is the same click. GitHub sends
                        // no id per click, so one check run takes each action once per person.
                        source_id: format!(
                            "github:{repo}:pr{}:check_run:{}:{identifier}:{}",
                            pr.number,
                            e.check_run.id,
                            e.sender
                                .id
                                .map_or_else(|| e.sender.login.clone(), |id| id.to_string())
                        ),
                    });
                }
            }
            _ => {}
        }
        out
    }
}

/// What [`GithubEvent::overrides`] found.
#[derive(Debug, Default, PartialEq)]
pub struct Overrides {
    pub overrides: Vec<Override>,
    /// `/heal` lines that are not commands; `Display` says why.
    pub rejected: Vec<CommandError>,
    /// `/heal` lines beyond the per-comment limit, neither parsed nor run.
    pub beyond_limit: usize,
}

mod raw;
#[cfg(test)]
mod tests;

pub use raw::{leading_action, may_hold_heal_line};
