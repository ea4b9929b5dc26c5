//! Recent failures gate: when healbot's last operations on a service kept failing, another
//! automatic attempt is more likely to add to the damage than to fix it.

use super::{GateContext, GateResult, GateVerdict};
use crate::config::gates::RecentFailuresGate;

pub const NAME: &str = "recent_failures";

pub fn check(ctx: &GateContext, policy: &RecentFailuresGate) -> GateResult {
    let threshold = match policy.block_above {
        Some(block) => format!("pause > {}, block > {}", policy.pause_above, block),
        None => format!("pause > {}", policy.pause_above),
    };
    let failures = ctx.consecutive_failures;
    let observed = format!("{failures} consecutive failed operations");
    let (verdict, reason) = if policy.block_above.is_some_and(|b| failures > b) {
        (
            GateVerdict::Block,
            "healbot keeps failing on this service: it stops trying".to_string(),
        )
    } else if failures > policy.pause_above {
        (
            GateVerdict::Pause,
            "healbot's last operations on this service failed: a person decides".to_string(),
        )
    } else {
        (GateVerdict::Pass, "no run of failures".to_string())
    };
    GateResult::new(NAME, observed, threshold, verdict, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::tests::{calm, policies};

    fn verdict(failures: u32, block_above: Option<u32>) -> GateVerdict {
        let mut ctx = calm();
        ctx.consecutive_failures = failures;
        let mut policy = policies().gates.recent_failures;
        policy.block_above = block_above;
        check(&ctx, &policy).verdict
    }

    #[test]
    fn pass_pause_block() {
        assert_eq!(verdict(2, None), GateVerdict::Pass);
        assert_eq!(verdict(3, None), GateVerdict::Pause);
        assert_eq!(verdict(5, Some(5)), GateVerdict::Pause);
        assert_eq!(verdict(6, Some(5)), GateVerdict::Block);
    }
}
