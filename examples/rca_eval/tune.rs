//! In-process scoring for tuning on the tuning seeds only: the same library path as
//! `healbot rca`, with the options from `RCA_OPTS` (`key=value,…`), and the cases where the
//! root cause is not first listed with what beat it.

use healbot::rca::{diagnose, DiagnoseOptions, MetricTable};
use healbot::topology::DependencyGraph;
use std::path::Path;

fn options() -> DiagnoseOptions {
    let mut o = DiagnoseOptions::default();
    let spec = std::env::var("RCA_OPTS").unwrap_or_default();
    for kv in spec.split(',').filter(|s| !s.is_empty()) {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        let v: f64 = v.parse().unwrap_or(f64::NAN);
        match k {
            "level" => o.score.floor.level_share = v,
            "q" => o.score.window_quantile = v,
            "against" => o.score.against_direction = v,
            "parts" => o.score.parts = v as usize,
            "tail" => o.score.tail = v,
            "graph" => o.graph_weight = v,
            "backward" => o.walk.backward = v,
            "restart" => o.walk.restart = v,
            _ => eprintln!("unknown option {k}"),
        }
    }
    o
}

/// `verbose` lists the cases where the root cause is not first; `all` lists every case.
pub fn tune(dir: &Path, verbose: bool, all: bool) -> Result<(), String> {
    let truth = std::fs::read_to_string(dir.join("truth.csv")).map_err(|e| e.to_string())?;
    let options = options();
    let cases: Vec<Vec<String>> = truth
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let graphs: std::collections::HashMap<String, DependencyGraph> =
        ["online-boutique", "sock-shop", "train-ticket"]
            .iter()
            .filter_map(|t| {
                let text = std::fs::read_to_string(dir.join(format!("{t}.yaml"))).ok()?;
                Some((
                    t.to_string(),
                    DependencyGraph::from_catalog_yaml(&text, t).ok()?,
                ))
            })
            .collect();
    let configs = [(true, false), (false, false), (true, true), (false, true)];
    let results: Vec<Vec<(Option<usize>, String)>> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .chunks(cases.len().div_ceil(2).max(1))
            .map(|chunk| {
                let graphs = &graphs;
                let options = &options;
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|c| {
                            let text = std::fs::read_to_string(dir.join(format!("{}.csv", c[0])))
                                .unwrap_or_default();
                            let table = MetricTable::parse_csv(&text, &c[0]).ok();
                            let start: f64 = c[4].parse().unwrap_or(0.0);
                            configs
                                .iter()
                                .map(|&(given, with_graph)| {
                                    let Some(table) = &table else {
                                        return (None, "bad csv".into());
                                    };
                                    let g = if with_graph { graphs.get(&c[1]) } else { None };
                                    match diagnose(
                                        table,
                                        given.then_some(start),
                                        g,
                                        None,
                                        options,
                                        &c[0],
                                    ) {
                                        Ok(d) => {
                                            let pos =
                                                d.ranking.iter().position(|r| r.service == c[3]);
                                            let top: Vec<String> = d
                                                .ranking
                                                .iter()
                                                .take(3)
                                                .map(|r| {
                                                    format!(
                                                        "{}:{}:{:.2}(z{:.1})",
                                                        r.service,
                                                        r.metric,
                                                        r.score,
                                                        r.evidence.metrics.z
                                                    )
                                                })
                                                .collect();
                                            let rootz = d
                                                .ranking
                                                .iter()
                                                .find(|r| r.service == c[3])
                                                .map(|r| {
                                                    format!(
                                                        "{}:{:.2}(z{:.1})",
                                                        r.metric, r.score, r.evidence.metrics.z
                                                    )
                                                })
                                                .unwrap_or_default();
                                            (
                                                pos,
                                                format!(
                                                    "start {:+.0} root {rootz} top {}",
                                                    d.anomaly_start - start,
                                                    top.join(" ")
                                                ),
                                            )
                                        }
                                        Err(e) => (None, e.to_string()),
                                    }
                                })
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
    });
    let names = ["given", "found", "given+graph", "found+graph"];
    for (ci, name) in names.iter().enumerate() {
        let (mut t1, mut t3, mut a5) = (0, 0, 0.0);
        for r in &results {
            let pos = r[ci].0;
            t1 += usize::from(pos == Some(0));
            t3 += usize::from(pos.is_some_and(|p| p < 3));
            a5 += (1..=5).filter(|k| pos.is_some_and(|p| p < *k)).count() as f64 / 5.0;
        }
        let n = results.len().max(1) as f64;
        println!(
            "{name:12} AC@1 {:.3} AC@3 {:.3} Avg@5 {:.3}",
            t1 as f64 / n,
            t3 as f64 / n,
            a5 / n
        );
    }
    if verbose || all {
        for (c, r) in cases.iter().zip(&results) {
            for (ci, name) in names.iter().enumerate() {
                if r[ci].0 != Some(0) || all {
                    println!(
                        "{} {} {} {} [{name}] rank {:?}: {}",
                        c[0],
                        c[1],
                        c[2],
                        c[3],
                        r[ci].0.map(|p| p + 1),
                        r[ci].1
                    );
                }
            }
        }
    }
    Ok(())
}
