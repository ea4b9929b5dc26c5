//! What went wrong, in terms the source can be searched for: the exception says "an attribute
//! of None", "a missing key", "a zero divisor"; the line at the raise site then names the
//! expression that held the bad value. Ranking and the fix stage both start from that
//! expression.

use super::source::python::PythonSource;
use super::stacktrace::{Frame, ParsedTrace, TraceLanguage};

/// The kind of fault, from the exception and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// `.attribute` was read on None.
    NoneAttribute {
        attribute: String,
    },
    /// None was subscripted, called, iterated or used in arithmetic.
    NoneValue,
    /// A mapping had no such key (`key` as the runtime printed it, quotes included).
    MissingKey {
        key: String,
    },
    /// An index past the end; Rust prints the length and the index (`the len is 0 but the
    /// index is 0`: the collection was empty).
    IndexOutOfRange {
        len: Option<u64>,
        index: Option<u64>,
    },
    DivisionByZero,
    /// Rust: `Result::unwrap()` on an `Err`; `payload` is the error as printed.
    ErrValue {
        payload: String,
    },
    /// Rust: a string or slice range outside the value or off a char boundary.
    BadSlice,
    /// Rust: arithmetic overflow; `operator` is the Rust operator the message names (`-` for
    /// `attempt to subtract with overflow`, `neg` for negation).
    Overflow {
        operator: Option<&'static str>,
    },
    /// Rust: a `RefCell` borrowed while already borrowed (`already borrowed`, `BorrowMutError`).
    Borrow,
    /// A failed assertion; `condition` is the asserted expression when the message prints it
    /// (`assertion failed: x < width`).
    Assertion {
        condition: Option<String>,
    },
    /// Rust: a std method that checks its index or length itself (`removal index (is 5) should
    /// be < len (is 3)` → `remove`).
    CheckedCall {
        method: &'static str,
    },
    Other,
}

impl Fault {
    pub fn of(trace: &ParsedTrace) -> Fault {
        let exc = trace.exception.rsplit('.').next().unwrap_or_default();
        let msg = trace.message.as_str();
        match (trace.language, exc) {
            (TraceLanguage::Python, "AttributeError") => {
                match msg.strip_prefix("'NoneType' object has no attribute '") {
                    Some(rest) => Fault::NoneAttribute {
                        attribute: rest.trim_end_matches('\'').to_string(),
                    },
                    None => Fault::Other,
                }
            }
            (TraceLanguage::Python, "TypeError") if msg.contains("'NoneType'") => Fault::NoneValue,
            (TraceLanguage::Python, "KeyError") => Fault::MissingKey {
                key: msg.trim().to_string(),
            },
            (TraceLanguage::Python, "IndexError") => Fault::IndexOutOfRange {
                len: None,
                index: None,
            },
            (TraceLanguage::Python, "ZeroDivisionError") => Fault::DivisionByZero,
            (TraceLanguage::Python, "AssertionError") => Fault::Assertion { condition: None },
            (TraceLanguage::Rust, _) => rust_fault(msg),
            (TraceLanguage::Go, _) if msg.contains("nil pointer dereference") => Fault::NoneValue,
            (TraceLanguage::Go, _) if msg.contains("assignment to entry in nil map") => {
                Fault::NoneValue
            }
            (TraceLanguage::Go, _) if msg.contains("index out of range") => {
                let (index, len) = go_index(msg);
                Fault::IndexOutOfRange { len, index }
            }
            (TraceLanguage::Go, _) if msg.contains("slice bounds out of range") => Fault::BadSlice,
            (TraceLanguage::Go, _) if msg.contains("divide by zero") => Fault::DivisionByZero,
            (TraceLanguage::Java, "NullPointerException") => Fault::NoneValue,
            (TraceLanguage::Java, e) if e.ends_with("IndexOutOfBoundsException") => {
                Fault::IndexOutOfRange {
                    len: None,
                    index: None,
                }
            }
            (TraceLanguage::Java, "ArithmeticException") if msg.contains("by zero") => {
                Fault::DivisionByZero
            }
            (TraceLanguage::Java, "AssertionError") => Fault::Assertion { condition: None },
            (TraceLanguage::Node, "TypeError") => node_fault(msg),
            (TraceLanguage::Node, "RangeError") if msg.contains("out of range") => {
                Fault::IndexOutOfRange {
                    len: None,
                    index: None,
                }
            }
            _ => Fault::Other,
        }
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Fault::NoneAttribute { .. } | Fault::NoneValue)
    }

    /// Whether the message is std's own wording rather than the program's (a program's
    /// message can be searched for in the source).
    pub(crate) fn is_std_message(&self) -> bool {
        !matches!(
            self,
            Fault::Other | Fault::Assertion { .. } | Fault::ErrValue { .. }
        )
    }
}

