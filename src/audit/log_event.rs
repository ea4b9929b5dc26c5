//! Every audit entry is also a structured log event (target `healbot::audit`), so that a log
//! pipeline (Loki, Elasticsearch) collects the trail next to healbot's other logs without reading
//! the chain. The chain stays the record: the event carries the entry's seq and hash to find it
//! there. Entries hold no secrets (the redactor runs before anything is written), so the detail
//! goes out as it is, cut to a size a log line can carry.

use super::AuditEntry;

/// The log target of audit events: `HEALBOT_LOG=healbot::audit=info` keeps just them.
pub(crate) const TARGET: &str = "healbot::audit";

/// Longest detail a log event carries; the whole entry is in the chain.
const DETAIL_BYTES: usize = 16 * 1024;

/// Logs `entry` once it is in the chain.
pub(crate) fn emit(entry: &AuditEntry) {
    let detail = detail_text(&entry.detail);
    tracing::info!(
        target: TARGET,
        seq = entry.seq,
        ts = %entry.ts,
        operation_id = %entry.operation_id,
        correlation_id = %entry.correlation_id,
        actor = %entry.actor,
        action = %entry.action,
        hash = %entry.hash,
        prev_hash = %entry.prev_hash,
        detail = %detail,
        "audit entry"
    );
}

/// The detail as compact JSON, cut on a char boundary past [`DETAIL_BYTES`].
fn detail_text(detail: &serde_json::Value) -> String {
    let text = detail.to_string();
    if text.len() <= DETAIL_BYTES {
        return text;
    }
    let mut end = DETAIL_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… (cut; the chain has it whole)", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_details_are_cut_on_a_char_boundary() {
        let short = serde_json::json!({"a": 1});
        assert_eq!(detail_text(&short), r#"{"a":1}"#);
        let long = serde_json::json!({ "x": "é".repeat(DETAIL_BYTES) });
        let cut = detail_text(&long);
        assert!(cut.ends_with("(cut; the chain has it whole)"));
        assert!(cut.len() < DETAIL_BYTES + 64);
    }

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_append_is_one_json_event_with_the_entry_fields() {
        use crate::audit::{AuditStore, MemoryAuditStore, NewEntry};
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter("healbot::audit=info")
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let store = MemoryAuditStore::new();
        // Callsite interest and the max level are global, and other tests' threads install
        // and drop subscribers of their own: one of them may have the event cached as
        // disabled at the moment this test appends. So the cache is rebuilt with this
        // subscriber in place and the append tried again, a few times at most.
        let mut appended = Vec::new();
        let mut text = String::new();
        for _ in 0..20 {
            tracing::callsite::rebuild_interest_cache();
            let entry = store
                .append(NewEntry {
                    operation_id: "op-1".into(),
                    correlation_id: "inc-1".into(),
                    actor: "alice".into(),
                    action: "operation.paused".into(),
                    detail: serde_json::json!({"pr": 7}),
                })
                .await
                .unwrap();
            appended.push(entry);
            text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
            if !text.is_empty() {
                break;
            }
        }
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let entry = appended.last().unwrap();
        let event: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(event["target"], TARGET);
        let fields = &event["fields"];
        assert_eq!(fields["seq"], entry.seq);
        assert_eq!(fields["actor"], "alice");
        assert_eq!(fields["action"], "operation.paused");
        assert_eq!(fields["operation_id"], "op-1");
        assert_eq!(fields["hash"], entry.hash.as_str());
        assert_eq!(fields["detail"], r#"{"pr":7}"#);
    }
}
