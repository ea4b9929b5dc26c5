//! Audit chain benchmarks (issues 8 and 18): how many durable appends per second the file store
//! takes from 64 (and 512) concurrent appenders thanks to group commit, next to the anchor that
//! bounds them — one append and its fdatasync on the same disk, in the same run — and how fast
//! `audit verify` checks a log compared with `sha256sum` reading the same file (the floor for
//! any hash-chain check).
//!
//! `HEALBOT_BENCH_AUDIT_ENTRIES` sets the verify log's size (default 100,000; issue 8 quotes
//! 1,000,000). `cargo bench --bench audit -- --test` runs each case once.
//! With `HEALBOT_BENCH_REDIS_URL` (scripts/bench/audit-redis starts a redis-server for it), the
//! chain shared by replicas on Redis is measured too: one writer, and three contending.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use healbot::audit::{verify_file, AuditEntry, AuditStore, FileAuditStore, NewEntry, GENESIS_HASH};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const APPENDERS: usize = 64;

/// More appenders than the 64: with a durable append bounded below by one fsync,
/// throughput is appenders / fsync latency (Little's law), so this shows what group commit
/// does when the disk, not the writer, is the limit.
const MANY_APPENDERS: usize = 512;

fn note(i: usize) -> NewEntry {
    NewEntry {
        operation_id: format!("op-{}", i % 16),
        correlation_id: format!("corr-{i}"),
        actor: "healbot".into(),
        action: "operation.transition".into(),
        detail: serde_json::json!({"from": "Planned", "to": "AwaitingGates", "reason": "plan ready", "i": i}),
    }
}

/// Two workers, like the machine the figures come from.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn appends(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = runtime();
    let mut group = c.benchmark_group("audit_append");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    // The anchor, same disk, same run: one 200-byte append and its fdatasync, as the store's
    // writer does once per batch. 64 appenders can do at most 64 appends per this much.
    group.throughput(Throughput::Elements(1));
    let mut probe = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("fsync-probe"))
        .expect("probe file");
    group.bench_function("fdatasync_anchor", |b| {
        b.iter(|| {
            probe.write_all(&[b'x'; 200]).expect("write");
            probe.sync_data().expect("fdatasync");
        })
    });
    for appenders in [APPENDERS, MANY_APPENDERS] {
        let path = dir.path().join(format!("bench-{appenders}.jsonl"));
        let store = Arc::new(FileAuditStore::open(&path).expect("open log"));
        group.throughput(Throughput::Elements(appenders as u64));
        group.bench_function(BenchmarkId::new("fsync_group_commit", appenders), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let mut tasks = tokio::task::JoinSet::new();
                    for i in 0..appenders {
                        let store = Arc::clone(&store);
                        tasks.spawn(async move { store.append(note(i)).await });
                    }
                    while let Some(done) = tasks.join_next().await {
                        done.expect("append task").expect("append");
                    }
                })
            })
        });
        let appended = runtime
            .block_on(store.head())
            .expect("head")
            .map_or(0, |(seq, _)| seq);
        if appended > 0 {
            eprintln!(
                "audit_append/{appenders}: {appended} appends took {} fsyncs ({:.1} entries per fsync)",
                store.sync_count(),
                appended as f64 / store.sync_count().max(1) as f64
            );
        }
    }
    group.finish();
}

/// Writes a valid chain straight to disk (no fsync per entry): a fixture, not the store.
fn write_chain(path: &Path, entries: usize) {
    let file = std::fs::File::create(path).expect("create log");
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut prev = GENESIS_HASH.to_string();
    for i in 0..entries {
        let entry = AuditEntry::chain(
            note(i),
            i as u64 + 1,
            &prev,
            format!(
                "2025-06-01T12:{:02}:{:02}.{:06}Z",
                i / 60 % 60,
                i % 60,
                i % 1_000_000
            ),
        );
        serde_json::to_writer(&mut out, &entry).expect("write entry");
        out.write_all(b"\n").expect("write entry");
        prev = entry.hash;
    }
    out.flush().expect("flush log");
}

fn verify(c: &mut Criterion) {
    let entries: usize = std::env::var("HEALBOT_BENCH_AUDIT_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("verify.jsonl");
    let started = Instant::now();
    write_chain(&path, entries);
    let bytes = std::fs::metadata(&path).expect("log size").len();
    eprintln!(
        "audit_verify: fixture of {entries} entries, {:.1} MB, written in {:.2?}",
        bytes as f64 / 1e6,
        started.elapsed()
    );

    let mut group = c.benchmark_group("audit_verify");
    group.throughput(Throughput::Elements(entries as u64));
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("healbot_verify", entries), |b| {
        b.iter(|| {
            let report = verify_file(&path).expect("read log");
            assert!(report.holds() && report.entries == entries as u64);
        })
    });
    // The same file through coreutils' sha256sum, when it is installed: the cost of reading
    // and hashing every byte once, with no parsing.
    if std::process::Command::new("sha256sum")
        .arg("--version")
        .output()
        .is_ok()
    {
        group.bench_function(BenchmarkId::new("sha256sum", entries), |b| {
            b.iter(|| {
                let status = std::process::Command::new("sha256sum")
                    .arg(&path)
                    .stdout(std::process::Stdio::null())
                    .status()
                    .expect("run sha256sum");
                assert!(status.success());
            })
        });
    }
    group.finish();
}

/// Appends to the chain on Redis (compare-and-append under the head, then the mirror's fsync):
/// one replica alone, and three replicas appending at once, each retrying when another won.
fn redis_appends(c: &mut Criterion) {
    let Ok(url) = std::env::var("HEALBOT_BENCH_REDIS_URL") else {
        return;
    };
    use healbot::audit::redis::RedisAuditStore;
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = runtime();
    // The connections start their driver tasks on this runtime.
    let _runtime = runtime.enter();
    let replicas: Vec<Arc<RedisAuditStore>> = (0..3)
        .map(|r| {
            let mirror = dir.path().join(format!("mirror-{r}.jsonl"));
            Arc::new(RedisAuditStore::open(&url, "bench", Some(&mirror)).expect("open chain"))
        })
        .collect();
    let mut group = c.benchmark_group("audit_append_redis");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_replica", |b| {
        let store = &replicas[0];
        b.iter(|| runtime.block_on(store.append(note(0))).expect("append"))
    });
    group.throughput(Throughput::Elements(3));
    group.bench_function("three_replicas_contending", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut tasks = tokio::task::JoinSet::new();
                for (i, store) in replicas.iter().enumerate() {
                    let store = Arc::clone(store);
                    tasks.spawn(async move { store.append(note(i)).await });
                }
                while let Some(done) = tasks.join_next().await {
                    done.expect("append task").expect("append");
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, appends, verify, redis_appends);
criterion_main!(benches);