/// Rust's panic messages for the faults std raises (the message after `panicked at`).
fn rust_fault(msg: &str) -> Fault {
    let first = msg.lines().next().unwrap_or_default();
    if msg.contains("on a `None` value") {
        Fault::NoneValue
    } else if let Some((_, payload)) = msg.split_once("on an `Err` value: ") {
        Fault::ErrValue {
            payload: payload.trim().to_string(),
        }
    } else if msg.contains("on an `Err` value") {
        Fault::ErrValue {
            payload: String::new(),
        }
    } else if first.starts_with("index out of bounds") {
        Fault::IndexOutOfRange {
            len: number_after(first, "the len is "),
            index: number_after(first, "the index is "),
        }
    } else if msg.contains("divide by zero") || msg.contains("with a divisor of zero") {
        Fault::DivisionByZero
    } else if let Some(op) = overflow_operator(first) {
        Fault::Overflow { operator: op }
    } else if msg.contains("char boundary")
        || msg.contains("out of range for slice")
        || msg.contains("out of range for str")
        || msg.contains("is out of bounds of `")
        || msg.starts_with("slice index starts at")
        || msg.starts_with("range start index")
        || msg.starts_with("range end index")
    {
        Fault::BadSlice
    } else if msg.contains("already borrowed")
        || msg.contains("already mutably borrowed")
        || msg.contains("BorrowMutError")
        || msg.contains("BorrowError")
    {
        Fault::Borrow
    } else if let Some(cond) = first.strip_prefix("assertion failed: ") {
        Fault::Assertion {
            condition: Some(cond.trim().to_string()),
        }
    } else if first.starts_with("assertion `left") || first.starts_with("assertion failed") {
        Fault::Assertion { condition: None }
    } else if let Some(method) = checked_call(first) {
        Fault::CheckedCall { method }
    } else {
        Fault::Other
    }
}

/// `attempt to subtract with overflow` → `-`; `None` inside when the operation is unnamed.
fn overflow_operator(first: &str) -> Option<Option<&'static str>> {
    if !first.contains("with overflow") {
        return None;
    }
    const OPS: &[(&str, &str)] = &[
        ("attempt to add", "+"),
        ("attempt to subtract", "-"),
        ("attempt to multiply", "*"),
        ("attempt to negate", "neg"),
        ("attempt to shift left", "<<"),
        ("attempt to shift right", ">>"),
        ("attempt to divide", "/"),
        ("attempt to calculate the remainder", "%"),
    ];
    Some(
        OPS.iter()
            .find(|(text, _)| first.starts_with(text))
            .map(|(_, op)| *op),
    )
}

/// std's own checks in methods: `Vec::remove`, `insert`, `swap_remove`, `split_at`,
/// `split_off`, `copy_from_slice`, `Vec::drain`.
fn checked_call(first: &str) -> Option<&'static str> {
    const CALLS: &[(&str, &str)] = &[
        ("removal index", "remove"),
        ("insertion index", "insert"),
        ("swap_remove index", "swap_remove"),
        ("mid > len", "split_at"),
        ("`at` split index", "split_off"),
        ("source slice length", "copy_from_slice"),
        (
            "destination and source slices have different lengths",
            "copy_from_slice",
        ),
    ];
    CALLS
        .iter()
        .find(|(text, _)| first.contains(text))
        .map(|(_, m)| *m)
}

fn number_after(text: &str, marker: &str) -> Option<u64> {
    let rest = text.split_once(marker)?.1;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `index out of range [5] with length 3` → (5, 3).
fn go_index(msg: &str) -> (Option<u64>, Option<u64>) {
    let index = msg
        .split_once('[')
        .and_then(|(_, r)| r.split(']').next())
        .and_then(|n| n.parse().ok());
    (index, number_after(msg, "with length "))
}

/// `Cannot read properties of undefined (reading 'email')` (V8 9+) and the older
/// `Cannot read property 'email' of undefined`.
fn node_fault(msg: &str) -> Fault {
    let quoted = |s: &str| s.split('\'').nth(1).map(str::to_string);
    if msg.starts_with("Cannot read propert") && (msg.contains("undefined") || msg.contains("null"))
    {
        match quoted(msg) {
            Some(attribute) => Fault::NoneAttribute { attribute },
            None => Fault::NoneValue,
        }
    } else {
        Fault::Other
    }
}

/// What the raise site's line shows about the fault.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct SiteFacts {
    /// The expression that held the bad value (`address`, `request["sku"]`, `total / n`).
    pub expression: Option<String>,
    /// A bare name that held None: when it is a parameter, the caller passed it.
    pub none_name: Option<String>,
    /// How strongly the line's syntax fits the fault, in [0, 0.3], and why.
    pub bonus: f64,
    pub why: Option<String>,
}

