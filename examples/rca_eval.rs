//! Evaluates `healbot rca`'s ranking on simulated fault injections (see `healbot::rca::simulate`)
//! and prints AC@1, AC@3 and Avg@5. `cargo run --release --example rca_eval -- [CASES] [DIR]`
//! also writes each case as `DIR/case-N.csv` with its root cause in `DIR/truth.csv`, the
//! input `healbot rca --metrics` reads.

use healbot::rca::baro::BARO_ANOMALY_THRESHOLD;
use healbot::rca::simulate::{evaluate, simulate, to_csv};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let cases: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    if let Some(dir) = args.next() {
        std::fs::create_dir_all(&dir)?;
        let mut truth = String::from("case,root_cause,fault,anomaly_start\n");
        for seed in 0..cases as u64 {
            let case = simulate(seed);
            std::fs::write(format!("{dir}/case-{seed}.csv"), to_csv(&case.table))?;
            truth.push_str(&format!(
                "{seed},{},{:?},{}\n",
                case.root_cause, case.fault, case.anomaly_start
            ));
        }
        std::fs::write(format!("{dir}/truth.csv"), truth)?;
    }
    let t = BARO_ANOMALY_THRESHOLD;
    for (label, graph, known) in [
        ("graph, known anomaly start", true, true),
        ("graph, estimated anomaly start", true, false),
        ("metrics only, known start", false, true),
    ] {
        let a = evaluate(cases, graph, known, t);
        println!(
            "{label:32} cases {:4}  AC@1 {:.3}  AC@3 {:.3}  Avg@5 {:.3}",
            a.cases, a.ac1, a.ac3, a.avg5
        );
    }
    Ok(())
}
