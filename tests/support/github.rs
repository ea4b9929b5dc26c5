//! A stateful fake GitHub on wiremock, as rust-lang/bors tests do: repositories with real git
//! objects (trees as path → content maps, commits with parents), refs, contents, pull requests,
//! comments, reviews, labels, merges, check runs, reactions, permissions, the app's
//! installation-token endpoint (which verifies the JWT with the test public key) and the App
//! manifest flow (an owner's confirmation issues a code; its conversion returns the new App).
//!
//! It is kept honest by GitHub's own OpenAPI schemas (copied into `testdata/spec/github-rest/`): every
//! request body healbot sends and every response the fake returns is validated against the
//! operation's schema, and [`FakeGithub::assert_clean`] fails the test on any mismatch, on any
//! call to an operation outside the spec, and on any bot comment the test did not expect.

use super::git_http::blob_sha;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The app id the tests sign JWTs as.
pub const APP_ID: u64 = 4242;
/// The installation every fake repository belongs to.
pub const INSTALLATION_ID: u64 = 77;
/// The login GitHub shows for what the app writes.
pub const BOT_LOGIN: &str = "healbot[bot]";

/// The throwaway test-only private key of the app.
pub fn test_key_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/keys/test-only-github-app.pem")
}

fn test_public_key() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/keys/test-only-github-app.pub.pem");
    std::fs::read(path).expect("test public key")
}

/// A canned rate-limit answer for the next API request (token requests excluded).
#[derive(Debug, Clone)]
pub enum Injection {
    /// 429 with `retry-after: secs`.
    RetryAfter(u64),
    /// 403 with `x-ratelimit-remaining: 0` and a reset `secs` from now.
    Exhausted(u64),
    /// 403 "secondary rate limit" without `retry-after`.
    Secondary,
    /// A normal answer, but saying the primary limit is used up until `secs` from now.
    LastOfWindow(u64),
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub at: Instant,
    /// The request body as healbot sent it (what a leak test searches).
    pub body: String,
}

#[derive(Debug, Clone)]
struct FakeCommit {
    tree: String,
    parents: Vec<String>,
    message: String,
}

#[derive(Debug, Clone)]
struct FakeRepo {
    id: u64,
    default_branch: String,
    /// `heads/main` → sha.
    refs: BTreeMap<String, String>,
    permissions: HashMap<String, String>,
}

#[derive(Debug, Clone)]
struct FakePr {
    repo: String,
    number: u64,
    title: String,
    body: String,
    head: String,
    head_sha: String,
    base: String,
    open: bool,
    merge_sha: Option<String>,
    labels: Vec<String>,
    created_at: String,
}

#[derive(Debug, Clone)]
struct FakeComment {
    repo: String,
    issue: u64,
    id: u64,
    user: String,
    body: String,
    created_at: String,
}

#[derive(Debug, Clone)]
struct FakeReview {
    repo: String,
    pr: u64,
    id: u64,
    user: String,
    state: String,
    body: String,
    commit_id: String,
}

#[derive(Default)]
struct State {
    repos: BTreeMap<String, FakeRepo>,
    blobs: HashMap<String, String>,
    trees: HashMap<String, BTreeMap<String, String>>,
    commits: HashMap<String, FakeCommit>,
    prs: BTreeMap<u64, FakePr>,
    comments: Vec<FakeComment>,
    reviews: Vec<FakeReview>,
    check_runs: Vec<Value>,
    reactions: Vec<(u64, String)>,
    /// token → expiry (unix seconds).
    tokens: HashMap<String, u64>,
    token_requests: usize,
    token_ttl_secs: u64,
    next_id: u64,
    injections: VecDeque<Injection>,
    violations: Vec<String>,
    seen: Vec<Seen>,
    /// Bot comments a test has already accounted for.
    comments_checked: usize,
    /// Manifest-flow codes not yet exchanged: code → (organization, manifest).
    manifest_codes: HashMap<String, (String, Value)>,
    /// Apps created through the manifest flow, as the conversion returned them.
    created_apps: Vec<Value>,
    /// The bodies of every merge call (`PUT /pulls/N/merge`), in order.
    merge_calls: Vec<Value>,
    /// The git objects of every repository, and the smart-HTTP server of their refs.
    git: super::git_http::GitObjects,
    /// Git requests refused for want of a valid installation token.
    git_refused: usize,
    /// Login → user id where a test changed who holds a login; others follow the harness's
    /// `1000 + len(login)` (`support::app::person`).
    users: HashMap<String, u64>,
    /// Branch protection, rulesets, CI runs and commit statuses.
    ci: super::github_ci::CiState,
}

impl State {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// The fake GitHub server and its state.
pub struct FakeGithub {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl FakeGithub {
    pub async fn start() -> FakeGithub {
        // The App's JWTs are checked with healbot's own RS256 provider (ring).
        healbot::forge::github::install_jwt_crypto();
        let state = Arc::new(Mutex::new(State {
            token_ttl_secs: 3600,
            next_id: 1000,
            ..State::default()
        }));
        let server = MockServer::start().await;
        let responder = Responder {
            state: state.clone(),
            base: server.uri(),
            key: DecodingKey::from_rsa_pem(&test_public_key()).expect("test public key"),
        };
        Mock::given(wiremock::matchers::any())
            .respond_with(responder)
            .mount(&server)
            .await;
        FakeGithub { server, state }
    }

    pub fn url(&self) -> String {
        self.server.uri()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates `owner/name` with one commit holding `files` on `default_branch`; returns its sha.
    pub fn add_repo(
        &self,
        full_name: &str,
        default_branch: &str,
        files: &[(&str, &str)],
    ) -> String {
        self.add_repo_at(full_name, default_branch, files, None)
    }

    /// [`FakeGithub::add_repo`] with its first commit dated `time` (unix seconds; `None`: now).
    pub fn add_repo_at(
        &self,
        full_name: &str,
        default_branch: &str,
        files: &[(&str, &str)],
        time: Option<i64>,
    ) -> String {
        let mut s = self.lock();
        let tree: BTreeMap<String, String> = files
            .iter()
            .map(|(p, c)| (p.to_string(), c.to_string()))
            .collect();
        let tree_sha = store_tree(&mut s, tree);
        let sha = store_commit_at(&mut s, tree_sha, vec![], "Initial commit\n".into(), time);
        let id = s.next_id();
        s.repos.insert(
            full_name.to_string(),
            FakeRepo {
                id,
                default_branch: default_branch.to_string(),
                refs: BTreeMap::from([(format!("heads/{default_branch}"), sha.clone())]),
                permissions: HashMap::new(),
            },
        );
        sha
    }

    /// Pushes a commit to `branch` as a person would (outside healbot).
    pub fn push(&self, repo: &str, branch: &str, files: &[(&str, &str)], message: &str) -> String {
        self.push_at(repo, branch, files, message, None)
    }

    /// [`FakeGithub::push`] of a commit dated `time` (unix seconds; `None`: now).
    pub fn push_at(
        &self,
        repo: &str,
        branch: &str,
        files: &[(&str, &str)],
        message: &str,
        time: Option<i64>,
    ) -> String {
        let mut s = self.lock();
        let parent = s.repos[repo].refs[&format!("heads/{branch}")].clone();
        let mut tree = s.trees[&s.commits[&parent].tree].clone();
        for (p, c) in files {
            tree.insert(p.to_string(), c.to_string());
        }
        let tree_sha = store_tree(&mut s, tree);
        let sha = store_commit_at(&mut s, tree_sha, vec![parent], message.into(), time);
        if let Some(r) = s.repos.get_mut(repo) {
            r.refs.insert(format!("heads/{branch}"), sha.clone());
        }
        sha
    }

    /// Creates `branch` at commit `sha`, as a person would.
    pub fn create_branch(&self, repo: &str, branch: &str, sha: &str) {
        if let Some(r) = self.lock().repos.get_mut(repo) {
            r.refs.insert(format!("heads/{branch}"), sha.to_string());
        }
    }

    /// The bodies of the merge calls so far (`sha` pins the head GitHub may merge).
    pub fn merge_calls(&self) -> Vec<Value> {
        self.lock().merge_calls.clone()
    }

    /// `login` now belongs to user `id` (a rename and re-registration).
    /// Protects `branch` of `repo` (classic branch protection).
    pub fn protect(&self, repo: &str, branch: &str, protection: super::github_ci::Protection) {
        self.lock().ci.protect(repo, branch, protection);
    }

    /// Adds a ruleset rule (`{"type": …, "parameters": …}`) that applies to `branch`.
    pub fn add_ruleset_rule(&self, repo: &str, branch: &str, rule: Value) {
        self.lock().ci.add_ruleset_rule(repo, branch, rule);
    }

    /// CI job `name` of `repo` behaves as `ci` on commits it has not reported on yet.
    pub fn set_ci(&self, repo: &str, name: &str, ci: super::github_ci::Ci) {
        self.lock().ci.set_job(repo, name, ci);
    }

    /// A person re-runs CI job `name` on `sha`.
    pub fn rerun(&self, repo: &str, sha: &str, name: &str, ci: super::github_ci::Ci) {
        let mut s = self.lock();
        let id = s.next_id();
        s.ci.rerun(repo, sha, name, ci, id);
    }

    /// A commit status (`context` = `state`) on `sha`.
    pub fn set_status(&self, repo: &str, sha: &str, context: &str, state: &str) {
        self.lock().ci.set_status(repo, sha, context, state);
    }

    /// Open PRs of `repo` by head branch: (number, head branch, open).
    pub fn prs_of(&self, repo: &str) -> Vec<(u64, String, bool)> {
        let s = self.lock();
        s.prs
            .values()
            .filter(|p| p.repo == repo)
            .map(|p| (p.number, p.head.clone(), p.open))
            .collect()
    }

    pub fn set_user_id(&self, login: &str, id: u64) {
        self.lock().users.insert(login.to_ascii_lowercase(), id);
    }

    pub fn set_permission(&self, repo: &str, user: &str, permission: &str) {
        if let Some(r) = self.lock().repos.get_mut(repo) {
            r.permissions.insert(user.into(), permission.into());
        }
    }

    /// A person's review on the PR's current head.
    pub fn add_review(&self, repo: &str, pr: u64, user: &str, state: &str, body: &str) -> u64 {
        let mut s = self.lock();
        let id = s.next_id();
        let commit_id = current_head(&s, &s.prs[&pr]);
        s.reviews.push(FakeReview {
            repo: repo.into(),
            pr,
            id,
            user: user.into(),
            state: state.into(),
            body: body.into(),
            commit_id,
        });
        id
    }

    /// A person's comment on an issue or PR.
    pub fn add_comment(&self, repo: &str, issue: u64, user: &str, body: &str) -> u64 {
        let mut s = self.lock();
        let id = s.next_id();
        s.comments.push(FakeComment {
            repo: repo.into(),
            issue,
            id,
            user: user.into(),
            body: body.into(),
            created_at: now_iso(),
        });
        id
    }

    pub fn inject(&self, injection: Injection) {
        self.lock().injections.push_back(injection);
    }

    /// How long new installation tokens live.
    pub fn set_token_ttl(&self, secs: u64) {
        self.lock().token_ttl_secs = secs;
    }

    /// Every installation token the fake has issued (what a leak test searches for).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.lock().tokens.keys().cloned().collect()
    }

