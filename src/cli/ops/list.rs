//! `healbot ops list [--open] [--reasons]`: operations as aligned columns or JSON. With
//! `--reasons`, only the operations that wait for a person, each with why: the transition that
//! made it wait (its reason and who wrote it), how long ago, the escalation steps already sent,
//! and the commands that would carry it on.

use super::{entries, StateArgs};
use crate::audit::AuditEntry;
use crate::cli::format::Format;
use crate::operation::state::fold_all;
use crate::operation::{OpState, Operation};
use crate::orchestrator::artifacts::{self, in_scan};
use anyhow::Context;
use clap::Args;
use std::process::ExitCode;

#[derive(Args)]
pub struct ListArgs {
    /// Only operations that have not finished.
    #[arg(long)]
    pub open: bool,
    /// Only operations that wait for a person (awaiting review, paused, escalated), each with
    /// why it waits, since when, and what would carry it on.
    #[arg(long)]
    pub reasons: bool,
    /// `text` (aligned columns) or `json`.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub state: StateArgs,
}

pub(super) async fn run(args: ListArgs) -> anyhow::Result<ExitCode> {
    let (source, entries) = entries(&args.state).await?;
    let folded = fold_all(&entries).context("folding the audit log")?;
    let mut ops: Vec<Operation> = folded
        .into_values()
        .filter(|op| !args.open || !op.state.is_terminal())
        .filter(|op| !args.reasons || op.state.is_waiting())
        .collect();
    ops.sort_by_key(|op| op.history.first().map(|h| h.0));
    let now = chrono::Utc::now();
    let rows: Vec<ListedOperation> = ops
        .iter()
        .map(|op| listed(op, &entries, now, args.reasons))
        .collect();
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if ops.is_empty() {
        if args.reasons {
            println!("no operation in {source} waits for a person");
        } else {
            println!("no operations in {source}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&rows));
    Ok(ExitCode::SUCCESS)
}

/// One row of `ops list`, as text columns or a JSON object.
#[derive(serde::Serialize)]
struct ListedOperation {
    id: String,
    state: String,
    service: Option<String>,
    pr: Option<u64>,
    opened_at: Option<String>,
    age_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    waiting: Option<Waiting>,
}

/// Why an operation waits (`--reasons`).
#[derive(serde::Serialize)]
struct Waiting {
    /// The reason of the transition that made it wait.
    reason: String,
    /// Who wrote that transition: healbot (a gate, the canary, a failed check) or a person.
    by: String,
    since: Option<String>,
    waited_seconds: Option<i64>,
    /// Where a paused operation resumes to.
    paused_from: Option<String>,
    /// Escalation steps already sent for this wait, in minutes after it began.
    escalations_sent: Vec<u64>,
    /// The commands that carry it on.
    next: Vec<String>,
}

fn seconds_since(ts: &str, now: chrono::DateTime<chrono::Utc>) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| (now - t.to_utc()).num_seconds().max(0))
}

fn listed(
    op: &Operation,
    entries: &[AuditEntry],
    now: chrono::DateTime<chrono::Utc>,
    reasons: bool,
) -> ListedOperation {
    let opened_seq = op.history.first().map(|h| h.0);
    let opened = entries.iter().find(|e| Some(e.seq) == opened_seq);
    ListedOperation {
        id: op.id.0.clone(),
        state: op.state.to_string(),
        service: op.opened["incident"]["service"].as_str().map(String::from),
        pr: in_scan(op.effect(&artifacts::PR)).map(|pr| pr.0),
        opened_at: opened.map(|e| e.ts.clone()),
        age_seconds: opened.and_then(|e| seconds_since(&e.ts, now)),
        waiting: reasons.then(|| waiting(op, entries, now)),
    }
}

fn waiting(op: &Operation, entries: &[AuditEntry], now: chrono::DateTime<chrono::Utc>) -> Waiting {
    let (since_seq, reason) = op
        .history
        .last()
        .map(|(seq, _, reason)| (*seq, reason.clone()))
        .unwrap_or_default();
    let began = entries.iter().find(|e| e.seq == since_seq);
    let prefix = format!("{}/escalation/{since_seq}/", op.id);
    let mut escalations_sent: Vec<u64> = op
        .effects
        .keys()
        .filter_map(|k| k.strip_prefix(&prefix)?.parse().ok())
        .collect();
    escalations_sent.sort_unstable();
    Waiting {
        reason,
        by: began.map(|e| e.actor.clone()).unwrap_or_default(),
        since: began.map(|e| e.ts.clone()),
        waited_seconds: began.and_then(|e| seconds_since(&e.ts, now)),
        paused_from: op.paused_from.map(|s| s.to_string()),
        escalations_sent,
        next: next_commands(op),
    }
}

/// What a person can do about a waiting operation, as the commands to type.
fn next_commands(op: &Operation) -> Vec<String> {
    let id = &op.id;
    let has_pr = op.effects.contains_key(&format!("{id}/pr"));
    let mut next = Vec::new();
    match (op.state, op.paused_from) {
        (OpState::AwaitingReview, _) => {
            next.push(format!("healbot ops approve {id}  (or approve the PR)"));
            next.push(format!("healbot ops rollback {id}  (or /heal reject)"));
        }
        (OpState::PausedForHumanReview, Some(OpState::Deploying(w))) => {
            next.push(format!("healbot ops promote {id}  (past {w}%)"));
            next.push(format!("healbot ops rollback {id} [--to REVISION]"));
        }
        (OpState::PausedForHumanReview, _) => {
            next.push(format!("healbot ops resume {id}"));
            next.push(format!("healbot ops rollback {id}"));
        }
        (OpState::Escalated, _) => {
            if has_pr {
                next.push("/heal retry on the PR".to_string());
            }
            next.push(format!("healbot ops rollback {id}"));
        }
        _ => {}
    }
    next.push(format!("healbot ops force-complete {id} --reason TEXT"));
    next
}

fn render(listed: &[ListedOperation]) -> String {
    let dash = || "-".to_string();
    let reasons = listed.iter().any(|op| op.waiting.is_some());
    let mut header: Vec<String> = ["ID", "STATE", "SERVICE", "PR", "AGE"]
        .map(String::from)
        .to_vec();
    if reasons {
        header.extend(["WAITED", "BY", "REASON"].map(String::from));
    }
    let rows: Vec<Vec<String>> = listed
        .iter()
        .map(|op| {
            let mut row = vec![
                op.id.clone(),
                op.state.clone(),
                op.service.clone().unwrap_or_else(dash),
                op.pr.map_or_else(dash, |pr| format!("#{pr}")),
                op.age_seconds.map_or_else(dash, age),
            ];
            if let Some(w) = &op.waiting {
                row.push(w.waited_seconds.map_or_else(dash, age));
                row.push(if w.by.is_empty() {
                    dash()
                } else {
                    w.by.clone()
                });
                row.push(w.reason.clone());
            }
            row
        })
        .collect();
    let mut widths = vec![0; header.len()];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, row: &[String]| {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    };
    line(&mut out, &header);
    for (row, op) in rows.iter().zip(listed) {
        line(&mut out, row);
        if let Some(w) = &op.waiting {
            if !w.escalations_sent.is_empty() {
                let steps: Vec<String> = w
                    .escalations_sent
                    .iter()
                    .map(|m| format!("{m} min"))
                    .collect();
                out.push_str(&format!("    escalated: {}\n", steps.join(", ")));
            }
            for command in &w.next {
                out.push_str(&format!("    next: {command}\n"));
            }
        }
    }
    out
}

fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_short() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(600), "10m");
        assert_eq!(age(3 * 3600), "3h");
        assert_eq!(age(3 * 86_400), "3d");
        assert_eq!(age(-4), "0s");
    }

    fn entry(seq: u64, actor: &str, action: &str, detail: serde_json::Value) -> AuditEntry {
        AuditEntry {
            seq,
            ts: "2030-01-06T03:00:00Z".into(),
            operation_id: "op-1".into(),
            correlation_id: "inc-1".into(),
            actor: actor.into(),
            action: action.into(),
            detail,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn a_paused_canary_says_why_who_and_what_next() {
        use crate::operation::state::action;
        use serde_json::json;
        let mut entries = vec![entry(1, "healbot", action::OPENED, json!({}))];
        let path = [
            OpState::Analyzing,
            OpState::Planned,
            OpState::AwaitingGates,
            OpState::Locked,
            OpState::PrOpen,
            OpState::AwaitingReview,
            OpState::Merged,
            OpState::Deploying(10),
        ];
        for to in path {
            let seq = entries.len() as u64 + 1;
            entries.push(entry(seq, "healbot", action::TRANSITION, json!({"to": to})));
        }
        let n = entries.len() as u64;
        entries.push(entry(
            n + 1,
            "healbot",
            action::TRANSITION,
            json!({"to": OpState::PausedForHumanReview, "reason": "canary marginal at 10%"}),
        ));
        entries.push(entry(
            n + 2,
            "healbot",
            action::EFFECT,
            json!({"key": format!("op-1/escalation/{}/15", n + 1), "result": {}}),
        ));
        let ops = fold_all(&entries).unwrap();
        let op = ops.values().next().unwrap();
        let now = chrono::DateTime::parse_from_rfc3339("2030-01-06T03:20:00Z")
            .unwrap()
            .to_utc();
        let row = listed(op, &entries, now, true);
        let w = row.waiting.as_ref().unwrap();
        assert_eq!(w.reason, "canary marginal at 10%");
        assert_eq!(w.by, "healbot");
        assert_eq!(w.waited_seconds, Some(1200));
        assert_eq!(w.escalations_sent, [15]);
        assert_eq!(w.paused_from.as_deref(), Some("Deploying(10%)"));
        assert!(
            w.next[0].starts_with("healbot ops promote op-1"),
            "{:?}",
            w.next
        );
        let text = render(&[row]);
        assert!(text.starts_with("ID"), "{text}");
        assert!(text.contains("REASON"), "{text}");
        assert!(
            text.contains("20m     healbot  canary marginal at 10%"),
            "{text}"
        );
        assert!(text.contains("    escalated: 15 min"), "{text}");
    }
}
