//! Locks: one behaviour suite run against both backends (memory, and a real redis-server this
//! file starts on a free loopback port), Redis lost mid-hold, and the `healbot locks` runbook
//! through the real binary.

use healbot::config::PolicySet;
use healbot::lock::{
    check_order, retry_backend, LockError, LockManager, LockResource, MemoryLockManager,
    RedisLockConfig, RedisLockManager,
};
use healbot::model::LockScope;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A redis-server of the test's own, killed on drop. Never skipped: a missing binary fails.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let mut server = RedisServer {
            child: None,
            port,
            dir: tempfile::tempdir().unwrap(),
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts (again) on the same port; the data is gone (no persistence).
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): run scripts/test to install it")
            });
        self.child = Some(child);
        let start = Instant::now();
        while !self.answers_ping() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server on port {} did not answer PING",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn redis_manager(server: &RedisServer) -> RedisLockManager {
    RedisLockManager::connect(RedisLockConfig::new(&server.url()))
        .await
        .unwrap()
}

fn svc(name: &str) -> LockResource {
    LockResource::service(name)
}

const LONG: Duration = Duration::from_secs(30);

// ---- the shared behaviours: each takes any backend ----

async fn exclusive_hold(m: &dyn LockManager) {
    let r = svc("payment");
    let g = m.try_acquire(&r, "op-1", LONG).await.unwrap();
    assert_eq!(g.owner, "op-1");
    match m.try_acquire(&r, "op-2", LONG).await {
        Err(LockError::Held { holder, .. }) => assert_eq!(holder, "op-1"),
        other => panic!("second holder got {other:?}"),
    }
    // Another resource is independent.
    m.try_acquire(&svc("orders"), "op-2", LONG).await.unwrap();
    m.validate(&g).await.unwrap();
}

async fn fencing_grows(m: &dyn LockManager) {
    let r = svc("payment");
    let mut last = 0;
    for i in 0..5 {
        let g = m.try_acquire(&r, &format!("op-{i}"), LONG).await.unwrap();
        assert!(g.fencing > last, "fence {} after {last}", g.fencing);
        last = g.fencing;
        m.release(&g).await.unwrap();
    }
}

async fn stale_token_refused(m: &dyn LockManager) {
    let r = svc("payment");
    let old = m
        .try_acquire(&r, "op-1", Duration::from_millis(80))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let new = m.try_acquire(&r, "op-2", LONG).await.unwrap();
    assert!(new.fencing > old.fencing);
    match m.validate(&old).await {
        Err(LockError::StaleFence {
            presented, current, ..
        }) => assert_eq!((presented, current), (old.fencing, new.fencing)),
        other => panic!("stale holder validated: {other:?}"),
    }
    assert_eq!(m.release(&old).await, Err(LockError::Lost(r.clone())));
    assert!(m.extend(&old, LONG).await.is_err());
    m.validate(&new).await.unwrap();
}

