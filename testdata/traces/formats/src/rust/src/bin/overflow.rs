fn main() {
    let used: usize = std::env::args().count() + 40;
    println!("{}", rustdemo::text::pad(10, used));
}
