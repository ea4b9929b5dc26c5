//! Several `serve` replicas behind one webhook URL, each with its own delivery log, sharing a
//! real redis-server: every delivery is processed by exactly one of them however often and
//! wherever it arrives, and without Redis a replica refuses a delivery rather than risk
//! processing it twice.

use crate::locks::RedisServer;
use async_trait::async_trait;
use healbot::config::bot::{BotConfig, Secret};
use healbot::server::claims::{ClaimForm, DeliveryClaims};
use healbot::server::signature::sign;
use healbot::server::{
    serve_on, DeliveryHandler, GithubDelivery, HandlerError, Outcome, ServeOptions, ServerHandle,
};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "replica-secret";

/// Every delivery id a replica processed.
#[derive(Default)]
struct Processed(Mutex<Vec<String>>);

#[async_trait]
impl DeliveryHandler for Processed {
    async fn handle(&self, d: GithubDelivery) -> Result<(), HandlerError> {
        self.0.lock().unwrap().push(d.id);
        Ok(())
    }
}

async fn replica(state: &Path, redis: &str, name: &str, processed: Arc<Processed>) -> ServerHandle {
    let config = BotConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        redis_url: Some(redis.to_string()),
        ..BotConfig::new(state.to_path_buf(), vec![Secret::new(SECRET)])
    };
    let claims = DeliveryClaims::connect(redis, name).unwrap();
    let options = ServeOptions {
        handler: Some(processed),
        log: None,
        claims: Some(Arc::new(claims)),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_on(listener, config, options).await.unwrap()
}

fn body(n: usize) -> Vec<u8> {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/github-webhooks/issue_comment/created.payload.json"
    );
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture).unwrap()).unwrap();
    v["comment"]["id"] = serde_json::json!(n);
    serde_json::to_vec(&v).unwrap()
}

async fn post(h: &ServerHandle, id: &str, body: &[u8]) -> u16 {
    healbot::http_client::client()
        .post(format!("http://{}/webhooks/github", h.addr))
        .header("X-GitHub-Event", "issue_comment")
        .header("X-GitHub-Delivery", id)
        .header("X-Hub-Signature-256", sign(SECRET.as_bytes(), body))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_delivery_is_processed_by_exactly_one_replica() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let processed: Vec<Arc<Processed>> = (0..3).map(|_| Arc::default()).collect();
    let mut replicas = Vec::new();
    for (i, p) in processed.iter().enumerate() {
        let state = dir.path().join(format!("replica-{i}"));
        replicas.push(replica(&state, &redis.url(), &format!("r{i}"), p.clone()).await);
    }
    // 200 deliveries, each sent to two or three replicas, some twice to the same one.
    let distinct = 200;
    let mut sends = Vec::new();
    for n in 0..distinct {
        let id = format!("d-{n}");
        let body = body(n);
        for r in [n % 3, (n + 1) % 3, (n * 7) % 3] {
            sends.push((r, id.clone(), body.clone()));
        }
    }
    let mut accepted = 0;
    let mut duplicates = 0;
    for chunk in sends.chunks(30) {
        let replies = futures_join(chunk, &replicas).await;
        for status in replies {
            match status {
                202 => accepted += 1,
                200 => duplicates += 1,
                other => panic!("unexpected status {other}"),
            }
        }
    }
    assert_eq!(accepted, distinct, "each delivery accepted once");
    assert_eq!(duplicates, sends.len() - distinct);
    for h in &replicas {
        for _ in 0..500 {
            if h.metrics.queue_depth() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let mut all: Vec<String> = processed
        .iter()
        .flat_map(|p| p.0.lock().unwrap().clone())
        .collect();
    assert_eq!(all.len(), distinct, "processed exactly once in total");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), distinct);
    let processed_counts: Vec<u64> = replicas
        .iter()
        .map(|h| h.metrics.get(Outcome::Processed))
        .collect();
    assert!(
        processed_counts.iter().all(|c| *c > 0),
        "the work is spread: {processed_counts:?}"
    );

    // Without Redis a replica refuses rather than guess, and records nothing.
    redis.stop();
    assert_eq!(post(&replicas[0], "d-new", &body(9999)).await, 503);
    redis.restart();
    let mut status = 0;
    for _ in 0..50 {
        status = post(&replicas[0], "d-new", &body(9999)).await;
        if status != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 202, "taken once Redis is back");
    for h in replicas {
        h.shutdown().await.unwrap();
    }
}

