//! Incident rate gate: many incidents at once mean something bigger than one bug is going on
//! (an outage upstream, a bad network); a person should look before healbot adds changes.

use super::{GateContext, GateResult, GateVerdict};
use crate::config::gates::IncidentRateGate;

pub const NAME: &str = "incident_rate";

pub fn check(ctx: &GateContext, policy: &IncidentRateGate) -> GateResult {
    let threshold = format!(
        "pause > {}, block > {} in {} min",
        policy.pause_above, policy.block_above, policy.window_minutes
    );
    let count = ctx.incidents_last_hour;
    let observed = format!(
        "{count} incidents in the last {} min",
        policy.window_minutes
    );
    let (verdict, reason) = if count > policy.block_above {
        (
            GateVerdict::Block,
            "an incident storm: healbot stands back".to_string(),
        )
    } else if count > policy.pause_above {
        (
            GateVerdict::Pause,
            "unusually many incidents: a person decides".to_string(),
        )
    } else {
        (GateVerdict::Pass, "a normal incident rate".to_string())
    };
    GateResult::new(NAME, observed, threshold, verdict, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::tests::{calm, policies};

    fn verdict(count: u32) -> GateVerdict {
        let mut ctx = calm();
        ctx.incidents_last_hour = count;
        check(&ctx, &policies().gates.incident_rate).verdict
    }

    #[test]
    fn pass_pause_block() {
        assert_eq!(verdict(3), GateVerdict::Pass);
        assert_eq!(verdict(4), GateVerdict::Pause);
        assert_eq!(verdict(10), GateVerdict::Pause);
        assert_eq!(verdict(11), GateVerdict::Block);
    }
}
