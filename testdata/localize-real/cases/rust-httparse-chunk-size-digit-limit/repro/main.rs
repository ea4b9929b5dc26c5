// Parses upstream responses and chunked-body size lines, as a reverse proxy would; malformed
// input must come back as an error.
fn main() {
    let responses: [&[u8]; 3] = [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", b"HTTP/1.1 2xx OK\r\n\r\n", b"HTTP/1.1  04 Odd\r\n\r\n"];
    for raw in responses {
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut resp = httparse::Response::new(&mut headers);
        println!("{:?} -> {:?} {:?}", String::from_utf8_lossy(raw).lines().next(), resp.parse(raw), resp.code);
    }
    for line in [&b"1a\r\n"[..], b"0\r\n", b"fffffffffffffffff\r\n", b"zz\r\n"] {
        println!("{:?} -> {:?}", String::from_utf8_lossy(line).trim(), httparse::parse_chunk_size(line));
    }
}