    /// Git requests refused for want of a valid installation token.
    pub fn git_refused(&self) -> usize {
        self.lock().git_refused
    }

    /// A token the fake accepts, as an installation token would be (for a test's own git
    /// client).
    pub fn issue_token(&self) -> String {
        let mut s = self.lock();
        let token = format!("ghs_test{}", s.next_id());
        let exp = unix_now() + s.token_ttl_secs;
        s.tokens.insert(token.clone(), exp);
        token
    }

    pub fn token_requests(&self) -> usize {
        self.lock().token_requests
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    pub fn branch(&self, repo: &str, branch: &str) -> Option<String> {
        self.lock()
            .repos
            .get(repo)?
            .refs
            .get(&format!("heads/{branch}"))
            .cloned()
    }

    /// The file at a commit, branch name or sha.
    pub fn file(&self, repo: &str, git_ref: &str, path: &str) -> Option<String> {
        let s = self.lock();
        let sha = resolve(&s, repo, git_ref)?;
        s.trees.get(&s.commits.get(&sha)?.tree)?.get(path).cloned()
    }

    pub fn commit_message(&self, sha: &str) -> Option<String> {
        self.lock().commits.get(sha).map(|c| c.message.clone())
    }

    pub fn commit_parents(&self, sha: &str) -> Vec<String> {
        self.lock()
            .commits
            .get(sha)
            .map(|c| c.parents.clone())
            .unwrap_or_default()
    }

    /// Numbers of the PRs in `repo`.
    pub fn pr_numbers(&self, repo: &str) -> Vec<u64> {
        self.lock()
            .prs
            .values()
            .filter(|p| p.repo == repo)
            .map(|p| p.number)
            .collect()
    }

    /// The commit at the head of PR `pr`'s branch now.
    pub fn pr_head_sha(&self, pr: u64) -> Option<String> {
        let (repo, head) = {
            let s = self.lock();
            let p = s.prs.get(&pr)?;
            (p.repo.clone(), p.head.clone())
        };
        self.branch(&repo, &head)
    }

    pub fn pr_labels(&self, pr: u64) -> Vec<String> {
        self.lock()
            .prs
            .get(&pr)
            .map(|p| p.labels.clone())
            .unwrap_or_default()
    }

    pub fn check_runs(&self) -> Vec<Value> {
        self.lock().check_runs.clone()
    }

    /// `(comment id, reaction)` pairs.
    pub fn reactions(&self) -> Vec<(u64, String)> {
        self.lock().reactions.clone()
    }

    /// Bodies of every comment the bot posted, in order.
    pub fn bot_comments(&self) -> Vec<String> {
        self.lock()
            .comments
            .iter()
            .filter(|c| c.user == BOT_LOGIN)
            .map(|c| c.body.clone())
            .collect()
    }

    /// Asserts that the bot posted exactly these comments (each given by a part of its body)
    /// since the last call, and marks them as expected.
    pub fn expect_comments(&self, expected: &[&str]) {
        let mut s = self.lock();
        let bot: Vec<String> = s
            .comments
            .iter()
            .filter(|c| c.user == BOT_LOGIN)
            .map(|c| c.body.clone())
            .collect();
        let new = &bot[s.comments_checked.min(bot.len())..];
        assert_eq!(
            new.len(),
            expected.len(),
            "the bot posted {new:#?}, the test expected comments containing {expected:?}"
        );
        for (body, part) in new.iter().zip(expected) {
            assert!(
                body.contains(part),
                "bot comment {body:?} does not contain {part:?}"
            );
        }
        s.comments_checked = bot.len();
    }

    /// What GitHub does when an owner of `org` confirms the "new GitHub App" form that posted
    /// `manifest` (the form field's JSON): checks it as GitHub does and issues the one-time code
    /// the browser is redirected with. A refused manifest is the error GitHub's page shows.
    pub fn confirm_app_manifest(&self, org: &str, manifest: &str) -> Result<String, String> {
        let manifest: Value =
            serde_json::from_str(manifest).map_err(|e| format!("manifest is not JSON: {e}"))?;
        let known = [
            "name",
            "url",
            "hook_attributes",
            "redirect_url",
            "callback_urls",
            "setup_url",
            "description",
            "public",
            "default_events",
            "default_permissions",
            "request_oauth_on_install",
            "setup_on_update",
        ];
        let object = manifest.as_object().ok_or("manifest is not an object")?;
        if let Some(key) = object.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!("unknown manifest key {key}"));
        }
        let name = manifest["name"].as_str().unwrap_or_default();
        if name.is_empty() || name.chars().count() > 34 {
            return Err(format!("name {name:?}: 1 to 34 characters"));
        }
        for key in ["url", "redirect_url"] {
            if !manifest[key]
                .as_str()
                .is_some_and(|u| u.starts_with("http"))
            {
                return Err(format!("{key} is required and must be a URL"));
            }
        }
        if !manifest["hook_attributes"]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http"))
        {
            return Err("hook_attributes.url is required and must be a URL".into());
        }
        for (scope, level) in manifest["default_permissions"]
            .as_object()
            .ok_or("default_permissions is required")?
        {
            if !matches!(level.as_str(), Some("read" | "write")) {
                return Err(format!("default_permissions.{scope}: {level}"));
            }
        }
        let mut s = self.lock();
        let taken = s.created_apps.iter().any(|a| a["name"] == name);
        if taken {
            return Err(format!("Name {name:?} is already taken"));
        }
        let code = hash(&["manifest-code", org, name, &s.next_id().to_string()])[..20].to_string();
        s.manifest_codes
            .insert(code.clone(), (org.to_string(), manifest));
        Ok(code)
    }

    /// The Apps created through the manifest flow, as their conversions returned them.
    pub fn created_apps(&self) -> Vec<Value> {
        self.lock().created_apps.clone()
    }

    /// Fails on any schema violation, unknown operation or unexpected bot comment.
    pub fn assert_clean(&self) {
        let s = self.lock();
        assert!(
            s.violations.is_empty(),
            "the fake GitHub saw {} violation(s):\n{}",
            s.violations.len(),
            s.violations.join("\n")
        );
        let bot = s.comments.iter().filter(|c| c.user == BOT_LOGIN).count();
        assert_eq!(
            bot,
            s.comments_checked,
            "the bot posted comments the test did not expect: {:#?}",
            s.comments
                .iter()
                .filter(|c| c.user == BOT_LOGIN)
                .skip(s.comments_checked)
                .map(|c| &c.body)
                .collect::<Vec<_>>()
        );
    }
}

// ---- git objects -------------------------------------------------------------------------

fn hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())[..40].to_string()
}

fn store_tree(s: &mut State, tree: BTreeMap<String, String>) -> String {
    let sha = s.git.tree(&tree);
    s.trees.insert(sha.clone(), tree);
    sha
}

