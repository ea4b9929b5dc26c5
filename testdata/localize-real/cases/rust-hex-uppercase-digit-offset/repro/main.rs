fn main() {
    match hex::decode("DEADBEEF") {
        Ok(bytes) => println!("decoded {:?}", bytes),
        Err(e) => println!("error: {e}"),
    }
}
