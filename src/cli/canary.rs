//! `healbot canary judge`: the canary judge on sample files, so a person (or a CI job, or an
//! Argo AnalysisTemplate's job provider) can get the same verdict the bot acts on, and decide
//! by exit code.

use crate::canary::{judge, CanaryReport, CanaryVerdict, ConfigError, JudgeConfig, SamplesError};
use crate::model::MetricSamples;
use clap::{Args, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use thiserror::Error;

const EXIT_CODES: &str = "\
Exit codes:
  0  Pass or Marginal (promote, or let a person decide)
  1  Fail (roll back)
  2  bad input: a file is missing or not a JSON object of arrays of numbers, or the config is invalid
  3  Inconclusive (too little traffic or data: neither promote nor roll back)";

/// Exit code for bad input files, shared with clap's own usage errors.
const EXIT_BAD_INPUT: u8 = 2;
const EXIT_INCONCLUSIVE: u8 = 3;

#[derive(Subcommand, Debug)]
pub enum CanaryCommand {
    /// Judge canary samples against baseline samples (Mann-Whitney per metric, Kayenta-style
    /// score, absolute thresholds, minimum traffic).
    #[command(after_help = EXIT_CODES)]
    Judge(JudgeArgs),
}

#[derive(Args, Debug)]
pub struct JudgeArgs {
    /// Baseline samples: a JSON object mapping metric name to an array of numbers.
    #[arg(long, value_name = "FILE")]
    pub baseline: PathBuf,
    /// Canary samples, in the same form as the baseline.
    #[arg(long, value_name = "FILE")]
    pub canary: PathBuf,
    /// Judge config (YAML or JSON): per-metric direction, critical, thresholds, weights…
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// `text` for people or `json` for scripts.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// An input file that cannot be used; the message names the file (and field).
#[derive(Debug, Error)]
enum InputError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Samples { path: PathBuf, source: SamplesError },
    #[error("{}: {source}", path.display())]
    Config { path: PathBuf, source: ConfigError },
}

pub async fn run(cmd: CanaryCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CanaryCommand::Judge(args) => judge_files(args).await,
    }
}

async fn judge_files(args: JudgeArgs) -> anyhow::Result<ExitCode> {
    let inputs = async {
        let baseline = read_samples(&args.baseline).await?;
        let canary = read_samples(&args.canary).await?;
        let config = match &args.config {
            Some(path) => read_config(path).await?,
            None => JudgeConfig::default(),
        };
        Ok::<_, InputError>((baseline, canary, config))
    };
    let (baseline, canary, config) = match inputs.await {
        Ok(inputs) => inputs,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    let report = judge(&baseline, &canary, &config);
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => print!("{}", render_text(&report, config.confidence)),
    }
    Ok(match report.verdict {
        CanaryVerdict::Pass | CanaryVerdict::Marginal => ExitCode::SUCCESS,
        CanaryVerdict::Fail => ExitCode::FAILURE,
        CanaryVerdict::Inconclusive => ExitCode::from(EXIT_INCONCLUSIVE),
    })
}

async fn read_text(path: &Path) -> Result<String, InputError> {
    tokio::fs::read_to_string(path)
        .await
        .map_err(|source| InputError::Read {
            path: path.to_path_buf(),
            source,
        })
}

async fn read_samples(path: &Path) -> Result<MetricSamples, InputError> {
    let text = read_text(path).await?;
    crate::canary::parse_samples(&text).map_err(|source| InputError::Samples {
        path: path.to_path_buf(),
        source,
    })
}

async fn read_config(path: &Path) -> Result<JudgeConfig, InputError> {
    let text = read_text(path).await?;
    JudgeConfig::from_yaml_or_json(&text).map_err(|source| InputError::Config {
        path: path.to_path_buf(),
        source,
    })
}

/// One row per metric, then the verdict line.
fn render_text(report: &CanaryReport, confidence: f64) -> String {
    let opt = |v: Option<f64>, fmt: fn(f64) -> String| v.map_or_else(|| "-".to_string(), fmt);
    let rows: Vec<[String; 7]> = report
        .metrics
        .iter()
        .map(|m| {
            let ci = match (m.ci_low, m.ci_high) {
                (Some(l), Some(h)) => format!("[{}, {}]", num(l), num(h)),
                _ => "-".to_string(),
            };
            let mut name = m.name.clone();
            if m.critical {
                name.push_str(" (critical)");
            }
            [
                name,
                m.classification.to_string(),
                opt(m.p_value, pval),
                opt(m.effect_size, |v| format!("{v:.3}")),
                opt(m.hodges_lehmann, num),
                ci,
                m.reason.clone(),
            ]
        })
        .collect();
    let header = [
        "metric".to_string(),
        "class".to_string(),
        "p-value".to_string(),
        "ratio".to_string(),
        "shift".to_string(),
        format!("{:.0}% CI", confidence * 100.0),
        "reason".to_string(),
    ];
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = w - cell.chars().count();
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&format!(
        "verdict: {} (score {:.1}): {}\n",
        report.verdict, report.score, report.reason
    ));
    out
}

fn pval(p: f64) -> String {
    if p != 0.0 && p < 1e-4 {
        format!("{p:.2e}")
    } else {
        format!("{p:.4}")
    }
}

fn num(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e6) {
        format!("{v:.3e}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::{MetricClassification, MetricVerdict};

    fn verdict(name: &str, class: MetricClassification) -> MetricVerdict {
        MetricVerdict {
            name: name.into(),
            classification: class,
            p_value: Some(0.00001234),
            effect_size: Some(2.5),
            hodges_lehmann: Some(0.04),
            ci_low: Some(0.03),
            ci_high: Some(0.05),
            baseline_samples: 30,
            canary_samples: 30,
            critical: true,
            failed: class != MetricClassification::Pass,
            threshold_breached: false,
            group: "default".into(),
            weight: 1.0,
            reason: "canary higher".into(),
        }
    }

    #[test]
    fn text_has_a_row_per_metric_and_the_verdict() {
        let report = CanaryReport {
            score: 50.0,
            verdict: CanaryVerdict::Fail,
            metrics: vec![
                verdict("error_rate", MetricClassification::High),
                verdict("latency_p99", MetricClassification::Pass),
            ],
            reason: "critical metric failed: error_rate".into(),
        };
        let text = render_text(&report, 0.98);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("metric") && lines[0].contains("98% CI"));
        assert!(lines[1].contains("error_rate (critical)") && lines[1].contains("High"));
        assert!(lines[1].contains("1.23e-5") && lines[1].contains("[0.03, 0.05]"));
        assert_eq!(
            lines[3],
            "verdict: Fail (score 50.0): critical metric failed: error_rate"
        );
        // Columns line up.
        let col = lines[0].find("class").expect("header");
        assert_eq!(lines[1].find("High"), Some(col));
    }

    #[test]
    fn help_documents_exit_codes() {
        use clap::CommandFactory;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(subcommand)]
            cmd: CanaryCommand,
        }
        let mut cmd = Cli::command();
        let judge = cmd.find_subcommand_mut("judge").expect("judge subcommand");
        let help = judge.render_long_help().to_string();
        assert!(
            help.contains("Exit codes") && help.contains("3  Inconclusive"),
            "{help}"
        );
    }
}
