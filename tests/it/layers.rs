//! The layer order of `docs/architecture.md`, checked on the source: a top-level module of
//! `src/` may use modules of its own layer or below, never above, and no two modules may end
//! up importing each other through any chain. The imports are read from the `crate::…` paths
//! in the code (comments left out), unit tests included: a test that needs a higher layer
//! belongs in `tests/`.

use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest first; keep in step with "Layers" in docs/architecture.md.
const LAYERS: &[&[&str]] = &[
    // The shared vocabulary: imports nothing from the crate.
    &["model"],
    // Pure libraries: the canary judge with its configuration; Redis connections.
    &["canary", "redis_conn", "http_client"],
    // Parsing healbot.yaml, the policies and .github/healbot.yml.
    &["config"],
    &["audit"],
    // The operation's state machine and journal over the audit log, leases, work queue.
    &["operation"],
    // Adapters that read production.
    &["signals"],
    // The dependency graph (discovered from the signals) and the root-cause ranking.
    &["topology", "rca"],
    &["detect"],
    &["localize", "gitops", "forge"],
    // The stages after localization, and what they lean on.
    &["fix", "plan", "gates", "lock", "verify", "notify"],
    &["orchestrator"],
    &["server"],
    // The embedded scenarios: nothing but the CLI imports them.
    &["demo"],
    &["cli"],
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules: every directory and every `.rs` file of `src/` but the crate roots.
fn top_level_modules() -> BTreeSet<String> {
    std::fs::read_dir(src())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            if p.is_dir() {
                Some(name)
            } else {
                name.strip_suffix(".rs")
                    .filter(|n| !["lib", "main"].contains(n))
                    .map(str::to_string)
            }
        })
        .collect()
}

/// Module → the other top-level modules it uses → the files that do.
type Imports = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn imports() -> Imports {
    let modules = top_level_modules();
    let comment = Regex::new(r"//[^\n]*").unwrap();
    let path = Regex::new(r"\bcrate::([a-z_][a-z0-9_]*)").unwrap();
    let group = Regex::new(r"\bcrate::\{([^}]*)\}").unwrap();
    let first = Regex::new(r"(?:^|[,{\s])([a-z_][a-z0-9_]*)").unwrap();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut out = Imports::new();
    for file in files {
        let rel = file.strip_prefix(src()).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.strip_suffix(".rs").unwrap_or(&top).to_string();
        if !modules.contains(&top) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = comment.replace_all(&text, "");
        let mut used: BTreeSet<String> = path
            .captures_iter(&code)
            .map(|c| c[1].to_string())
            .collect();
        for g in group.captures_iter(&code) {
            used.extend(first.captures_iter(&g[1]).map(|c| c[1].to_string()));
        }
        for m in used {
            if m != top && modules.contains(&m) {
                out.entry(top.clone())
                    .or_default()
                    .entry(m)
                    .or_default()
                    .insert(rel.display().to_string());
            }
        }
    }
    out
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Pairs of modules that reach each other through imports (each pair once).
fn cycles(imports: &Imports) -> Vec<(String, String)> {
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            for next in imports.get(&m).into_iter().flat_map(|d| d.keys()) {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let modules: Vec<&String> = imports.keys().collect();
    let mut out = Vec::new();
    for (i, a) in modules.iter().enumerate() {
        let from_a = reach(a);
        for b in &modules[i + 1..] {
            if from_a.contains(*b) && reach(b).contains(*a) {
                out.push((a.to_string(), b.to_string()));
            }
        }
    }
    out
}

#[test]
fn every_top_level_module_has_a_layer() {
    let missing: Vec<String> = top_level_modules()
        .into_iter()
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "give {missing:?} a layer in tests/it/layers.rs and docs/architecture.md"
    );
}

#[test]
fn no_module_imports_a_higher_layer() {
    let mut wrong = Vec::new();
    for (module, used) in imports() {
        let Some(own) = layer_of(&module) else {
            continue;
        };
        for (other, files) in used {
            if layer_of(&other).is_some_and(|l| l > own) {
                wrong.push(format!("{module} uses {other} (above it) in {files:?}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "against the layer order:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_two_modules_import_each_other() {
    let imports = imports();
    let found = cycles(&imports);
    let shown: Vec<String> = found
        .iter()
        .map(|(a, b)| {
            format!(
                "{a} ↔ {b}: {:?} | {:?}",
                imports[a].get(b),
                imports[b].get(a)
            )
        })
        .collect();
    assert!(found.is_empty(), "import cycles:\n{}", shown.join("\n"));
}

/// The demo stands in for production only where someone asked for the demo: no product path
/// (the server, the orchestrator, a stage) reaches it.
#[test]
fn only_the_cli_imports_the_demo() {
    let users: Vec<String> = imports()
        .into_iter()
        .filter(|(module, used)| module != "cli" && used.contains_key("demo"))
        .map(|(module, used)| format!("{module}: {:?}", used["demo"]))
        .collect();
    assert!(users.is_empty(), "the demo is imported by {users:?}");
}

/// The checker itself: a cycle through a third module is found, and a clean chain is not.
#[test]
fn the_cycle_check_sees_indirect_cycles() {
    let edge = |pairs: &[(&str, &str)]| {
        let mut g = Imports::new();
        for (a, b) in pairs {
            g.entry(a.to_string())
                .or_default()
                .entry(b.to_string())
                .or_default();
        }
        g
    };
    let found = cycles(&edge(&[("a", "b"), ("b", "c"), ("c", "a")]));
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(cycles(&edge(&[("a", "b"), ("b", "c")])).is_empty());
}
