//! Cooldown gate: right after a deploy, the service's metrics still show that deploy; another
//! change on top of it could not be judged on its own, and two changes are harder to undo.

use super::{GateContext, GateResult, GateVerdict};
use crate::config::gates::CooldownGate;

pub const NAME: &str = "cooldown";

pub fn check(ctx: &GateContext, policy: &CooldownGate) -> GateResult {
    let min_seconds = u64::from(policy.min_minutes_since_deploy) * 60;
    let threshold = format!(
        "≥ {} min since last deploy",
        policy.min_minutes_since_deploy
    );
    let Some(since) = ctx.seconds_since_last_deploy else {
        return GateResult::new(
            NAME,
            "no deploy on record".to_string(),
            threshold,
            GateVerdict::Pass,
            "nothing to cool down from".to_string(),
        );
    };
    let observed = format!("{} since last deploy", duration(since));
    let (verdict, reason) = if since < min_seconds {
        (
            GateVerdict::Block,
            format!(
                "the last deploy is too recent: wait {} more",
                duration(min_seconds - since)
            ),
        )
    } else {
        (GateVerdict::Pass, "the last deploy has settled".to_string())
    };
    GateResult::new(NAME, observed, threshold, verdict, reason)
}

fn duration(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 2 * 3600 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::tests::{calm, policies};

    fn result(since: Option<u64>) -> GateResult {
        let mut ctx = calm();
        ctx.seconds_since_last_deploy = since;
        check(&ctx, &policies().gates.cooldown)
    }

    #[test]
    fn pass_and_block() {
        // Default cooldown: 10 minutes.
        assert_eq!(result(Some(599)).verdict, GateVerdict::Block);
        assert_eq!(result(Some(600)).verdict, GateVerdict::Pass);
        assert_eq!(result(None).verdict, GateVerdict::Pass);
        assert_eq!(
            result(Some(60)).reason,
            "the last deploy is too recent: wait 9 min more"
        );
    }
}
