// Suggests the closest known package names for a typo, as a package manager's 'did you mean'
// would.
fn main() {
    let known = ["serde", "serde_json", "tokio", "regex", "rand"];
    for typo in ["sedre", "tokoi", "rgx", "serde-jsonn"] {
        let mut best: Vec<(usize, f64, &str)> = known
            .iter()
            .map(|k| (strsim::damerau_levenshtein(typo, k), strsim::jaro(typo, k), *k))
            .collect();
        best.sort_by(|a, b| a.0.cmp(&b.0));
        println!("{typo}: {:?}", &best[..2]);
    }
}