fn store_commit(s: &mut State, tree: String, parents: Vec<String>, message: String) -> String {
    store_commit_at(s, tree, parents, message, None)
}

/// [`store_commit`] dated `time` (unix seconds) rather than now.
fn store_commit_at(
    s: &mut State,
    tree: String,
    parents: Vec<String>,
    message: String,
    time: Option<i64>,
) -> String {
    let sha = s.git.commit(&tree, &parents, &message, time);
    s.commits.insert(
        sha.clone(),
        FakeCommit {
            tree,
            parents,
            message,
        },
    );
    sha
}

/// A branch name, `heads/x`, `refs/heads/x` or a full sha, to a commit sha.
fn resolve(s: &State, repo: &str, git_ref: &str) -> Option<String> {
    if s.commits.contains_key(git_ref) {
        return Some(git_ref.to_string());
    }
    let name = git_ref.trim_start_matches("refs/");
    let name = if name.starts_with("heads/") {
        name.to_string()
    } else {
        format!("heads/{name}")
    };
    s.repos.get(repo)?.refs.get(&name).cloned()
}

fn ancestors(s: &State, sha: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut queue = VecDeque::from([sha.to_string()]);
    while let Some(c) = queue.pop_front() {
        if seen.insert(c.clone()) {
            if let Some(commit) = s.commits.get(&c) {
                queue.extend(commit.parents.iter().cloned());
            }
        }
    }
    seen
}

/// The nearest common ancestor of two commits (breadth first from `b`).
fn merge_base(s: &State, a: &str, b: &str) -> Option<String> {
    let of_a = ancestors(s, a);
    let mut seen = HashSet::new();
    let mut queue = VecDeque::from([b.to_string()]);
    while let Some(c) = queue.pop_front() {
        if of_a.contains(&c) {
            return Some(c);
        }
        if seen.insert(c.clone()) {
            if let Some(commit) = s.commits.get(&c) {
                queue.extend(commit.parents.iter().cloned());
            }
        }
    }
    None
}

// ---- the responder -----------------------------------------------------------------------

struct Responder {
    state: Arc<Mutex<State>>,
    base: String,
    key: DecodingKey,
}

/// A handler's answer: status, JSON body, extra headers.
struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(String, String)>,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        body: Some(body),
        headers: Vec::new(),
    }
}

fn error(status: u16, message: &str) -> Reply {
    reply(
        status,
        json!({ "message": message, "documentation_url": "https://docs.github.com/rest" }),
    )
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let method = request.method.as_str().to_lowercase();
        let path = request.url.path().to_string();
        s.seen.push(Seen {
            method: method.to_uppercase(),
            path: path.clone(),
            at: Instant::now(),
            body: String::from_utf8_lossy(&request.body).into_owned(),
        });
        if let Some((repo, rest)) = path.split_once(".git/") {
            return self.git(&mut s, request, repo.trim_start_matches('/'), rest);
        }
        let Some((op, params)) = spec().find(&method, &path) else {
            s.violations.push(format!(
                "{} {path}: not an operation in the spec",
                method.to_uppercase()
            ));
            return ResponseTemplate::new(404);
        };
        let op_id = op["operationId"].as_str().unwrap_or_default().to_string();
        let body: Option<Value> = if request.body.is_empty() {
            None
        } else {
            match serde_json::from_slice(&request.body) {
                Ok(v) => Some(v),
                Err(e) => {
                    s.violations
                        .push(format!("{op_id}: request body is not JSON: {e}"));
                    return ResponseTemplate::new(400);
                }
            }
        };
        if let Some(schema) = request_schema(op) {
            let instance = body.clone().unwrap_or(Value::Null);
            for v in spec().validate(&format!("{op_id} request"), schema, &instance) {
                s.violations.push(v);
            }
        }
        let query: HashMap<String, String> = request
            .url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let token_call = op_id == "apps/create-installation-access-token"
            || op_id == "apps/get-repo-installation";
        if !token_call {
            if let Some(injection) = s.injections.pop_front() {
                let injected = injected(&injection);
                match injected {
                    Some(template) => return template,
                    None => {
                        // LastOfWindow: answer normally with an exhausted budget.
                        let mut out =
                            self.answer(&mut s, request, &op_id, op, &params, &query, body);
                        let reset = unix_now() + injection_secs(&injection);
                        out.headers
                            .push(("x-ratelimit-remaining".into(), "0".into()));
                        out.headers
                            .push(("x-ratelimit-reset".into(), reset.to_string()));
                        return self.finish(&mut s, &op_id, op, out);
                    }
                }
            }
        }
        let out = self.answer(&mut s, request, &op_id, op, &params, &query, body);
        self.finish(&mut s, &op_id, op, out)
    }
}

fn injection_secs(i: &Injection) -> u64 {
    match i {
        Injection::RetryAfter(n) | Injection::Exhausted(n) | Injection::LastOfWindow(n) => *n,
        Injection::Secondary => 0,
    }
}

fn injected(i: &Injection) -> Option<ResponseTemplate> {
    let limit = |status: u16, message: &str| {
        ResponseTemplate::new(status).set_body_json(
            json!({ "message": message, "documentation_url": "https://docs.github.com/rest" }),
        )
    };
    match i {
        Injection::RetryAfter(secs) => Some(
            limit(429, "API rate limit exceeded").insert_header("retry-after", secs.to_string()),
        ),
        Injection::Exhausted(secs) => Some(
            limit(403, "API rate limit exceeded for installation.")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", (unix_now() + secs).to_string()),
        ),
        Injection::Secondary => Some(limit(
            403,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        )),
        Injection::LastOfWindow(_) => None,
    }
}

