//! The graph `serve` works with, replaced whole when discovery finds a new one: readers take
//! the current graph (an `Arc`) and keep it for as long as they need, so a refresh never
//! changes a graph under an operation that is halfway through reading it.

use super::discover::{Discovery, Snapshot};
use super::graph::DependencyGraph;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Default)]
pub struct SharedGraph(Arc<RwLock<Layers>>);

/// What the graph is made of: what discovery found (the catalog and the other sources), and
/// what each repository declares in its `.github/healbot.yml` as `serve` last read it from
/// GitHub; `merged` is their union, rebuilt on every change.
#[derive(Debug, Default)]
struct Layers {
    discovered: DependencyGraph,
    declared: BTreeMap<String, DependencyGraph>,
    merged: Arc<DependencyGraph>,
}

impl Layers {
    fn rebuild(&mut self) {
        let mut merged = self.discovered.clone();
        for g in self.declared.values() {
            merged.merge(g);
        }
        self.merged = Arc::new(merged);
    }
}

impl SharedGraph {
    pub fn new(graph: DependencyGraph) -> SharedGraph {
        let mut layers = Layers {
            discovered: graph,
            ..Layers::default()
        };
        layers.rebuild();
        SharedGraph(Arc::new(RwLock::new(layers)))
    }

    pub fn current(&self) -> Arc<DependencyGraph> {
        match self.0.read() {
            Ok(g) => g.merged.clone(),
            // A writer that panicked left a whole graph behind all the same.
            Err(poisoned) => poisoned.into_inner().merged.clone(),
        }
    }

    /// Replaces what discovery found; what repositories declared stays merged in.
    pub fn replace(&self, graph: DependencyGraph) {
        self.edit(|l| l.discovered = graph);
    }

    /// Replaces what the repository `repo` declares (its services' `depends_on:`); an empty
    /// graph takes its declarations out.
    pub(crate) fn declare(&self, repo: &str, graph: DependencyGraph) {
        self.edit(|l| {
            if graph.is_empty() {
                l.declared.remove(repo);
            } else {
                l.declared.insert(repo.to_string(), graph);
            }
        });
    }

    fn edit(&self, f: impl FnOnce(&mut Layers)) {
        let mut layers = match self.0.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut layers);
        layers.rebuild();
    }
}

