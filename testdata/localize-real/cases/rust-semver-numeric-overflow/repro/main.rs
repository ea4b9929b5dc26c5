// Parses a version whose patch number does not fit in u64: must be an error, not a panic.
fn main() {
    match semver::Version::parse("1.2.99999999999999999999") {
        Ok(v) => println!("parsed {v}"),
        Err(e) => println!("error: {e}"),
    }
}