impl Responder {
    /// Git's smart HTTP for `repo`, as github.com serves it: the installation token as the
    /// password of HTTP Basic (user `x-access-token`), 401 without it.
    fn git(&self, s: &mut State, request: &Request, repo: &str, rest: &str) -> ResponseTemplate {
        let token = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok());
        let valid = token
            .as_deref()
            .and_then(|t| t.strip_prefix("x-access-token:"))
            .and_then(|t| s.tokens.get(t))
            .is_some_and(|&exp| exp > unix_now());
        if !valid {
            s.git_refused += 1;
            return ResponseTemplate::new(401)
                .insert_header("www-authenticate", "Basic realm=\"GitHub\"")
                .set_body_string("Invalid username or token.\n");
        }
        let Some(r) = s.repos.get(repo) else {
            return ResponseTemplate::new(404).set_body_string("Repository not found.\n");
        };
        let (refs, default_branch) = (r.refs.clone(), r.default_branch.clone());
        let content_type = request
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let out = s.git.serve(
            repo,
            &refs,
            &default_branch,
            request.method.as_str(),
            &format!("/{rest}"),
            request.url.query().unwrap_or(""),
            content_type,
            &request.body,
        );
        let mut template = ResponseTemplate::new(out.status);
        let mut kind = "application/octet-stream".to_string();
        for (k, v) in out.headers {
            if k == "content-type" {
                kind = v;
            } else {
                template = template.insert_header(k.as_str(), v.as_str());
            }
        }
        template.set_body_raw(out.body, &kind)
    }

    fn finish(&self, s: &mut State, op_id: &str, op: &Value, out: Reply) -> ResponseTemplate {
        let mut template = ResponseTemplate::new(out.status)
            .insert_header("x-ratelimit-limit", "5000")
            .insert_header("content-type", "application/json; charset=utf-8");
        if !out
            .headers
            .iter()
            .any(|(k, _)| k == "x-ratelimit-remaining")
        {
            template = template.insert_header("x-ratelimit-remaining", "4999");
        }
        for (k, v) in &out.headers {
            template = template.insert_header(k.as_str(), v.as_str());
        }
        let Some(body) = out.body else {
            return template;
        };
        let body = match response_schema(op, out.status) {
            Some(schema) => {
                let filled = fill(schema, body);
                let what = format!("{op_id} response {}", out.status);
                for v in spec().validate(&what, schema, &filled) {
                    s.violations.push(v);
                }
                filled
            }
            None => {
                if out.status < 300 {
                    s.violations.push(format!(
                        "{op_id}: status {} has no schema in the spec",
                        out.status
                    ));
                }
                body
            }
        };
        template.set_body_json(body)
    }

    fn authorized_app(&self, request: &Request) -> Result<(), Reply> {
        let token =
            bearer(request).ok_or_else(|| error(401, "A JSON web token could not be decoded"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "iat", "iss"]);
        validation.set_issuer(&[APP_ID.to_string()]);
        let data = jsonwebtoken::decode::<Value>(&token, &self.key, &validation)
            .map_err(|e| error(401, &format!("bad JWT: {e}")))?;
        let iat = data.claims["iat"].as_u64().unwrap_or(0);
        let exp = data.claims["exp"].as_u64().unwrap_or(u64::MAX);
        let now = unix_now();
        if exp.saturating_sub(now) > 600 || iat > now {
            return Err(error(
                401,
                "'Expiration time' claim ('exp') is too far in the future",
            ));
        }
        Ok(())
    }

    fn authorized_installation(&self, s: &State, request: &Request) -> Result<(), Reply> {
        let token = bearer(request).ok_or_else(|| error(401, "Requires authentication"))?;
        match s.tokens.get(&token) {
            Some(&exp) if exp > unix_now() => Ok(()),
            Some(_) => Err(error(401, "Bad credentials (token expired)")),
            None => Err(error(401, "Bad credentials")),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn answer(
        &self,
        s: &mut State,
        request: &Request,
        op_id: &str,
        _op: &Value,
        params: &HashMap<String, String>,
        query: &HashMap<String, String>,
        body: Option<Value>,
    ) -> Reply {
        if op_id == "apps/create-from-manifest" {
            // No authentication: the code is the credential.
            let code = params.get("code").cloned().unwrap_or_default();
            return Handlers {
                base: &self.base,
                repo: "",
            }
            .manifest_conversion(s, &code);
        }
        let app_call = op_id.starts_with("apps/");
        let auth = if app_call {
            self.authorized_app(request)
        } else {
            self.authorized_installation(s, request)
        };
        if let Err(e) = auth {
            return e;
        }
        let body = body.unwrap_or(Value::Null);
        let p = |k: &str| params.get(k).cloned().unwrap_or_default();
        let repo = format!("{}/{}", p("owner"), p("repo"));
        let per_repo = !app_call && op_id != "users/get-by-username";
        if per_repo && !s.repos.contains_key(&repo) {
            return error(404, "Not Found");
        }
        if op_id == "users/get-by-username" {
            let login = p("username");
            let id = s.users.get(&login.to_ascii_lowercase()).copied();
            let id = id.unwrap_or(1000 + login.len() as u64);
            return reply(200, json!({ "login": login, "id": id, "type": "User" }));
        }
        let num = |k: &str| p(k).parse::<u64>().unwrap_or(0);
        let h = Handlers {
            base: &self.base,
            repo: &repo,
        };
        match op_id {
            "apps/create-installation-access-token" => h.token(s, num("installation_id")),
            "apps/get-repo-installation" if s.repos.contains_key(&repo) => reply(
                200,
                json!({ "id": INSTALLATION_ID, "app_id": APP_ID, "target_type": "Organization" }),
            ),
            "apps/get-repo-installation" => error(404, "Not Found"),
            "apps/get-authenticated" => reply(200, h.app_json()),
            "apps/list-installations" => {
                let page = query
                    .get("page")
                    .and_then(|p| p.parse::<u64>().ok())
                    .unwrap_or(1);
                let list = if page == 1 {
                    vec![h.installation_json()]
                } else {
                    Vec::new()
                };
                reply(200, Value::Array(list))
            }
            "repos/get" => h.repo_get(s),
            "git/get-ref" => h.get_ref(s, &p("ref")),
            "git/create-ref" => h.create_ref(s, &body),
            "git/update-ref" => h.update_ref(s, &p("ref"), &body),
            "git/create-blob" => h.create_blob(s, &body),
            "git/create-tree" => h.create_tree(s, &body),
            "git/create-commit" => h.create_commit(s, &body),
            "repos/get-commit" => h.get_commit(s, &p("ref")),
            "repos/get-content" => h.get_content(s, &p("path"), query.get("ref")),
            "pulls/list" => h.list_pulls(s, query),
            "pulls/create" => h.create_pull(s, &body),
            "pulls/get" => match s.prs.get(&num("pull_number")).filter(|pr| pr.repo == repo) {
                Some(pr) => reply(200, h.pull_json(s, pr)),
                None => error(404, "Not Found"),
            },
            "pulls/update" => h.update_pull(s, num("pull_number"), &body),
            "pulls/merge" => h.merge(s, num("pull_number"), &body),
            "pulls/list-reviews" => h.list_reviews(s, num("pull_number"), query),
            "issues/list-comments" => h.list_comments(s, num("issue_number"), query),
            "issues/create-comment" => h.create_comment(s, num("issue_number"), &body),
            "issues/add-labels" => h.add_labels(s, num("issue_number"), &body),
            "reactions/create-for-issue-comment" => h.react(s, num("comment_id"), &body),
            "checks/create" => h.create_check(s, &body),
            "checks/update" => h.update_check(s, num("check_run_id"), &body),
            "repos/get-collaborator-permission-level" => h.permission(s, &p("username")),
            "repos/get-branch-protection" => {
                match s
                    .ci
                    .protection_json(&repo, &p("branch"), h.api("").trim_end_matches('/'))
                {
                    Ok(json) => reply(200, json),
                    Err((status, message)) => error(status, message),
                }
            }
            "repos/get-branch-rules" => {
                reply(200, Value::Array(s.ci.rules_json(&repo, &p("branch"))))
            }
            "checks/list-for-ref" => h.check_runs_for(s, &p("ref")),
            "checks/list-suites-for-ref" => h.suites_for(s, &p("ref")),
            "repos/get-combined-status-for-ref" => h.combined_status(s, &p("ref")),
            other => {
                s.violations
                    .push(format!("{other}: the fake does not implement it"));
                error(501, "not implemented by the fake")
            }
        }
    }
}

fn bearer(request: &Request) -> Option<String> {
    let value = request.headers.get("authorization")?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("token "))?;
    Some(token.trim().to_string())
}

struct Handlers<'a> {
    base: &'a str,
    repo: &'a str,
}

