// An insertion-ordered header table: add, remove and look up headers, as an HTTP library's
// header map would.
use indexmap::IndexMap;

fn main() {
    let mut h: IndexMap<String, String> = IndexMap::new();
    for (k, v) in [("host", "a"), ("accept", "*/*"), ("cookie", "x=1"), ("user-agent", "demo"), ("etag", "\"1\"")] {
        h.insert(k.to_string(), v.to_string());
    }
    h.swap_remove("accept");
    println!("after swap_remove: {:?}", h.keys().collect::<Vec<_>>());
    h.shift_remove("cookie");
    println!("after shift_remove: {:?}", h.keys().collect::<Vec<_>>());
    for k in ["user-agent", "etag", "cookie", "missing"] {
        println!("{k}: {:?}", h.get(k));
    }
}
