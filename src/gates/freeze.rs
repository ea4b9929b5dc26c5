//! Freeze gate: during a change freeze (a launch, the end of the year) healbot does not ship on
//! its own; the window's action says whether it stops or asks a person.

use super::{GateContext, GateResult, GateVerdict};
use crate::config::freeze::{FreezeAction, FreezePolicy};

pub const NAME: &str = "freeze";

pub fn check(ctx: &GateContext, policy: &FreezePolicy) -> GateResult {
    let threshold = format!(
        "{} freeze windows",
        policy.windows.len() + policy.recurring.len()
    );
    match policy.active(&ctx.service, ctx.now) {
        None => GateResult::new(
            NAME,
            format!("no freeze at {}", ctx.now.format("%Y-%m-%d %H:%M UTC")),
            threshold,
            GateVerdict::Pass,
            "no freeze in force".to_string(),
        ),
        Some(active) => {
            let verdict = match active.action {
                FreezeAction::Pause => GateVerdict::Pause,
                FreezeAction::Block => GateVerdict::Block,
            };
            GateResult::new(
                NAME,
                format!("in freeze {:?} ({})", active.name, active.span),
                threshold,
                verdict,
                format!(
                    "change freeze {:?} is in force for {}",
                    active.name, ctx.service
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::parse_strict;
    use crate::gates::tests::calm;
    use chrono::TimeZone;

    const POLICY: &str = r#"
windows:
  - name: launch
    start: 2024-01-01T00:00:00Z
    end: 2024-01-02T00:00:00Z
    action: pause
recurring:
  - name: weekend
    every: {utc_offset: "Z", days: [sat, sun], start: "00:00", end: "24:00"}
"#;

    fn verdict(day: u32) -> GateVerdict {
        let policy: FreezePolicy = parse_strict(POLICY).unwrap();
        let mut ctx = calm();
        ctx.now = chrono::Utc
            .with_ymd_and_hms(2024, 1, day, 12, 0, 0)
            .unwrap();
        check(&ctx, &policy).verdict
    }

    #[test]
    fn pass_pause_block() {
        assert_eq!(verdict(1), GateVerdict::Pause); // Monday, in the launch window
        assert_eq!(verdict(3), GateVerdict::Pass); // Wednesday
        assert_eq!(verdict(6), GateVerdict::Block); // Saturday
    }
}
