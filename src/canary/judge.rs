//! The canary judge: decides whether a canary's metrics look worse than the baseline's, so a
//! rollout can go on, pause for a person, or roll back. It follows Kayenta's NetflixACAJudge
//! (a Mann-Whitney classification of each metric, then a weighted score per group) and adds two
//! guards that Argo Rollouts' and Flagger's users asked for: absolute thresholds (Flagger's
//! `thresholdRange`: error rate ≤ 2 %, p99 latency ≤ 500 ms) and a minimum amount of traffic,
//! below which the verdict is `Inconclusive` instead of a false pass or a false rollback.
//!
//! Per metric, after NaN handling:
//! - no samples on either side → `NoData` (left out of the score), or a failed metric when it
//!   `must_have_data`;
//! - otherwise the Hodges–Lehmann shift of canary − baseline and its Mann-Whitney confidence
//!   interval (0.98) decide, as in Kayenta's `MannWhitneyClassifier`: `High` when the interval
//!   lies above `tolerance × |estimate|` (tolerance 0.25) *and* the mean ratio canary/baseline
//!   exceeds `allowed_increase`, in a direction the config watches; `Low` likewise; else `Pass`.
//!   The p-value is reported but, as in Kayenta, the interval decides;
//! - a breached absolute threshold makes the metric `High`/`Low` and fails the run outright.
//!
//! The run: `Inconclusive` when the request metric or a critical metric has fewer than
//! `min_samples` samples (or the canary served fewer than `min_requests`); `Fail` when a critical
//! metric failed or a threshold was breached; else by score against `pass_score` and
//! `marginal_score`.

use super::config::{Direction, JudgeConfig, MetricConfig, NanStrategy, ThresholdStat};
use super::stats;
use crate::model::MetricSamples;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// How one metric of the canary compares with the baseline.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricClassification {
    Pass,
    High,
    Low,
    NoData,
}

impl fmt::Display for MetricClassification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MetricClassification::Pass => "Pass",
            MetricClassification::High => "High",
            MetricClassification::Low => "Low",
            MetricClassification::NoData => "NoData",
        })
    }
}

/// The outcome of a whole canary run.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CanaryVerdict {
    /// Promote.
    Pass,
    /// Neither clearly good nor bad: a person decides.
    Marginal,
    /// Roll back.
    Fail,
    /// Too little data to say: neither promote nor roll back.
    Inconclusive,
}

impl fmt::Display for CanaryVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CanaryVerdict::Pass => "Pass",
            CanaryVerdict::Marginal => "Marginal",
            CanaryVerdict::Fail => "Fail",
            CanaryVerdict::Inconclusive => "Inconclusive",
        })
    }
}

/// One metric's judgement.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MetricVerdict {
    pub name: String,
    pub classification: MetricClassification,
    /// Two-sided Mann-Whitney p-value; `None` without data on both sides.
    pub p_value: Option<f64>,
    /// Mean ratio canary/baseline; `None` without data or when the baseline's mean is 0 and
    /// the canary's is not.
    pub effect_size: Option<f64>,
    /// Hodges–Lehmann shift canary − baseline.
    pub hodges_lehmann: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Samples left after NaN handling.
    pub baseline_samples: usize,
    pub canary_samples: usize,
    pub critical: bool,
    /// Counts against the score (High, Low, or required data missing).
    pub failed: bool,
    /// An absolute threshold (`max`/`min`) was breached: the run fails.
    pub threshold_breached: bool,
    pub group: String,
    pub weight: f64,
    pub reason: String,
}

/// The judge's answer for one canary run; its JSON form is the `healbot canary judge` contract.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CanaryReport {
    /// Weighted share of passing metrics, 0–100.
    pub score: f64,
    pub verdict: CanaryVerdict,
    pub metrics: Vec<MetricVerdict>,
    pub reason: String,
}

