use anyhow::{Context, Result};
fn read_config(path: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read config {path}"))
}
fn main() -> Result<()> {
    let cfg = read_config("/nonexistent/app.toml")?;
    println!("{cfg}");
    Ok(())
}
