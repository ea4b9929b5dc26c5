// A user pastes an odd-length hex string: decode must return an error.
fn main() {
    match hex::decode("48656c6c6f2") {
        Ok(bytes) => println!("decoded {} bytes", bytes.len()),
        Err(e) => println!("error: {e}"),
    }
}