/// Judges `canary` against `baseline`. Every metric in either map or named in `cfg` is judged.
pub fn judge(baseline: &MetricSamples, canary: &MetricSamples, cfg: &JudgeConfig) -> CanaryReport {
    let fallback = MetricConfig::default();
    let config_of = |name: &str| cfg.metrics.get(name).unwrap_or(&fallback);
    let names: BTreeSet<&str> = baseline
        .keys()
        .chain(canary.keys())
        .chain(cfg.metrics.keys())
        .map(String::as_str)
        .collect();
    let metrics: Vec<MetricVerdict> = names
        .iter()
        .map(|&name| {
            let mc = config_of(name);
            let b = clean(baseline.get(name), mc.nan_strategy);
            let c = clean(canary.get(name), mc.nan_strategy);
            judge_metric(name, &b, &c, mc, cfg)
        })
        .collect();

    let (score, any_counted) = score(&metrics, cfg);
    let low_traffic = low_traffic(baseline, canary, cfg, &config_of);
    let critical: Vec<&str> = metrics
        .iter()
        .filter(|m| m.critical && m.failed)
        .map(|m| m.name.as_str())
        .collect();
    let breached: Vec<&str> = metrics
        .iter()
        .filter(|m| m.threshold_breached)
        .map(|m| m.name.as_str())
        .collect();
    let failed: Vec<&str> = metrics
        .iter()
        .filter(|m| m.failed)
        .map(|m| m.name.as_str())
        .collect();

    let (verdict, reason) = if let Some(why) = low_traffic {
        (CanaryVerdict::Inconclusive, why)
    } else if !critical.is_empty() || !breached.is_empty() {
        let mut parts = Vec::new();
        if !critical.is_empty() {
            parts.push(format!("critical metric failed: {}", critical.join(", ")));
        }
        if !breached.is_empty() {
            parts.push(format!("threshold breached: {}", breached.join(", ")));
        }
        (CanaryVerdict::Fail, parts.join("; "))
    } else if !any_counted {
        (
            CanaryVerdict::Inconclusive,
            "no metric has data in both baseline and canary".to_string(),
        )
    } else {
        let failing = if failed.is_empty() {
            String::new()
        } else {
            format!(" (failed: {})", failed.join(", "))
        };
        if score >= cfg.pass_score {
            (
                CanaryVerdict::Pass,
                format!("score {score:.1} ≥ pass_score {}{failing}", cfg.pass_score),
            )
        } else if score >= cfg.marginal_score {
            (
                CanaryVerdict::Marginal,
                format!(
                    "score {score:.1} below pass_score {} but ≥ marginal_score {}{failing}",
                    cfg.pass_score, cfg.marginal_score
                ),
            )
        } else {
            (
                CanaryVerdict::Fail,
                format!(
                    "score {score:.1} below marginal_score {}{failing}",
                    cfg.marginal_score
                ),
            )
        }
    };
    CanaryReport {
        score,
        verdict,
        metrics,
        reason,
    }
}

/// NaN strategy; infinities are treated like NaN (a shift to or from infinity has no size).
fn clean(values: Option<&Vec<f64>>, strategy: NanStrategy) -> Vec<f64> {
    let values = values.map(Vec::as_slice).unwrap_or(&[]);
    match strategy {
        NanStrategy::Remove => values.iter().copied().filter(|v| v.is_finite()).collect(),
        NanStrategy::None => values
            .iter()
            .map(|&v| if v.is_finite() { v } else { 0.0 })
            .collect(),
    }
}

fn judge_metric(
    name: &str,
    baseline: &[f64],
    canary: &[f64],
    mc: &MetricConfig,
    cfg: &JudgeConfig,
) -> MetricVerdict {
    let mut v = MetricVerdict {
        name: name.to_string(),
        classification: MetricClassification::NoData,
        p_value: None,
        effect_size: None,
        hodges_lehmann: None,
        ci_low: None,
        ci_high: None,
        baseline_samples: baseline.len(),
        canary_samples: canary.len(),
        critical: mc.critical,
        failed: false,
        threshold_breached: false,
        group: mc.group.clone(),
        weight: mc.weight,
        reason: String::new(),
    };
    // Thresholds need only the canary, so they apply even without a baseline.
    let breach = threshold_breach(canary, mc);

    if baseline.is_empty() || canary.is_empty() {
        let missing = match (baseline.is_empty(), canary.is_empty()) {
            (true, true) => "baseline and canary",
            (true, false) => "baseline",
            _ => "canary",
        };
        v.reason = format!("no data in the {missing}");
        if mc.must_have_data {
            v.failed = true;
            v.reason.push_str("; the metric must have data");
        }
        if let Some((class, why)) = breach {
            v.classification = class;
            v.failed = true;
            v.threshold_breached = true;
            v.reason = format!("{why}; {}", v.reason);
        }
        return v;
    }

    let (Some(base_mean), Some(canary_mean)) = (stats::mean(baseline), stats::mean(canary)) else {
        return v;
    };
    v.effect_size = if base_mean != 0.0 {
        Some(canary_mean / base_mean)
    } else if canary_mean == 0.0 {
        Some(1.0)
    } else {
        None
    };

    let (class, why) = classify(baseline, canary, canary_mean, mc, cfg, &mut v);
    v.classification = class;
    v.reason = why;
    if let Some((class, why)) = breach {
        v.classification = class;
        v.threshold_breached = true;
        v.reason = format!("{why}; {}", v.reason);
    }
    v.failed = matches!(
        v.classification,
        MetricClassification::High | MetricClassification::Low
    );
    v
}

