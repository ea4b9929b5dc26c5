//! Which Rust parser should judge a patched file's syntax? Counts, over real crate sources
//! (every third `.rs` file under the directory given, e.g. `~/.cargo/registry/src`), the files
//! each parser accepts, and for three one-byte punctuation deletions per file that both accept,
//! which parser rejects the broken file. `SHOW=1` lists the valid files tree-sitter flags.
//! Run: cargo run --release --offline --manifest-path scripts/measure/rust-parsers/Cargo.toml -- ~/.cargo/registry/src
use std::path::PathBuf;

fn files(root: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(root) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(p.to_str().unwrap(), out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn ts_ok(parser: &mut tree_sitter::Parser, text: &str) -> bool {
    parser.parse(text, None).is_some_and(|t| !t.root_node().has_error())
}

fn main() {
    let root = std::env::args().nth(1).unwrap();
    let mut all = Vec::new();
    files(&root, &mut all);
    all.sort();
    let mut parser = tree_sitter::Parser::new();
    parser.set_language(&tree_sitter_rust::LANGUAGE.into()).unwrap();
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut rnd = || { seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17; seed };
    let (mut n, mut both_ok, mut syn_only, mut ts_only, mut both_bad) = (0, 0, 0, 0, 0);
    let (mut m, mut m_both_bad, mut m_syn_bad_ts_ok, mut m_ts_bad_syn_ok, mut m_both_ok) = (0, 0, 0, 0, 0);
    for (i, f) in all.iter().enumerate() {
        if i % 3 != 0 { continue; }
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        if text.len() > 200_000 { continue; }
        let s = syn::parse_file(&text).is_ok();
        let t = ts_ok(&mut parser, &text);
        n += 1;
        if s && !t && std::env::var("SHOW").is_ok() {
            let tree = parser.parse(&text, None).unwrap();
            let mut stack = vec![tree.root_node()];
            while let Some(x) = stack.pop() {
                if x.is_error() || x.is_missing() {
                    let line = text.lines().nth(x.start_position().row).unwrap_or("");
                    println!("{}:{}: {}", f.display(), x.start_position().row + 1, line.trim().chars().take(100).collect::<String>());
                    break;
                }
                let mut c = x.walk();
                for k in x.children(&mut c) { if k.has_error() || k.is_missing() { stack.push(k); } }
            }
        }
        match (s, t) { (true, true) => both_ok += 1, (true, false) => syn_only += 1, (false, true) => ts_only += 1, _ => both_bad += 1 }
        if !(s && t) { continue; }
        // Mutations: delete one punctuation byte.
        let punct: Vec<usize> = text.bytes().enumerate().filter(|(_, b)| b";(){}[],.?:&<>=!".contains(b)).map(|(i, _)| i).collect();
        if punct.is_empty() { continue; }
        for _ in 0..3 {
            let at = punct[(rnd() as usize) % punct.len()];
            let mut mutated = text.clone();
            mutated.remove(at);
            let s = syn::parse_file(&mutated).is_ok();
            let t = ts_ok(&mut parser, &mutated);
            m += 1;
            match (s, t) { (true, true) => m_both_ok += 1, (false, true) => m_syn_bad_ts_ok += 1, (true, false) => m_ts_bad_syn_ok += 1, _ => m_both_bad += 1 }
        }
    }
    println!("unmutated files: {n}; both parse {both_ok}; only syn {syn_only}; only tree-sitter {ts_only}; neither {both_bad}");
    println!("mutations (one punctuation byte deleted): {m}; both reject {m_both_bad}; syn rejects, tree-sitter accepts {m_syn_bad_ts_ok}; tree-sitter rejects, syn accepts {m_ts_bad_syn_ok}; both accept {m_both_ok}");
}
