//! Places off the stack for the languages healbot reads only as text (Python, JavaScript,
//! Java, Go; Rust has its syntax tree in `beyond.rs`). From the innermost in-app frame's line:
//! the names it reads; before it in the same function, the `if` that checks one of them and
//! leaves early (the check that missed the failing case), the nearest assignment of each (where
//! the bad value was made); the function's start when one is a parameter (where a check
//! belongs); and for `self.x`/`this.x`, the file's assignments to that field, or the
//! constructor when none is left and the value was missing.

use super::super::fault::Fault;
use super::{short, Site};
use regex::Regex;
use std::sync::OnceLock;

/// How far back a function's header is looked for.
const MAX_FN_LINES: usize = 400;

const KEYWORDS: &[&str] = &[
    "if",
    "else",
    "elif",
    "for",
    "while",
    "return",
    "def",
    "class",
    "function",
    "const",
    "let",
    "var",
    "new",
    "this",
    "self",
    "None",
    "null",
    "undefined",
    "true",
    "false",
    "True",
    "False",
    "and",
    "or",
    "not",
    "in",
    "is",
    "await",
    "async",
    "throw",
    "raise",
    "try",
    "catch",
    "except",
    "finally",
    "import",
    "from",
    "as",
    "with",
    "yield",
    "lambda",
    "pass",
    "break",
    "continue",
    "func",
    "go",
    "defer",
    "nil",
    "range",
    "len",
    "int",
    "str",
    "float",
    "bool",
    "string",
    "public",
    "private",
    "protected",
    "static",
    "final",
    "void",
    "typeof",
    "instanceof",
    "of",
    "err",
    "ok",
];

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("static regex compiles"))
}

/// The line that starts the function around `line` (0-based index into `lines`).
fn function_start(lines: &[&str], at: usize, python: bool) -> Option<usize> {
    static PY: OnceLock<Regex> = OnceLock::new();
    static BRACE: OnceLock<Regex> = OnceLock::new();
    let py = re(&PY, r"^\s*(?:async\s+)?def\s+\w+\s*\(");
    let brace = re(
        &BRACE,
        r"^\s*(?:func\b|(?:export\s+)?(?:async\s+)?function\b|(?:(?:public|private|protected|static|final|synchronized|abstract)\s+)+[\w<>\[\], .?]+\s+\w+\s*\(|(?:async\s+)?(?:static\s+)?(?:get\s+|set\s+)?[A-Za-z_$][\w$]*\s*\([^;{}]*\)\s*\{\s*$|(?:const|let|var)\s+\w+\s*=\s*(?:async\s+)?(?:function\b|\([^)]*\)\s*=>|\w+\s*=>))",
    );
    let indent = |l: &str| l.len() - l.trim_start().len();
    let here = indent(lines.get(at)?);
    (at.saturating_sub(MAX_FN_LINES)..=at).rev().find(|&i| {
        let l = lines[i];
        if python {
            py.is_match(l) && indent(l) < here
        } else {
            brace.is_match(l) && !l.trim_start().starts_with("if") && indent(l) <= here
        }
    })
}

/// The names a line reads: identifiers that are not keywords, calls or attribute names.
fn names_on(line: &str) -> Vec<String> {
    static ID: OnceLock<Regex> = OnceLock::new();
    let id = re(&ID, r"(\.)?\b([A-Za-z_$][\w$]*)\b(\s*\()?");
    let mut out = Vec::new();
    let code = line.split("//").next().unwrap_or(line);
    let code = if code.trim_start().starts_with('#') {
        ""
    } else {
        code
    };
    for c in id.captures_iter(code) {
        let name = &c[2];
        if c.get(1).is_some() || c.get(3).is_some() || KEYWORDS.contains(&name) {
            continue;
        }
        if name.chars().next().is_some_and(char::is_uppercase) {
            continue; // types, classes, constants
        }
        if !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    }
    out
}

/// `self.x` / `this.x` fields a line reads.
fn fields_on(line: &str) -> Vec<String> {
    static FIELD: OnceLock<Regex> = OnceLock::new();
    let field = re(&FIELD, r"\b(?:self|this)\.([A-Za-z_$][\w$]*)\b(\s*\()?");
    let mut out: Vec<String> = Vec::new();
    for c in field.captures_iter(line) {
        if c.get(2).is_none() && !out.iter().any(|o| o == &c[1]) {
            out.push(c[1].to_string());
        }
    }
    out
}

fn leaves(line: &str) -> bool {
    static EXIT: OnceLock<Regex> = OnceLock::new();
    re(
        &EXIT,
        r"\b(?:return|raise|throw|continue|break|panic\()|\breturn\b|errors\.New|fmt\.Errorf",
    )
    .is_match(line)
}