impl Handlers<'_> {
    /// `POST /app-manifests/{code}/conversions`: the App the confirmed manifest describes, with
    /// its credentials; a code works once.
    fn manifest_conversion(&self, s: &mut State, code: &str) -> Reply {
        let Some((org, manifest)) = s.manifest_codes.remove(code) else {
            return error(404, "Not Found");
        };
        let id = s.next_id();
        let name = manifest["name"].as_str().unwrap_or_default().to_string();
        let slug: String = name
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let key = std::fs::read_to_string(test_key_path()).expect("test key");
        let app = json!({
            "id": id,
            "slug": slug,
            "node_id": format!("A_{id}"),
            "client_id": format!("Iv1.{}", &hash(&["client", &slug])[..16]),
            "owner": {
                "login": org, "id": 9000 + id, "node_id": format!("O_{id}"),
                "avatar_url": format!("{}/avatars/{org}", self.base),
                "gravatar_id": "", "url": format!("{}/users/{org}", self.base),
                "html_url": format!("{}/{org}", self.base), "type": "Organization",
                "site_admin": false,
            },
            "name": name,
            "description": manifest["description"].as_str().unwrap_or_default(),
            "external_url": manifest["url"],
            "html_url": format!("{}/apps/{slug}", self.base),
            "created_at": now_iso(),
            "updated_at": now_iso(),
            "permissions": manifest["default_permissions"],
            "events": manifest["default_events"].as_array().cloned().unwrap_or_default(),
            "installations_count": 0,
            "client_secret": hash(&["client-secret", &slug]),
            "webhook_secret": hash(&["webhook-secret", &slug]),
            "pem": key,
        });
        s.created_apps.push(app.clone());
        reply(201, app)
    }

    fn api(&self, rest: &str) -> String {
        format!("{}/repos/{}/{rest}", self.base, self.repo)
    }

    fn user(&self, login: &str, id: u64) -> Value {
        json!({
            "login": login,
            "id": id,
            "type": if login.ends_with("[bot]") { "Bot" } else { "User" },
            "url": format!("{}/users/{}", self.base, login.replace(['[', ']'], "")),
        })
    }

    /// The app itself (`GET /app`): its slug makes the bot's login, `healbot[bot]`.
    fn app_json(&self) -> Value {
        let owner = json!({
            "login": "acme", "id": 1, "node_id": "MDQ6VXNlcjE=",
            "avatar_url": "https://avatars.githubusercontent.com/u/1", "gravatar_id": "",
            "url": format!("{}/users/acme", self.base), "html_url": "https://github.com/acme",
            "followers_url": format!("{}/users/acme/followers", self.base),
            "following_url": format!("{}/users/acme/following{{/other_user}}", self.base),
            "gists_url": format!("{}/users/acme/gists{{/gist_id}}", self.base),
            "starred_url": format!("{}/users/acme/starred{{/owner}}{{/repo}}", self.base),
            "subscriptions_url": format!("{}/users/acme/subscriptions", self.base),
            "organizations_url": format!("{}/users/acme/orgs", self.base),
            "repos_url": format!("{}/users/acme/repos", self.base),
            "events_url": format!("{}/users/acme/events{{/privacy}}", self.base),
            "received_events_url": format!("{}/users/acme/received_events", self.base),
            "type": "Organization", "site_admin": false
        });
        json!({
            "id": APP_ID, "slug": BOT_LOGIN.trim_end_matches("[bot]"), "node_id": "MDM6QXBwMQ==",
            "client_id": "Iv1.healbot", "owner": owner, "name": "healbot",
            "description": "incident to fix PR", "external_url": "https://example.com",
            "html_url": "https://github.com/apps/healbot",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "permissions": {"contents": "write", "pull_requests": "write"},
            "events": ["pull_request", "issue_comment"]
        })
    }

    /// The one installation this fake knows, as `GET /app/installations` lists it.
    fn installation_json(&self) -> Value {
        json!({
            "id": INSTALLATION_ID,
            "account": null,
            "repository_selection": "selected",
            "access_tokens_url": format!("{}/app/installations/{INSTALLATION_ID}/access_tokens", self.base),
            "repositories_url": format!("{}/installation/repositories", self.base),
            "html_url": "https://github.com/organizations/acme/settings/installations/77",
            "app_id": APP_ID,
            "target_id": 1,
            "target_type": "Organization",
            "permissions": {"contents": "write", "pull_requests": "write"},
            "events": ["pull_request", "issue_comment"],
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "single_file_name": null,
            "app_slug": "healbot",
            "suspended_by": null,
            "suspended_at": null
        })
    }

    fn token(&self, s: &mut State, installation: u64) -> Reply {
        if installation != INSTALLATION_ID {
            return error(404, "Not Found");
        }
        s.token_requests += 1;
        let token = format!("ghs_fake{:04}", s.token_requests);
        let exp = unix_now() + s.token_ttl_secs;
        s.tokens.insert(token.clone(), exp);
        let expires_at = chrono::DateTime::from_timestamp(exp as i64, 0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        reply(
            201,
            json!({ "token": token, "expires_at": expires_at, "permissions": {}, "repository_selection": "all" }),
        )
    }

    fn repo_get(&self, s: &State) -> Reply {
        let r = &s.repos[self.repo];
        let (owner, name) = self.repo.split_once('/').unwrap_or(("", ""));
        reply(
            200,
            json!({
                "id": r.id,
                "name": name,
                "full_name": self.repo,
                "owner": self.user(owner, 1),
                "default_branch": r.default_branch,
                "private": true,
                "clone_url": format!("{}/{}.git", self.base, self.repo),
            }),
        )
    }

    fn ref_json(&self, name: &str, sha: &str) -> Value {
        json!({
            "ref": format!("refs/{name}"),
            "url": self.api(&format!("git/refs/{name}")),
            "object": { "type": "commit", "sha": sha, "url": self.api(&format!("git/commits/{sha}")) },
        })
    }

    fn get_ref(&self, s: &State, name: &str) -> Reply {
        match s.repos[self.repo].refs.get(name) {
            Some(sha) => reply(200, self.ref_json(name, sha)),
            None => error(404, "Not Found"),
        }
    }

    fn create_ref(&self, s: &mut State, body: &Value) -> Reply {
        let full = body["ref"].as_str().unwrap_or_default();
        let sha = body["sha"].as_str().unwrap_or_default().to_string();
        let Some(name) = full
            .strip_prefix("refs/")
            .filter(|n| n.starts_with("heads/"))
        else {
            return error(422, "Reference name must start with 'refs/heads/'");
        };
        if !s.commits.contains_key(&sha) {
            return error(422, "Object does not exist");
        }
        let Some(repo) = s.repos.get_mut(self.repo) else {
            return error(404, "Not Found");
        };
        if repo.refs.contains_key(name) {
            return error(422, "Reference already exists");
        }
        repo.refs.insert(name.to_string(), sha.clone());
        reply(201, self.ref_json(name, &sha))
    }

    fn update_ref(&self, s: &mut State, name: &str, body: &Value) -> Reply {
        let sha = body["sha"].as_str().unwrap_or_default().to_string();
        let force = body["force"].as_bool().unwrap_or(false);
        let Some(current) = s.repos[self.repo].refs.get(name).cloned() else {
            return error(422, "Reference does not exist");
        };
        if !s.commits.contains_key(&sha) {
            return error(422, "Object does not exist");
        }
        if !force && !ancestors(s, &sha).contains(&current) {
            return error(422, "Update is not a fast forward");
        }
        if let Some(why) =
            s.ci.refuses_push(self.repo, name.trim_start_matches("heads/"))
        {
            return error(422, &why);
        }
        if let Some(repo) = s.repos.get_mut(self.repo) {
            repo.refs.insert(name.to_string(), sha.clone());
        }
        reply(200, self.ref_json(name, &sha))
    }

    fn create_blob(&self, s: &mut State, body: &Value) -> Reply {
        let content = body["content"].as_str().unwrap_or_default();
        let text = match body["encoding"].as_str().unwrap_or("utf-8") {
            "base64" => match base64::engine::general_purpose::STANDARD.decode(content) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(_) => return error(422, "content is not valid Base64"),
            },
            _ => content.to_string(),
        };
        let sha = blob_sha(&text);
        s.blobs.insert(sha.clone(), text);
        reply(
            201,
            json!({ "sha": sha, "url": self.api(&format!("git/blobs/{sha}")) }),
        )
    }

    fn create_tree(&self, s: &mut State, body: &Value) -> Reply {
        let mut tree = match body["base_tree"].as_str() {
            Some(base) => match s.trees.get(base) {
                Some(t) => t.clone(),
                None => return error(422, "base_tree is not a valid tree"),
            },
            None => BTreeMap::new(),
        };
        for entry in body["tree"].as_array().cloned().unwrap_or_default() {
            let path = entry["path"].as_str().unwrap_or_default().to_string();
            match (&entry["sha"], &entry["content"]) {
                (Value::Null, Value::String(c)) => {
                    tree.insert(path, c.clone());
                }
                (Value::Null, _) => {
                    tree.remove(&path);
                }
                (Value::String(sha), _) => match s.blobs.get(sha) {
                    Some(c) => {
                        tree.insert(path, c.clone());
                    }
                    None => return error(422, "tree.sha is not a valid blob"),
                },
                _ => return error(422, "tree entry needs sha or content"),
            }
        }
        let entries: Vec<Value> = tree
            .iter()
            .map(|(path, c)| {
                let sha = blob_sha(c);
                json!({ "path": path, "mode": "100644", "type": "blob", "sha": sha, "size": c.len(), "url": self.api(&format!("git/blobs/{sha}")) })
            })
            .collect();
        let sha = store_tree(s, tree);
        reply(
            201,
            json!({ "sha": sha, "url": self.api(&format!("git/trees/{sha}")), "truncated": false, "tree": entries }),
        )
    }

    fn create_commit(&self, s: &mut State, body: &Value) -> Reply {
        let tree = body["tree"].as_str().unwrap_or_default().to_string();
        if !s.trees.contains_key(&tree) {
            return error(422, "Tree SHA does not exist");
        }
        let parents: Vec<String> = body["parents"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if parents.iter().any(|p| !s.commits.contains_key(p)) {
            return error(422, "Parent SHA does not exist");
        }
        let message = body["message"].as_str().unwrap_or_default().to_string();
        let sha = store_commit(s, tree.clone(), parents.clone(), message.clone());
        reply(201, self.git_commit_json(&sha, &tree, &parents, &message))
    }

    fn git_commit_json(&self, sha: &str, tree: &str, parents: &[String], message: &str) -> Value {
        let person = json!({ "name": "healbot", "email": "healbot@example.com", "date": "2026-01-01T00:00:00Z" });
        json!({
            "sha": sha,
            "url": self.api(&format!("git/commits/{sha}")),
            "html_url": format!("https://github.com/{}/commit/{sha}", self.repo),
            "author": person,
            "committer": person,
            "message": message,
            "tree": { "sha": tree, "url": self.api(&format!("git/trees/{tree}")) },
            "parents": parents.iter().map(|p| json!({ "sha": p, "url": self.api(&format!("git/commits/{p}")), "html_url": format!("https://github.com/{}/commit/{p}", self.repo) })).collect::<Vec<_>>(),
            "verification": { "verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null },
        })
    }

    fn get_commit(&self, s: &State, git_ref: &str) -> Reply {
        let Some(sha) = resolve(s, self.repo, git_ref) else {
            return error(404, "No commit found for SHA");
        };
        let c = &s.commits[&sha];
        let mut detail = self.git_commit_json(&sha, &c.tree, &c.parents, &c.message);
        if let Some(d) = detail.as_object_mut() {
            d.remove("sha");
            d.remove("html_url");
            d.remove("parents");
            d.insert("comment_count".into(), json!(0));
        }
        reply(
            200,
            json!({
                "sha": sha,
                "url": self.api(&format!("commits/{sha}")),
                "html_url": format!("https://github.com/{}/commit/{sha}", self.repo),
                "comments_url": self.api(&format!("commits/{sha}/comments")),
                "commit": detail,
                "author": null,
                "committer": null,
                "parents": c.parents.iter().map(|p| json!({ "sha": p, "url": self.api(&format!("commits/{p}")) })).collect::<Vec<_>>(),
                "files": [],
            }),
        )
    }

    fn get_content(&self, s: &State, path: &str, git_ref: Option<&String>) -> Reply {
        let default = format!("heads/{}", s.repos[self.repo].default_branch);
        let Some(sha) = resolve(
            s,
            self.repo,
            git_ref.map_or(default.as_str(), |r| r.as_str()),
        ) else {
            return error(404, "No commit found for the ref");
        };
        let tree = &s.trees[&s.commits[&sha].tree];
        // `contents/` (path "") is the root; a trailing slash names the same directory.
        let path = path.trim_end_matches('/');
        let Some(content) = tree.get(path) else {
            return match self.dir_listing(tree, &sha, path) {
                Some(entries) => reply(200, Value::Array(entries)),
                None => error(404, "Not Found"),
            };
        };
        // GitHub wraps base64 at 60 columns; so does the fake, to keep decoders honest.
        let b64 = base64::engine::general_purpose::STANDARD.encode(content);
        let wrapped: Vec<String> = b64
            .as_bytes()
            .chunks(60)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let blob = blob_sha(content);
        let url = self.api(&format!("contents/{path}"));
        reply(
            200,
            json!({
                "type": "file",
                "encoding": "base64",
                "size": content.len(),
                "name": path.rsplit('/').next().unwrap_or(path),
                "path": path,
                "content": wrapped.join("\n") + "\n",
                "sha": blob,
                "url": url,
                "git_url": self.api(&format!("git/blobs/{blob}")),
                "html_url": format!("https://github.com/{}/blob/{sha}/{path}", self.repo),
                "download_url": null,
                "_links": { "self": url, "git": null, "html": null },
            }),
        )
    }

    /// The entries directly under directory `dir` ("" is the root) as GitHub lists them, or
    /// `None` if no file lies under it. Trees hold files only; directories are implied.
    fn dir_listing(
        &self,
        tree: &BTreeMap<String, String>,
        commit: &str,
        dir: &str,
    ) -> Option<Vec<Value>> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        // name → Some(content) for a file, None for a subdirectory.
        let mut children: BTreeMap<&str, Option<&String>> = BTreeMap::new();
        for (path, content) in tree {
            let Some(rest) = path.strip_prefix(&prefix) else {
                continue;
            };
            match rest.split_once('/') {
                Some((sub, _)) => {
                    children.insert(sub, None);
                }
                None => {
                    children.insert(rest, Some(content));
                }
            }
        }
        if children.is_empty() {
            return None;
        }
        let entries = children
            .into_iter()
            .map(|(name, content)| {
                let path = format!("{prefix}{name}");
                let url = self.api(&format!("contents/{path}"));
                let (kind, size, sha, git_url, html_url, download_url) = match content {
                    Some(c) => {
                        let blob = blob_sha(c);
                        (
                            "file",
                            c.len(),
                            blob.clone(),
                            self.api(&format!("git/blobs/{blob}")),
                            format!("https://github.com/{}/blob/{commit}/{path}", self.repo),
                            json!(format!(
                                "https://raw.githubusercontent.com/{}/{commit}/{path}",
                                self.repo
                            )),
                        )
                    }
                    None => {
                        let tree_sha = hash(&["dir", commit, &path]);
                        (
                            "dir",
                            0,
                            tree_sha.clone(),
                            self.api(&format!("git/trees/{tree_sha}")),
                            format!("https://github.com/{}/tree/{commit}/{path}", self.repo),
                            Value::Null,
                        )
                    }
                };
                json!({
                    "type": kind,
                    "size": size,
                    "name": name,
                    "path": path,
                    "sha": sha,
                    "url": url,
                    "git_url": git_url,
                    "html_url": html_url,
                    "download_url": download_url,
                    "_links": { "self": url, "git": git_url, "html": html_url },
                })
            })
            .collect();
        Some(entries)
    }

    fn pull_json(&self, s: &State, pr: &FakePr) -> Value {
        let (owner, _) = self.repo.split_once('/').unwrap_or(("", ""));
        let repo_id = s.repos.get(self.repo).map_or(1, |r| r.id);
        let side = |name: &str, sha: &str| {
            json!({
                "label": format!("{owner}:{name}"),
                "ref": name,
                "sha": sha,
                "user": self.user(owner, 1),
                "repo": { "id": repo_id, "name": self.repo.split('/').nth(1).unwrap_or(""), "full_name": self.repo, "default_branch": s.repos.get(self.repo).map(|r| r.default_branch.clone()).unwrap_or_default() },
            })
        };
        let base_sha = s.repos[self.repo]
            .refs
            .get(&format!("heads/{}", pr.base))
            .cloned()
            .unwrap_or_default();
        let head_sha = current_head(s, pr);
        let labels: Vec<Value> = pr.labels.iter().map(|l| self.label(l)).collect();
        let merged = pr.merge_sha.is_some();
        json!({
            "id": 100_000 + pr.number,
            "number": pr.number,
            "state": if pr.open { "open" } else { "closed" },
            "title": pr.title,
            "body": pr.body,
            "url": self.api(&format!("pulls/{}", pr.number)),
            "html_url": format!("https://github.com/{}/pull/{}", self.repo, pr.number),
            "user": self.user(BOT_LOGIN, 9),
            "labels": labels,
            "head": side(&pr.head, &head_sha),
            "base": side(&pr.base, &base_sha),
            "created_at": pr.created_at,
            "updated_at": pr.created_at,
            "closed_at": if pr.open { Value::Null } else { json!(pr.created_at) },
            "merged_at": if merged { json!(pr.created_at) } else { Value::Null },
            "merged": merged,
            "merge_commit_sha": pr.merge_sha,
            "mergeable": if pr.open { json!(true) } else { Value::Null },
            "draft": false,
        })
    }

    fn label(&self, name: &str) -> Value {
        json!({
            "id": hash(&["label", name])[..8].bytes().fold(0u64, |a, b| a * 31 + b as u64),
            "name": name,
            "color": "ededed",
            "default": false,
            // A string, not null: the simple PR in pulls/list does not allow null here.
            "description": "",
            "url": self.api(&format!("labels/{name}")),
        })
    }

    fn list_pulls(&self, s: &State, query: &HashMap<String, String>) -> Reply {
        let state = query.get("state").map_or("open", |s| s.as_str());
        let head = query.get("head").cloned();
        let (owner, _) = self.repo.split_once('/').unwrap_or(("", ""));
        let prs: Vec<Value> = s
            .prs
            .values()
            .filter(|pr| pr.repo == self.repo)
            .filter(|pr| match state {
                "open" => pr.open,
                "closed" => !pr.open,
                _ => true,
            })
            .filter(|pr| {
                head.as_ref()
                    .is_none_or(|h| *h == format!("{owner}:{}", pr.head))
            })
            .map(|pr| {
                let mut v = self.pull_json(s, pr);
                // The list returns "simple" PRs, without the merge fields.
                if let Some(o) = v.as_object_mut() {
                    for k in ["merged", "mergeable"] {
                        o.remove(k);
                    }
                }
                v
            })
            .collect();
        reply(200, Value::Array(prs))
    }

    fn create_pull(&self, s: &mut State, body: &Value) -> Reply {
        let head = body["head"].as_str().unwrap_or_default().to_string();
        let base = body["base"].as_str().unwrap_or_default().to_string();
        let refs = &s.repos[self.repo].refs;
        let (Some(head_sha), true) = (
            refs.get(&format!("heads/{head}")).cloned(),
            refs.contains_key(&format!("heads/{base}")),
        ) else {
            return error(422, "Validation Failed: head or base does not exist");
        };
        if s.prs
            .values()
            .any(|p| p.repo == self.repo && p.open && p.head == head)
        {
            return error(422, &format!("A pull request already exists for {head}."));
        }
        let number = s.prs.keys().max().map_or(1, |n| n + 1);
        let pr = FakePr {
            repo: self.repo.to_string(),
            number,
            title: body["title"].as_str().unwrap_or_default().into(),
            body: body["body"].as_str().unwrap_or_default().into(),
            head,
            head_sha,
            base,
            open: true,
            merge_sha: None,
            labels: Vec::new(),
            created_at: now_iso(),
        };
        let json = self.pull_json(s, &pr);
        s.prs.insert(number, pr);
        reply(201, json)
    }

    fn pr_mut<'s>(&self, s: &'s mut State, number: u64) -> Option<&'s mut FakePr> {
        s.prs.get_mut(&number).filter(|p| p.repo == self.repo)
    }

    fn update_pull(&self, s: &mut State, number: u64, body: &Value) -> Reply {
        let Some(pr) = self.pr_mut(s, number) else {
            return error(404, "Not Found");
        };
        if let Some(state) = body["state"].as_str() {
            if pr.merge_sha.is_none() {
                pr.open = state == "open";
            }
        }
        if let Some(title) = body["title"].as_str() {
            pr.title = title.into();
        }
        if let Some(text) = body["body"].as_str() {
            pr.body = text.into();
        }
        let pr = pr.clone();
        reply(200, self.pull_json(s, &pr))
    }

    fn merge(&self, s: &mut State, number: u64, body: &Value) -> Reply {
        s.merge_calls.push(body.clone());
        let Some(pr) = s.prs.get(&number).filter(|p| p.repo == self.repo).cloned() else {
            return error(404, "Not Found");
        };
        if !pr.open {
            return error(405, "Pull Request is not mergeable");
        }
        let heads = &s.repos[self.repo].refs;
        let (Some(head), Some(base)) = (
            heads.get(&format!("heads/{}", pr.head)).cloned(),
            heads.get(&format!("heads/{}", pr.base)).cloned(),
        ) else {
            return error(422, "Head or base branch is gone");
        };
        if body["sha"].as_str().is_some_and(|sha| sha != head) {
            return error(
                409,
                "Head branch was modified. Review and try the merge again.",
            );
        }
        let approvals = s
            .reviews
            .iter()
            .filter(|r| r.repo == self.repo && r.pr == number && r.state == "APPROVED")
            .count() as u32;
        let own: Vec<(String, Option<String>)> = s
            .check_runs
            .iter()
            .filter(|r| r["head_sha"] == json!(head))
            .map(|r| {
                let name = r["name"].as_str().unwrap_or_default().to_string();
                (name, r["conclusion"].as_str().map(str::to_string))
            })
            .collect();
        if let Some(why) =
            s.ci.refuses_merge(self.repo, &pr.base, &head, approvals, &own)
        {
            return error(405, &why);
        }
        let Some(ancestor) = merge_base(s, &base, &head) else {
            return error(405, "Pull Request is not mergeable");
        };
        let tree_of = |sha: &str| s.trees[&s.commits[sha].tree].clone();
        let (old, ours, theirs) = (tree_of(&ancestor), tree_of(&base), tree_of(&head));
        let mut merged = ours.clone();
        let paths: HashSet<&String> = old.keys().chain(theirs.keys()).collect();
        for path in paths {
            let (o, b, t) = (old.get(path), ours.get(path), theirs.get(path));
            if t == o {
                continue;
            }
            if b != o && b != t {
                return error(405, &format!("Merge conflict in {path}"));
            }
            match t {
                Some(c) => merged.insert(path.clone(), c.clone()),
                None => merged.remove(path),
            };
        }
        let message = format!(
            "Merge pull request #{number} from {}\n\n{}\n",
            pr.head, pr.title
        );
        let tree = store_tree(s, merged);
        let sha = store_commit(s, tree, vec![base, head], message);
        if let Some(r) = s.repos.get_mut(self.repo) {
            r.refs.insert(format!("heads/{}", pr.base), sha.clone());
        }
        if let Some(pr) = s.prs.get_mut(&number) {
            pr.open = false;
            pr.merge_sha = Some(sha.clone());
        }
        reply(
            200,
            json!({ "sha": sha, "merged": true, "message": "Pull Request successfully merged" }),
        )
    }

    fn list_reviews(&self, s: &State, number: u64, query: &HashMap<String, String>) -> Reply {
        let reviews: Vec<Value> = s
            .reviews
            .iter()
            .filter(|r| r.repo == self.repo && r.pr == number)
            .map(|r| {
                json!({
                    "id": r.id,
                    "user": self.user(&r.user, 7),
                    "body": r.body,
                    "state": r.state,
                    "commit_id": r.commit_id,
                    "submitted_at": "2026-01-01T00:00:00Z",
                    "html_url": format!("https://github.com/{}/pull/{number}#pullrequestreview-{}", self.repo, r.id),
                    "pull_request_url": self.api(&format!("pulls/{number}")),
                    "author_association": "COLLABORATOR",
                    "_links": { "html": { "href": "https://github.com/" }, "pull_request": { "href": self.api(&format!("pulls/{number}")) } },
                })
            })
            .collect();
        reply(200, Value::Array(page(reviews, query)))
    }

    fn comment_json(&self, c: &FakeComment) -> Value {
        json!({
            "id": c.id,
            "body": c.body,
            "user": self.user(&c.user, 8),
            "created_at": c.created_at,
            "updated_at": c.created_at,
            "url": self.api(&format!("issues/comments/{}", c.id)),
            "html_url": format!("https://github.com/{}/pull/{}#issuecomment-{}", self.repo, c.issue, c.id),
            "issue_url": self.api(&format!("issues/{}", c.issue)),
            "author_association": if c.user == BOT_LOGIN { "NONE" } else { "COLLABORATOR" },
        })
    }

    fn list_comments(&self, s: &State, issue: u64, query: &HashMap<String, String>) -> Reply {
        let comments: Vec<Value> = s
            .comments
            .iter()
            .filter(|c| c.repo == self.repo && c.issue == issue)
            .map(|c| self.comment_json(c))
            .collect();
        reply(200, Value::Array(page(comments, query)))
    }

    fn create_comment(&self, s: &mut State, issue: u64, body: &Value) -> Reply {
        if s.prs.get(&issue).is_none_or(|p| p.repo != self.repo) {
            return error(404, "Not Found");
        }
        let id = s.next_id();
        let c = FakeComment {
            repo: self.repo.into(),
            issue,
            id,
            user: BOT_LOGIN.into(),
            body: body["body"].as_str().unwrap_or_default().into(),
            created_at: now_iso(),
        };
        let json = self.comment_json(&c);
        s.comments.push(c);
        reply(201, json)
    }

    fn add_labels(&self, s: &mut State, issue: u64, body: &Value) -> Reply {
        let new: Vec<String> = match body {
            Value::Object(o) => o.get("labels").cloned().unwrap_or(Value::Null),
            other => other.clone(),
        }
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| {
                    l.as_str()
                        .or_else(|| l["name"].as_str())
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
        let Some(pr) = self.pr_mut(s, issue) else {
            return error(404, "Not Found");
        };
        for l in new {
            if !pr.labels.contains(&l) {
                pr.labels.push(l);
            }
        }
        let labels = pr.labels.clone();
        reply(
            200,
            Value::Array(labels.iter().map(|l| self.label(l)).collect()),
        )
    }

    fn react(&self, s: &mut State, comment: u64, body: &Value) -> Reply {
        if !s
            .comments
            .iter()
            .any(|c| c.id == comment && c.repo == self.repo)
        {
            return error(404, "Not Found");
        }
        let content = body["content"].as_str().unwrap_or_default().to_string();
        let status = if s.reactions.contains(&(comment, content.clone())) {
            200
        } else {
            201
        };
        if status == 201 {
            s.reactions.push((comment, content.clone()));
        }
        let id = s.next_id();
        reply(
            status,
            json!({ "id": id, "user": self.user(BOT_LOGIN, 9), "content": content, "created_at": now_iso() }),
        )
    }

    fn check_json(&self, run: &Value) -> Value {
        let mut v = run.clone();
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "url".into(),
                json!(self.api(&format!("check-runs/{}", run["id"]))),
            );
            o.insert("started_at".into(), json!("2026-01-01T00:00:00Z"));
            o.insert("pull_requests".into(), json!([]));
            o.remove("actions");
            if let Some(out) = o.get_mut("output").and_then(Value::as_object_mut) {
                out.insert("annotations_count".into(), json!(0));
                out.insert(
                    "annotations_url".into(),
                    json!(self.api("check-runs/annotations")),
                );
                out.entry("text").or_insert(Value::Null);
            }
        }
        v
    }

    fn check_runs_for(&self, s: &mut State, git_ref: &str) -> Reply {
        let Some(sha) = resolve(s, self.repo, git_ref) else {
            return error(404, "No commit found for SHA");
        };
        let mut ids = 0;
        let base = s.next_id;
        s.ci.observe(self.repo, &sha, || {
            ids += 1;
            base + ids
        });
        s.next_id += ids;
        let mut runs =
            s.ci.check_runs(self.repo, &sha, self.api("").trim_end_matches('/'));
        runs.extend(
            s.check_runs
                .iter()
                .filter(|r| r["head_sha"] == json!(sha))
                .map(|r| self.check_json(r)),
        );
        reply(
            200,
            json!({ "total_count": runs.len(), "check_runs": runs }),
        )
    }

    fn suites_for(&self, s: &State, git_ref: &str) -> Reply {
        let Some(sha) = resolve(s, self.repo, git_ref) else {
            return error(404, "No commit found for SHA");
        };
        let suites = s.ci.suites(self.repo, &sha);
        reply(
            200,
            json!({ "total_count": suites.len(), "check_suites": suites }),
        )
    }

    fn combined_status(&self, s: &State, git_ref: &str) -> Reply {
        let Some(sha) = resolve(s, self.repo, git_ref) else {
            return error(404, "No commit found for SHA");
        };
        let (state, statuses) = s.ci.combined(self.repo, &sha);
        reply(
            200,
            json!({
                "state": state,
                "sha": sha,
                "total_count": statuses.len(),
                "statuses": statuses,
                "repository": { "id": s.repos[self.repo].id, "full_name": self.repo },
                "commit_url": self.api(&format!("commits/{sha}")),
                "url": self.api(&format!("commits/{sha}/status")),
            }),
        )
    }

    fn create_check(&self, s: &mut State, body: &Value) -> Reply {
        let head = body["head_sha"].as_str().unwrap_or_default();
        if !s.commits.contains_key(head) {
            return error(422, "No commit found for SHA");
        }
        let id = s.next_id();
        let mut run = body.clone();
        run["id"] = json!(id);
        run["status"] = body.get("status").cloned().unwrap_or(json!("queued"));
        run["conclusion"] = body.get("conclusion").cloned().unwrap_or(Value::Null);
        s.check_runs.push(run.clone());
        reply(201, self.check_json(&run))
    }

    fn update_check(&self, s: &mut State, id: u64, body: &Value) -> Reply {
        let Some(run) = s.check_runs.iter_mut().find(|r| r["id"] == json!(id)) else {
            return error(404, "Not Found");
        };
        if let (Some(run), Some(update)) = (run.as_object_mut(), body.as_object()) {
            for (k, v) in update {
                run.insert(k.clone(), v.clone());
            }
        }
        let run = run.clone();
        reply(200, self.check_json(&run))
    }

    fn permission(&self, s: &State, user: &str) -> Reply {
        match s.repos[self.repo].permissions.get(user) {
            Some(role) => {
                let legacy = match role.as_str() {
                    "maintain" => "write",
                    "triage" => "read",
                    other => other,
                };
                reply(
                    200,
                    json!({ "permission": legacy, "role_name": role, "user": self.user(user, 5) }),
                )
            }
            None => error(404, &format!("{user} is not a user")),
        }
    }
}

