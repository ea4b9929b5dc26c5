//! `healbot pr`: how a person looks at and steers healbot's pull requests on the embedded local
//! forge. A review or a `/heal` comment is first recorded on the forge, then handed to the
//! orchestrator as an [`Override`], the same path a GitHub webhook takes, so both channels
//! behave alike.

use super::format::Format;
use crate::forge::{
    parse_commands, Forge, LocalForge, Override, OverrideKind, PrNumber, PrState, PullRequest,
    RepoRef, Review, ReviewState, BOT_AUTHOR,
};
use anyhow::{bail, Context};
use clap::{ArgGroup, Args, Subcommand};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum PrCommand {
    /// List pull requests: number, state, title, head → base, review status.
    List(ListArgs),
    /// Show one pull request with its comments and reviews in order.
    Show(ShowArgs),
    /// Approve a pull request or request changes on it.
    Review(ReviewArgs),
    /// Comment on a pull request; its `/heal` lines are commands to healbot.
    Comment(CommentArgs),
}

/// Where the forge is and who is acting: shared by every `healbot pr` subcommand.
#[derive(Args)]
pub struct ForgeArgs {
    /// The state directory that holds the local forge.
    #[arg(
        long = "state-dir",
        env = "HEALBOT_STATE",
        default_value = ".healbot",
        value_name = "DIR",
        value_parser = super::state_dir::parse
    )]
    pub state_dir: PathBuf,
    /// Who you are on the PR [default: $USER, else `operator`].
    #[arg(long = "as", value_name = "NAME")]
    pub actor: Option<String>,
    /// The repository [default: the only one, or the one the PR belongs to].
    #[arg(long, value_name = "NAME")]
    pub repo: Option<String>,
}

#[derive(Args)]
pub struct ListArgs {
    /// Only pull requests in this state [default: all].
    #[arg(long, value_enum)]
    pub state: Option<StateFilter>,
    /// `text` (aligned columns) or `json`.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub forge: ForgeArgs,
}

/// `pr list --state`, the words `gh pr list --state` takes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateFilter {
    Open,
    Closed,
    Merged,
    All,
}

impl StateFilter {
    fn admits(self, state: PrState) -> bool {
        match self {
            StateFilter::All => true,
            StateFilter::Open => state == PrState::Open,
            StateFilter::Closed => state == PrState::Closed,
            StateFilter::Merged => state == PrState::Merged,
        }
    }
}

/// The old spelling of `--state-dir` on the subcommands that have no `--state` filter.
#[derive(Args)]
pub struct LegacyStateDir {
    #[arg(long = "state", hide = true, value_name = "DIR", value_parser = super::state_dir::parse)]
    pub state: Option<PathBuf>,
}

#[derive(Args)]
pub struct ShowArgs {
    /// The PR number (`3` or `#3`).
    #[arg(value_parser = parse_pr_number)]
    pub number: PrNumber,
    /// `text` or `json` (the pull request with its comments and reviews).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub forge: ForgeArgs,
    #[command(flatten)]
    pub legacy: LegacyStateDir,
}

#[derive(Args)]
#[command(group(ArgGroup::new("verdict").required(true).args(["approve", "request_changes"])))]
pub struct ReviewArgs {
    /// The PR number (`3` or `#3`).
    #[arg(value_parser = parse_pr_number)]
    pub number: PrNumber,
    /// Approve the PR at its current head.
    #[arg(long)]
    pub approve: bool,
    /// Ask for changes: healbot pauses the operation.
    #[arg(long)]
    pub request_changes: bool,
    /// The review's text.
    #[arg(short = 'm', long = "message", value_name = "MSG", default_value = "")]
    pub message: String,
    #[command(flatten)]
    pub forge: ForgeArgs,
    #[command(flatten)]
    pub legacy: LegacyStateDir,
}

#[derive(Args)]
pub struct CommentArgs {
    /// The PR number (`3` or `#3`).
    #[arg(value_parser = parse_pr_number)]
    pub number: PrNumber,
    /// The comment, in Markdown; e.g. "/heal approve".
    pub body: String,
    #[command(flatten)]
    pub forge: ForgeArgs,
    #[command(flatten)]
    pub legacy: LegacyStateDir,
}

