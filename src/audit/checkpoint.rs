//! Signed checkpoints of the audit chain. A hash chain shows an edited, removed or reordered
//! entry — unless whoever edits it also recomputes every later hash, forges a history from the
//! first entry, or cuts entries off the end. So healbot signs the chain's head with a key the
//! sandboxed checks cannot read (HMAC-SHA256) every `every` entries and at each state
//! transition, into a file next to the log (`<log>.checkpoints`, one JSON object a line).
//! With the key, `healbot audit verify --key` tells a log cut before its last signed head, a
//! history that differs from what a checkpoint signed, and checkpoints that were removed.

use super::AuditError;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

type HmacSha256 = Hmac<Sha256>;

/// A key shorter than this is refused: HMAC-SHA256 wants at least the hash's length.
pub(crate) const MIN_KEY_BYTES: usize = 32;

/// What the MAC covers, so a checkpoint can never be taken for another kind of signature.
const DOMAIN: &str = "healbot-audit-checkpoint/v1";

/// The checkpoints file that belongs to an audit log.
pub fn checkpoints_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".checkpoints");
    PathBuf::from(name)
}

/// The signing key. `Debug` never shows it; its id (a hash of it) names it in checkpoints so a
/// verifier with several keys (rotation) knows which to use.
#[derive(Clone)]
pub struct SigningKey {
    id: String,
    key: Vec<u8>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("signing key {path}: cannot read: {reason}")]
    Read { path: String, reason: String },
    #[error("signing key {path}: {bytes} bytes; at least {MIN_KEY_BYTES} are needed (for example `head -c 32 /dev/urandom | base64 > FILE`)")]
    TooShort { path: String, bytes: usize },
}

impl SigningKey {
    /// The key is the file's bytes without trailing whitespace (a text file's newline).
    pub fn from_file(path: &Path) -> Result<SigningKey, KeyError> {
        let bytes = std::fs::read(path).map_err(|e| KeyError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let end = bytes
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        SigningKey::from_bytes(&bytes[..end]).map_err(|bytes| KeyError::TooShort {
            path: path.display().to_string(),
            bytes,
        })
    }

    /// `Err(len)` when the key is too short.
    pub(crate) fn from_bytes(key: &[u8]) -> Result<SigningKey, usize> {
        if key.len() < MIN_KEY_BYTES {
            return Err(key.len());
        }
        let mut h = Sha256::new();
        h.update(b"healbot-audit-key-id\n");
        h.update(key);
        let id = hex::encode(&h.finalize()[..8]);
        Ok(SigningKey {
            id,
            key: key.to_vec(),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn mac(&self, seq: u64, hash: &str, every: u64, ts: &str) -> HmacSha256 {
        // `new_from_slice` takes keys of any length; ours is at least 32 bytes.
        let mut mac = match HmacSha256::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        mac.update(format!("{DOMAIN}\n{seq}\n{hash}\n{every}\n{ts}").as_bytes());
        mac
    }

    /// Signs the chain's head `(seq, hash)`; `every` is the interval the signer keeps.
    pub fn sign(&self, seq: u64, hash: &str, every: u64, ts: String) -> Checkpoint {
        let mac = hex::encode(self.mac(seq, hash, every, &ts).finalize().into_bytes());
        Checkpoint {
            seq,
            hash: hash.to_string(),
            every,
            ts,
            key_id: self.id.clone(),
            mac,
        }
    }

    /// Whether `cp` was signed with this key; compared in constant time.
    pub fn verifies(&self, cp: &Checkpoint) -> bool {
        let Ok(mac) = hex::decode(&cp.mac) else {
            return false;
        };
        self.mac(cp.seq, &cp.hash, cp.every, &cp.ts)
            .verify_slice(&mac)
            .is_ok()
    }
}

/// One signed head: "the entry at `seq` has hash `hash`", which covers every entry before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub seq: u64,
    pub hash: String,
    /// The signer's interval: more unsigned entries than this after the last checkpoint means
    /// checkpoints were removed.
    pub every: u64,
    pub ts: String,
    pub key_id: String,
    pub mac: String,
}

/// The checkpoints file: appended and synced after the entry a checkpoint covers is durable,
/// so a crash in between leaves only an unsigned tail, never a checkpoint of a missing entry.
pub struct CheckpointFile {
    path: PathBuf,
    file: std::fs::File,
}

impl CheckpointFile {
    pub fn open(path: &Path) -> Result<CheckpointFile, AuditError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io(path, e))?;
        Ok(CheckpointFile {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Every checkpoint the file holds now.
    pub fn read(&self) -> Result<Vec<Checkpoint>, AuditError> {
        read_checkpoints(&self.path)
    }

    pub fn append(&mut self, cp: &Checkpoint) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(cp).map_err(|e| AuditError::Corrupt {
            path: self.path.display().to_string(),
            line: 0,
            reason: e.to_string(),
        })?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| io(&self.path, e))
    }
}

/// The checkpoints a file holds, in file order. A missing file is no checkpoints; a line that
/// is not a checkpoint is an error naming it (a torn last line is skipped: a crash mid-write).
pub(crate) fn read_checkpoints(path: &Path) -> Result<Vec<Checkpoint>, AuditError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(path, e)),
    };
    parse_checkpoints(&text, &path.display().to_string())
}