async fn ttl_expiry(m: &dyn LockManager) {
    let r = svc("payment");
    let g = m
        .try_acquire(&r, "op-1", Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(m.list().await.unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(m.list().await.unwrap().is_empty());
    assert_eq!(m.validate(&g).await, Err(LockError::Lost(r.clone())));
    m.try_acquire(&r, "op-2", LONG).await.unwrap();
}

async fn extend(m: &dyn LockManager) {
    let r = svc("payment");
    let g = m
        .try_acquire(&r, "op-1", Duration::from_millis(400))
        .await
        .unwrap();
    let g2 = m.extend(&g, Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        (g2.token.as_str(), g2.fencing),
        (g.token.as_str(), g.fencing)
    );
    assert!(g2.ttl_ms >= 10_000);
    tokio::time::sleep(Duration::from_millis(500)).await;
    m.validate(&g2).await.unwrap();
    let info = m.list().await.unwrap();
    assert!(info[0].ttl_left_ms > 8_000, "{info:?}");
}

async fn release_by_non_owner_refused(m: &dyn LockManager) {
    let r = svc("payment");
    let g = m.try_acquire(&r, "op-1", LONG).await.unwrap();
    let mut forged = g.clone();
    forged.owner = "op-2".into();
    forged.token = format!("{}-forged", g.token);
    assert_eq!(m.release(&forged).await, Err(LockError::Lost(r.clone())));
    assert!(m.validate(&forged).await.is_err());
    m.validate(&g).await.unwrap();
    m.release(&g).await.unwrap();
    assert!(m.list().await.unwrap().is_empty());
}

async fn force_release(m: &dyn LockManager) {
    let r = svc("payment");
    let g = m.try_acquire(&r, "op-1", LONG).await.unwrap();
    assert!(m.force_release(&r).await.unwrap());
    assert!(!m.force_release(&r).await.unwrap());
    assert!(m.validate(&g).await.is_err());
    let g2 = m.try_acquire(&r, "op-2", LONG).await.unwrap();
    assert!(g2.fencing > g.fencing);
}

async fn force_release_older_than(m: &dyn LockManager) {
    let old = svc("old");
    m.try_acquire(&old, "op-1", LONG).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let young = LockResource {
        scope: LockScope::Incident,
        name: "inc-9".into(),
    };
    m.try_acquire(&young, "op-2", LONG).await.unwrap();
    let released = m
        .force_release_older_than(Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(released, [old]);
    let left = m.list().await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        (left[0].resource.clone(), left[0].owner.as_str()),
        (young, "op-2")
    );
    assert!(
        left[0].age_ms < 300 && left[0].ttl_left_ms > 20_000,
        "{left:?}"
    );
}

async fn wait_with_timeout(m: &dyn LockManager) {
    let r = svc("payment");
    m.try_acquire(&r, "op-1", LONG).await.unwrap();
    let start = Instant::now();
    match m
        .acquire(&r, "op-2", LONG, Duration::from_millis(150))
        .await
    {
        Err(LockError::Timeout {
            holder, waited_ms, ..
        }) => {
            assert_eq!(holder, "op-1");
            assert!(waited_ms >= 150);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(2));
    // A lock that expires during the wait is taken.
    let r2 = svc("orders");
    m.try_acquire(&r2, "op-1", Duration::from_millis(100))
        .await
        .unwrap();
    let g = m
        .acquire(&r2, "op-2", LONG, Duration::from_secs(3))
        .await
        .unwrap();
    assert_eq!(g.owner, "op-2");
}

async fn lock_order(m: &dyn LockManager) {
    let mut held = Vec::new();
    for r in [
        LockResource {
            scope: LockScope::System,
            name: "deploys".into(),
        },
        svc("payment"),
        LockResource {
            scope: LockScope::Deployment,
            name: "payment".into(),
        },
    ] {
        check_order(&held, r.scope).unwrap();
        m.try_acquire(&r, "op-1", LONG).await.unwrap();
        held.push(r.scope);
    }
    assert_eq!(
        check_order(&held, LockScope::Incident),
        Err(LockError::Order {
            wanted: LockScope::Incident,
            held: LockScope::Deployment
        })
    );
    assert_eq!(m.list().await.unwrap().len(), 3);
}

/// One memory test and one Redis test (own server) per behaviour.
macro_rules! both_backends {
    ($($behaviour:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    super::$behaviour(&healbot::lock::MemoryLockManager::new()).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    let server = super::RedisServer::start();
                    super::$behaviour(&super::redis_manager(&server).await).await;
                }
            )*
        }
    };
}

both_backends!(
    exclusive_hold,
    fencing_grows,
    stale_token_refused,
    ttl_expiry,
    extend,
    release_by_non_owner_refused,
    force_release,
    force_release_older_than,
    wait_with_timeout,
    lock_order,
);

#[tokio::test]
async fn memory_and_redis_list_the_same_shape() {
    let server = RedisServer::start();
    let redis = redis_manager(&server).await;
    let memory = MemoryLockManager::new();
    for m in [&redis as &dyn LockManager, &memory] {
        m.try_acquire(&svc("payment"), "op-1", LONG).await.unwrap();
        let list = m.list().await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(
            (list[0].resource.key(), list[0].owner.as_str()),
            ("service:payment".into(), "op-1")
        );
        assert!(list[0].fencing >= 1 && list[0].age_ms < 5_000);
        assert!(list[0].ttl_left_ms > 25_000 && list[0].ttl_left_ms <= 30_000);
    }
}

#[tokio::test]
async fn redis_lost_mid_hold_fails_closed_then_recovers() {
    let mut server = RedisServer::start();
    let m = redis_manager(&server).await;
    let r = svc("payment");
    let g = m.try_acquire(&r, "op-1", LONG).await.unwrap();
    server.stop();
    for result in [m.validate(&g).await, m.release(&g).await] {
        match result {
            Err(LockError::Backend(reason)) => assert!(reason.contains("redis at"), "{reason}"),
            other => panic!("lost Redis must fail closed, got {other:?}"),
        }
    }
    assert!(matches!(
        m.try_acquire(&r, "op-2", LONG).await,
        Err(LockError::Backend(_))
    ));
    assert!(matches!(m.list().await, Err(LockError::Backend(_))));

    // Retries with the policy's backoff exhaust, still closed.
    let mut policy = PolicySet::embedded().locks;
    policy.retry.attempts = 3;
    policy.retry.initial_backoff_ms = 10;
    policy.retry.max_backoff_ms = 20;
    let mut calls = 0;
    let result = retry_backend(&policy, || {
        calls += 1;
        m.try_acquire(&r, "op-2", LONG)
    })
    .await;
    assert!(matches!(result, Err(LockError::Backend(_))));
    assert_eq!(calls, 3);

    // Redis comes back empty: the old grant is gone and stays refused, a new one is fenced
    // above it, and the retry helper gets through once the connection is re-made.
    server.restart();
    policy.retry.attempts = 10;
    policy.retry.initial_backoff_ms = 50;
    policy.retry.max_backoff_ms = 500;
    let g2 = retry_backend(&policy, || m.try_acquire(&r, "op-2", LONG))
        .await
        .unwrap();
    assert!(g2.fencing > g.fencing, "{} <= {}", g2.fencing, g.fencing);
    assert!(matches!(
        m.validate(&g).await,
        Err(LockError::StaleFence { .. })
    ));
    m.validate(&g2).await.unwrap();
}

#[tokio::test]
async fn unreachable_redis_is_a_backend_error_at_connect() {
    let port = {
        let server = RedisServer::start();
        server.port
    };
    let url = format!("redis://127.0.0.1:{port}/0");
    match RedisLockManager::connect(RedisLockConfig::new(&url)).await {
        Err(LockError::Backend(reason)) => assert!(reason.contains(&port.to_string()), "{reason}"),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("connected to a stopped redis"),
    }
}

#[tokio::test]
async fn prefixes_keep_lock_sets_apart() {
    let server = RedisServer::start();
    let a = redis_manager(&server).await;
    let b = RedisLockManager::connect(RedisLockConfig::new(&server.url()).with_prefix("other:"))
        .await
        .unwrap();
    a.try_acquire(&svc("payment"), "op-1", LONG).await.unwrap();
    b.try_acquire(&svc("payment"), "op-2", LONG).await.unwrap();
    assert_eq!(a.list().await.unwrap()[0].owner, "op-1");
    assert_eq!(b.list().await.unwrap()[0].owner, "op-2");
}

// ---- the runbook CLI, through the real binary ----

fn healbot(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(args)
        .env_remove("HEALBOT_REDIS_URL")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn cli_lists_releases_and_force_releases() {
    let server = RedisServer::start();
    let url = server.url();
    let m = redis_manager(&server).await;
    m.try_acquire(&svc("payment"), "op-1", LONG).await.unwrap();
    let inc = LockResource::parse("incident:inc-7").unwrap();
    m.try_acquire(&inc, "op-2", LONG).await.unwrap();

    let (ok, out, err) = healbot(&["locks", "list", "--redis", &url]);
    assert!(ok, "{err}");
    assert!(
        out.contains("service:payment") && out.contains("op-1"),
        "{out}"
    );
    assert!(
        out.contains("incident:inc-7") && out.contains("op-2"),
        "{out}"
    );
    let (ok, out, _) = healbot(&["locks", "list", "--format", "json", "--redis", &url]);
    assert!(ok);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    // Sorted by lock order, then name.
    assert_eq!(json[0]["owner"], "op-1");
    assert_eq!(json[1]["resource"]["scope"], "INCIDENT");

    let (ok, out, err) = healbot(&["locks", "release", "service:payment", "--redis", &url]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "released service:payment");
    let (ok, out, _) = healbot(&["locks", "release", "service:payment", "--redis", &url]);
    assert!(ok);
    assert!(out.contains("was not held"), "{out}");

    // Through the environment variable this time.
    let out = Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(["locks", "force-release", "--older-than", "0"])
        .env("HEALBOT_REDIS_URL", &url)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("released incident:inc-7"), "{text}");
    assert!(m.list().await.unwrap().is_empty());
}

#[test]
fn cli_fails_in_one_line_on_unreachable_redis_and_bad_input() {
    let port = RedisServer::start().port;
    let url = format!("redis://127.0.0.1:{port}/0");
    for args in [
        vec!["locks", "list", "--redis", url.as_str()],
        vec![
            "locks",
            "force-release",
            "--older-than",
            "60",
            "--redis",
            url.as_str(),
        ],
    ] {
        let (ok, _, err) = healbot(&args);
        assert!(!ok);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.contains("lock backend unavailable") && err.contains(&port.to_string()),
            "{err}"
        );
    }
    let (ok, _, err) = healbot(&["locks", "list"]);
    assert!(!ok);
    assert!(err.contains("HEALBOT_REDIS_URL"), "{err}");
    let (ok, _, err) = healbot(&["locks", "release", "payment", "--redis", &url]);
    assert!(!ok);
    assert!(err.contains("SCOPE:NAME"), "{err}");
}
