//! The evaluation set of `healbot rca`: fault-injection runs on real-shaped telemetry, and the
//! score of the ranking on them, measured from outside through the `healbot rca` command.
//!
//! ```text
//! cargo run --example rca_eval -- generate DIR SEEDS          # DIR/<seed>.csv, catalogs, truth.csv
//! cargo run --example rca_eval -- score DIR HEALBOT [--jobs N] # AC@1, AC@3, Avg@5 per configuration
//! ```
//! SEEDS is `A..B`. Seeds 0..90 are for tuning; the figures that count are on seeds the ranking
//! was never tuned on (`scripts/bench/rca-eval` uses 1000..1120). A seed picks the topology
//! (`seed % 3`: Online Boutique, Sock Shop, Train Ticket) and the fault (`seed / 3 % 5`: CPU,
//! memory, latency, error, packet loss); the faulty service is drawn from the seed.

mod generate;
mod reference;
mod rng;
mod score;
mod topology;
mod tune;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn topology_of(seed: u64) -> topology::Topology {
    match seed % 3 {
        0 => topology::online_boutique(),
        1 => topology::sock_shop(),
        _ => topology::train_ticket(),
    }
}

fn fault_of(seed: u64) -> generate::Fault {
    generate::FAULTS[(seed / 3 % 5) as usize]
}

fn seeds(arg: &str) -> Result<std::ops::Range<u64>, String> {
    let (a, b) = arg
        .split_once("..")
        .ok_or_else(|| format!("seeds {arg:?}: expected A..B"))?;
    let a: u64 = a.parse().map_err(|_| format!("seeds {arg:?}: bad start"))?;
    let b: u64 = b.parse().map_err(|_| format!("seeds {arg:?}: bad end"))?;
    Ok(a..b)
}

fn write_set(dir: &Path, range: std::ops::Range<u64>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for t in [
        topology::online_boutique(),
        topology::sock_shop(),
        topology::train_ticket(),
    ] {
        std::fs::write(dir.join(format!("{}.yaml", t.name)), t.catalog_yaml())?;
    }
    let mut truth = String::from("seed,topology,fault,root_cause,anomaly_start\n");
    for seed in range {
        let t = topology_of(seed);
        let case = generate::generate(seed, &t, fault_of(seed));
        std::fs::write(dir.join(format!("{seed}.csv")), &case.csv)?;
        truth.push_str(&format!(
            "{},{},{},{},{}\n",
            case.seed,
            case.topology,
            case.fault.name(),
            case.root,
            case.anomaly_start
        ));
    }
    std::fs::write(dir.join("truth.csv"), truth)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("generate") if args.len() == 3 => seeds(&args[2])
            .and_then(|r| write_set(Path::new(&args[1]), r).map_err(|e| e.to_string())),
        Some("score") if args.len() >= 3 => {
            let jobs = args
                .iter()
                .position(|a| a == "--jobs")
                .and_then(|i| args.get(i + 1))
                .and_then(|j| j.parse().ok())
                .unwrap_or(2);
            score::score(Path::new(&args[1]), &PathBuf::from(&args[2]), jobs)
        }
        Some("tune") if args.len() >= 2 => tune::tune(
            Path::new(&args[1]),
            args.iter().any(|a| a == "-v"),
            args.iter().any(|a| a == "-a"),
        ),
        _ => {
            Err("usage: rca_eval generate DIR A..B | rca_eval score DIR HEALBOT [--jobs N]".into())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rca_eval: {e}");
            ExitCode::FAILURE
        }
    }
}
