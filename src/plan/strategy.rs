//! How a fix goes out: straight to production, through canary steps, or by a person. Risk picks
//! between the three; a fix healbot is not sure of, or a root cause many services depend on,
//! always goes to a person whatever the risk.

use super::risk::RiskScore;
use crate::config::risk::RiskPolicy;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Strategy {
    Direct,
    Canary,
    ManualReview,
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::Direct => "DIRECT",
            Strategy::Canary => "CANARY",
            Strategy::ManualReview => "MANUAL_REVIEW",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyDecision {
    pub strategy: Strategy,
    /// Every rule that shaped the decision, the deciding ones first.
    pub reasons: Vec<String>,
}

/// `fix_confidence` and `blast_radius` are in [0, 1]; a value that is not a number counts as
/// the unsafe extreme, so it leads to a person.
pub fn choose(
    risk: &RiskScore,
    fix_confidence: f64,
    blast_radius: f64,
    policy: &RiskPolicy,
) -> StrategyDecision {
    let t = &policy.strategy;
    let mut forced = Vec::new();
    if fix_confidence.is_nan() || fix_confidence < t.min_confidence {
        forced.push(format!(
            "fix confidence {} is under the minimum {} (a person decides)",
            pct(fix_confidence),
            pct(t.min_confidence)
        ));
    }
    if blast_radius.is_nan() || blast_radius > t.max_blast_radius {
        forced.push(format!(
            "blast radius {} is over the limit {} (a person decides)",
            pct(blast_radius),
            pct(t.max_blast_radius)
        ));
    }

    let (by_risk, risk_reason) = if risk.total > t.manual_review_above {
        (
            Strategy::ManualReview,
            format!("risk {:.2} > {}", risk.total, t.manual_review_above),
        )
    } else if risk.total > t.canary_above {
        (
            Strategy::Canary,
            format!(
                "risk {:.2} > {} and ≤ {}",
                risk.total, t.canary_above, t.manual_review_above
            ),
        )
    } else {
        (
            Strategy::Direct,
            format!("risk {:.2} ≤ {}", risk.total, t.canary_above),
        )
    };

    let mut strategy = if forced.is_empty() {
        by_risk
    } else {
        Strategy::ManualReview
    };
    let mut reasons = forced;
    if strategy == Strategy::Direct && !t.direct_allowed {
        strategy = Strategy::Canary;
        reasons
            .push("DIRECT is forbidden by policy (strategy.direct_allowed: false) → CANARY".into());
    }
    reasons.push(format!("{risk_reason} → {by_risk}"));
    StrategyDecision { strategy, reasons }
}

fn pct(share: f64) -> String {
    if share.is_finite() {
        format!("{:.0}%", share * 100.0)
    } else {
        "unknown".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PolicySet;
    use crate::plan::risk::{level, RiskScore};

    fn risk(total: f64) -> RiskScore {
        let policy = PolicySet::embedded().risk;
        RiskScore {
            total,
            level: level(total, &policy),
            factors: Vec::new(),
        }
    }

    fn pick(total: f64, confidence: f64, blast: f64) -> Strategy {
        choose(&risk(total), confidence, blast, &PolicySet::embedded().risk).strategy
    }

    #[test]
    fn risk_thresholds_are_strict() {
        assert_eq!(pick(0.0, 0.9, 0.0), Strategy::Direct);
        assert_eq!(pick(0.4, 0.9, 0.0), Strategy::Direct);
        assert_eq!(pick(0.400_001, 0.9, 0.0), Strategy::Canary);
        assert_eq!(pick(0.7, 0.9, 0.0), Strategy::Canary);
        assert_eq!(pick(0.700_001, 0.9, 0.0), Strategy::ManualReview);
    }

    #[test]
    fn low_confidence_always_goes_to_a_person() {
        assert_eq!(pick(0.1, 0.7, 0.0), Strategy::Direct);
        assert_eq!(pick(0.1, 0.699, 0.0), Strategy::ManualReview);
        assert_eq!(pick(0.1, f64::NAN, 0.0), Strategy::ManualReview);
    }

    #[test]
    fn wide_blast_radius_always_goes_to_a_person() {
        assert_eq!(pick(0.1, 0.9, 0.2), Strategy::Direct);
        assert_eq!(pick(0.1, 0.9, 0.201), Strategy::ManualReview);
        assert_eq!(pick(0.5, 0.9, f64::NAN), Strategy::ManualReview);
    }

    #[test]
    fn a_policy_that_forbids_direct_gets_the_canary_and_says_why() {
        let mut policy = PolicySet::embedded().risk;
        policy.strategy.direct_allowed = false;
        let d = choose(&risk(0.1), 0.9, 0.0, &policy);
        assert_eq!(d.strategy, Strategy::Canary);
        assert!(
            d.reasons[0].contains("DIRECT is forbidden"),
            "{:?}",
            d.reasons
        );
        // Riskier fixes are not touched by it.
        assert_eq!(
            choose(&risk(0.9), 0.9, 0.0, &policy).strategy,
            Strategy::ManualReview
        );
    }

    #[test]
    fn reasons_name_every_rule_that_applied() {
        let d = choose(&risk(0.5), 0.5, 0.67, &PolicySet::embedded().risk);
        assert_eq!(d.strategy, Strategy::ManualReview);
        assert_eq!(d.reasons.len(), 3, "{:?}", d.reasons);
        assert!(d.reasons[0].contains("confidence 50%"), "{:?}", d.reasons);
        assert!(d.reasons[1].contains("blast radius 67%"), "{:?}", d.reasons);
        assert!(d.reasons[2].ends_with("→ CANARY"), "{:?}", d.reasons);
    }
}
