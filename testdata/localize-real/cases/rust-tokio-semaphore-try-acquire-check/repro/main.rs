// A bounded fan-out of job events and a permit pool for concurrent uploads, driven without a
// runtime (try_* calls), as a worker's bookkeeping would.
use tokio::sync::{broadcast, Semaphore};

fn main() {
    let (tx, mut rx) = broadcast::channel::<u32>(4);
    let mut late = tx.subscribe();
    for job in 0..6 {
        let _ = tx.send(job);
        println!("sent {job}, receivers {}", tx.receiver_count());
    }
    while let Ok(v) = rx.try_recv() {
        println!("rx got {v}");
    }
    println!("late: {:?}", late.try_recv());

    let pool = Semaphore::new(2);
    let first = pool.try_acquire();
    println!("first permit: {}", first.is_ok());
    match pool.try_acquire_many(3) {
        Ok(_) => println!("got 3 permits"),
        Err(e) => println!("no permits: {e}"),
    }
    println!("available: {}", pool.available_permits());
}
