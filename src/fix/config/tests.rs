//! Config fixes over the sample files in `testdata/config/`: the right setting is raised, and
//! every byte outside the edited scalar (comments, quoting, blank lines) survives.

use super::*;
use std::path::Path;

fn sample(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/config")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn cx<'a>(
    pattern: &'a str,
    history: &'a [AppliedConfigFix],
    b: &'a ConfigBounds,
) -> ConfigContext<'a> {
    ConfigContext {
        service: "payment-service",
        pattern,
        history,
        bounds: b,
    }
}

#[test]
fn oom_raises_the_helm_memory_limit_and_nothing_else() {
    let b = ConfigBounds::embedded().unwrap();
    let text = sample("values.yaml");
    let p = propose_config(
        "charts/payment/values.yaml",
        &text,
        &cx("oom_killed", &[], &b),
    )
    .unwrap();
    assert_eq!(
        (p.path.as_str(), p.old_value.as_str(), p.new_value.as_str()),
        ("resources.limits.memory", "512Mi", "768Mi")
    );
    assert_eq!(
        p.patched,
        text.replace("memory: 512Mi # OOM", "memory: 768Mi # OOM")
    );
    assert_eq!((p.lines_added, p.lines_removed, p.line), (1, 1, 17));
    assert!(
        p.diff.contains(
            "-    memory: 512Mi # OOMKilled above this\n+    memory: 768Mi # OOMKilled above this"
        ),
        "{}",
        p.diff
    );
    assert!(p.summary.contains("from 512Mi to 768Mi"), "{}", p.summary);
    let patch = p.into_patch();
    assert_eq!(patch.template_id, "config.memory-limit");
}

#[test]
fn quoted_timeouts_keep_their_quotes_and_probes_are_left_alone() {
    let b = ConfigBounds::embedded().unwrap();
    let text = sample("values.yaml");
    let p = propose_config("values.yaml", &text, &cx("timeout", &[], &b)).unwrap();
    assert_eq!(p.path, "http.timeout");
    assert_eq!(
        p.patched,
        text.replace("timeout: \"30s\"", "timeout: \"45s\"")
    );
    let p = propose_config("values.yaml", &text, &cx("high_latency", &[], &b)).unwrap();
    assert_eq!(
        (p.path.as_str(), p.new_value.as_str()),
        ("replicaCount", "5")
    );
    assert_eq!(
        p.patched,
        text.replace("replicaCount: 3 ", "replicaCount: 5 ")
    );
}

#[test]
fn the_deployment_container_limit_is_raised_in_its_document() {
    let b = ConfigBounds::embedded().unwrap();
    let text = sample("deployment.yaml");
    let found = find_targets("d.yaml", &text, &[ConfigKind::MemoryLimit]).unwrap();
    let paths: Vec<_> = found.iter().map(|t| t.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "spec.template.spec.containers[0].resources.limits.memory",
            "spec.template.spec.containers[1].resources.limits.memory"
        ]
    );
    let p = propose_config("deploy/inventory.yaml", &text, &cx("oom_killed", &[], &b)).unwrap();
    assert_eq!(p.new_value, "1536Mi");
    assert_eq!(p.patched, text.replace("memory: 1Gi ", "memory: 1536Mi "));
    let cpu = find_targets("d.yaml", &text, &[ConfigKind::CpuLimit]).unwrap();
    let p = fix_config("d.yaml", &text, &cpu[0], &cx("high_latency", &[], &b)).unwrap();
    assert_eq!(p.patched, text.replace("cpu: \"1\"", "cpu: \"1500m\""));
}

#[test]
fn app_config_pool_and_breaker() {
    let b = ConfigBounds::embedded().unwrap();
    let text = sample("application.yaml");
    let p = propose_config(
        "application.yaml",
        &text,
        &cx("connection_pool_exhausted", &[], &b),
    )
    .unwrap();
    assert_eq!(
        (p.path.as_str(), p.new_value.as_str()),
        ("spring.datasource.hikari.maximumPoolSize", "15")
    );
    assert_eq!(
        p.patched,
        text.replace("maximumPoolSize: 10 ", "maximumPoolSize: 15 ")
    );
    let pools = find_targets("a.yaml", &text, &[ConfigKind::PoolSize]).unwrap();
    assert_eq!(pools[1].path, "worker.sqlalchemy.pool_size");
    let timeouts = find_targets("a.yaml", &text, &[ConfigKind::Timeout]).unwrap();
    let paths: Vec<_> = timeouts.iter().map(|t| t.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "spring.datasource.hikari.connectionTimeout",
            "worker.sqlalchemy.pool_timeout",
            "ledger_client.timeout"
        ]
    );
    let p = fix_config("a.yaml", &text, &timeouts[0], &cx("timeout", &[], &b)).unwrap();
    assert_eq!(p.new_value, "45000");
    let p = fix_config("a.yaml", &text, &timeouts[2], &cx("timeout", &[], &b)).unwrap();
    assert_eq!(p.new_value, "3.75");
    let p = propose_config("a.yaml", &text, &cx("transient_connection", &[], &b)).unwrap();
    assert_eq!(
        (p.path.as_str(), p.new_value.as_str()),
        ("ledger_client.circuitBreaker.failureRateThreshold", "75")
    );
}

#[test]
fn a_recurring_fix_escalates() {
    let b = ConfigBounds::embedded().unwrap();
    let text = sample("values.yaml");
    let once = propose_config("values.yaml", &text, &cx("oom_killed", &[], &b)).unwrap();
    let mut history = vec![once.applied("payment-service", "oom_killed")];
    // Another service's or pattern's fixes do not count.
    history.push(AppliedConfigFix {
        service: "other".into(),
        ..history[0].clone()
    });
    history.push(AppliedConfigFix {
        pattern: "timeout".into(),
        ..history[0].clone()
    });
    let twice = propose_config(
        "values.yaml",
        &once.patched,
        &cx("oom_killed", &history, &b),
    )
    .unwrap();
    assert_eq!(twice.new_value, "1152Mi");
    history.push(twice.applied("payment-service", "oom_killed"));
    let err = propose_config(
        "values.yaml",
        &twice.patched,
        &cx("oom_killed", &history, &b),
    )
    .unwrap_err();
    let ConfigFixError::Recurring { times, kind, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!((*times, *kind), (2, ConfigKind::MemoryLimit));
    assert!(err.to_string().contains("escalated"), "{err}");
}

#[test]
fn nothing_to_raise_and_everything_at_its_bound() {
    let b = ConfigBounds::embedded().unwrap();
    let text = sample("values.yaml");
    let err = propose_config(
        "values.yaml",
        &text,
        &cx("connection_pool_exhausted", &[], &b),
    )
    .unwrap_err();
    assert!(matches!(err, ConfigFixError::NoTarget { .. }), "{err}");
    let at_max = text.replace("memory: 512Mi", "memory: 8Gi");
    let err = propose_config("values.yaml", &at_max, &cx("oom_killed", &[], &b)).unwrap_err();
    assert!(
        err.to_string().contains("bound `memory_limit.max` (8Gi)"),
        "{err}"
    );
    let err = propose_config("values.yaml", "a: [", &cx("oom_killed", &[], &b)).unwrap_err();
    assert!(err.to_string().starts_with("values.yaml:"), "{err}");
}