/// Kayenta's MannWhitneyClassifier; fills in the statistics of `v` and returns the class.
fn classify(
    baseline: &[f64],
    canary: &[f64],
    canary_mean: f64,
    mc: &MetricConfig,
    cfg: &JudgeConfig,
    v: &mut MetricVerdict,
) -> (MetricClassification, String) {
    let mut sorted_b = baseline.to_vec();
    let mut sorted_c = canary.to_vec();
    sorted_b.sort_unstable_by(f64::total_cmp);
    sorted_c.sort_unstable_by(f64::total_cmp);
    if sorted_b == sorted_c {
        v.p_value = Some(1.0);
        v.hodges_lehmann = Some(0.0);
        v.ci_low = Some(0.0);
        v.ci_high = Some(0.0);
        return (
            MetricClassification::Pass,
            "baseline and canary samples are identical".to_string(),
        );
    }
    let cmp = match stats::compare_sorted(&sorted_c, &sorted_b, cfg.confidence) {
        Ok(cmp) => cmp,
        Err(e) => {
            return (
                MetricClassification::NoData,
                format!("cannot compare the samples: {e}"),
            )
        }
    };
    let hl = cmp.hodges_lehmann;
    v.p_value = Some(cmp.mann_whitney.p_value);
    v.hodges_lehmann = Some(hl.estimate);
    v.ci_low = Some(hl.ci_low);
    v.ci_high = Some(hl.ci_high);
    if sorted_b.first() == sorted_b.last()
        && sorted_c.first() == sorted_c.last()
        && sorted_b.first() == sorted_c.first()
    {
        return (
            MetricClassification::Pass,
            "every sample has the same value".to_string(),
        );
    }

    let bound = cfg.tolerance * hl.estimate.abs();
    let interval = format!("the {:.0}% interval of the shift", cfg.confidence * 100.0);
    let ratio = match v.effect_size {
        Some(r) => format!("mean ratio {}", short(r)),
        None => "baseline mean 0".to_string(),
    };
    // With a baseline mean of 0 the ratio is unbounded in the direction of the canary's mean.
    let beyond_increase = v
        .effect_size
        .map_or(canary_mean > 0.0, |r| r > mc.allowed_increase)
        && hl.estimate >= mc.min_shift;
    let beyond_decrease = v
        .effect_size
        .map_or(canary_mean < 0.0, |r| r < mc.allowed_decrease)
        && -hl.estimate >= mc.min_shift;
    let watches_increase = matches!(mc.direction, Direction::Increase | Direction::Either);
    let watches_decrease = matches!(mc.direction, Direction::Decrease | Direction::Either);

    if hl.ci_low > bound {
        let why = if !watches_increase {
            format!("higher ({ratio}), but only a decrease counts")
        } else if !beyond_increase {
            format!(
                "higher but within allowed_increase {} and min_shift {} ({ratio}, shift {})",
                short(mc.allowed_increase),
                short(mc.min_shift),
                short(hl.estimate)
            )
        } else {
            let why =
                format!("canary higher: {interval} lies above 0 beyond the tolerance; {ratio}");
            return (MetricClassification::High, why);
        };
        return (MetricClassification::Pass, why);
    }
    if hl.ci_high < -bound {
        let why = if !watches_decrease {
            format!("lower ({ratio}), but only an increase counts")
        } else if !beyond_decrease {
            format!(
                "lower but within allowed_decrease {} and min_shift {} ({ratio}, shift {})",
                short(mc.allowed_decrease),
                short(mc.min_shift),
                short(hl.estimate)
            )
        } else {
            let why =
                format!("canary lower: {interval} lies below 0 beyond the tolerance; {ratio}");
            return (MetricClassification::Low, why);
        };
        return (MetricClassification::Pass, why);
    }
    (
        MetricClassification::Pass,
        format!("no significant shift ({ratio})"),
    )
}

