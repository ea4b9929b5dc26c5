// A 16-byte key given as a short hex string: the error must say so.
fn main() {
    let mut key = [0u8; 16];
    match hex::decode_to_slice("00112233", &mut key) {
        Ok(()) => println!("key {:?}", key),
        Err(e) => println!("error: {e}"),
    }
}
