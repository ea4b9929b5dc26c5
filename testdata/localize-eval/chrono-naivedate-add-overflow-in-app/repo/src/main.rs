mod config;
mod retention;
mod store;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let config = config::load().context("loading config")?;
    let store = store::Store::open(&config.path)?;
    let pruner = retention::Pruner::new(&store, &config.retention);
    let removed = pruner.prune()?;
    println!("removed {removed} snapshots");
    Ok(())
}