impl From<DependencyGraph> for SharedGraph {
    fn from(graph: DependencyGraph) -> SharedGraph {
        SharedGraph::new(graph)
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Refreshes `shared` on `discovery`'s schedule, whenever the catalog file changes, and
/// whenever `snapshot` (written by `healbot graph refresh`) is newer than what `serve` last
/// loaded. A discovery that finds no
/// service at all keeps the graph there is.
pub(crate) async fn keep_fresh(shared: SharedGraph, discovery: Discovery, snapshot: PathBuf) {
    let every = discovery.config.refresh;
    // A stat of two files: cheap enough to notice an edited catalog within seconds.
    let tick = Duration::from_secs(2).min(every.unwrap_or(Duration::from_secs(2)));
    let mut last_discovery = std::time::Instant::now();
    let mut last_snapshot = modified(&snapshot);
    // Unknown at first: the first tick rediscovers once, so that an edit made between the
    // caller's first discovery and this loop is not missed.
    let mut last_catalog = None;
    loop {
        tokio::time::sleep(tick).await;
        let changed = modified(&snapshot);
        if changed.is_some() && changed != last_snapshot {
            last_snapshot = changed;
            match Snapshot::read(&snapshot) {
                Ok(s) if !s.services.is_empty() => {
                    tracing::info!(
                        services = s.services.len(),
                        "dependency graph reloaded from {}",
                        snapshot.display()
                    );
                    shared.replace(s.graph());
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("dependency graph snapshot: {e}"),
            }
        }
        // The catalog is the user's own statement of the topology: an edit applies at once,
        // without a restart and whatever the discovery schedule.
        let catalog = discovery.catalog.as_deref().and_then(modified);
        let edited = catalog.is_some() && catalog != last_catalog;
        if edited || every.is_some_and(|e| last_discovery.elapsed() >= e) {
            last_catalog = catalog;
            last_discovery = std::time::Instant::now();
            let found = discovery.discover(now()).await;
            for problem in &found.problems {
                tracing::warn!("dependency graph discovery: {problem}");
            }
            if found.graph.is_empty() {
                continue;
            }
            tracing::info!(
                services = found.graph.len(),
                edges = found.graph.edge_count(),
                "dependency graph refreshed"
            );
            let snap = found.snapshot();
            if let Err(e) = snap.write(&snapshot) {
                tracing::warn!("{e}");
            }
            last_snapshot = modified(&snapshot);
            shared.replace(found.graph);
        }
    }
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_edited_catalog_replaces_the_graph_without_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = dir.path().join("catalog.yaml");
        let write = |deps: &str, age_secs: i64| {
            std::fs::write(
                &catalog,
                format!(
                    "services:\n  - name: a\n    depends_on: [{deps}]\n  - name: b\n  - name: c\n"
                ),
            )
            .unwrap();
            // Distinct modification times even on a coarse clock.
            let at = if age_secs >= 0 {
                SystemTime::now() - Duration::from_secs(age_secs.unsigned_abs())
            } else {
                SystemTime::now() + Duration::from_secs(age_secs.unsigned_abs())
            };
            std::fs::File::options()
                .write(true)
                .open(&catalog)
                .and_then(|f| f.set_modified(at))
                .unwrap();
        };
        write("b", 60);
        let discovery = Discovery::new(Some(catalog.clone()), Default::default(), None).unwrap();
        let first = discovery.discover(now()).await;
        assert_eq!(first.graph.dependencies("a"), ["b"]);
        let shared = SharedGraph::new(first.graph);
        let task = tokio::spawn(keep_fresh(
            shared.clone(),
            discovery,
            dir.path().join("topology.json"),
        ));
        // Edited before the loop's first look, then again while it runs.
        write("b, c", 0);
        let wait_for = |n: usize| {
            let shared = shared.clone();
            async move {
                let deadline = std::time::Instant::now() + Duration::from_secs(20);
                while shared.current().dependencies("a").len() != n
                    && std::time::Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        wait_for(2).await;
        let graph = shared.current();
        let mut deps = graph.dependencies("a");
        deps.sort();
        assert_eq!(deps, ["b", "c"], "the first edit was picked up");
        write("c", -5);
        wait_for(1).await;
        task.abort();
        assert_eq!(
            shared.current().dependencies("a"),
            ["c"],
            "the second edit too"
        );
    }

    #[test]
    fn declarations_merge_with_discovery_and_survive_its_refresh() {
        let mut catalog = DependencyGraph::new();
        catalog.add_dependency("a", "b");
        let shared = SharedGraph::new(catalog.clone());
        let mut declared = DependencyGraph::new();
        declared.add_dependency("a", "c");
        shared.declare("acme/a", declared);
        let graph = shared.current();
        let mut deps = graph.dependencies("a");
        deps.sort();
        assert_eq!(deps, ["b", "c"]);
        shared.replace(catalog);
        assert_eq!(
            shared.current().dependencies("a").len(),
            2,
            "kept on refresh"
        );
        shared.declare("acme/a", DependencyGraph::new());
        assert_eq!(shared.current().dependencies("a"), ["b"]);
    }

    #[test]
    fn readers_keep_the_graph_they_took() {
        let shared = SharedGraph::new(DependencyGraph::new());
        let before = shared.current();
        let mut g = DependencyGraph::new();
        g.add_dependency("a", "b");
        shared.replace(g);
        assert!(before.is_empty());
        assert_eq!(shared.current().dependencies("a"), ["b"]);
    }
}
