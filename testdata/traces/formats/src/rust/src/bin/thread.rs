fn main() {
    let h = std::thread::spawn(|| {
        let v: Vec<u64> = Vec::new();
        rustdemo::stats::first(&v)
    });
    let _ = h.join();
}
