// Ranks 'did you mean' suggestions for a mistyped command, as a CLI would.
fn main() {
    let commands = ["build", "bench", "b", "test"];
    for typed in ["buidl", "tset", "c"] {
        let mut scored: Vec<(f64, &str)> = commands.iter().map(|c| (strsim::jaro_winkler(typed, c), *c)).collect();
        scored.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
        println!("{typed}: {:?}", scored);
    }
}
