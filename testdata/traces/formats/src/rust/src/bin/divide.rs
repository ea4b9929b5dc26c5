fn main() {
    let v: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    println!("{}", rustdemo::stats::mean(&v));
}