/// An open PR follows its head branch, as on GitHub: a push moves the PR's head.
fn current_head(s: &State, pr: &FakePr) -> String {
    let pushed = s
        .repos
        .get(&pr.repo)
        .and_then(|r| r.refs.get(&format!("heads/{}", pr.head)));
    match pushed {
        Some(sha) if pr.open => sha.clone(),
        _ => pr.head_sha.clone(),
    }
}

/// One page of a list, by the `page` and `per_page` query parameters (GitHub's defaults).
fn page(items: Vec<Value>, query: &HashMap<String, String>) -> Vec<Value> {
    let get = |k: &str, d: usize| query.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
    let (page, per_page) = (get("page", 1).max(1), get("per_page", 30).clamp(1, 100));
    items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

// ---- the OpenAPI spec --------------------------------------------------------------------

struct Operation {
    method: String,
    segments: Vec<String>,
    op: Value,
}

struct Spec {
    ops: Vec<Operation>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/spec/github-rest/github-rest-subset.json");
        let text = std::fs::read_to_string(&path).expect("github-rest-subset.json");
        let doc: Value = serde_json::from_str(&text).expect("spec JSON");
        let mut ops = Vec::new();
        for (template, methods) in doc["paths"].as_object().expect("paths") {
            for (method, op) in methods.as_object().expect("methods") {
                ops.push(Operation {
                    method: method.clone(),
                    segments: template
                        .trim_start_matches('/')
                        .split('/')
                        .map(str::to_string)
                        .collect(),
                    op: op.clone(),
                });
            }
        }
        Spec {
            ops,
            validators: Mutex::new(HashMap::new()),
        }
    })
}