fn threshold_breach(canary: &[f64], mc: &MetricConfig) -> Option<(MetricClassification, String)> {
    if mc.max.is_none() && mc.min.is_none() {
        return None;
    }
    let (stat, label) = match mc.threshold_on {
        ThresholdStat::Mean => (stats::mean(canary), "mean"),
        ThresholdStat::Median => (stats::median(canary), "median"),
        ThresholdStat::Max => (canary.iter().copied().reduce(f64::max), "max"),
        ThresholdStat::Min => (canary.iter().copied().reduce(f64::min), "min"),
    };
    let stat = stat?;
    if let Some(max) = mc.max {
        if stat > max {
            return Some((
                MetricClassification::High,
                format!("canary {label} {} above max {}", short(stat), short(max)),
            ));
        }
    }
    if let Some(min) = mc.min {
        if stat < min {
            return Some((
                MetricClassification::Low,
                format!("canary {label} {} below min {}", short(stat), short(min)),
            ));
        }
    }
    None
}

/// Weighted share of passing metrics per group, averaged over the groups by their weight.
/// Metrics without data (unless they must have it) count in no group. Returns the score and
/// whether any metric counted.
fn score(metrics: &[MetricVerdict], cfg: &JudgeConfig) -> (f64, bool) {
    let mut groups: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    let mut any = false;
    for m in metrics {
        if m.classification == MetricClassification::NoData && !m.failed {
            continue;
        }
        any = true;
        let (passed, total) = groups.entry(m.group.as_str()).or_default();
        *total += m.weight;
        if !m.failed {
            *passed += m.weight;
        }
    }
    let (mut sum, mut weights) = (0.0, 0.0);
    for (group, (passed, total)) in groups {
        if total <= 0.0 {
            continue;
        }
        let w = cfg.group_weights.get(group).copied().unwrap_or(total);
        sum += w * 100.0 * passed / total;
        weights += w;
    }
    let score = if weights > 0.0 { sum / weights } else { 0.0 };
    (score, any)
}

fn low_traffic<'a>(
    baseline: &MetricSamples,
    canary: &MetricSamples,
    cfg: &'a JudgeConfig,
    config_of: &dyn Fn(&str) -> &'a MetricConfig,
) -> Option<String> {
    let request = cfg.request_metric.as_deref();
    let mut checked: Vec<&str> = cfg
        .metrics
        .iter()
        .filter(|(_, m)| m.critical)
        .map(|(n, _)| n.as_str())
        .collect();
    if let Some(r) = request {
        let known = baseline.contains_key(r) || canary.contains_key(r);
        if (known || cfg.metrics.contains_key(r) || cfg.min_requests.is_some())
            && !checked.contains(&r)
        {
            checked.insert(0, r);
        }
    }
    for name in checked {
        let mc = config_of(name);
        for (side, data) in [("canary", canary), ("baseline", baseline)] {
            let n = clean(data.get(name), mc.nan_strategy).len();
            if n < cfg.min_samples {
                return Some(format!(
                    "the {side} has {n} samples of {name}, fewer than min_samples {}",
                    cfg.min_samples
                ));
            }
        }
    }
    if let (Some(r), Some(min)) = (request, cfg.min_requests) {
        let served: f64 = clean(canary.get(r), NanStrategy::Remove).iter().sum();
        if served < min {
            return Some(format!(
                "the canary served {} requests ({r}), fewer than min_requests {}",
                short(served),
                short(min)
            ));
        }
    }
    None
}