/// Sends one chunk concurrently; each send goes to its replica.
async fn futures_join(chunk: &[(usize, String, Vec<u8>)], replicas: &[ServerHandle]) -> Vec<u16> {
    let mut tasks = Vec::new();
    for (r, id, body) in chunk {
        let addr = replicas[*r].addr;
        let (id, body) = (id.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            healbot::http_client::client()
                .post(format!("http://{addr}/webhooks/github"))
                .header("X-GitHub-Event", "issue_comment")
                .header("X-GitHub-Delivery", id)
                .header("X-Hub-Signature-256", sign(SECRET.as_bytes(), &body))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Replicas append to one hash chain on Redis at the same time: the chain never forks, every
/// replica's mirror file verifies as a single log does, and `healbot audit verify --redis`
/// checks the shared chain and names a forged entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_one_audit_chain_on_redis() {
    use healbot::audit::redis::RedisAuditStore;
    use healbot::audit::{verify_entries, verify_file, AuditStore, NewEntry};
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<Arc<RedisAuditStore>> = (0..3)
        .map(|i| {
            let mirror = dir.path().join(format!("replica-{i}/audit.jsonl"));
            Arc::new(RedisAuditStore::open(&redis.url(), "test", Some(&mirror)).unwrap())
        })
        .collect();
    let mut tasks = Vec::new();
    for (i, store) in stores.iter().enumerate() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..60 {
                store
                    .append(NewEntry {
                        operation_id: format!("op-{i}"),
                        correlation_id: format!("inc-{i}"),
                        actor: format!("replica-{i}"),
                        action: "test.step".into(),
                        detail: serde_json::json!({"n": n, "replica": i}),
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let entries = stores[0].entries().await.unwrap();
    assert_eq!(entries.len(), 180);
    let report = verify_entries(&entries);
    assert!(report.broken.is_none(), "{report:?}");
    assert_eq!(
        entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=180).collect::<Vec<u64>>()
    );
    for (i, store) in stores.iter().enumerate() {
        store.sync_mirror().await.unwrap();
        let mirror = dir.path().join(format!("replica-{i}/audit.jsonl"));
        let report = verify_file(&mirror).unwrap();
        assert!(report.broken.is_none(), "replica {i}: {report:?}");
        assert_eq!(
            report.entries, 180,
            "replica {i}'s mirror has the whole chain"
        );
    }

    let verify = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_healbot"))
            .args([
                "audit",
                "verify",
                "--redis",
                &redis.url(),
                "--chain",
                "test",
            ])
            .output()
            .unwrap()
    };
    let ok = verify();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("180 entries"));
    // Someone writes straight into the stream, bypassing the chain.
    let mut forged = entries[179].clone();
    forged.seq = 181;
    forged.actor = "mallory".into();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: String = redis::cmd("XADD")
        .arg("healbot:audit:test")
        .arg("*")
        .arg("entry")
        .arg(serde_json::to_string(&forged).unwrap())
        .query_async(&mut conn)
        .await
        .unwrap();
    let broken = verify();
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&broken.stdout).contains("181"),
        "{}",
        String::from_utf8_lossy(&broken.stdout)
    );
}

/// `serve` with `audit_on_redis`: a whole operation's history goes to the shared chain, and the
/// state directory's `audit.jsonl` mirrors it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_written_to_the_chain_on_redis() {
    use crate::support::app::App;
    use healbot::operation::OpState;
    let redis = RedisServer::start();
    let mut t = shared_app_with_a_fix_pr(&redis).await;
    t.production.heal();
    t.approve(1, 1).await;
    t.expect_full_rollout();
    assert_eq!(t.states().await, [OpState::Completed]);
    assert_chain_verifies_on_redis(&redis.url());
    let on_redis = t
        .app
        .orchestrator()
        .journal
        .store()
        .entries()
        .await
        .unwrap();
    let mirror = App::state_dir(t.state.path()).join("audit.jsonl");
    let report = healbot::audit::verify_file(&mirror).unwrap();
    assert!(report.broken.is_none(), "{report:?}");
    assert_eq!(report.entries as usize, on_redis.len());
    t.fake.assert_clean();
}