pub(crate) fn parse_checkpoints(text: &str, origin: &str) -> Result<Vec<Checkpoint>, AuditError> {
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Checkpoint>(line) {
            Ok(cp) => out.push(cp),
            Err(_) if i + 1 == lines.len() && !complete => {}
            Err(e) => {
                return Err(AuditError::Corrupt {
                    path: origin.to_string(),
                    line: i + 1,
                    reason: format!("not a checkpoint: {e}"),
                })
            }
        }
    }
    Ok(out)
}

fn io(path: &Path, source: std::io::Error) -> AuditError {
    AuditError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What the checkpoints say about a chain that holds on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignedReport {
    pub checkpoints: usize,
    /// The newest checkpoint that verified and matches the log.
    pub last_signed: Option<(u64, String)>,
    /// Entries after the last signed head.
    pub unsigned_tail: u64,
    pub problem: Option<SignedProblem>,
}

impl SignedReport {
    pub fn holds(&self) -> bool {
        self.problem.is_none()
    }
}

/// Why the checkpoints do not vouch for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignedProblem {
    /// No checkpoint at all, for a log longer than a signer would leave unsigned.
    NoCheckpoint { entries: u64 },
    /// A checkpoint signed by none of the keys given (forged, or a key not passed).
    BadSignature {
        line: usize,
        seq: u64,
        key_id: String,
    },
    /// The log ends before a signed head: entries were cut off the end.
    CutOff { log_ends_at: u64, signed_seq: u64 },
    /// The entry at a signed seq is not the one that was signed: the history was rewritten.
    Differs {
        seq: u64,
        signed_hash: String,
        log_hash: String,
    },
    /// More unsigned entries after the last checkpoint than the signer's interval allows:
    /// later checkpoints were removed.
    UnsignedTail { tail: u64, every: u64 },
}

impl fmt::Display for SignedProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignedProblem::NoCheckpoint { entries } => write!(
                f,
                "no signed checkpoint for a log of {entries} entries (the checkpoints file is missing or emptied)"
            ),
            SignedProblem::BadSignature { line, seq, key_id } => write!(
                f,
                "checkpoint on line {line} (seq {seq}, key {key_id}) is not signed by any key given: forged, or the key was not passed"
            ),
            SignedProblem::CutOff {
                log_ends_at,
                signed_seq,
            } => write!(
                f,
                "the log ends at seq {log_ends_at} but seq {signed_seq} was signed: entries were cut off the end"
            ),
            SignedProblem::Differs {
                seq,
                signed_hash,
                log_hash,
            } => write!(
                f,
                "entry seq {seq} has hash {log_hash} but the checkpoint signed {signed_hash}: the history was rewritten"
            ),
            SignedProblem::UnsignedTail { tail, every } => write!(
                f,
                "{tail} entries after the last signed head, where healbot signs at least every {every}: checkpoints were removed"
            ),
        }
    }
}

