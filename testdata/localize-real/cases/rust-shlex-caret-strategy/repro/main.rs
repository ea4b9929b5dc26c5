// Quotes arguments for a remote shell command line, as a deploy tool would.
fn main() {
    for arg in ["simple", "two words", "it's", "$HOME", "^caret", "^"] {
        match shlex::try_quote(arg) {
            Ok(q) => println!("{arg:?} -> {q}"),
            Err(e) => println!("{arg:?} -> error: {e}"),
        }
    }
}
