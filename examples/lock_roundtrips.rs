//! Lock acquire+release round trips per second against a Redis (`scripts/bench/locks.sh`
//! starts one and runs this next to `redis-benchmark -t set` on the same server).
//! Usage: `lock_roundtrips REDIS_URL [ROUNDS] [CONCURRENCY]`.

use healbot::lock::{LockManager, LockResource, RedisLockConfig, RedisLockManager};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".into());
    let rounds: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    let concurrency: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(16);
    let config = RedisLockConfig::new(&url).with_prefix("bench:lock:");
    let locks = Arc::new(RedisLockManager::connect(config).await?);
    let ttl = Duration::from_secs(30);

    // One client, one resource: each round is one acquire script and one release script. The
    // client is a task on the runtime, as every lock user in `healbot serve` is.
    let one = Arc::clone(&locks);
    let sequential = tokio::spawn(async move {
        let start = Instant::now();
        let r = LockResource::service("bench");
        for _ in 0..rounds {
            let g = one.try_acquire(&r, "bench", ttl).await?;
            one.release(&g).await?;
        }
        Ok::<_, healbot::lock::LockError>(rounds as f64 / start.elapsed().as_secs_f64())
    })
    .await??;

    // `concurrency` tasks on their own resources over the one multiplexed connection.
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let locks = Arc::clone(&locks);
        tasks.push(tokio::spawn(async move {
            let r = LockResource::service(&format!("bench-{t}"));
            for _ in 0..rounds / concurrency {
                let g = locks.try_acquire(&r, "bench", ttl).await?;
                locks.release(&g).await?;
            }
            Ok::<_, healbot::lock::LockError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let per_task = rounds / concurrency;
    let parallel = (per_task * concurrency) as f64 / start.elapsed().as_secs_f64();

    println!("lock acquire+release round trips/s, 1 client: {sequential:.0}");
    println!("lock acquire+release round trips/s, {concurrency} concurrent: {parallel:.0}");
    Ok(())
}
