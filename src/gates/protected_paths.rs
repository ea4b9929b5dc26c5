//! Protected paths gate: a fix that touches a file healbot must never edit (CI, secrets,
//! migrations…) is stopped, whatever produced it.

use super::{GateContext, GateResult, GateVerdict};
use crate::config::protected_paths::ProtectedPathsPolicy;

pub const NAME: &str = "protected_paths";

pub fn check(ctx: &GateContext, policy: &ProtectedPathsPolicy) -> GateResult {
    let threshold = format!("none of {} protected patterns", policy.paths.len());
    let hits: Vec<String> = ctx
        .changed_paths
        .iter()
        .filter_map(|path| policy.protecting(path).map(|g| format!("{path} ({g})")))
        .collect();
    let changed = ctx.changed_paths.len();
    if hits.is_empty() {
        GateResult::new(
            NAME,
            format!("{changed} changed files, none protected"),
            threshold,
            GateVerdict::Pass,
            "the fix touches no protected path".to_string(),
        )
    } else {
        GateResult::new(
            NAME,
            format!("protected: {}", hits.join(", ")),
            threshold,
            GateVerdict::Block,
            "healbot never edits protected paths".to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::tests::{calm, policies};

    fn result(paths: &[&str]) -> GateResult {
        let mut ctx = calm();
        ctx.changed_paths = paths.iter().map(|p| p.to_string()).collect();
        check(&ctx, &policies().protected_paths)
    }

    #[test]
    fn pass_and_block() {
        assert_eq!(result(&["payment_processor.py"]).verdict, GateVerdict::Pass);
        let r = result(&["payment_processor.py", ".github/workflows/ci.yml"]);
        assert_eq!(r.verdict, GateVerdict::Block);
        assert_eq!(
            r.observed,
            "protected: .github/workflows/ci.yml (.github/**)"
        );
        assert_eq!(result(&["certs/tls.pem"]).verdict, GateVerdict::Block);
    }
}
