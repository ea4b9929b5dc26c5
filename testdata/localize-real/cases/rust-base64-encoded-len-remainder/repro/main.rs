use base64::Engine;
fn main() {
    let s = base64::engine::general_purpose::STANDARD_NO_PAD.encode(b"hello world!!");
    println!("encoded {s}");
}