/// Reads the raise site's line for the syntax the fault implies.
pub(crate) fn site_facts(src: &PythonSource, line: u32, fault: &Fault, frame: &Frame) -> SiteFacts {
    let marked = frame.highlighted();
    // The runtime's own marker decides between several candidates on one line.
    let pick = |texts: Vec<(String, String)>| -> Option<(String, String)> {
        marked
            .and_then(|m| {
                texts
                    .iter()
                    .find(|(t, _)| m == t || m.starts_with(t.as_str()))
                    .cloned()
            })
            .or_else(|| texts.into_iter().next())
    };
    match fault {
        Fault::NoneAttribute { attribute } => {
            let hits: Vec<_> = src
                .attribute_accesses(line)
                .into_iter()
                .filter(|a| &a.attribute == attribute)
                .map(|a| (a.text, a.object))
                .collect();
            match pick(hits) {
                Some((text, object)) => SiteFacts {
                    none_name: is_identifier(&object).then(|| object.clone()),
                    why: Some(format!(
                        "`{text}` reads `.{attribute}` on a value that was None"
                    )),
                    expression: Some(object),
                    bonus: 0.3,
                },
                None => SiteFacts::default(),
            }
        }
        Fault::NoneValue => {
            let hits: Vec<_> = src
                .subscripts(line)
                .into_iter()
                .map(|s| (s.text, s.value))
                .chain(
                    src.calls(line)
                        .into_iter()
                        .map(|c| (c.callee.clone(), c.callee)),
                )
                .collect();
            match pick(hits) {
                Some((text, value)) => SiteFacts {
                    none_name: is_identifier(&value).then(|| value.clone()),
                    why: Some(format!("`{text}` uses a value that was None")),
                    expression: Some(value),
                    bonus: 0.2,
                },
                None => SiteFacts::default(),
            }
        }
        Fault::MissingKey { key } => {
            let subs = src.subscripts(line);
            let exact = subs.iter().find(|s| unquote(&s.index) == unquote(key));
            match exact.or(subs.first()) {
                Some(s) => SiteFacts {
                    expression: Some(s.text.clone()),
                    why: Some(format!("`{}` looks up a key that is missing", s.text)),
                    bonus: if exact.is_some() { 0.3 } else { 0.15 },
                    none_name: None,
                },
                None => SiteFacts::default(),
            }
        }
        Fault::IndexOutOfRange { .. } => {
            let hits: Vec<_> = src
                .subscripts(line)
                .into_iter()
                .filter(|s| !s.index.contains(':'))
                .map(|s| (s.text.clone(), s.text))
                .collect();
            match pick(hits) {
                Some((text, _)) => SiteFacts {
                    why: Some(format!("`{text}` indexes past the end")),
                    expression: Some(text),
                    bonus: 0.3,
                    none_name: None,
                },
                None => SiteFacts::default(),
            }
        }
        Fault::DivisionByZero => {
            let hits: Vec<_> = src
                .divisions(line)
                .into_iter()
                .map(|d| (d.text.clone(), d.divisor))
                .collect();
            match pick(hits) {
                Some((text, divisor)) => SiteFacts {
                    why: Some(format!("`{text}` divides by `{divisor}`, which was zero")),
                    expression: Some(text),
                    bonus: 0.3,
                    none_name: None,
                },
                None => SiteFacts::default(),
            }
        }
        Fault::Other
        | Fault::ErrValue { .. }
        | Fault::BadSlice
        | Fault::Overflow { .. }
        | Fault::Borrow
        | Fault::Assertion { .. }
        | Fault::CheckedCall { .. } => SiteFacts::default(),
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// `'sku'`, `"sku"` → `sku`, so the printed key matches the source literal.
fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['\'', '"'] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::localize::stacktrace::FrameOrigin;

    fn trace(exc: &str, msg: &str) -> ParsedTrace {
        ParsedTrace {
            language: TraceLanguage::Python,
            exception: exc.into(),
            message: msg.into(),
            frames: vec![],
            panic_location: None,
            chained: vec![],
        }
    }

    fn frame(code: &str, highlight: Option<(usize, usize)>) -> Frame {
        Frame {
            file: "x.py".into(),
            line: 1,
            column: None,
            function: "f".into(),
            code: Some(code.into()),
            origin: FrameOrigin::InApp,
            highlight,
        }
    }

    #[test]
    fn classifies_python_exceptions() {
        let none = trace(
            "AttributeError",
            "'NoneType' object has no attribute 'split'",
        );
        assert_eq!(
            Fault::of(&none),
            Fault::NoneAttribute {
                attribute: "split".into()
            }
        );
        assert_eq!(
            Fault::of(&trace(
                "TypeError",
                "'NoneType' object is not subscriptable"
            )),
            Fault::NoneValue
        );
        assert_eq!(
            Fault::of(&trace("KeyError", "'sku'")),
            Fault::MissingKey {
                key: "'sku'".into()
            }
        );
        assert_eq!(
            Fault::of(&trace(
                "AttributeError",
                "'dict' object has no attribute 'x'"
            )),
            Fault::Other
        );
    }

    #[test]
    fn none_attribute_names_the_object_and_uses_the_marker() {
        let code = "def f(a, b):\n    return a.x + b.x\n";
        let src = PythonSource::parse(code).unwrap();
        let fault = Fault::NoneAttribute {
            attribute: "x".into(),
        };
        let facts = site_facts(&src, 2, &fault, &frame("return a.x + b.x", Some((13, 16))));
        assert_eq!(facts.expression.as_deref(), Some("b"));
        assert_eq!(facts.none_name.as_deref(), Some("b"));
        let facts = site_facts(&src, 2, &fault, &frame("return a.x + b.x", None));
        assert_eq!(facts.expression.as_deref(), Some("a"));
    }

    #[test]
    fn missing_key_matches_the_printed_key() {
        let code = "x = req['a'] + req[\"sku\"]\n";
        let src = PythonSource::parse(code).unwrap();
        let facts = site_facts(
            &src,
            1,
            &Fault::MissingKey {
                key: "'sku'".into(),
            },
            &frame(code, None),
        );
        assert_eq!(facts.expression.as_deref(), Some("req[\"sku\"]"));
        assert!(facts.bonus >= 0.3);
    }

    #[test]
    fn division_and_index() {
        let src = PythonSource::parse("y = items[i] / len(items)\n").unwrap();
        let f = frame("", None);
        let div = site_facts(&src, 1, &Fault::DivisionByZero, &f);
        assert_eq!(div.expression.as_deref(), Some("items[i] / len(items)"));
        let idx = site_facts(
            &src,
            1,
            &Fault::IndexOutOfRange {
                len: None,
                index: None,
            },
            &f,
        );
        assert_eq!(idx.expression.as_deref(), Some("items[i]"));
    }

    fn rust(msg: &str) -> Fault {
        Fault::of(&ParsedTrace {
            language: TraceLanguage::Rust,
            exception: "panic".into(),
            message: msg.into(),
            frames: vec![],
            panic_location: None,
            chained: vec![],
        })
    }

    #[test]
    fn rust_messages_say_which_expression_failed() {
        assert_eq!(
            rust("index out of bounds: the len is 0 but the index is 0"),
            Fault::IndexOutOfRange {
                len: Some(0),
                index: Some(0)
            }
        );
        assert_eq!(
            rust("attempt to subtract with overflow"),
            Fault::Overflow {
                operator: Some("-")
            }
        );
        assert_eq!(
            rust("attempt to negate with overflow"),
            Fault::Overflow {
                operator: Some("neg")
            }
        );
        assert_eq!(
            rust("end byte index 3 is not a char boundary; it is inside 'ë' (bytes 2..4) of `Zoë`"),
            Fault::BadSlice
        );
        assert_eq!(rust("already borrowed: BorrowMutError"), Fault::Borrow);
        assert_eq!(rust("RefCell already mutably borrowed"), Fault::Borrow);
        assert_eq!(
            rust("assertion failed: x < width"),
            Fault::Assertion {
                condition: Some("x < width".into())
            }
        );
        assert_eq!(
            rust("assertion `left == right` failed\n  left: 1\n right: 2"),
            Fault::Assertion { condition: None }
        );
        assert_eq!(
            rust("removal index (is 5) should be < len (is 3)"),
            Fault::CheckedCall { method: "remove" }
        );
        assert_eq!(
            rust("called `Result::unwrap()` on an `Err` value: BadInput(\"negative width\")"),
            Fault::ErrValue {
                payload: "BadInput(\"negative width\")".into()
            }
        );
        assert_eq!(rust("attempt to divide by zero"), Fault::DivisionByZero);
        assert_eq!(rust("config has a port"), Fault::Other);
    }
}