/// Two replicas' journals on one chain: each folds what the other wrote, in chain order, and
/// a chain that no longer follows on from what a journal saw is refused, not folded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journals_follow_each_others_appends() {
    use healbot::audit::redis::RedisAuditStore;
    use healbot::model::OperationId;
    use healbot::operation::{Journal, OpState};
    let redis = RedisServer::start();
    let open = || Arc::new(RedisAuditStore::open(&redis.url(), "main", None).unwrap());
    let a = Journal::replay(open()).await.unwrap();
    let b = Journal::replay(open()).await.unwrap();
    let id = OperationId("op-inc-7".into());
    a.open(&id, "inc-7", "healbot", serde_json::json!({}))
        .await
        .unwrap();
    a.transition(&id, OpState::Analyzing, "healbot", "on a")
        .await
        .unwrap();
    assert!(b.operation(&id).await.is_err(), "b has not synced yet");
    assert_eq!(b.sync().await.unwrap(), 2);
    assert_eq!(b.state(&id).await.unwrap(), OpState::Analyzing);
    b.transition(&id, OpState::Planned, "healbot", "on b")
        .await
        .unwrap();
    // a folds b's entry but not its own two again.
    assert_eq!(a.sync().await.unwrap(), 1);
    assert_eq!(a.state(&id).await.unwrap(), OpState::Planned);
    assert_eq!(a.sync().await.unwrap(), 0);

    // Redis lost its data: the chain starts over, and a journal refuses to fold it.
    lose_all_data(&redis).await;
    let c = Journal::replay(open()).await.unwrap();
    for n in 0..4 {
        let id = OperationId(format!("op-inc-{}", 10 + n));
        c.open(&id, "inc", "healbot", serde_json::json!({}))
            .await
            .unwrap();
    }
    let err = a.sync().await.unwrap_err().to_string();
    assert!(err.contains("does not chain"), "{err}");
}