impl Spec {
    /// The operation for a request, with its path parameters (the last one takes the rest of
    /// the path, as `{ref}` and `{path}` do on GitHub).
    fn find(&self, method: &str, path: &str) -> Option<(&Value, HashMap<String, String>)> {
        let parts: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(decode)
            .collect();
        let mut best: Option<(&Value, HashMap<String, String>, usize)> = None;
        for op in self.ops.iter().filter(|o| o.method == method) {
            if let Some((params, literal)) = match_path(&op.segments, &parts) {
                // Prefer the template with more literal segments (`/git/ref/x` over `/{path}`).
                if best.as_ref().is_none_or(|b| literal > b.2) {
                    best = Some((&op.op, params, literal));
                }
            }
        }
        best.map(|(op, params, _)| (op, params))
    }

    fn validate(&self, what: &str, schema: &Value, instance: &Value) -> Vec<String> {
        let key = format!("{what}:{:p}", schema as *const Value);
        let validator = {
            let mut cache = self.validators.lock().unwrap_or_else(|e| e.into_inner());
            match cache.get(&key) {
                Some(v) => v.clone(),
                None => {
                    let converted = openapi_to_json_schema(schema);
                    let built = jsonschema::options()
                        .with_draft(jsonschema::Draft::Draft4)
                        .should_validate_formats(true)
                        .build(&converted);
                    match built {
                        Ok(v) => {
                            let v = Arc::new(v);
                            cache.insert(key, v.clone());
                            v
                        }
                        Err(e) => return vec![format!("{what}: schema does not compile: {e}")],
                    }
                }
            }
        };
        validator
            .iter_errors(instance)
            .take(5)
            .map(|e| format!("{what}: {e} at {}", e.instance_path()))
            .collect()
    }
}

