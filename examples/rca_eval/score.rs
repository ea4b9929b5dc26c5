//! Runs `healbot rca` on every case of a set in four configurations (anomaly start given or
//! found; with or without the catalog) and prints AC@1, AC@3 and Avg@5, overall, per topology
//! and per fault; `DIR/results.csv` keeps each case's rank for a closer look.

use super::reference;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

struct Truth {
    seed: String,
    topology: String,
    fault: String,
    root: String,
    start: String,
}

const CONFIGS: [(&str, bool, bool); 4] = [
    ("start given, no graph", true, false),
    ("start found, no graph", false, false),
    ("start given, graph", true, true),
    ("start found, graph", false, true),
];

/// 0-based rank of the root cause in `healbot rca`'s JSON output; `None` when absent or failed.
fn run(healbot: &Path, dir: &Path, t: &Truth, start: bool, graph: bool) -> (Option<usize>, String) {
    let mut cmd = Command::new(healbot);
    cmd.arg("rca")
        .arg("--metrics")
        .arg(dir.join(format!("{}.csv", t.seed)))
        .args(["--format", "json"]);
    if start {
        cmd.args(["--anomaly-start", &t.start]);
    }
    if graph {
        cmd.arg("--graph")
            .arg(dir.join(format!("{}.yaml", t.topology)));
    }
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => return (None, format!("cannot run: {e}")),
    };
    if !out.status.success() {
        return (
            None,
            String::from_utf8_lossy(&out.stderr)
                .trim()
                .replace('\n', " "),
        );
    }
    let ranking: serde_json::Value = match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(e) => return (None, format!("not JSON: {e}")),
    };
    let list = ranking.as_array().cloned().unwrap_or_default();
    let pos = list.iter().position(|r| r["service"] == t.root.as_str());
    let top = list
        .first()
        .map(|r| {
            format!(
                "{}:{}",
                r["service"].as_str().unwrap_or("?"),
                r["metric"].as_str().unwrap_or("?")
            )
        })
        .unwrap_or_default();
    (pos, top)
}

#[derive(Default, Clone, Copy)]
struct Acc {
    n: usize,
    top1: usize,
    top3: usize,
    avg5: f64,
}

impl Acc {
    fn add(&mut self, pos: Option<usize>) {
        self.n += 1;
        self.top1 += usize::from(pos == Some(0));
        self.top3 += usize::from(pos.is_some_and(|p| p < 3));
        self.avg5 += (1..=5).filter(|k| pos.is_some_and(|p| p < *k)).count() as f64 / 5.0;
    }
    fn show(&self) -> String {
        let n = self.n.max(1) as f64;
        format!(
            "{:5.2} {:5.2} {:5.2}",
            self.top1 as f64 / n,
            self.top3 as f64 / n,
            self.avg5 / n
        )
    }
}

pub fn score(dir: &Path, healbot: &Path, jobs: usize) -> Result<(), String> {
    let truth_text = std::fs::read_to_string(dir.join("truth.csv"))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let truths: Vec<Truth> = truth_text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c.len() == 5).then(|| Truth {
                seed: c[0].into(),
                topology: c[1].into(),
                fault: c[2].into(),
                root: c[3].into(),
                start: c[4].into(),
            })
        })
        .collect();
    // Each case in every configuration, `jobs` at a time.
    let results: Vec<Vec<(Option<usize>, String)>> = {
        let chunks: Vec<&[Truth]> = truths
            .chunks(truths.len().div_ceil(jobs.max(1)).max(1))
            .collect();
        std::thread::scope(|s| {
            let handles: Vec<_> = chunks
                .iter()
                .map(|chunk| {
                    s.spawn(move || {
                        chunk
                            .iter()
                            .map(|t| {
                                CONFIGS
                                    .iter()
                                    .map(|&(_, st, g)| run(healbot, dir, t, st, g))
                                    .collect::<Vec<_>>()
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    };
    let mut reference_acc: BTreeMap<String, Acc> = BTreeMap::new();
    let mut table: BTreeMap<(usize, String), Acc> = BTreeMap::new();
    let mut rows = String::from("seed,topology,fault,root_cause,config,rank,top\n");
    for (t, per_config) in truths.iter().zip(&results) {
        let csv = std::fs::read_to_string(dir.join(format!("{}.csv", t.seed))).unwrap_or_default();
        let start: f64 = t.start.parse().unwrap_or(f64::NAN);
        let r = reference::rank(&csv, start)
            .iter()
            .position(|s| *s == t.root);
        let pair = format!("{} {}", t.topology, t.fault);
        for key in [
            "all".to_string(),
            t.topology.clone(),
            t.fault.clone(),
            pair.clone(),
        ] {
            reference_acc.entry(key).or_default().add(r);
        }
        rows.push_str(&format!(
            "{},{},{},{},reference,{},\n",
            t.seed,
            t.topology,
            t.fault,
            t.root,
            r.map_or("-".to_string(), |p| (p + 1).to_string())
        ));
        for (c, (pos, top)) in per_config.iter().enumerate() {
            for key in [
                "all".to_string(),
                t.topology.clone(),
                t.fault.clone(),
                pair.clone(),
            ] {
                table.entry((c, key)).or_default().add(*pos);
            }
            rows.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                t.seed,
                t.topology,
                t.fault,
                t.root,
                CONFIGS[c].0.replace(", ", " + "),
                pos.map_or("-".to_string(), |p| (p + 1).to_string()),
                top.replace(',', ";")
            ));
        }
    }
    std::fs::write(dir.join("results.csv"), rows).map_err(|e| e.to_string())?;
    let keys: Vec<String> = {
        let mut k: Vec<String> = reference_acc
            .keys()
            .filter(|k| *k != "all")
            .cloned()
            .collect();
        k.insert(0, "all".into());
        k
    };
    println!("cases: {}  (AC@1 AC@3 Avg@5)", truths.len());
    print!("{:24}", "");
    for (name, _, _) in CONFIGS {
        print!(" | {name:^23}");
    }
    println!(" | {:^23}", "reference robust-z");
    for key in &keys {
        print!("{key:24}");
        for c in 0..CONFIGS.len() {
            print!(
                " | {:^23}",
                table
                    .get(&(c, key.clone()))
                    .copied()
                    .unwrap_or_default()
                    .show()
            );
        }
        println!(" | {:^23}", reference_acc[key].show());
    }
    Ok(())
}
