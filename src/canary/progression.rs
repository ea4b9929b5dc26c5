//! Which step comes after which: the canary's weights in order, and what the judge's verdict
//! at one of them leads to. Pure; the orchestrator commits the step, records the transition and
//! tells people.

use super::judge::{CanaryReport, CanaryVerdict};

/// What the operation does after the canary was judged at a weight.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Move the canary on to this weight.
    StepTo(u8),
    /// Every step passed: verification takes over.
    Verify,
    /// The canary failed: roll back, for this reason.
    RollBack(String),
    /// Neither a pass nor a failure: a person decides, told this.
    AskAPerson(String),
}

/// The first step of `steps` (the weights in percent, in order).
pub(crate) fn first_step(steps: &[u8]) -> Option<u8> {
    steps.first().copied()
}

/// Whether a step at `weight` is judged against the stable. At 100% the canary is the stable:
/// nothing is left to compare it with, so from there on verification judges it.
pub(crate) fn is_judged(weight: u8) -> bool {
    weight < 100
}

/// What follows `report`, the judgement of the canary at `weight`.
pub fn after(steps: &[u8], weight: u8, report: &CanaryReport) -> Next {
    match report.verdict {
        CanaryVerdict::Pass => match steps.iter().copied().find(|w| *w > weight) {
            Some(next) => Next::StepTo(next),
            None => Next::Verify,
        },
        CanaryVerdict::Fail => {
            Next::RollBack(format!("canary failed at {weight}%: {}", report.reason))
        }
        CanaryVerdict::Marginal | CanaryVerdict::Inconclusive => Next::AskAPerson(format!(
            "canary {:?} at {weight}% (score {:.0}): {}",
            report.verdict, report.score, report.reason
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(verdict: CanaryVerdict) -> CanaryReport {
        CanaryReport {
            score: 60.0,
            verdict,
            reason: "error_rate High".into(),
            metrics: Vec::new(),
        }
    }

    #[test]
    fn a_pass_steps_on_until_the_last_weight_then_verifies() {
        let steps = [10, 50, 100];
        assert_eq!(first_step(&steps), Some(10));
        assert_eq!(first_step(&[]), None);
        let pass = report(CanaryVerdict::Pass);
        assert_eq!(after(&steps, 10, &pass), Next::StepTo(50));
        assert_eq!(after(&steps, 50, &pass), Next::StepTo(100));
        assert_eq!(after(&[10, 50], 50, &pass), Next::Verify);
        assert!(is_judged(50) && !is_judged(100));
    }

    #[test]
    fn a_failure_rolls_back_and_anything_else_asks_a_person() {
        let steps = [10, 50, 100];
        assert_eq!(
            after(&steps, 10, &report(CanaryVerdict::Fail)),
            Next::RollBack("canary failed at 10%: error_rate High".into())
        );
        for verdict in [CanaryVerdict::Marginal, CanaryVerdict::Inconclusive] {
            let Next::AskAPerson(why) = after(&steps, 50, &report(verdict)) else {
                panic!("{verdict:?} should ask a person");
            };
            assert!(why.contains("at 50% (score 60)"), "{why}");
        }
    }
}