/// `healbot audit verify --redis URL` passes on the shared chain.
pub(crate) fn assert_chain_verifies_on_redis(url: &str) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(["audit", "verify", "--redis", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A replica's mirror is only rewritten from a chain that holds what it mirrored before: when
/// Redis lost its data, the mirror (then the only copy) is left as it was and the start fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_is_kept_when_redis_lost_the_chain() {
    use healbot::audit::redis::RedisAuditStore;
    use healbot::audit::{AuditStore, NewEntry};
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("audit.jsonl");
    let open = || RedisAuditStore::open(&redis.url(), "main", Some(&mirror)).unwrap();
    let store = open();
    store.sync_mirror().await.unwrap();
    for i in 0..3 {
        store
            .append(NewEntry {
                operation_id: "op-1".into(),
                correlation_id: "inc-1".into(),
                actor: "healbot".into(),
                action: "note".into(),
                detail: serde_json::json!({ "i": i }),
            })
            .await
            .unwrap();
    }
    drop(store);
    let written = std::fs::read_to_string(&mirror).unwrap();
    assert_eq!(written.lines().count(), 3);

    // A restart on the same chain rewrites the same mirror.
    open().sync_mirror().await.unwrap();
    assert_eq!(std::fs::read_to_string(&mirror).unwrap(), written);

    lose_all_data(&redis).await;
    let err = open().sync_mirror().await.unwrap_err().to_string();
    assert!(err.contains("does not hold entry 3"), "{err}");
    assert_eq!(std::fs::read_to_string(&mirror).unwrap(), written);
}

/// `healbot ops` on a shared chain (GitHub down, say): it reaches the chain on Redis from
/// `healbot.yaml`, acts under the operation's lease, and leaves the replica's mirror alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_acts_on_the_shared_chain() {
    use crate::support::app::{App, CATALOG, REPO};
    use crate::support::github::{test_key_path, APP_ID};
    use healbot::operation::OpState;
    let redis = RedisServer::start();
    let t = shared_app_with_a_fix_pr(&redis).await;
    let id = t.operations().await[0].id.clone();
    let mirror = App::state_dir(t.state.path()).join("audit.jsonl");
    let mirrored = std::fs::read_to_string(&mirror).unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), SECRET).unwrap();
    let config = dir.path().join("healbot.yaml");
    std::fs::write(
        &config,
        format!(
            "state_dir: state
webhook_secret_files: [secret]
github: {{app_id: {APP_ID}, private_key_file: {key}, api_url: {api}}}
prometheus: {{url: http://127.0.0.1:9}}
redis_url: {redis}
audit_on_redis: true
repositories: [{REPO}]
catalog: {CATALOG}
",
            key = test_key_path().display(),
            api = t.fake.url(),
            redis = redis.url(),
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(["ops", "pause", &id.0, "--config"])
        .arg(&config)
        .args(["--as", "alice"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("PausedForHumanReview"), "{stdout}");
    t.fake.expect_comments(&["alice paused"]);

    // The replica sees the pause once it folds the chain; its mirror only grew.
    t.app.orchestrator().journal.sync().await.unwrap();
    assert_eq!(t.states().await, [OpState::PausedForHumanReview]);
    let now = std::fs::read_to_string(&mirror).unwrap();
    assert!(now.starts_with(&mirrored));
    assert!(!dir.path().join("state").join("audit.jsonl").exists());
    assert_chain_verifies_on_redis(&redis.url());
    t.fake.assert_clean();
}

/// The app with its chain and work on `redis`, after an alert: its fix PR waits for review.
async fn shared_app_with_a_fix_pr(redis: &RedisServer) -> crate::support::app::App {
    use crate::support::app::{App, AppOptions};
    let mut t = App::start_with(AppOptions {
        redis_url: Some(redis.url()),
        audit_on_redis: true,
        ..AppOptions::default()
    })
    .await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    t
}

/// Redis loses everything it held (a restart without persistence).
async fn lose_all_data(redis: &RedisServer) {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("FLUSHALL")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
}

/// A claim belongs to the process that made it: two replicas given one name (no `HOSTNAME`
/// in their containers, say) never both hold a delivery, and the holder knows it holds it.
/// The same in each form a claim takes (this Redis's own, one `SET NX GET`, and the pair an
/// older Redis gets), and with replicas of either form side by side (an upgrade under way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_with_one_name_never_both_hold_a_claim() {
    let redis = RedisServer::start();
    let claims = |form: Option<ClaimForm>| {
        let claims = DeliveryClaims::connect(&redis.url(), "healbot").unwrap();
        match form {
            Some(form) => claims.with_form(form),
            None => claims,
        }
    };
    let (nx_get, pair) = (Some(ClaimForm::SetNxGet), Some(ClaimForm::SetThenGet));
    for (n, (first, second)) in [
        (None, None),
        (nx_get, nx_get),
        (pair, pair),
        (nx_get, pair),
        (pair, nx_get),
    ]
    .into_iter()
    .enumerate()
    {
        let (first, second) = (claims(first), claims(second));
        let id = format!("same-name-{n}");
        assert!(first.claim_all(&[&id]).unwrap()[0]);
        assert!(!second.claim_all(&[&id]).unwrap()[0]);
        assert!(
            first.claim_all(&[&id]).unwrap()[0],
            "the holder still holds it"
        );
        // Given back by its holder only.
        second.release(&id).await.unwrap();
        assert!(!second.claim_all(&[&id]).unwrap()[0]);
        first.release(&id).await.unwrap();
        assert!(second.claim_all(&[&id]).unwrap()[0]);
        assert!(!first.claim_all(&[&id]).unwrap()[0]);
    }
    // A batch's claims, in order, in one pipeline: an id twice in it is held twice (the
    // log then records it once), whatever the form.
    for form in [nx_get, pair] {
        let (first, second) = (claims(form), claims(form));
        let id = |n: &str| format!("batch-{form:?}-{n}");
        let (b1, b2, b3) = (id("1"), id("2"), id("3"));
        assert_eq!(first.claim_all(&[&b1, &b2]).unwrap(), [true, true]);
        assert_eq!(
            second.claim_all(&[&b2, &b3, &b3, &b1]).unwrap(),
            [false, true, true, false]
        );
    }
}

/// Redis restarted between two batches: the next batch's claims go through on a new
/// connection rather than being refused (GitHub does not retry a delivery by itself). A Redis
/// that is down refuses the claims, naming it, and for a second claims fail at once instead
/// of waiting on it again.
#[tokio::test]
async fn claims_carry_on_after_redis_restarts_and_fail_fast_while_it_is_down() {
    let mut redis = RedisServer::start();
    let claims = DeliveryClaims::connect(&redis.url(), "healbot").unwrap();
    assert_eq!(claims.claim_all(&["before"]).unwrap(), [true]);
    redis.restart();
    assert_eq!(
        claims.claim_all(&["after", "before"]).unwrap(),
        [true, true]
    );
    redis.stop();
    let refused = claims.claim_all(&["down"]).unwrap_err().to_string();
    assert!(refused.contains("redis at redis://127.0.0.1:"), "{refused}");
    redis.restart();
    let again = claims.claim_all(&["down"]).unwrap_err().to_string();
    assert_eq!(again, refused, "the same failure, without another try");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(claims.claim_all(&["down"]).unwrap(), [true]);
}