pub async fn run(cmd: PrCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PrCommand::List(args) => list(args),
        PrCommand::Show(args) => show(args).await,
        PrCommand::Review(args) => review(args).await,
        PrCommand::Comment(args) => comment(args).await,
    }
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let forge = open_forge(&args.forge.state_dir)?;
    let repos = match &args.forge.repo {
        Some(name) => vec![RepoRef(name.clone())],
        None => {
            let repos: Vec<RepoRef> = forge.repos()?.into_iter().map(|r| r.name).collect();
            if repos.is_empty() {
                bail!("{}", no_repos_message(&forge));
            }
            repos
        }
    };
    let filter = args.state.unwrap_or(StateFilter::All);
    let mut listed = Vec::new();
    for repo in repos {
        let prs: Vec<PullRequest> = forge
            .list_prs(&repo)?
            .into_iter()
            .filter(|pr| filter.admits(pr.state))
            .collect();
        listed.push((repo, prs));
    }
    if args.format == Format::Json {
        let rows: Vec<serde_json::Value> = listed
            .iter()
            .flat_map(|(repo, prs)| {
                prs.iter().map(move |pr| {
                    serde_json::json!({
                        "repo": repo.0,
                        "number": pr.number,
                        "state": state_name(pr.state),
                        "title": pr.title,
                        "head": pr.head,
                        "base": pr.base,
                        "head_sha": pr.head_sha,
                        "review": review_status(pr),
                    })
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let several = listed.len() > 1;
    for (repo, prs) in listed {
        if several {
            println!("{}:", repo.0);
        }
        if prs.is_empty() {
            println!("no pull requests in {}", repo.0);
        } else {
            print!("{}", render_list(&prs));
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let forge = open_forge(state_dir(&args.forge, &args.legacy))?;
    let repo = resolve_repo(&forge, args.forge.repo.as_deref(), args.number)?;
    let pr = forge.pull_request(&repo, args.number).await?;
    match args.format {
        Format::Text => print!("{}", render_pr(&repo, &pr)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"repo": repo.0, "pull_request": pr}))?
        ),
    }
    Ok(ExitCode::SUCCESS)
}

async fn review(args: ReviewArgs) -> anyhow::Result<ExitCode> {
    let forge = open_forge(state_dir(&args.forge, &args.legacy))?;
    let actor = acting_person(&args.forge)?;
    let repo = resolve_repo(&forge, args.forge.repo.as_deref(), args.number)?;
    let state = if args.approve {
        ReviewState::Approved
    } else {
        ReviewState::ChangesRequested
    };
    let review = forge.add_review(&repo, args.number, &actor, state, &args.message)?;
    println!(
        "{actor}: {} on PR {} at {} (review {})",
        review_state_name(state),
        args.number,
        review.commit_sha.short(),
        review.id
    );
    let ov = Override {
        actor_id: None,
        source_id: format!("local:{}:pr{}:review:{}", repo.0, args.number.0, review.id),
        repo,
        pr: args.number,
        actor,
        kind: OverrideKind::Review { state },
        head_sha: review.commit_sha,
    };
    let handed = hand_over(state_dir(&args.forge, &args.legacy), ov).await;
    Ok(exit_code(handed))
}

async fn comment(args: CommentArgs) -> anyhow::Result<ExitCode> {
    let forge = open_forge(state_dir(&args.forge, &args.legacy))?;
    let actor = acting_person(&args.forge)?;
    let repo = resolve_repo(&forge, args.forge.repo.as_deref(), args.number)?;
    let comment = forge.add_comment_as(&repo, args.number, &actor, &args.body)?;
    println!("{actor}: comment {} on PR {}", comment.id, args.number);
    let head_sha = forge.pull_request(&repo, args.number).await?.head_sha;
    let mut all_handed = true;
    // In the order they were written: `/heal pause` then `/heal resume` must not swap.
    for (index, parsed) in parse_commands(&args.body).into_iter().enumerate() {
        match parsed {
            Ok(command) => {
                let ov = Override {
                    actor_id: None,
                    repo: repo.clone(),
                    pr: args.number,
                    actor: actor.clone(),
                    kind: OverrideKind::Command { command },
                    head_sha: head_sha.clone(),
                    source_id: format!(
                        "local:{}:pr{}:comment:{}:{}",
                        repo.0,
                        args.number.0,
                        comment.id,
                        index + 1
                    ),
                };
                all_handed &= hand_over(state_dir(&args.forge, &args.legacy), ov).await;
            }
            Err(reply) => {
                let reply = reply.reply();
                println!("{BOT_AUTHOR}: {reply}");
                forge
                    .comment(&repo, args.number, &reply)
                    .await
                    .with_context(|| format!("posting healbot's reply on PR {}", args.number))?;
            }
        }
    }
    Ok(exit_code(all_handed))
}

/// Gives one override to the orchestrator and prints what it says. The person's act is already
/// on the forge, so a failure here is reported (and fails the exit code) without undoing it.
async fn hand_over(state_dir: &Path, ov: Override) -> bool {
    let what = match &ov.kind {
        OverrideKind::Review { state } => format!("the review ({})", review_state_name(*state)),
        OverrideKind::Command { command } => format!("`{command}`"),
    };
    match apply_override(state_dir, ov).await {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            true
        }
        Err(e) => {
            eprintln!("error: healbot could not act on {what}: {e:#}");
            false
        }
    }
}

fn exit_code(success: bool) -> ExitCode {
    if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--state-dir`, or the old `--state DIR` where it was given.
fn state_dir<'a>(forge: &'a ForgeArgs, legacy: &'a LegacyStateDir) -> &'a Path {
    legacy.state.as_deref().unwrap_or(&forge.state_dir)
}

fn open_forge(state_dir: &Path) -> anyhow::Result<LocalForge> {
    LocalForge::open(state_dir)
        .with_context(|| format!("opening the local forge in {}", state_dir.display()))
}

fn no_repos_message(forge: &LocalForge) -> String {
    format!(
        "no repository is registered in the local forge at {} (run `healbot demo` first, or pass --state-dir DIR)",
        forge.root().display()
    )
}

/// `--repo`, else the only registered repository, else the one PR `number` belongs to.
fn resolve_repo(
    forge: &LocalForge,
    wanted: Option<&str>,
    number: PrNumber,
) -> anyhow::Result<RepoRef> {
    if let Some(name) = wanted {
        return Ok(RepoRef(name.to_string()));
    }
    let repos = forge.repos()?;
    match repos.as_slice() {
        [] => bail!("{}", no_repos_message(forge)),
        [only] => Ok(only.name.clone()),
        _ => Ok(forge.repo_of(number)?),
    }
}

/// `--as`, else `$USER`, else `operator`. Nobody may act as the bot: it never approves itself.
fn acting_person(args: &ForgeArgs) -> anyhow::Result<String> {
    let name = match &args.actor {
        Some(name) if name.trim().is_empty() => bail!("--as needs a name"),
        Some(name) => name.trim().to_string(),
        None => std::env::var("USER")
            .ok()
            .map(|user| user.trim().to_string())
            .filter(|user| !user.is_empty())
            .unwrap_or_else(|| "operator".to_string()),
    };
    if name.eq_ignore_ascii_case(BOT_AUTHOR) {
        bail!("`{BOT_AUTHOR}` is healbot itself; act as a person with --as NAME");
    }
    Ok(name)
}

fn parse_pr_number(text: &str) -> Result<PrNumber, String> {
    let digits = text.trim().trim_start_matches('#');
    match digits.parse::<u64>() {
        Ok(n) if n > 0 => Ok(PrNumber(n)),
        _ => Err(format!("`{text}` is not a PR number (try 1 or #1)")),
    }
}

fn state_name(state: PrState) -> &'static str {
    match state {
        PrState::Open => "open",
        PrState::Closed => "closed",
        PrState::Merged => "merged",
    }
}

fn review_state_name(state: ReviewState) -> &'static str {
    match state {
        ReviewState::Approved => "approved",
        ReviewState::ChangesRequested => "changes requested",
        ReviewState::Commented => "commented",
        ReviewState::Dismissed => "dismissed",
    }
}

/// Where the PR stands with its reviewers: each person's latest approval or change request
/// counts (a dismissal withdraws it), and an approval holds only for the head it was given on.
fn review_status(pr: &PullRequest) -> String {
    let mut latest: BTreeMap<&str, &Review> = BTreeMap::new();
    for review in &pr.reviews {
        match review.state {
            ReviewState::Commented => {}
            ReviewState::Dismissed => {
                latest.remove(review.author.as_str());
            }
            ReviewState::Approved | ReviewState::ChangesRequested => {
                latest.insert(review.author.as_str(), review);
            }
        }
    }
    let who = |keep: &dyn Fn(&Review) -> bool| -> Vec<&str> {
        latest
            .iter()
            .filter(|(_, r)| keep(r))
            .map(|(author, _)| *author)
            .collect()
    };
    let blocking = who(&|r| r.state == ReviewState::ChangesRequested);
    if !blocking.is_empty() {
        return format!("changes requested by {}", blocking.join(", "));
    }
    let approved = who(&|r| r.state == ReviewState::Approved && r.commit_sha == pr.head_sha);
    if !approved.is_empty() {
        return format!("approved by {}", approved.join(", "));
    }
    if !who(&|r| r.state == ReviewState::Approved).is_empty() {
        return "approval outdated by new commits".to_string();
    }
    "awaiting review".to_string()
}

fn render_list(prs: &[PullRequest]) -> String {
    let header = ["PR", "STATE", "TITLE", "BRANCH", "REVIEW"].map(String::from);
    let rows: Vec<[String; 5]> = std::iter::once(header)
        .chain(prs.iter().map(|pr| {
            [
                pr.number.to_string(),
                state_name(pr.state).to_string(),
                pr.title.clone(),
                format!("{} → {}", pr.head, pr.base),
                review_status(pr),
            ]
        }))
        .collect();
    let mut widths = [0usize; 5];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < row.len() {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One entry of a PR's conversation, so comments and reviews print in the order they came.
enum Entry<'a> {
    Comment(&'a crate::forge::Comment),
    Review(&'a Review),
}

fn render_pr(repo: &RepoRef, pr: &PullRequest) -> String {
    let mut out = format!(
        "PR {} · {} · {}\n",
        pr.number,
        state_name(pr.state),
        pr.title
    );
    out.push_str(&format!("repo     {}\n", repo.0));
    out.push_str(&format!("branch   {} → {}\n", pr.head, pr.base));
    out.push_str(&format!("head     {}\n", pr.head_sha));
    if let Some(merge) = &pr.merge_sha {
        out.push_str(&format!("merged   {merge}\n"));
    }
    let labels = if pr.labels.is_empty() {
        "-".to_string()
    } else {
        pr.labels.join(", ")
    };
    out.push_str(&format!("labels   {labels}\n"));
    out.push_str(&format!("created  {}\n", pr.created_at));
    out.push_str(&format!("review   {}\n", review_status(pr)));
    out.push('\n');
    out.push_str(pr.body.trim_end());
    out.push('\n');

    let mut entries: Vec<(u64, Entry<'_>)> = pr
        .comments
        .iter()
        .map(|c| (c.id, Entry::Comment(c)))
        .chain(pr.reviews.iter().map(|r| (r.id, Entry::Review(r))))
        .collect();
    entries.sort_by_key(|(id, _)| *id);
    for (_, entry) in entries {
        out.push('\n');
        let body = match entry {
            Entry::Comment(c) => {
                out.push_str(&format!(
                    "── comment {} by {} at {}\n",
                    c.id, c.author, c.created_at
                ));
                &c.body
            }
            Entry::Review(r) => {
                let outdated = if r.commit_sha != pr.head_sha {
                    " (outdated)"
                } else {
                    ""
                };
                out.push_str(&format!(
                    "── review {} by {}: {} on {}{outdated} at {}\n",
                    r.id,
                    r.author,
                    review_state_name(r.state),
                    r.commit_sha.short(),
                    r.submitted_at
                ));
                &r.body
            }
        };
        for line in body.trim_end().lines() {
            // No trailing spaces on the blank lines of a body.
            let indent = if line.is_empty() { "" } else { "   " };
            out.push_str(&format!("{indent}{line}\n"));
        }
    }
    out
}

/// Applies a person's review or command to the operation behind its PR in the demo state
/// directory and drives the operation on; returns the lines to show the person.
async fn apply_override(state_dir: &Path, ov: Override) -> anyhow::Result<Vec<String>> {
    let demo = crate::demo::Demo::open(state_dir).await?;
    Ok(demo.orchestrator.handle_override(ov).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::{Comment, CommitSha};

    fn pr() -> PullRequest {
        PullRequest {
            number: PrNumber(1),
            title: "Guard missing email".into(),
            body: "Incident inc-1".into(),
            head: "healbot/inc-1".into(),
            head_sha: CommitSha("b".repeat(40)),
            base: "main".into(),
            state: PrState::Open,
            labels: vec!["healbot".into()],
            merge_sha: None,
            comments: vec![],
            reviews: vec![],
            created_at: "2025-01-01T00:00:00Z".into(),
        }
    }

    fn review(id: u64, author: &str, state: ReviewState, sha: char) -> Review {
        Review {
            id,
            author: author.into(),
            state,
            body: String::new(),
            commit_sha: CommitSha(sha.to_string().repeat(40)),
            submitted_at: "2025-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn review_status_follows_each_persons_latest_review() {
        let mut pr = pr();
        assert_eq!(review_status(&pr), "awaiting review");
        pr.reviews
            .push(review(1, "alice", ReviewState::ChangesRequested, 'b'));
        assert_eq!(review_status(&pr), "changes requested by alice");
        pr.reviews
            .push(review(2, "alice", ReviewState::Approved, 'b'));
        assert_eq!(review_status(&pr), "approved by alice");
        pr.reviews
            .push(review(3, "bob", ReviewState::Approved, 'a'));
        assert_eq!(review_status(&pr), "approved by alice");
        pr.reviews
            .push(review(4, "alice", ReviewState::Dismissed, 'b'));
        assert_eq!(review_status(&pr), "approval outdated by new commits");
    }

    #[test]
    fn show_prints_comments_and_reviews_in_order() {
        let mut pr = pr();
        pr.comments.push(Comment {
            id: 1,
            author: BOT_AUTHOR.into(),
            body: "Opened".into(),
            created_at: "t1".into(),
        });
        pr.reviews
            .push(review(2, "alice", ReviewState::Approved, 'a'));
        pr.comments.push(Comment {
            id: 3,
            author: "bob".into(),
            body: "/heal status".into(),
            created_at: "t3".into(),
        });
        let text = render_pr(&RepoRef("svc".into()), &pr);
        let opened = text.find("Opened").unwrap();
        let approved = text
            .find("review 2 by alice: approved on aaaaaaa (outdated)")
            .unwrap();
        let status = text.find("/heal status").unwrap();
        assert!(opened < approved && approved < status, "{text}");
        assert!(text.contains(&"b".repeat(40)), "{text}");
        assert!(text.contains("labels   healbot"), "{text}");
    }

    #[test]
    fn list_aligns_its_columns() {
        let text = render_list(&[pr()]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("PR  STATE"), "{text}");
        assert!(lines[1].starts_with("#1  open "), "{text}");
        assert!(lines[1].contains("healbot/inc-1 → main"), "{text}");
        assert!(lines[1].ends_with("awaiting review"), "{text}");
    }

    #[test]
    fn pr_numbers_take_an_optional_hash() {
        assert_eq!(parse_pr_number("#3"), Ok(PrNumber(3)));
        assert_eq!(parse_pr_number("12"), Ok(PrNumber(12)));
        assert!(parse_pr_number("0").is_err());
        assert!(parse_pr_number("abc").is_err());
    }
}
