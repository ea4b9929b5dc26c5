//! Conflicts between a new operation and the operations already running. A lock only stops two
//! changes to the *same* resource; this looks through the dependency graph (transitively) for
//! changes that hurt each other from a distance — a dependency being fixed, one database under
//! both, a deploy in flight — and says, from `policies/conflicts.yaml`, whether to proceed, wait,
//! pause for a person or abort. Pure: graph, policy and operations in, report out.

use crate::config::{ConflictAction, ConflictsPolicy};
use crate::topology::graph::DependencyGraph;
use serde::Serialize;
use std::collections::HashSet;

/// An operation as the detector sees it (running ones, and the one about to start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveOperation {
    pub id: String,
    pub service: String,
    pub incident: String,
    /// A deploy step (canary, promotion, rollback) is in progress.
    pub deploying: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    SameService,
    /// The other operation changes something this service depends on.
    UpstreamDependency,
    /// The other operation changes something that depends on this service.
    DownstreamDependency,
    SharedResource,
    SameIncident,
    DeploymentInProgress,
    FreezeWindow,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    pub kind: ConflictKind,
    /// The running operation it is with; `None` for a freeze window.
    pub operation: Option<String>,
    /// The other operation's service, or the freeze's name.
    pub with: String,
    /// How they meet: the dependency chain, or the shared resources.
    pub via: Vec<String>,
    pub action: ConflictAction,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConflictReport {
    pub conflicts: Vec<Conflict>,
    /// Services reached (transitively) by this operation and every conflicting one.
    pub affected_services: usize,
    /// `affected_services` as a share of the other services of the graph.
    pub blast_radius: f64,
    /// The strictest action of all conflicts (raised to pause when the blast radius is high).
    pub action: ConflictAction,
    pub reason: String,
}

/// Checks `candidate` against `active` (the candidate itself, by id, is skipped).
/// `freeze` names a change freeze in force for the candidate's service, if any.
pub fn detect(
    graph: &DependencyGraph,
    policy: &ConflictsPolicy,
    candidate: &ActiveOperation,
    active: &[ActiveOperation],
    freeze: Option<&str>,
) -> ConflictReport {
    let svc = candidate.service.as_str();
    let upstream: HashSet<&str> = graph.transitive_dependencies(svc).into_iter().collect();
    let downstream: HashSet<&str> = graph.transitive_dependents(svc).into_iter().collect();
    let resources: Vec<&str> = upstream
        .iter()
        .copied()
        .filter(|s| is_resource(graph, policy, s))
        .collect();
    // One walk up from every resource finds all services sharing one with the candidate.
    let sharing: HashSet<&str> = graph
        .dependents_of_any(resources.iter().copied())
        .into_iter()
        .collect();

    let a = &policy.actions;
    let mut conflicts = Vec::new();
    let mut conflicting_services: Vec<&str> = Vec::new();
    for op in active.iter().filter(|op| op.id != candidate.id) {
        let other = op.service.as_str();
        let mut push = |kind, via: Vec<String>, action| {
            conflicts.push(Conflict {
                kind,
                operation: Some(op.id.clone()),
                with: op.service.clone(),
                via,
                action,
            })
        };
        // The closest relation only: a service upstream also shares its databases.
        let related = if other == svc {
            push(ConflictKind::SameService, Vec::new(), a.same_service);
            true
        } else if upstream.contains(other) {
            let via = chain(graph, other, svc);
            push(ConflictKind::UpstreamDependency, via, a.upstream_dependency);
            true
        } else if downstream.contains(other) {
            let via = chain(graph, svc, other);
            push(
                ConflictKind::DownstreamDependency,
                via,
                a.downstream_dependency,
            );
            true
        } else if sharing.contains(other) || resources.contains(&other) {
            let theirs: HashSet<&str> = graph.transitive_dependencies(other).into_iter().collect();
            let mut via: Vec<String> = resources
                .iter()
                .filter(|r| theirs.contains(*r))
                .map(|r| r.to_string())
                .collect();
            via.sort();
            push(ConflictKind::SharedResource, via, a.shared_resource);
            true
        } else {
            false
        };
        if op.incident == candidate.incident {
            push(ConflictKind::SameIncident, Vec::new(), a.same_incident);
        }
        if op.deploying && related {
            push(
                ConflictKind::DeploymentInProgress,
                Vec::new(),
                a.deployment_in_progress,
            );
        }
        if related || op.incident == candidate.incident {
            conflicting_services.push(other);
        }
    }
    if let Some(name) = freeze {
        conflicts.push(Conflict {
            kind: ConflictKind::FreezeWindow,
            operation: None,
            with: name.to_string(),
            via: Vec::new(),
            action: a.freeze_window,
        });
    }

    let affected_services = affected(graph, svc, &conflicting_services);
    let others = graph.len().saturating_sub(1);
    let blast_radius = if others == 0 {
        0.0
    } else {
        (affected_services as f64 / others as f64).min(1.0)
    };
    let strictest = conflicts
        .iter()
        .map(|c| c.action)
        .max()
        .unwrap_or(ConflictAction::Proceed);
    let limit = policy.high_blast_radius.pause_above_services;
    let high = !conflicts.is_empty() && affected_services as u64 > limit;
    let action = if high {
        strictest.max(ConflictAction::PauseForReview)
    } else {
        strictest
    };
    let reason = reason(&conflicts, action, high, affected_services, limit);
    ConflictReport {
        conflicts,
        affected_services,
        blast_radius,
        action,
        reason,
    }
}

