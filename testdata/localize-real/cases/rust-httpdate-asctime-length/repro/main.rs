// Parses If-Modified-Since / Expires header values from clients and caches, as an HTTP cache
// would; a malformed date must be an error.
fn main() {
    for h in [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "Sun Nov  6 08:49:37 94",
        "Sun, 06 Nov 1894 08:49:37 GMT",
    ] {
        match httpdate::parse_http_date(h) {
            Ok(t) => println!("{h:?} -> {}", httpdate::fmt_http_date(t)),
            Err(e) => println!("{h:?} -> error: {e}"),
        }
    }
}
