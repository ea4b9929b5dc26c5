//! The bytes `verify` hashes, rebuilt from a log line without copying it: a borrowed view of
//! the line, the entry's fields by reference, and a writer that must produce exactly what
//! `audit::canonical_json` does (a test in `verify_tests.rs` holds the two together). Raw
//! `detail` text that is canonical already is copied as it is; anything else is parsed and
//! re-serialized with sorted keys.

use super::super::AuditEntry;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// A line parsed without copying its strings (they borrow from the line unless escaped);
/// `detail` stays raw text, re-serialized only when it is not already canonical.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EntryView<'a> {
    pub(super) seq: u64,
    #[serde(borrow)]
    pub(super) ts: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) operation_id: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) correlation_id: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) actor: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) action: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) detail: &'a RawValue,
    #[serde(borrow)]
    pub(super) prev_hash: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) hash: Cow<'a, str>,
}

impl EntryView<'_> {
    pub(super) fn fields<'v>(&'v self, detail: Detail<'v>) -> Fields<'v> {
        Fields {
            seq: self.seq,
            ts: &self.ts,
            operation_id: &self.operation_id,
            correlation_id: &self.correlation_id,
            actor: &self.actor,
            action: &self.action,
            detail,
            prev_hash: &self.prev_hash,
            hash: &self.hash,
        }
    }
}

/// An entry's fields by reference, whether parsed from a line or held as an [`AuditEntry`].
/// [`write_canonical`] writes them (without `hash`) exactly as [`super::canonical_json`].
pub(super) struct Fields<'a> {
    pub(super) seq: u64,
    pub(super) ts: &'a str,
    pub(super) operation_id: &'a str,
    pub(super) correlation_id: &'a str,
    pub(super) actor: &'a str,
    pub(super) action: &'a str,
    pub(super) detail: Detail<'a>,
    pub(super) prev_hash: &'a str,
    pub(super) hash: &'a str,
}

#[derive(Clone, Copy)]
pub(super) enum Detail<'a> {
    /// Raw JSON text known to be canonical already: copied as it is.
    Canonical(&'a str),
    /// A parsed value: written with sorted keys.
    Value(&'a serde_json::Value),
}

impl<'a> Fields<'a> {
    pub(super) fn of(e: &'a AuditEntry) -> Fields<'a> {
        Fields {
            seq: e.seq,
            ts: &e.ts,
            operation_id: &e.operation_id,
            correlation_id: &e.correlation_id,
            actor: &e.actor,
            action: &e.action,
            detail: Detail::Value(&e.detail),
            prev_hash: &e.prev_hash,
            hash: &e.hash,
        }
    }
}

/// Writes `{"seq":…,"ts":…,…,"prev_hash":…}` byte for byte as `canonical_json` does.
pub(super) fn write_canonical(out: &mut Vec<u8>, e: &Fields<'_>) {
    out.extend_from_slice(b"{\"seq\":");
    let _ = serde_json::to_writer(&mut *out, &e.seq);
    for (key, value) in [
        (&b",\"ts\":"[..], e.ts),
        (b",\"operation_id\":", e.operation_id),
        (b",\"correlation_id\":", e.correlation_id),
        (b",\"actor\":", e.actor),
        (b",\"action\":", e.action),
    ] {
        out.extend_from_slice(key);
        write_json_str(out, value);
    }
    out.extend_from_slice(b",\"detail\":");
    match e.detail {
        Detail::Canonical(raw) => out.extend_from_slice(raw.as_bytes()),
        // Writing to a Vec cannot fail, and a Value has only string keys.
        Detail::Value(v) => {
            let _ = serde_json::to_writer(&mut *out, &Sorted(v));
        }
    }
    out.extend_from_slice(b",\"prev_hash\":");
    write_json_str(out, e.prev_hash);
    out.push(b'}');
}

/// A JSON string as serde_json writes it: only `"`, `\` and control characters are escaped.
fn write_json_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(needs_escape) {
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Containers deeper than this take the slow path.
const FAST_PATH_DEPTH: usize = 32;

/// An open container while scanning raw JSON.
#[derive(Clone, Copy)]
enum Open<'r> {
    Array,
    /// An object and the last key seen in it.
    Object(Option<&'r [u8]>),
}

/// Whether raw JSON text (already validated by the parser) is certainly what canonical
/// serialization would write: no whitespace, object keys strictly increasing, strings without
/// escapes, integers short enough to round-trip. Anything else (escapes, floats, big or
/// negative-zero numbers, deep nesting) answers false and takes the slow path, which
/// re-serializes: a wrong "no" only costs time, and "yes" is never wrong.
pub(super) fn is_canonical_json(raw: &[u8]) -> bool {
    let mut open = [Open::Array; FAST_PATH_DEPTH];
    let mut depth = 0;
    let mut expect_key = false;
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            c @ (b'{' | b'[') => {
                if depth == FAST_PATH_DEPTH {
                    return false;
                }
                expect_key = c == b'{';
                open[depth] = if expect_key {
                    Open::Object(None)
                } else {
                    Open::Array
                };
                depth += 1;
                i += 1;
            }
            b'}' | b']' => {
                let Some(d) = depth.checked_sub(1) else {
                    return false;
                };
                depth = d;
                expect_key = false;
                i += 1;
            }
            b':' => {
                expect_key = false;
                i += 1;
            }
            b',' => {
                expect_key = depth > 0 && matches!(open[depth - 1], Open::Object(_));
                i += 1;
            }
            b'"' => {
                let body = &raw[i + 1..];
                let Some(end) = memchr::memchr2(b'"', b'\\', body) else {
                    return false;
                };
                if body[end] == b'\\' {
                    return false;
                }
                let text = &body[..end];
                if text.iter().any(|b| *b < 0x20) {
                    return false;
                }
                if expect_key {
                    match open.get_mut(depth.wrapping_sub(1)) {
                        Some(Open::Object(last)) if last.is_none_or(|l| l < text) => {
                            *last = Some(text);
                        }
                        _ => return false,
                    }
                }
                i += end + 2;
            }
            b'-' | b'0'..=b'9' => {
                let len = raw[i..]
                    .iter()
                    .position(|b| !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                    .unwrap_or(raw.len() - i);
                let token = &raw[i..i + len];
                let digits = token.strip_prefix(b"-").unwrap_or(token);
                let integer = !digits.is_empty() && digits.iter().all(u8::is_ascii_digit);
                if !integer || digits.len() > 18 || token.starts_with(b"-0") {
                    return false;
                }
                i += len;
            }
            b't' | b'n' => i += 4,
            b'f' => i += 5,
            _ => return false,
        }
    }
    depth == 0
}

/// Serializes a JSON value with object keys sorted, as `canonical_json` does, without cloning
/// it (serde_json keeps insertion order when a dependency turns on `preserve_order`).
pub(super) struct Sorted<'a>(pub(super) &'a serde_json::Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde_json::Value;
        match self.0 {
            Value::Object(map) => {
                let mut out = s.serialize_map(Some(map.len()))?;
                if map.keys().is_sorted() {
                    for (k, v) in map {
                        out.serialize_entry(k, &Sorted(v))?;
                    }
                } else {
                    let mut pairs: Vec<_> = map.iter().collect();
                    pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
                    for (k, v) in pairs {
                        out.serialize_entry(k, &Sorted(v))?;
                    }
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&Sorted(item))?;
                }
                out.end()
            }
            other => other.serialize(s),
        }
    }
}