fn is_resource(graph: &DependencyGraph, policy: &ConflictsPolicy, service: &str) -> bool {
    graph
        .node(service)
        .and_then(|n| n.kind.as_deref())
        .is_some_and(|k| policy.resource_kinds.iter().any(|r| r == k))
}

/// The chain from `dependency` up to `caller`, as names.
fn chain(graph: &DependencyGraph, dependency: &str, caller: &str) -> Vec<String> {
    graph
        .path_to_dependent(dependency, caller)
        .unwrap_or_default()
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// Services other than `svc` that the operations involved touch: the conflicting services and
/// everything that depends on them or on `svc`, transitively.
fn affected(graph: &DependencyGraph, svc: &str, conflicting: &[&str]) -> usize {
    let mut reached: HashSet<&str> = graph
        .dependents_of_any(conflicting.iter().copied().chain([svc]))
        .into_iter()
        .collect();
    reached.extend(graph.transitive_dependents(svc));
    reached.extend(conflicting.iter().copied());
    reached.remove(svc);
    reached.len()
}

fn reason(
    conflicts: &[Conflict],
    action: ConflictAction,
    high: bool,
    affected: usize,
    limit: u64,
) -> String {
    if conflicts.is_empty() {
        return "no conflict".to_string();
    }
    let mut parts: Vec<String> = conflicts
        .iter()
        .map(|c| match &c.operation {
            Some(op) => format!("{:?} with {op} on {}", c.kind, c.with),
            None => format!("{:?} {}", c.kind, c.with),
        })
        .collect();
    if high {
        parts.push(format!("{affected} services affected (over {limit})"));
    }
    format!("{action:?}: {}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PolicySet;

    /// web → api → order → payment → postgres (database) ← inventory; search → elastic.
    fn graph() -> DependencyGraph {
        let text = r#"
services:
  - {name: web, criticality: 0.5, depends_on: [api]}
  - {name: api, criticality: 0.8, depends_on: [order]}
  - {name: order, criticality: 0.8, depends_on: [payment]}
  - {name: payment, criticality: 0.9, depends_on: [postgres]}
  - {name: inventory, criticality: 0.5, depends_on: [postgres]}
  - {name: postgres, criticality: 1.0, kind: database}
  - {name: search, criticality: 0.3, depends_on: [elastic]}
  - {name: elastic, criticality: 0.3}
"#;
        DependencyGraph::from_catalog_yaml(text, "catalog.yaml").unwrap()
    }

    fn op(id: &str, service: &str, incident: &str, deploying: bool) -> ActiveOperation {
        ActiveOperation {
            id: id.into(),
            service: service.into(),
            incident: incident.into(),
            deploying,
        }
    }

    fn check(service: &str, active: &[ActiveOperation]) -> ConflictReport {
        let policy = PolicySet::embedded().conflicts;
        detect(
            &graph(),
            &policy,
            &op("new", service, "inc-new", false),
            active,
            None,
        )
    }

    fn kinds(r: &ConflictReport) -> Vec<ConflictKind> {
        r.conflicts.iter().map(|c| c.kind).collect()
    }

    #[test]
    fn unrelated_operations_do_not_conflict() {
        let r = check("search", &[op("a", "payment", "inc-1", true)]);
        assert!(r.conflicts.is_empty());
        assert_eq!(r.action, ConflictAction::Proceed);
        assert_eq!(r.reason, "no conflict");
    }

    #[test]
    fn same_service_waits() {
        let r = check("payment", &[op("a", "payment", "inc-1", false)]);
        assert_eq!(kinds(&r), [ConflictKind::SameService]);
        assert_eq!(r.action, ConflictAction::Wait);
    }

    #[test]
    fn a_dependency_under_change_is_upstream_and_pauses() {
        let r = check("api", &[op("a", "payment", "inc-1", false)]);
        assert_eq!(kinds(&r), [ConflictKind::UpstreamDependency]);
        assert_eq!(r.conflicts[0].via, ["payment", "order", "api"]);
        assert_eq!(r.action, ConflictAction::PauseForReview);
    }

    #[test]
    fn a_caller_under_change_is_downstream_and_pauses() {
        let r = check("payment", &[op("a", "web", "inc-1", false)]);
        assert_eq!(kinds(&r), [ConflictKind::DownstreamDependency]);
        assert_eq!(r.conflicts[0].via, ["payment", "order", "api", "web"]);
        assert_eq!(r.action, ConflictAction::PauseForReview);
    }

    #[test]
    fn one_database_under_two_services_is_a_shared_resource() {
        let r = check("inventory", &[op("a", "order", "inc-1", false)]);
        assert_eq!(kinds(&r), [ConflictKind::SharedResource]);
        assert_eq!(r.conflicts[0].via, ["postgres"]);
        assert_eq!(r.action, ConflictAction::Wait);
    }

    #[test]
    fn same_incident_aborts_even_on_an_unrelated_service() {
        let policy = PolicySet::embedded().conflicts;
        let cand = op("new", "search", "inc-1", false);
        let r = detect(
            &graph(),
            &policy,
            &cand,
            &[op("a", "payment", "inc-1", false)],
            None,
        );
        assert_eq!(kinds(&r), [ConflictKind::SameIncident]);
        assert_eq!(r.action, ConflictAction::Abort);
    }

    #[test]
    fn a_related_deploy_in_flight_is_a_conflict_an_unrelated_one_is_not() {
        let r = check("inventory", &[op("a", "payment", "inc-1", true)]);
        assert_eq!(
            kinds(&r),
            [
                ConflictKind::SharedResource,
                ConflictKind::DeploymentInProgress
            ]
        );
        let r = check("inventory", &[op("a", "elastic", "inc-1", true)]);
        assert!(r.conflicts.is_empty());
    }

    #[test]
    fn freeze_window_pauses() {
        let policy = PolicySet::embedded().conflicts;
        let cand = op("new", "search", "inc-new", false);
        let r = detect(&graph(), &policy, &cand, &[], Some("year-end"));
        assert_eq!(kinds(&r), [ConflictKind::FreezeWindow]);
        assert_eq!(r.conflicts[0].with, "year-end");
        assert_eq!(r.action, ConflictAction::PauseForReview);
    }

    #[test]
    fn the_candidate_itself_is_skipped() {
        let policy = PolicySet::embedded().conflicts;
        let cand = op("new", "payment", "inc-new", false);
        let r = detect(&graph(), &policy, &cand, std::slice::from_ref(&cand), None);
        assert!(r.conflicts.is_empty());
    }

    #[test]
    fn high_blast_radius_conflict_pauses() {
        // 15 services on one database: a conflict there reaches all of them.
        let mut g = DependencyGraph::new();
        g.add_service("db", Some(1.0));
        for i in 0..15 {
            g.add_dependency(&format!("svc-{i}"), "db");
        }
        let mut policy = PolicySet::embedded().conflicts;
        let cand = op("new", "db", "inc-new", false);
        let r = detect(
            &g,
            &policy,
            &cand,
            &[op("a", "svc-3", "inc-1", false)],
            None,
        );
        assert_eq!(kinds(&r), [ConflictKind::DownstreamDependency]);
        assert_eq!(r.affected_services, 15);
        assert_eq!(r.blast_radius, 1.0);
        assert_eq!(r.action, ConflictAction::PauseForReview);
        assert!(r.reason.contains("15 services affected"), "{}", r.reason);
        // The same conflict under the limit keeps its own action.
        policy.actions.downstream_dependency = ConflictAction::Wait;
        policy.high_blast_radius.pause_above_services = 20;
        let r = detect(
            &g,
            &policy,
            &cand,
            &[op("a", "svc-3", "inc-1", false)],
            None,
        );
        assert_eq!(r.action, ConflictAction::Wait);
    }
}