/// Checks `checkpoints` against a chain that holds, whose head is `head` and whose hash at a
/// seq `hash_at` answers. Every checkpoint must verify under one of `keys` and name an entry of
/// the log with the same hash.
pub(crate) fn check_checkpoints(
    checkpoints: &[Checkpoint],
    keys: &[SigningKey],
    head: Option<(u64, &str)>,
    hash_at: impl Fn(u64) -> Option<String>,
) -> SignedReport {
    let log_end = head.map_or(0, |(seq, _)| seq);
    let mut report = SignedReport {
        checkpoints: checkpoints.len(),
        last_signed: None,
        unsigned_tail: log_end,
        problem: None,
    };
    let mut every = None;
    for (i, cp) in checkpoints.iter().enumerate() {
        if !keys.iter().any(|k| k.id == cp.key_id && k.verifies(cp)) {
            report.problem = Some(SignedProblem::BadSignature {
                line: i + 1,
                seq: cp.seq,
                key_id: cp.key_id.clone(),
            });
            return report;
        }
        if cp.seq > log_end {
            report.problem = Some(SignedProblem::CutOff {
                log_ends_at: log_end,
                signed_seq: cp.seq,
            });
            return report;
        }
        let log_hash = hash_at(cp.seq).unwrap_or_default();
        if log_hash != cp.hash {
            report.problem = Some(SignedProblem::Differs {
                seq: cp.seq,
                signed_hash: cp.hash.clone(),
                log_hash,
            });
            return report;
        }
        if report.last_signed.as_ref().is_none_or(|(s, _)| cp.seq > *s) {
            report.last_signed = Some((cp.seq, cp.hash.clone()));
            every = Some(cp.every);
        }
    }
    report.unsigned_tail = log_end - report.last_signed.as_ref().map_or(0, |(s, _)| *s);
    match every {
        None if log_end > 0 => {
            report.problem = Some(SignedProblem::NoCheckpoint { entries: log_end });
        }
        Some(every) if report.unsigned_tail > every => {
            report.problem = Some(SignedProblem::UnsignedTail {
                tail: report.unsigned_tail,
                every,
            });
        }
        _ => {}
    }
    report
}

/// `SEQ:HASH` as given to `--expect-head`: an outside record of an entry (a PR footer, a
/// ticket, another system's log) that the log must still contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedEntry {
    pub seq: u64,
    pub hash: String,
}

/// Shortest hash prefix accepted: PR footers before full hashes carried 16 characters.
pub(crate) const MIN_EXPECTED_HASH_CHARS: usize = 16;

