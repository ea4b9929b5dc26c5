use super::*;

const SRC: &str = r#"use std::collections::HashMap;

struct Store { users: HashMap<u64, String> }

impl Store {
    fn domain(&self, id: u64) -> Result<String, Error> {
        let email = self.users.get(&id).unwrap();
        Ok(email.split('@').nth(1).expect("has @").to_string())
    }
}

fn average(xs: &[u32], n: u32) -> u32 {
    let first = xs[0] + xs[1..][0];
    let small = n as u8;
    first / n
}

fn find(v: Vec<i32>) -> Option<i32> {
    let run = || v.first().copied().unwrap();
    Some(run())
}
"#;

#[test]
fn enclosing_fn_and_return_kind() {
    let src = RustSource::parse(SRC).unwrap();
    let f = src.enclosing_fn(7).unwrap();
    assert_eq!(f.qualified_name, "Store::domain");
    assert_eq!(f.returns, ReturnKind::Result);
    assert_eq!(f.return_type, "Result<String, Error>");
    assert_eq!(f.parameters, ["id"]);
    assert_eq!((f.start_line, f.end_line, f.body_start_line), (6, 9, 7));
    let g = src.enclosing_fn(14).unwrap();
    assert_eq!((g.name.as_str(), g.returns), ("average", ReturnKind::Other));
    let h = src.enclosing_fn(19).unwrap();
    assert_eq!((h.name.as_str(), h.returns), ("find", ReturnKind::Option));
    assert!(src.enclosing_fn(3).is_none());
}

#[test]
fn panic_sites_on_a_line() {
    let src = RustSource::parse(SRC).unwrap();
    let s = src.panic_sites(7);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].kind, PanicKind::Unwrap);
    assert_eq!(s[0].operand, "self.users.get(&id)");
    assert_eq!(s[0].text, "self.users.get(&id).unwrap()");
    assert_eq!(s[0].column, 41);
    let e = src.panic_sites(8);
    assert_eq!(e[0].kind, PanicKind::Expect);
    assert_eq!(e[0].literals, ["has @"]);
    let kinds: Vec<_> = src.panic_sites(13).iter().map(|s| s.kind).collect();
    assert!(kinds.contains(&PanicKind::Index) && kinds.contains(&PanicKind::Slice));
    assert!(kinds.contains(&PanicKind::Arithmetic));
    assert_eq!(src.panic_sites(14)[0].kind, PanicKind::Cast);
    let d = src.panic_sites(15);
    assert_eq!(
        (d[0].kind, d[0].operand.as_str(), d[0].operator.as_str()),
        (PanicKind::Division, "n", "/")
    );
    // Inside a closure, the enclosing fn is still the named one.
    assert_eq!(src.panic_sites(19)[0].kind, PanicKind::Unwrap);
}

const FLOW: &str = r#"fn shown(s: &str, len: usize, line_col: LineCol, v: &[u32]) -> String {
    assert!(len <= s.len(), "too long: {}", len);
    let out = format!("{}…", &s[..len]);
    let parts = v.iter().filter(|x| **x > 0).count();
    let each = 100 / parts;
    out + &v[line_col.line as usize].to_string()
}

impl Table {
    fn draw(&self, termwidth: usize, (a, b): (u8, u8)) {
        truncate(&self.widths, termwidth - 2, a);
        Table::draw(self, 3, (a, b));
        self.tick(
            termwidth,
        );
    }
}
"#;

#[test]
fn macro_arguments_are_read_as_expressions() {
    let src = RustSource::parse(FLOW).unwrap();
    let a = src.panic_sites(2);
    assert_eq!(a[0].kind, PanicKind::Assert);
    assert_eq!(a[0].operand, "len <= s.len()");
    assert_eq!(a[0].inputs, ["len", "s"]);
    assert_eq!(a[0].column, 5);
    assert_eq!(a[0].literals, ["too long: {}"]);
    assert!(a[0].text.starts_with("assert!(") && a[0].text.ends_with(')'));
    let slice = src.panic_sites(3);
    assert_eq!(
        (slice[0].kind, slice[0].text.as_str()),
        (PanicKind::Slice, "s[..len]")
    );
    assert_eq!(slice[0].inputs, ["len"]);
    // The column of a site inside a macro counts chars on the file's own line.
    assert_eq!(slice[0].column, 31);
}

