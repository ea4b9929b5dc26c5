// Parses timestamps from mail headers and API payloads, as a log importer would.
use chrono::{DateTime, NaiveDateTime};

const RFC2822: &[&str] = &[
    "Tue, 1 Jul 2003 10:52:37 +0200",
    "Wed, 18 Feb 2015 23:16:09 GMT (an old comment)",
    "Thu, 1 Ju",
    "Fri, 2 Jan 15 04:05:06 -0700",
];
const RFC3339: &[&str] = &[
    "2024-02-29T12:30:00Z",
    "2024-02-29T12:30:00.123456789+01:00",
    "2024-02-29T12:30:00.1234567890Z",
    "2024-13-01T00:00:00Z",
];

fn main() {
    for s in RFC2822 {
        println!("{s:?} -> {:?}", DateTime::parse_from_rfc2822(s));
    }
    for s in RFC3339 {
        println!("{s:?} -> {:?}", DateTime::parse_from_rfc3339(s));
    }
    println!("{:?}", NaiveDateTime::parse_from_str("2015-09-05 23:56:04.5", "%Y-%m-%d %H:%M:%S%.f"));
}