fn assigns(line: &str, name: &str) -> bool {
    let t = line.trim_start();
    let t = ["let ", "const ", "var ", "final "]
        .iter()
        .find_map(|k| t.strip_prefix(k))
        .unwrap_or(t);
    // `name = …`, `a, name := …`, `Type name = …`, `name += …`; not `==`.
    let Some(eq) = t.find(['=', ':']) else {
        return false;
    };
    let (lhs, rest) = t.split_at(eq);
    let op_ok = rest.starts_with(":=")
        || rest.starts_with('=') && !rest.starts_with("==")
        || lhs.ends_with(['+', '-', '*', '/']);
    let lhs = lhs.trim_end_matches(['+', '-', '*', '/', ' ']);
    op_ok
        && lhs
            .split([',', ' ', '(', ')', '[', ']'])
            .any(|part| part.trim() == name)
        && !lhs.contains('.')
}

/// The field that held the missing value, when the failing line reads an attribute of a field
/// (`this.schema.compiledImplicit` on undefined, `self.key.local` on None) or Java's message
/// names it (`because "this.schema" is null`).
fn null_field(raise_line: &str, fault: &Fault, message: &str) -> Option<String> {
    static JAVA: OnceLock<Regex> = OnceLock::new();
    let java = re(&JAVA, r#"because "this\.([A-Za-z_$][\w$]*)" is null"#);
    if let Some(c) = java.captures(message) {
        return Some(c[1].to_string());
    }
    let Fault::NoneAttribute { attribute } = fault else {
        return None;
    };
    let read = Regex::new(&format!(
        r"\b(?:self|this)\.([A-Za-z_$][\w$]*)\??\.{}\b",
        regex::escape(attribute)
    ))
    .ok()?;
    read.captures(raise_line).map(|c| c[1].to_string())
}

/// Adds the textual places for `site`, the innermost in-app frame, whose file text is `text`.
pub(super) fn add(
    site: &Site,
    text: &str,
    fault: &Fault,
    message: &str,
    python: bool,
    found: &mut Vec<Site>,
) {
    let lines: Vec<&str> = text.lines().collect();
    let at = site.line as usize - 1;
    let Some(raise_line) = lines.get(at) else {
        return;
    };
    let names = names_on(raise_line);
    let fields = fields_on(raise_line);
    let start = function_start(&lines, at, python);
    let what = format!("`{}` (line {})", short(raise_line.trim(), 60), site.line);
    if let Some(start) = start {
        let header = lines[start];
        // The check that exists and misses the failing case.
        let mut guards = 0;
        for i in (start + 1..at).rev() {
            let l = lines[i].trim_start();
            let is_if = l.starts_with("if ")
                || l.starts_with("if(")
                || l.starts_with("elif ")
                || l.starts_with("} else if")
                || l.starts_with("else if");
            if !is_if {
                continue;
            }
            let exits = leaves(l) || lines.get(i + 1).is_some_and(|n| leaves(n));
            let read: Vec<&String> = names.iter().filter(|n| word_in(l, n)).collect();
            if !exits || read.is_empty() {
                continue;
            }
            let mut s = derived(site, i, site.score - 0.05 - 0.04 * f64::from(guards));
            s.reasons.push(format!(
                "checks `{}` (`{}`) before {what} fails on it: the check misses the failing case",
                read.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("`, `"),
                short(l, 60)
            ));
            found.push(s);
            guards += 1;
            if guards == 2 {
                break;
            }
        }
        // Where each name was last assigned.
        for name in &names {
            if let Some(i) = (start + 1..at).rev().find(|&i| assigns(lines[i], name)) {
                let mut s = derived(site, i, site.score - 0.07);
                s.reasons.push(format!(
                    "assigns `{name}` (line {}), which {what} reads when it fails",
                    i + 1
                ));
                s.expression = Some(name.clone());
                found.push(s);
                producer(site, &lines, i, python, &what, found);
            }
        }
        // A parameter used unchecked: the function's start is where a check goes.
        let params: Vec<&String> = names
            .iter()
            .filter(|n| word_in(header.split_once('(').map_or("", |(_, p)| p), n))
            .collect();
        if !params.is_empty() && start + 1 < at {
            let mut s = derived(site, start + 1, site.score - 0.1);
            s.reasons.push(format!(
                "the function takes `{}` from its caller and {what} uses it unchecked: a check belongs at its start",
                params.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("`, `")
            ));
            found.push(s);
        }
    }
    let missing = null_field(raise_line, fault, message);
    let mut fields = fields;
    if let Some(m) = &missing {
        if !fields.contains(m) {
            fields.insert(0, m.clone());
        }
    }
    field_writers(
        site,
        &lines,
        &fields,
        missing.as_deref(),
        fault,
        python,
        &what,
        found,
    );
}

/// Assignments to the fields the failing line reads, in the whole file; with none left and a
/// missing value, the constructor that should have set it.
///
/// A field that held the missing value (`missing`) was never set to one: the place that sets it
/// (or the constructor) ranks above the line that only read it.
#[allow(clippy::too_many_arguments)]
fn field_writers(
    site: &Site,
    lines: &[&str],
    fields: &[String],
    missing: Option<&str>,
    fault: &Fault,
    python: bool,
    what: &str,
    found: &mut Vec<Site>,
) {
    static CTOR: OnceLock<Regex> = OnceLock::new();
    let ctor = re(
        &CTOR,
        r"^\s*(?:def __init__\s*\(|constructor\s*\(|(?:public|protected|private)\s+[A-Z]\w*\s*\()",
    );
    let mut added = 0;
    for field in fields.iter().take(2) {
        let Ok(writer) = Regex::new(&format!(
            r"\b(?:self|this)\.{}\s*(?:[-+*/|&]?=[^=]|\.(?:append|push|extend|insert|update|add|put|set)\()",
            regex::escape(field)
        )) else {
            continue;
        };
        let writers: Vec<usize> = (0..lines.len())
            .filter(|&i| i + 1 != site.line as usize && writer.is_match(lines[i]))
            .take(3)
            .collect();
        let held_nothing = missing == Some(field.as_str());
        for (k, i) in writers.iter().enumerate() {
            let score = if held_nothing && k == 0 {
                site.score + 0.02
            } else {
                site.score - 0.12 - 0.02 * f64::from(added)
            };
            let mut s = derived(site, *i, score);
            s.reasons.push(format!(
                "sets `{}.{field}`, which {what} reads when it fails{}",
                if python { "self" } else { "this" },
                if held_nothing {
                    " (the field held no value)"
                } else {
                    ""
                }
            ));
            found.push(s);
            added += 1;
            producer(site, lines, *i, python, what, found);
        }
        if writers.is_empty() && (fault.is_none() || *fault == Fault::Other || held_nothing) {
            if let Some(i) = (0..lines.len()).find(|&i| ctor.is_match(lines[i])) {
                let score = if held_nothing {
                    site.score + 0.02
                } else {
                    site.score - 0.12
                };
                let mut s = derived(site, i + 1, score);
                s.reasons.push(format!(
                    "nothing in the file sets `{field}`, which {what} reads: the constructor is where it would be set"
                ));
                found.push(s);
                added += 1;
            }
        }
    }
}

/// The function an assignment's value comes from: `x = parse(s)`, `self.key = _cmpkey(…)`,
/// `const v = this.lex(t)` → `parse`, `_cmpkey`, `lex`.
fn called_on_right(line: &str) -> Option<String> {
    static CALL: OnceLock<Regex> = OnceLock::new();
    let call = re(
        &CALL,
        r"(?::=|[^=!<>]=)\s*(?:await\s+|new\s+)?(?:[\w$]+\.)*([A-Za-z_$][\w$]*)\s*\(",
    );
    let name = call.captures(line)?.get(1)?.as_str().to_string();
    (!KEYWORDS.contains(&name.as_str()) && name.len() > 2).then_some(name)
}

/// The 0-based line of the definition of `name` in `lines` (Python `def`, JavaScript
/// `function`/method, Go `func`, Java method), when there is exactly one.
fn definition(lines: &[&str], name: &str, python: bool) -> Option<usize> {
    let n = regex::escape(name);
    let pattern = if python {
        format!(r"^\s*(?:async\s+)?def\s+{n}\s*\(")
    } else {
        format!(
            r"^\s*(?:func\s+(?:\([^)]*\)\s*)?{n}\s*\(|(?:export\s+)?(?:async\s+)?function\s*\*?\s*{n}\s*\(|(?:const|let|var)\s+{n}\s*=|(?:static\s+|async\s+)*{n}\s*\([^;]*\)\s*\{{|(?:(?:public|private|protected|static|final)\s+)+[\w<>\[\], .?]+\s+{n}\s*\()"
        )
    };
    let def = Regex::new(&pattern).ok()?;
    let mut hits = (0..lines.len()).filter(|&i| def.is_match(lines[i]));
    let first = hits.next()?;
    hits.next().is_none().then_some(first)
}

/// Where the value assigned at 0-based line `i` is computed: the body of the function the
/// assignment calls, when this file defines it.
fn producer(
    site: &Site,
    lines: &[&str],
    i: usize,
    python: bool,
    what: &str,
    found: &mut Vec<Site>,
) {
    let Some(name) = called_on_right(lines[i]) else {
        return;
    };
    let Some(d) = definition(lines, &name, python) else {
        return;
    };
    if d + 1 >= lines.len() || d + 1 == site.line as usize || d == i {
        return;
    }
    let mut s = derived(site, d + 1, site.score - 0.14);
    s.reasons.push(format!(
        "`{name}` computes the value assigned at line {}, which {what} reads when it fails",
        i + 1
    ));
    found.push(s);
}

fn word_in(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        let ident =
            |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
        !ident(before) && !ident(after) && before != Some('.')
    })
}