#[test]
fn inputs_lets_and_calls_for_following_a_value() {
    let src = RustSource::parse(FLOW).unwrap();
    let d = src.panic_sites(5);
    assert_eq!(
        (d[0].kind, d[0].inputs.clone()),
        (PanicKind::Division, vec!["parts".to_string()])
    );
    let index = src
        .panic_sites(6)
        .into_iter()
        .find(|s| s.kind == PanicKind::Index)
        .unwrap();
    assert_eq!(index.inputs, ["line_col"]);
    let f = src.enclosing_fn(5).unwrap();
    let parts = src.binding_before(f, "parts", 5).unwrap();
    assert_eq!(parts.line, 4);
    assert!(parts.uses.contains(&"v".to_string()), "{:?}", parts.uses);
    assert_eq!(parts.calls, ["count", "filter", "iter"]);
    assert!(src.binding_before(f, "parts", 4).is_none());
    // A binding inside an inner block is not seen after the block.
    let scoped = RustSource::parse(
        "fn g(p: u8) -> u8 {\n    let x = match p {\n        0 => {\n            let x = 1;\n            x\n        }\n        _ => p,\n    };\n    x\n}\n",
    )
    .unwrap();
    let g = scoped.enclosing_fn(9).unwrap();
    assert_eq!(scoped.binding_before(g, "x", 9).unwrap().line, 2);
    assert_eq!(scoped.binding_before(g, "x", 5).unwrap().line, 4);
    let draw = src.enclosing_fn(11).unwrap();
    assert!(draw.has_receiver);
    assert_eq!(draw.param_slots, ["termwidth", ""]);
    assert_eq!(draw.parameters, ["termwidth"]);
    let calls = src.calls_at(11);
    assert_eq!(calls[0].name, "truncate");
    assert_eq!(calls[0].args, ["&self.widths", "termwidth - 2", "a"]);
    let path = src.calls_at(12);
    assert!(path[0].path_call && path[0].args[0] == "self");
    let spread = src.calls_at(14);
    assert_eq!(
        (spread[0].name.as_str(), spread[0].args.clone()),
        ("tick", vec!["termwidth".to_string()])
    );
}

#[test]
fn borrows_explicit_panics_comparisons_and_checked_calls() {
    let src = RustSource::parse(
        r#"fn f(cell: &RefCell<Vec<u8>>, v: &mut Vec<u8>, i: usize, n: i32) -> i32 {
    let mut w = cell.borrow_mut();
    assert_eq!(v.len(), i, "length mismatch");
    let x = v.remove(i);
    if n > 3 { unreachable!("n is {}", n) }
    w.push(x);
    -n
}
"#,
    )
    .unwrap();
    assert_eq!(src.panic_sites(2)[0].kind, PanicKind::Borrow);
    let cmp = src.panic_sites(3);
    assert_eq!(cmp[0].kind, PanicKind::Assert);
    assert_eq!(cmp[0].operand, "v.len() == i");
    assert_eq!(cmp[0].inputs, ["v", "i"]);
    let remove = src.panic_sites(4);
    assert_eq!(
        (remove[0].kind, remove[0].inputs.clone()),
        (
            PanicKind::CheckedCall,
            vec!["v".to_string(), "i".to_string()]
        )
    );
    let explicit = src.panic_sites(5);
    assert_eq!(explicit[0].kind, PanicKind::Explicit);
    assert_eq!(explicit[0].literals, ["n is {}"]);
    assert_eq!(
        (
            src.panic_sites(7)[0].kind,
            src.panic_sites(7)[0].operator.as_str()
        ),
        (PanicKind::Arithmetic, "-")
    );
}

