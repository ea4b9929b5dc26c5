use base64::Engine;
fn main() {
    let s = base64::engine::general_purpose::STANDARD.encode(b"abc");
    println!("encoded {s}");
}
