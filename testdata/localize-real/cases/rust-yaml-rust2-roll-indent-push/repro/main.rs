// Loads configuration snippets (valid and invalid) as a config loader would and prints what it
// got or why it failed.
use yaml_rust2::YamlLoader;

const DOCS: &[&str] = &[
    "name: demo\nreplicas: 3\nports: [80, 443]\n",
    "matrix: [[1, 2], [3, [4, 5]]]\nflow: {a: {b: c}}\n",
    "list:\n  - a\n  - b:\n      c: d\nnext: 1\n",
    "text: \"caf\\u00e9 \\x41 \\U0001F600\"\nbad: \"\\uD800\"\n",
    "key: [unclosed\n",
    "a:\n  b:\n    c: 1\nd: 2\n",
];

fn main() {
    for doc in DOCS {
        match YamlLoader::load_from_str(doc) {
            Ok(docs) => println!("ok: {} document(s), first {:?}", docs.len(), docs.first().map(|d| d.is_badvalue())),
            Err(e) => println!("error: {e}"),
        }
    }
}
