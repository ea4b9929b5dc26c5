fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "Zoë Ångström".to_string());
    println!("{}", rustdemo::text::cut(&name, 3));
}
