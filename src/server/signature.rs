//! GitHub's webhook signature (`X-Hub-Signature-256`): HMAC-SHA256 of the raw body under a
//! shared secret. Anyone can reach the webhook URL, so nothing in a body is trusted before this
//! check passes. The comparison is constant-time (`Mac::verify_slice`).

use crate::config::bot::Secret;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused; shown to the caller as a 401 reason (it holds no secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    #[error("X-Hub-Signature-256 is not `sha256=<64 hex digits>`")]
    Malformed,
    #[error("X-Hub-Signature-256 does not match any configured secret")]
    Mismatch,
}

/// Checks `header` (e.g. `sha256=7571…`) against `body` under each secret in turn (rotation).
pub fn verify(secrets: &[Secret], header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_part = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    if hex_part.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let expected = hex::decode(hex_part).map_err(|_| SignatureError::Malformed)?;
    for secret in secrets {
        let Ok(mut mac) = HmacSha256::new_from_slice(secret.expose()) else {
            continue;
        };
        mac.update(body);
        if mac.verify_slice(&expected).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// The header value GitHub would send for `body` under `secret`; for tests and benchmarks.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GITHUB_VECTOR: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn githubs_documented_vector_passes() {
        let secrets = [Secret::new("It's a Secret to Everybody")];
        assert_eq!(
            verify(&secrets, Some(GITHUB_VECTOR), b"Hello, World!"),
            Ok(())
        );
        assert_eq!(
            sign(b"It's a Secret to Everybody", b"Hello, World!"),
            GITHUB_VECTOR
        );
    }

    #[test]
    fn any_rotated_secret_passes() {
        let secrets = [
            Secret::new("old"),
            Secret::new("It's a Secret to Everybody"),
        ];
        assert_eq!(
            verify(&secrets, Some(GITHUB_VECTOR), b"Hello, World!"),
            Ok(())
        );
    }

    #[test]
    fn wrong_missing_and_malformed_are_refused() {
        let secrets = [Secret::new("It's a Secret to Everybody")];
        let e = verify(&secrets, Some(GITHUB_VECTOR), b"Hello, World?");
        assert_eq!(e, Err(SignatureError::Mismatch));
        assert_eq!(verify(&secrets, None, b"x"), Err(SignatureError::Missing));
        for bad in ["sha1=abc", "sha256=zz", "sha256=", &GITHUB_VECTOR[..70]] {
            assert_eq!(
                verify(&secrets, Some(bad), b"x"),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }
}