/// A number for a reason line: 4 significant digits, no float noise.
fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let magnitude = v.abs().log10().floor() as i32;
    if !(-4..6).contains(&magnitude) {
        return format!("{v:.3e}");
    }
    let decimals = (3 - magnitude).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic noise in [0, 1): a 64-bit LCG, so tests need no random crate.
    fn noise(seed: u64, n: usize) -> Vec<f64> {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect()
    }

    fn around(seed: u64, n: usize, center: f64, spread: f64) -> Vec<f64> {
        noise(seed, n)
            .into_iter()
            .map(|u| center + spread * (u - 0.5))
            .collect()
    }

    fn samples(pairs: &[(&str, Vec<f64>)]) -> MetricSamples {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn metric<'a>(r: &'a CanaryReport, name: &str) -> &'a MetricVerdict {
        r.metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no metric {name} in {r:#?}"))
    }

    fn healthy(seed: u64) -> MetricSamples {
        samples(&[
            ("requests", around(seed, 60, 1000.0, 100.0)),
            ("error_rate", around(seed + 1, 60, 0.01, 0.004)),
            ("latency_p99", around(seed + 2, 60, 250.0, 40.0)),
        ])
    }

    fn config(yaml: &str) -> JudgeConfig {
        JudgeConfig::from_yaml_or_json(yaml).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn same_distribution_passes() {
        let r = judge(&healthy(1), &healthy(100), &JudgeConfig::default());
        assert_eq!(r.verdict, CanaryVerdict::Pass, "{r:#?}");
        assert_eq!(r.score, 100.0);
        assert_eq!(r.metrics.len(), 3);
        for m in &r.metrics {
            assert_eq!(m.classification, MetricClassification::Pass, "{m:#?}");
            assert!(m.p_value.is_some() && m.effect_size.is_some());
        }
    }

    #[test]
    fn rising_critical_error_rate_fails_the_run() {
        let mut canary = healthy(100);
        canary.insert("error_rate".into(), around(7, 60, 0.05, 0.01));
        let cfg = config("metrics:\n  error_rate:\n    critical: true\n");
        let r = judge(&healthy(1), &canary, &cfg);
        let m = metric(&r, "error_rate");
        assert_eq!(m.classification, MetricClassification::High, "{m:#?}");
        assert!(m.failed && m.critical);
        assert!(m.p_value.is_some_and(|p| p < 1e-6));
        assert!(m.effect_size.is_some_and(|e| e > 4.0));
        assert!(m.ci_low.is_some_and(|l| l > 0.0));
        assert_eq!(r.verdict, CanaryVerdict::Fail);
        assert!(r.reason.contains("error_rate"), "{}", r.reason);
        // Not critical: two of three metrics pass, a 66.7 score, below marginal.
        let r = judge(&healthy(1), &canary, &JudgeConfig::default());
        assert!((r.score - 200.0 / 3.0).abs() < 1e-9);
        assert_eq!(r.verdict, CanaryVerdict::Fail);
    }

    #[test]
    fn direction_decides_which_change_counts() {
        let mut canary = healthy(100);
        canary.insert("latency_p99".into(), around(3, 60, 150.0, 40.0));
        let r = judge(&healthy(1), &canary, &JudgeConfig::default());
        let m = metric(&r, "latency_p99");
        assert_eq!(m.classification, MetricClassification::Pass, "{m:#?}");
        assert!(m.reason.contains("only an increase counts"), "{}", m.reason);
        for dir in ["either", "decrease"] {
            let cfg = config(&format!("metrics:\n  latency_p99:\n    direction: {dir}\n"));
            let r = judge(&healthy(1), &canary, &cfg);
            assert_eq!(
                metric(&r, "latency_p99").classification,
                MetricClassification::Low
            );
        }
    }

    #[test]
    fn a_shift_below_min_shift_passes() {
        // 0.10 ms → 0.14 ms: significant and 40 % up, but far below a 5 ms floor.
        let mut baseline = healthy(1);
        baseline.insert("latency_p99".into(), around(5, 60, 0.10, 0.01));
        let mut canary = healthy(100);
        canary.insert("latency_p99".into(), around(6, 60, 0.14, 0.01));
        let strict = config("metrics:\n  latency_p99:\n    allowed_increase: 1.25\n");
        let r = judge(&baseline, &canary, &strict);
        assert_eq!(
            metric(&r, "latency_p99").classification,
            MetricClassification::High
        );
        let floored =
            config("metrics:\n  latency_p99:\n    allowed_increase: 1.25\n    min_shift: 5\n");
        let r = judge(&baseline, &canary, &floored);
        let m = metric(&r, "latency_p99");
        assert_eq!(m.classification, MetricClassification::Pass);
        assert!(m.reason.contains("min_shift"), "{}", m.reason);
    }

    #[test]
    fn allowed_increase_tolerates_a_small_significant_rise() {
        let mut canary = healthy(100);
        canary.insert("latency_p99".into(), around(3, 60, 270.0, 40.0));
        let r = judge(&healthy(1), &canary, &JudgeConfig::default());
        assert_eq!(
            metric(&r, "latency_p99").classification,
            MetricClassification::High
        );
        let cfg = config("metrics:\n  latency_p99:\n    allowed_increase: 1.2\n");
        let r = judge(&healthy(1), &canary, &cfg);
        let m = metric(&r, "latency_p99");
        assert_eq!(m.classification, MetricClassification::Pass, "{m:#?}");
        assert!(m.reason.contains("allowed_increase"), "{}", m.reason);
    }

    #[test]
    fn missing_data_is_left_out_unless_required() {
        let mut canary = healthy(100);
        canary.insert("cpu".into(), vec![]);
        let r = judge(&healthy(1), &canary, &JudgeConfig::default());
        let m = metric(&r, "cpu");
        assert_eq!(m.classification, MetricClassification::NoData);
        assert!(!m.failed && m.p_value.is_none() && m.effect_size.is_none());
        assert_eq!(r.score, 100.0);
        assert_eq!(r.verdict, CanaryVerdict::Pass);

        let cfg = config("metrics:\n  cpu:\n    must_have_data: true\n");
        let r = judge(&healthy(1), &canary, &cfg);
        assert!(metric(&r, "cpu").failed);
        assert_eq!(r.score, 75.0);
        assert_eq!(r.verdict, CanaryVerdict::Marginal);
    }

    #[test]
    fn nan_strategy_removes_or_zeroes() {
        let mut base = healthy(1);
        let mut canary = healthy(100);
        let mut with_nan = around(3, 60, 0.01, 0.004);
        with_nan.extend([f64::NAN; 40]);
        canary.insert("error_rate".into(), with_nan);
        base.insert("error_rate".into(), around(4, 60, 0.01, 0.004));
        let r = judge(&base, &canary, &JudgeConfig::default());
        let m = metric(&r, "error_rate");
        assert_eq!(m.canary_samples, 60);
        assert_eq!(m.classification, MetricClassification::Pass);
        let cfg =
            config("metrics:\n  error_rate:\n    nan_strategy: none\n    direction: either\n");
        let r = judge(&base, &canary, &cfg);
        let m = metric(&r, "error_rate");
        assert_eq!(m.canary_samples, 100);
        assert_eq!(m.classification, MetricClassification::Low, "{m:#?}");
        // Kayenta's spelling is accepted too.
        assert_eq!(
            config("metrics:\n  x:\n    nanStrategy: replace\n").metrics["x"].nan_strategy,
            NanStrategy::None
        );
    }

    #[test]
    fn absolute_thresholds_fail_the_run() {
        // Same distributions, but both above Flagger-style limits.
        let mut base = healthy(1);
        let mut canary = healthy(100);
        base.insert("error_rate".into(), around(5, 60, 0.03, 0.004));
        canary.insert("error_rate".into(), around(6, 60, 0.03, 0.004));
        let cfg = config(
            "metrics:\n  error_rate:\n    max: 0.02\n  latency_p99:\n    max: 500\n    min: 1\n",
        );
        let r = judge(&base, &canary, &cfg);
        let m = metric(&r, "error_rate");
        assert_eq!(m.classification, MetricClassification::High);
        assert!(m.threshold_breached && m.failed);
        assert!(m.reason.contains("above max 0.02"), "{}", m.reason);
        assert_eq!(r.verdict, CanaryVerdict::Fail);
        assert!(r.reason.contains("threshold breached: error_rate"));

        let mut canary = healthy(100);
        canary.insert("latency_p99".into(), around(6, 60, 0.5, 0.1));
        let r = judge(&healthy(1), &canary, &cfg);
        assert_eq!(
            metric(&r, "latency_p99").classification,
            MetricClassification::Low
        );
        assert_eq!(r.verdict, CanaryVerdict::Fail);

        // A threshold applies even when the baseline has no data.
        let r = judge(
            &MetricSamples::new(),
            &samples(&[("error_rate", vec![0.5; 20])]),
            &cfg,
        );
        assert!(metric(&r, "error_rate").threshold_breached);
        assert_eq!(r.verdict, CanaryVerdict::Fail);
    }

    #[test]
    fn low_traffic_is_inconclusive() {
        let mut canary = healthy(100);
        canary.insert("requests".into(), vec![3.0, 2.0, 4.0]);
        canary.insert("error_rate".into(), vec![0.3, 0.5, 0.6]);
        let cfg = config("metrics:\n  error_rate:\n    critical: true\n    max: 0.02\n");
        let r = judge(&healthy(1), &canary, &cfg);
        assert_eq!(r.verdict, CanaryVerdict::Inconclusive, "{r:#?}");
        assert!(r.reason.contains("requests"), "{}", r.reason);

        // A critical metric with too few samples, no request metric at all.
        let mut base = healthy(1);
        base.remove("requests");
        let mut canary = healthy(100);
        canary.remove("requests");
        canary.insert("error_rate".into(), vec![0.01; 4]);
        let r = judge(&base, &canary, &cfg);
        assert_eq!(r.verdict, CanaryVerdict::Inconclusive);
        assert!(r.reason.contains("error_rate"), "{}", r.reason);

        // Enough samples but too few requests in total.
        let mut canary = healthy(100);
        canary.insert("requests".into(), vec![1.0; 60]);
        let cfg = config("min_requests: 500\n");
        let r = judge(&healthy(1), &canary, &cfg);
        assert_eq!(r.verdict, CanaryVerdict::Inconclusive);
        assert!(r.reason.contains("min_requests"), "{}", r.reason);
    }

    #[test]
    fn nothing_to_judge_is_inconclusive() {
        let r = judge(
            &MetricSamples::new(),
            &MetricSamples::new(),
            &JudgeConfig::default(),
        );
        assert_eq!(r.verdict, CanaryVerdict::Inconclusive);
        assert!(r.metrics.is_empty());
    }

    #[test]
    fn groups_are_weighted() {
        let mut canary = healthy(100);
        canary.insert("latency_p99".into(), around(3, 60, 400.0, 40.0));
        let cfg = config(
            "group_weights: {errors: 80, latency: 20}\nmetrics:\n  error_rate: {group: errors}\n  requests: {group: errors}\n  latency_p99: {group: latency}\n",
        );
        let r = judge(&healthy(1), &canary, &cfg);
        assert_eq!(r.score, 80.0);
        assert_eq!(r.verdict, CanaryVerdict::Marginal);
        // Metric weights within a group.
        let cfg = config("metrics:\n  latency_p99: {weight: 2}\n");
        let r = judge(&healthy(1), &canary, &cfg);
        assert_eq!(r.score, 50.0);
    }

    #[test]
    fn zero_baseline_mean_still_catches_a_rise() {
        let base = samples(&[("errors", vec![0.0; 30])]);
        let canary = samples(&[("errors", around(9, 30, 3.0, 2.0))]);
        let r = judge(&base, &canary, &JudgeConfig::default());
        let m = metric(&r, "errors");
        assert_eq!(m.classification, MetricClassification::High, "{m:#?}");
        assert_eq!(m.effect_size, None);
    }

    #[test]
    fn identical_and_constant_samples_pass() {
        let a = samples(&[("x", around(1, 30, 5.0, 1.0))]);
        let r = judge(&a, &a, &JudgeConfig::default());
        assert_eq!(r.metrics[0].classification, MetricClassification::Pass);
        assert_eq!(r.metrics[0].p_value, Some(1.0));
        let b = samples(&[("x", vec![2.0; 20])]);
        let c = samples(&[("x", vec![2.0; 25])]);
        let r = judge(&b, &c, &JudgeConfig::default());
        assert_eq!(r.metrics[0].classification, MetricClassification::Pass);
        assert_eq!(r.verdict, CanaryVerdict::Pass);
    }

    #[test]
    fn report_serializes_to_the_contract() {
        let mut canary = healthy(100);
        canary.insert("cpu".into(), vec![]);
        let r = judge(&healthy(1), &canary, &JudgeConfig::default());
        let v = serde_json::to_value(&r).expect("serializable");
        assert!(v["score"].is_number());
        assert_eq!(v["verdict"], "Pass");
        let metrics = v["metrics"].as_array().expect("array");
        for m in metrics {
            for key in ["name", "classification", "p_value", "effect_size"] {
                assert!(m.get(key).is_some(), "{key} missing in {m}");
            }
        }
        let cpu = metrics.iter().find(|m| m["name"] == "cpu").expect("cpu");
        assert_eq!(cpu["classification"], "NoData");
        assert!(cpu["p_value"].is_null());
        let back: CanaryReport = serde_json::from_value(v).expect("round trip");
        assert_eq!(back, r);
    }

    #[test]
    fn short_numbers_read_well() {
        assert_eq!(short(0.019999999), "0.02");
        assert_eq!(short(500.0), "500");
        assert_eq!(short(1.23456), "1.235");
        assert_eq!(short(1e-7), "1.000e-7");
    }
}
