// Parses user-supplied search patterns (valid and invalid) as a search box would, printing
// the HIR or the error for each.
const PATTERNS: &[&str] = &[
    r"a+b*", r"(?i)caf\u{e9}", r"[a-z&&[^aeiou]]", r"\d{2,4}-\d{2}", r"(?P<year>\d{4})",
    r"héllo wörld", r"x{3", r"[z-a]", r"((a|b)*c)+", r"\p{Greek}+", r"a{,5}",
];

fn main() {
    for p in PATTERNS {
        match regex_syntax::Parser::new().parse(p) {
            Ok(hir) => println!("{p:>20} -> {} bytes min", hir.properties().minimum_len().unwrap_or(0)),
            Err(e) => println!("{p:>20} -> error: {}", e.to_string().lines().last().unwrap_or("")),
        }
    }
}
