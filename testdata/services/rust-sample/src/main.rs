//! A tiny request/response service: each line of stdin is a request
//! (`/path?key=value&...`), each answer goes to stdout.

mod handlers;

use std::io::BufRead;

fn main() {
    let stdin = std::io::stdin();
    for line in stdin.lock().lines().map_while(Result::ok) {
        let req = handlers::Request::parse(&line);
        match handlers::handle(&req) {
            Ok(body) => println!("200 {body}"),
            Err(e) => println!("400 {e}"),
        }
    }
}
