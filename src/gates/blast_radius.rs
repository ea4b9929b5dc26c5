//! Blast radius gate: a fix to a service many others depend on can hurt all of them at once,
//! so above the policy's share a person decides.

use super::{pct, GateContext, GateResult, GateVerdict};
use crate::config::gates::BlastRadiusGate;

pub const NAME: &str = "blast_radius";

pub fn check(ctx: &GateContext, policy: &BlastRadiusGate) -> GateResult {
    let threshold = match policy.block_above {
        Some(block) => format!(
            "pause > {}, block > {}",
            pct(policy.pause_above),
            pct(block)
        ),
        None => format!("pause > {}", pct(policy.pause_above)),
    };
    let share = ctx.blast_radius;
    if !(0.0..=1.0).contains(&share) {
        return GateResult::no_data(NAME, "the blast radius", threshold);
    }
    let observed = format!("{} of other services depend on it", pct(share));
    let (verdict, reason) = if policy.block_above.is_some_and(|b| share > b) {
        (
            GateVerdict::Block,
            "too many services depend on this one for an automatic change".to_string(),
        )
    } else if share > policy.pause_above {
        (
            GateVerdict::Pause,
            "many services depend on this one: a person decides".to_string(),
        )
    } else {
        (
            GateVerdict::Pass,
            "few services depend on this one".to_string(),
        )
    };
    GateResult::new(NAME, observed, threshold, verdict, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::tests::{calm, policies};

    fn verdict(share: f64, block_above: Option<f64>) -> GateVerdict {
        let mut ctx = calm();
        ctx.blast_radius = share;
        let mut policy = policies().gates.blast_radius;
        policy.block_above = block_above;
        check(&ctx, &policy).verdict
    }

    #[test]
    fn pass_pause_block() {
        assert_eq!(verdict(0.2, None), GateVerdict::Pass);
        assert_eq!(verdict(0.21, None), GateVerdict::Pause);
        assert_eq!(verdict(1.0, None), GateVerdict::Pause);
        assert_eq!(verdict(0.6, Some(0.5)), GateVerdict::Block);
        assert_eq!(verdict(f64::NAN, None), GateVerdict::Pause);
    }
}
