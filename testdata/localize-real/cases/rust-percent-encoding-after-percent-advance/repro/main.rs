// Decodes query-string values from request URLs, as a web framework's extractor would.
use percent_encoding::percent_decode_str;

fn main() {
    for raw in ["plain", "caf%C3%A9", "%41BC", "100%", "a%2Fb%2"] {
        println!("{raw:?} -> {:?}", percent_decode_str(raw).decode_utf8_lossy());
    }
}