/// A place at 0-based line `i` of the site's file.
fn derived(site: &Site, i: usize, score: f64) -> Site {
    Site::derived(
        site,
        site.file.clone(),
        i as u32 + 1,
        site.function.clone(),
        score,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_assignments_and_fields() {
        assert_eq!(
            names_on("    return parts[idx] + this.offset;"),
            ["parts", "idx"]
        );
        assert_eq!(
            fields_on("this.slugger.slug(text) + self.n"),
            ["slugger", "n"]
        );
        assert!(assigns("    idx = len(parts) - 1", "idx"));
        assert!(assigns("\tn, err := strconv.Atoi(s)", "n"));
        assert!(assigns("  const idx = parts.indexOf(x);", "idx"));
        assert!(assigns("    int idx = s.indexOf('_');", "idx"));
        assert!(assigns("    total += x", "total"));
        assert!(!assigns("    if idx == 3:", "idx"));
        assert!(!assigns("    self.idx = 3", "idx"));
        assert!(word_in("if len(parts) < 3:", "parts"));
        assert!(!word_in("if self.parts:", "parts"));
        assert_eq!(
            called_on_right("        self._key = _cmpkey(self._version.epoch)").as_deref(),
            Some("_cmpkey")
        );
        assert_eq!(
            called_on_right("  const tok = this.lexNext(src);").as_deref(),
            Some("lexNext")
        );
        assert_eq!(
            called_on_right("\tend, err := stringEnd(data[i:])").as_deref(),
            Some("stringEnd")
        );
        assert_eq!(called_on_right("    if x == f(y):"), None);
        let py = [
            "def _cmpkey(epoch):",
            "    return epoch",
            "class V:",
            "    def __init__(self):",
            "        self._key = _cmpkey(1)",
        ];
        assert_eq!(definition(&py, "_cmpkey", true), Some(0));
        let go = [
            "func stringEnd(data []byte) (int, bool) {",
            "\treturn 0, false",
            "}",
        ];
        assert_eq!(definition(&go, "stringEnd", false), Some(0));
        let js = [
            "class Lexer {",
            "  lexNext(src) {",
            "    return 1;",
            "  }",
            "}",
        ];
        assert_eq!(definition(&js, "lexNext", false), Some(1));
    }

    #[test]
    fn the_field_that_held_nothing() {
        let undefined = Fault::NoneAttribute {
            attribute: "compiledImplicit".into(),
        };
        assert_eq!(
            null_field(
                "  this.implicitTypes = this.schema.compiledImplicit;",
                &undefined,
                ""
            )
            .as_deref(),
            Some("schema")
        );
        assert_eq!(
            null_field("  x = local.compiledImplicit", &undefined, ""),
            None
        );
        let npe = "Cannot invoke \"String.length()\" because \"this.name\" is null";
        assert_eq!(
            null_field("return name.length();", &Fault::NoneValue, npe).as_deref(),
            Some("name")
        );
    }

    #[test]
    fn function_starts_by_language() {
        let py = [
            "class A:",
            "    def f(self, x):",
            "        y = x",
            "        return y[3]",
        ];
        assert_eq!(function_start(&py, 3, true), Some(1));
        let js = ["function f(a) {", "  const b = a.x;", "  return b.y;", "}"];
        assert_eq!(function_start(&js, 2, false), Some(0));
        let go = [
            "func (p *P) Next() byte {",
            "\tif p.i > 3 {",
            "\t\treturn 0",
            "\t}",
            "\treturn p.b[p.i]",
            "}",
        ];
        assert_eq!(function_start(&go, 4, false), Some(0));
        let java = [
            "  public static String abbreviate(String s, int w) {",
            "    if (s == null) {",
            "      return null;",
            "    }",
            "    return s.substring(0, w);",
        ];
        assert_eq!(function_start(&java, 4, false), Some(0));
    }
}