#[test]
fn a_syntax_error_leaves_the_rest_of_the_file_read() {
    let src = RustSource::parse("fn f( {\n\nfn g(v: &[u8]) -> u8 {\n    v[3]\n}\n").unwrap();
    assert!(src.has_errors());
    assert_eq!(src.enclosing_fn(4).map(|f| f.name.as_str()), Some("g"));
    assert_eq!(src.panic_sites(4)[0].kind, PanicKind::Index);
}

#[test]
fn destructuring_loops_if_let_and_guards() {
    let src = RustSource::parse(
        r#"fn jaro(a: &[u8], b: &[u8]) -> f64 {
    if a.is_empty() || b.len() < 2 {
        return 0.0;
    }
    let mut flags = vec![false; a.len() + b.len() - 1];
    let (a_flags, b_flags) = flags.split_at_mut(a.len());
    for (j, x) in b.iter().enumerate().take(a.len()) {
        if let Some(y) = a.get(j) {
            b_flags[j] = x == y;
        }
    }
    let Some(first) = a.first() else { return 1.0 };
    0.0
}
"#,
    )
    .unwrap();
    let f = src.enclosing_fn(9).unwrap();
    assert_eq!(src.binding_before(f, "b_flags", 9).unwrap().line, 6);
    assert_eq!(
        src.binding_before(f, "a_flags", 9).unwrap().uses,
        ["flags", "a"]
    );
    assert_eq!(src.binding_before(f, "j", 9).unwrap().line, 7);
    assert_eq!(src.binding_before(f, "y", 9).unwrap().line, 8);
    assert!(
        src.binding_before(f, "y", 12).is_none(),
        "out of the if let's scope"
    );
    let guards = src.guards_before(f, 13);
    let lines: Vec<u32> = guards.iter().map(|g| g.line).collect();
    assert_eq!(lines, [12, 2]);
    assert_eq!(guards[1].names, ["a", "b"]);
    assert_eq!(src.binding_before(f, "first", 13).unwrap().line, 12);
}

#[test]
fn macros_in_test_code_are_not_read_but_the_rest_of_the_file_is() {
    let src = RustSource::parse(
        r#"fn check(v: &[u8]) {
    assert!(v.len() > 2);
}

#[cfg(test)]
mod tests {
    #[test]
    fn big() {
        assert_eq!(super::parse(&[1, 2]), vec![vec![1], vec![2]]);
    }
}

// after the tests module
fn first(v: &[u8]) -> u8 {
    assert!(!v.is_empty());
    v[0]
}
"#,
    )
    .unwrap();
    assert_eq!(src.panic_sites(2)[0].kind, PanicKind::Assert);
    assert!(src.panic_sites(9).is_empty(), "{:?}", src.panic_sites(9));
    assert_eq!(src.panic_sites(15)[0].kind, PanicKind::Assert);
    assert_eq!(src.panic_sites(16)[0].kind, PanicKind::Index);
    assert!(is_test_attribute("#[tokio::test]"));
    assert!(is_test_attribute("#[cfg(all(test, feature = \"std\"))]"));
    assert!(!is_test_attribute("#[cfg(not(test))]"));
    assert!(!is_test_attribute("#[derive(Debug)]"));
}

#[test]
fn a_shift_fails_on_its_amount_not_on_the_value_shifted() {
    let src = RustSource::parse(
        "fn sign_extend(val: u64, nbytes: usize) -> i64 {\n    let shift = (8 - nbytes) * 8;\n    (val << shift) as i64 >> shift\n}\n",
    )
    .unwrap();
    let shifts: Vec<_> = src
        .panic_sites(3)
        .into_iter()
        .filter(|s| s.kind == PanicKind::Arithmetic)
        .collect();
    assert_eq!(shifts.len(), 2, "{shifts:?}");
    for s in shifts {
        assert_eq!(
            (s.operand.as_str(), s.inputs.clone()),
            ("shift", vec!["shift".to_string()])
        );
    }
}