fn match_path(template: &[String], parts: &[String]) -> Option<(HashMap<String, String>, usize)> {
    let mut params = HashMap::new();
    let mut literal = 0;
    for (i, seg) in template.iter().enumerate() {
        let last = i + 1 == template.len();
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            // `{ref}` and `{path}` may hold slashes (`heads/healbot/x`, `src/app.py`).
            if last && (name == "ref" || name == "path") {
                if i >= parts.len() {
                    return None;
                }
                params.insert(name.to_string(), parts[i..].join("/"));
                return Some((params, literal));
            }
            params.insert(name.to_string(), parts.get(i)?.clone());
        } else {
            if parts.get(i) != Some(seg) {
                return None;
            }
            literal += 1;
        }
    }
    (template.len() == parts.len()).then_some((params, literal))
}

fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&segment[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn media_schema(content: &Value) -> Option<&Value> {
    let content = content.as_object()?;
    content
        .get("application/json")
        .or_else(|| content.values().next())?
        .get("schema")
}

fn request_schema(op: &Value) -> Option<&Value> {
    media_schema(op.get("requestBody")?.get("content")?)
}

fn response_schema(op: &Value, status: u16) -> Option<&Value> {
    media_schema(
        op.get("responses")?
            .get(status.to_string())?
            .get("content")?,
    )
}

/// OpenAPI 3.0 schema → JSON Schema: `nullable` becomes a null alternative; annotations that
/// JSON Schema reads differently (`example`, `examples`) are dropped.
fn openapi_to_json_schema(schema: &Value) -> Value {
    let Value::Object(o) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (k, v) in o {
        match k.as_str() {
            "example" | "examples" | "nullable" | "discriminator" | "xml" | "externalDocs"
            | "readOnly" | "writeOnly" | "deprecated" => {}
            "properties" | "patternProperties" => {
                let props = v
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(n, s)| (n.clone(), openapi_to_json_schema(s)))
                            .collect()
                    })
                    .unwrap_or_default();
                out.insert(k.clone(), Value::Object(props));
            }
            "items" | "additionalProperties" | "not" if v.is_object() => {
                out.insert(k.clone(), openapi_to_json_schema(v));
            }
            "oneOf" | "anyOf" | "allOf" => {
                let list = v
                    .as_array()
                    .map(|a| a.iter().map(openapi_to_json_schema).collect());
                out.insert(k.clone(), Value::Array(list.unwrap_or_default()));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if o.get("nullable") == Some(&Value::Bool(true)) {
        return json!({ "anyOf": [Value::Object(out), { "type": "null" }] });
    }
    Value::Object(out)
}

// ---- filling responses -------------------------------------------------------------------

/// The fake's answer with every required field it did not set filled with a plain value of the
/// schema's type, so handlers write only the fields that matter and the result is still a
/// complete GitHub object. Whatever the handler wrote is kept and validated as it is.
fn fill(schema: &Value, given: Value) -> Value {
    let schema = pick_variant(schema, &given);
    match given {
        Value::Object(mut o) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in o.iter_mut() {
                    if let Some(s) = props.get(k) {
                        *v = fill(s, v.take());
                    }
                }
                let required = schema.get("required").and_then(Value::as_array);
                for name in required.into_iter().flatten().filter_map(Value::as_str) {
                    if !o.contains_key(name) {
                        let s = props.get(name).unwrap_or(&Value::Null);
                        o.insert(name.to_string(), synth(s));
                    }
                }
            }
            Value::Object(o)
        }
        Value::Array(a) => match schema.get("items") {
            Some(items) => Value::Array(a.into_iter().map(|v| fill(items, v)).collect()),
            None => Value::Array(a),
        },
        other => other,
    }
}

/// For `oneOf`/`anyOf`/`allOf`, the alternative to fill by: the first object one.
fn pick_variant<'s>(schema: &'s Value, given: &Value) -> &'s Value {
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(list) = schema.get(key).and_then(Value::as_array) {
            let want_object = given.is_object();
            if let Some(v) = list.iter().find(|v| {
                let t = v.get("type").and_then(Value::as_str);
                (want_object && (t == Some("object") || v.get("properties").is_some()))
                    || (!want_object && t == Some("array"))
            }) {
                return pick_variant(v, given);
            }
        }
    }
    schema
}

fn synth(schema: &Value) -> Value {
    if schema.get("nullable") == Some(&Value::Bool(true)) {
        return Value::Null;
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(first) = schema
            .get(key)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return synth(first);
        }
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => fill(schema, Value::Object(Map::new())),
        Some("array") => json!([]),
        Some("integer") => json!(1),
        Some("number") => json!(1.0),
        Some("boolean") => json!(false),
        Some("string") => match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => json!("2026-01-01T00:00:00Z"),
            Some("uri") | Some("uri-template") => json!("https://example.com/"),
            Some("email") => json!("octocat@example.com"),
            _ => json!("x"),
        },
        _ if schema.get("properties").is_some() => fill(schema, Value::Object(Map::new())),
        _ => Value::Null,
    }
}
