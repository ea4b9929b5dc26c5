//! What the demo prints: the setup, what was detected, the timeline from the audit log, the
//! MTTR breakdown, notifications, and the audit chain check.

use super::run::DemoOutcome;
use super::Demo;
use crate::detect::Incident;
use crate::orchestrator::artifacts::{self, in_scan};
use std::time::Duration;

/// Fails on a bad `HEALBOT_DEMO_NETWORK_WAIT_MS`, before any traffic runs.
pub(super) fn header(demo: &Demo, resumed: bool) -> Result<(), super::traffic::TrafficError> {
    let network_wait_ms = super::traffic::network_wait_ms()?;
    println!(
        "healbot demo — scenario {:?}{}",
        demo.session.scenario,
        if resumed { " (resumed)" } else { "" }
    );
    println!("  work directory: {}", demo.state_dir.display());
    println!("  service repo:   {}", demo.session.repo_path.display());
    println!(
        "  traffic:        {} requests per interval; card network simulated at {} ms a charge (HEALBOT_DEMO_NETWORK_WAIT_MS)",
        demo.session.requests,
        network_wait_ms
    );
    println!();
    Ok(())
}

pub(super) fn detected(incidents: &[Incident]) {
    for i in incidents {
        println!("detected {} [{}] {}", i.id, i.severity, i.title);
        if let Some(p) = &i.pattern {
            println!(
                "  pattern {} ({:.0}%): {}",
                p.pattern.id(),
                p.confidence * 100.0,
                p.evidence
            );
        }
    }
    println!();
}

pub(super) async fn report(
    demo: &Demo,
    outcome: &DemoOutcome,
    start_ts: f64,
    elapsed: Duration,
) -> anyhow::Result<bool> {
    let entries = demo.orchestrator.journal.store().entries().await?;
    println!(
        "{:>9}  {:<22} {:<11} {:<26} action",
        "time", "operation", "component", "state"
    );
    for row in crate::orchestrator::timeline(&entries, start_ts) {
        if row.seconds < -0.001 {
            continue;
        }
        let action: String = row.action.chars().take(110).collect();
        println!(
            "{:>8.3}s  {:<22} {:<11} {:<26} {}",
            row.seconds,
            short(&row.operation, 22),
            row.component,
            row.state,
            action
        );
    }
    println!();
    for n in demo.notifier.sent() {
        println!("notified [{:?}] {}: {}", n.kind, n.title, n.body);
    }
    println!();
    for (id, state) in &outcome.operations {
        println!("{id}: {state}");
        let op = demo.orchestrator.journal.operation(id).await?;
        if let Some(line) = fix_line(&op) {
            println!("  {line}");
        }
        let detected_at = op.opened["incident"]["detected_at"]
            .as_f64()
            .unwrap_or(start_ts);
        for (stage, secs) in crate::orchestrator::mttr_breakdown(&entries, id, detected_at) {
            println!("  {stage:<40} {secs:>8.3} s");
        }
    }
    let report = crate::audit::verify_file(&demo.state_dir.join("audit.jsonl"))?;
    let chain_holds = report.broken.is_none();
    match &report.broken {
        None => println!(
            "\naudit chain holds: {} entries, head {}",
            report.entries,
            report
                .head
                .as_ref()
                .map_or("-".to_string(), |(s, h)| format!(
                    "seq {s} hash {}",
                    &h[..16]
                ))
        ),
        Some(b) => println!("\naudit chain BROKEN at seq {}: {}", b.seq, b.reason),
    }
    println!("demo finished in {:.1} s", elapsed.as_secs_f64());
    if let Some(pr) = outcome.waiting_for_review {
        let dir = demo.state_dir.display();
        println!("\nPR {pr} waits for you. Look at it and approve it:");
        println!("  healbot pr show {} --state-dir {dir}", pr.0);
        println!(
            "  healbot pr comment {} \"/heal approve\" --state-dir {dir}",
            pr.0
        );
    } else {
        println!(
            "\nInspect: healbot pr list --state-dir {}",
            demo.state_dir.display()
        );
        println!(
            "         healbot audit verify {}/audit.jsonl",
            demo.state_dir.display()
        );
    }
    Ok(chain_holds)
}

/// The kind of fix an operation chose: `fix: revert of 1a2b3c4d5e ("…")`, `fix: template
/// python.none-guard`, `fix: config config.pool-size`.
fn fix_line(op: &crate::operation::Operation) -> Option<String> {
    let plan = in_scan(op.artifact(&artifacts::PLAN))?;
    Some(match &plan.reverted_commit {
        Some(sha) => {
            let summary = op.artifacts.get(artifacts::FIX.name()).and_then(|f| {
                f["chosen"]["reverted"]["summary"]
                    .as_str()
                    .map(|s| format!(" (\"{s}\")"))
            });
            format!(
                "fix: {} of commit {}{}",
                plan.fix_kind,
                &sha[..sha.len().min(10)],
                summary.unwrap_or_default()
            )
        }
        None => format!(
            "fix: {} {}",
            plan.fix_kind,
            plan.template_id.as_deref().unwrap_or("-")
        ),
    })
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let tail: String = s
            .chars()
            .rev()
            .take(n - 1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}
