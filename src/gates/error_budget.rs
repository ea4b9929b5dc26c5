//! Error budget gate: when the service has already spent its SLO's error budget, no change
//! ships on its own; the budget is what allows risk, and there is none left.

use super::{pct, GateContext, GateResult, GateVerdict};
use crate::config::gates::ErrorBudgetGate;

pub const NAME: &str = "error_budget";

pub fn check(ctx: &GateContext, policy: &ErrorBudgetGate) -> GateResult {
    let threshold = match policy.pause_at_consumed {
        Some(pause) => format!(
            "pause at {}, block at {} of budget",
            pct(pause),
            pct(policy.block_at_consumed)
        ),
        None => format!("block at {} of budget", pct(policy.block_at_consumed)),
    };
    let consumed = ctx.error_budget_consumed;
    if !consumed.is_finite() || consumed < 0.0 {
        return GateResult::no_data(NAME, "the error budget consumed", threshold);
    }
    let observed = format!(
        "{} consumed (error rate {}, SLO {} over {} d)",
        pct(consumed),
        pct(ctx.error_rate),
        pct(policy.slo_error_rate),
        policy.window_days
    );
    let (verdict, reason) = if consumed >= policy.block_at_consumed {
        (
            GateVerdict::Block,
            "the error budget is exhausted: no change ships until it recovers".to_string(),
        )
    } else if policy.pause_at_consumed.is_some_and(|p| consumed >= p) {
        (
            GateVerdict::Pause,
            "the error budget is nearly spent: a person decides".to_string(),
        )
    } else {
        (
            GateVerdict::Pass,
            format!("{} of the budget left", pct(1.0 - consumed)),
        )
    };
    GateResult::new(NAME, observed, threshold, verdict, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::tests::{calm, policies};

    fn verdict(consumed: f64) -> GateVerdict {
        let mut ctx = calm();
        ctx.error_budget_consumed = consumed;
        check(&ctx, &policies().gates.error_budget).verdict
    }

    #[test]
    fn pass_pause_block() {
        assert_eq!(verdict(0.5), GateVerdict::Pass);
        assert_eq!(verdict(0.9), GateVerdict::Pause);
        assert_eq!(verdict(1.0), GateVerdict::Block);
        assert_eq!(verdict(3.2), GateVerdict::Block);
        assert_eq!(verdict(f64::NAN), GateVerdict::Pause);
    }

    #[test]
    fn reports_observed_and_threshold() {
        let mut ctx = calm();
        ctx.error_budget_consumed = 1.25;
        ctx.error_rate = 0.15;
        let r = check(&ctx, &policies().gates.error_budget);
        assert_eq!(
            r.observed,
            "125.0% consumed (error rate 15.0%, SLO 1.0% over 30 d)"
        );
        assert_eq!(r.threshold, "pause at 90.0%, block at 100.0% of budget");
        assert!(r.reason.contains("exhausted"));
    }
}
