//! The idempotency trailer on commit messages. Both forges write and read it through here, so a
//! commit made by either is found again by the same key.

use crate::forge::{ForgeError, IDEMPOTENCY_TRAILER};

pub(crate) fn check_key(key: &str) -> Result<(), ForgeError> {
    if key.trim().is_empty() || key.contains(['\n', '\r']) || key.trim() != key {
        return Err(ForgeError::Api(format!(
            "idempotency key {key:?} must be one non-empty line without surrounding spaces"
        )));
    }
    Ok(())
}

/// The message with `Healbot-Idempotency-Key: <key>` as its last trailer. If the message already
/// ends in a trailer block (`Signed-off-by: …`), the key joins that block so both stay trailers.
pub(crate) fn with_trailer(message: &str, key: &str) -> String {
    let message = message.trim_end();
    let ends_in_trailers = git2::message_trailers_strs(message)
        .map(|t| t.len() > 0)
        .unwrap_or(false);
    let separator = if message.is_empty() {
        ""
    } else if ends_in_trailers {
        "\n"
    } else {
        "\n\n"
    };
    format!("{message}{separator}{IDEMPOTENCY_TRAILER}: {key}\n")
}

pub(crate) fn has_trailer(message: &str, key: &str) -> bool {
    // Cheap filter first: parsing trailers of every commit is not.
    message.contains(key)
        && git2::message_trailers_strs(message)
            .map(|trailers| {
                trailers
                    .iter()
                    .any(|(name, value)| name == IDEMPOTENCY_TRAILER && value.trim() == key)
            })
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailer_round_trips() {
        let msg = with_trailer("Fix it\n\nBecause.\n", "op-1/patch");
        assert_eq!(
            msg,
            "Fix it\n\nBecause.\n\nHealbot-Idempotency-Key: op-1/patch\n"
        );
        assert!(has_trailer(&msg, "op-1/patch"));
        assert!(!has_trailer(&msg, "op-1"));
        assert!(!has_trailer(
            "Fix\n\nHealbot-Idempotency-Key: k\n\nmore\n",
            "k"
        ));
    }
}
