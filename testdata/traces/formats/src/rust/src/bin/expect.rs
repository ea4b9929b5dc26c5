use std::collections::HashMap;
fn load() -> HashMap<String, String> {
    HashMap::new()
}
fn port(cfg: &HashMap<String, String>) -> u16 {
    cfg.get("port").expect("config has a port").parse().unwrap()
}
fn main() {
    let cfg = load();
    println!("{}", port(&cfg));
}
