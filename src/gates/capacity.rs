//! Capacity gate: a canary runs extra pods next to the old ones; with no CPU or memory
//! headroom, the rollout itself would starve the service it is meant to heal.

use super::{pct, GateContext, GateResult, GateVerdict};
use crate::config::gates::{CapacityGate, UtilisationLimits};

pub const NAME: &str = "capacity";

pub fn check(ctx: &GateContext, policy: &CapacityGate) -> GateResult {
    let threshold = format!(
        "cpu {}, memory {}",
        limits(&policy.cpu),
        limits(&policy.memory)
    );
    let (cpu, memory) = (ctx.cpu_utilisation, ctx.memory_utilisation);
    if !(0.0..=1.0).contains(&cpu) || !(0.0..=1.0).contains(&memory) {
        return GateResult::no_data(NAME, "CPU or memory utilisation", threshold);
    }
    let observed = format!("cpu {}, memory {}", pct(cpu), pct(memory));
    let cpu_verdict = judge(cpu, &policy.cpu);
    let memory_verdict = judge(memory, &policy.memory);
    let verdict = cpu_verdict.max(memory_verdict);
    let tight: Vec<&str> = [("cpu", cpu_verdict), ("memory", memory_verdict)]
        .iter()
        .filter(|(_, v)| *v == verdict)
        .map(|(name, _)| *name)
        .collect();
    let reason = match verdict {
        GateVerdict::Pass => "enough headroom for a rollout".to_string(),
        GateVerdict::Pause => format!("little {} headroom: a person decides", tight.join(" and ")),
        GateVerdict::Block => format!("no {} headroom for a rollout", tight.join(" and ")),
    };
    GateResult::new(NAME, observed, threshold, verdict, reason)
}

fn judge(utilisation: f64, limits: &UtilisationLimits) -> GateVerdict {
    if utilisation > limits.block_above {
        GateVerdict::Block
    } else if limits.pause_above.is_some_and(|p| utilisation > p) {
        GateVerdict::Pause
    } else {
        GateVerdict::Pass
    }
}

fn limits(l: &UtilisationLimits) -> String {
    match l.pause_above {
        Some(p) => format!("pause > {}, block > {}", pct(p), pct(l.block_above)),
        None => format!("block > {}", pct(l.block_above)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::tests::{calm, policies};

    fn result(cpu: f64, memory: f64) -> GateResult {
        let mut ctx = calm();
        ctx.cpu_utilisation = cpu;
        ctx.memory_utilisation = memory;
        check(&ctx, &policies().gates.capacity)
    }

    #[test]
    fn pass_pause_block() {
        assert_eq!(result(0.75, 0.75).verdict, GateVerdict::Pass);
        assert_eq!(result(0.8, 0.5).verdict, GateVerdict::Pause);
        assert_eq!(result(0.5, 0.86).verdict, GateVerdict::Block);
        assert_eq!(result(0.5, f64::NAN).verdict, GateVerdict::Pause);
    }

    #[test]
    fn reason_names_the_tight_resource() {
        assert_eq!(result(0.9, 0.8).reason, "no cpu headroom for a rollout");
        assert_eq!(
            result(0.8, 0.8).reason,
            "little cpu and memory headroom: a person decides"
        );
    }
}