impl std::str::FromStr for ExpectedEntry {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (seq, hash) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}`: expected SEQ:HASH"))?;
        let seq = seq
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: SEQ must be a number"))?;
        let hash = hash.trim().to_ascii_lowercase();
        if hash.len() < MIN_EXPECTED_HASH_CHARS || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "`{s}`: HASH must be at least {MIN_EXPECTED_HASH_CHARS} hex characters"
            ));
        }
        Ok(ExpectedEntry { seq, hash })
    }
}

impl ExpectedEntry {
    /// Whether the log's hash at this seq is the expected one (or starts with the prefix).
    pub fn matches(&self, log_hash: Option<&str>) -> bool {
        log_hash.is_some_and(|h| h.starts_with(&self.hash))
    }
}

/// The hashes a JSONL log has at `seqs`, read in one pass without checking anything else.
pub(crate) fn hashes_at(
    path: &Path,
    seqs: &std::collections::BTreeSet<u64>,
) -> Result<std::collections::BTreeMap<u64, String>, AuditError> {
    use std::io::BufRead;
    #[derive(Deserialize)]
    struct SeqHash {
        seq: u64,
        hash: String,
    }
    let mut out = std::collections::BTreeMap::new();
    if seqs.is_empty() {
        return Ok(out);
    }
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    for line in reader.split(b'\n') {
        let line = line.map_err(|e| io(path, e))?;
        let Ok(e) = serde_json::from_slice::<SeqHash>(&line) else {
            continue;
        };
        if seqs.contains(&e.seq) {
            out.insert(e.seq, e.hash);
            if out.len() == seqs.len() {
                break;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_bytes(&[byte; 32]).unwrap()
    }

    fn hashes(n: u64) -> Vec<String> {
        (1..=n).map(|i| format!("{i:064x}")).collect()
    }

    fn signed(k: &SigningKey, hashes: &[String], seqs: &[u64], every: u64) -> Vec<Checkpoint> {
        seqs.iter()
            .map(|&s| k.sign(s, &hashes[s as usize - 1], every, "t".into()))
            .collect()
    }

    fn check(cps: &[Checkpoint], keys: &[SigningKey], hashes: &[String]) -> SignedReport {
        let head = hashes.last().map(|h| (hashes.len() as u64, h.as_str()));
        check_checkpoints(cps, keys, head, |s| hashes.get(s as usize - 1).cloned())
    }

    #[test]
    fn short_keys_are_refused_and_the_id_does_not_reveal_the_key() {
        assert_eq!(SigningKey::from_bytes(b"short").unwrap_err(), 5);
        let k = key(7);
        assert_eq!(k.id().len(), 16);
        assert!(!format!("{k:?}").contains("0707"));
    }

    #[test]
    fn a_signed_log_holds_and_reports_its_last_signed_head() {
        let (k, h) = (key(1), hashes(25));
        let report = check(&signed(&k, &h, &[10, 20], 10), &[k], &h);
        assert!(report.holds(), "{report:?}");
        assert_eq!(report.last_signed, Some((20, h[19].clone())));
        assert_eq!(report.unsigned_tail, 5);
    }

    #[test]
    fn a_log_cut_before_its_last_checkpoint_fails() {
        let (k, h) = (key(1), hashes(25));
        let cps = signed(&k, &h, &[10, 20], 10);
        let report = check(&cps, &[k], &h[..15]);
        assert_eq!(
            report.problem,
            Some(SignedProblem::CutOff {
                log_ends_at: 15,
                signed_seq: 20
            })
        );
    }

    #[test]
    fn a_rewritten_history_differs_from_what_was_signed() {
        let (k, mut h) = (key(1), hashes(25));
        let cps = signed(&k, &h, &[10, 20], 10);
        // Entry 5 edited and every later hash recomputed: the chain holds, the signature not.
        for x in h.iter_mut().skip(4) {
            x.replace_range(0..1, "f");
        }
        let report = check(&cps, &[k], &h);
        assert!(matches!(
            report.problem,
            Some(SignedProblem::Differs { seq: 10, .. })
        ));
    }

    #[test]
    fn forged_or_tampered_checkpoints_do_not_verify() {
        let (k, h) = (key(1), hashes(25));
        let forged = signed(&key(2), &h, &[10], 10);
        assert!(matches!(
            check(&forged, std::slice::from_ref(&k), &h).problem,
            Some(SignedProblem::BadSignature { .. })
        ));
        let mut moved = signed(&k, &h, &[10], 10);
        moved[0].every = 1000;
        assert!(matches!(
            check(&moved, std::slice::from_ref(&k), &h).problem,
            Some(SignedProblem::BadSignature { .. })
        ));
        // Rotation: the old key among several still verifies its checkpoints.
        let ok = signed(&k, &h, &[10, 20], 10);
        assert!(check(&ok, &[key(9), k], &h).holds());
    }

    #[test]
    fn removed_checkpoints_leave_too_long_an_unsigned_tail() {
        let (k, h) = (key(1), hashes(45));
        let report = check(&signed(&k, &h, &[10], 10), std::slice::from_ref(&k), &h);
        assert_eq!(
            report.problem,
            Some(SignedProblem::UnsignedTail {
                tail: 35,
                every: 10
            })
        );
        assert_eq!(
            check(&[], &[k], &h).problem,
            Some(SignedProblem::NoCheckpoint { entries: 45 })
        );
    }

    #[test]
    fn expected_entries_parse_and_match_by_prefix() {
        let e: ExpectedEntry = "12:ABCDEF0123456789ff".parse().unwrap();
        assert_eq!(e.seq, 12);
        assert!(e.matches(Some("abcdef0123456789ff00")));
        assert!(!e.matches(Some("bbcdef0123456789ff00")));
        assert!(!e.matches(None));
        assert!("12:abc".parse::<ExpectedEntry>().is_err());
        assert!("x:abcdef0123456789".parse::<ExpectedEntry>().is_err());
        assert!("abcdef0123456789".parse::<ExpectedEntry>().is_err());
    }

    #[test]
    fn a_torn_last_checkpoint_line_is_skipped_and_garbage_is_named() {
        let k = key(1);
        let cp = k.sign(3, &"a".repeat(64), 10, "t".into());
        let line = serde_json::to_string(&cp).unwrap();
        let text = format!("{line}\n{}", &line[..20]);
        assert_eq!(parse_checkpoints(&text, "f").unwrap(), vec![cp.clone()]);
        let bad = format!("nonsense\n{line}\n");
        let err = parse_checkpoints(&bad, "f").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
