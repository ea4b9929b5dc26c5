use base64::Engine;
// Unpadded base64 from a URL-safe token: the last quad is partial.
fn main() {
    match base64::engine::general_purpose::STANDARD_NO_PAD.decode("aGVsbG8gd29ybGQ") {
        Ok(bytes) => println!("decoded {:?}", String::from_utf8_lossy(&bytes)),
        Err(e) => println!("error: {e}"),
    }
}
