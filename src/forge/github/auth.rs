//! GitHub App authentication: the app signs a short-lived JWT with its private key and trades it
//! for an installation access token, which is what every repository call uses. Tokens are kept
//! until shortly before they expire, so a burst of calls costs one token request. The private
//! key and the tokens never reach a log line or an error message.

use super::{AppId, InstallationId};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far in the past the JWT's `iat` is set, to absorb clock drift between us and GitHub.
const IAT_BACKDATE_SECS: u64 = 60;
/// GitHub refuses JWTs that live longer than 10 minutes; stay under it.
const JWT_LIFETIME_SECS: u64 = 9 * 60;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("GitHub App private key from {source_name}: {reason}")]
    Key { source_name: String, reason: String },
    #[error("signing the GitHub App JWT: {0}")]
    Sign(String),
}

/// The app's RSA private key (PEM). `Debug` prints `[redacted]`.
#[derive(Clone)]
pub struct AppKey {
    key: EncodingKey,
}

impl fmt::Debug for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppKey([redacted])")
    }
}

impl AppKey {
    /// Parses a PEM private key; `source_name` says where it came from in errors.
    pub(crate) fn from_pem(pem: &[u8], source_name: &str) -> Result<AppKey, AuthError> {
        super::install_jwt_crypto();
        // jsonwebtoken's error names the problem, never the key bytes.
        let key = EncodingKey::from_rsa_pem(pem).map_err(|e| AuthError::Key {
            source_name: source_name.to_string(),
            reason: format!("not an RSA private key in PEM format ({e})"),
        })?;
        Ok(AppKey { key })
    }

    pub fn from_file(path: &Path) -> Result<AppKey, AuthError> {
        let source_name = format!("file {}", path.display());
        let pem = std::fs::read(path).map_err(|e| AuthError::Key {
            source_name: source_name.clone(),
            reason: e.to_string(),
        })?;
        AppKey::from_pem(&pem, &source_name)
    }
}

#[derive(Serialize)]
struct Claims {
    iat: u64,
    exp: u64,
    iss: String,
}

/// The app's identity: its id and key.
#[derive(Debug, Clone)]
pub struct AppCredentials {
    pub app_id: AppId,
    pub key: AppKey,
}

impl AppCredentials {
    /// A JWT for the app, valid from a minute ago for nine minutes.
    pub(crate) fn jwt(&self, now: SystemTime) -> Result<String, AuthError> {
        let now = now
            .duration_since(UNIX_EPOCH)
            .map_err(|_| AuthError::Sign("the clock is before 1970".into()))?
            .as_secs();
        let claims = Claims {
            iat: now.saturating_sub(IAT_BACKDATE_SECS),
            exp: now + JWT_LIFETIME_SECS,
            iss: self.app_id.0.to_string(),
        };
        super::install_jwt_crypto();
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key.key)
            .map_err(|e| AuthError::Sign(e.to_string()))
    }
}

/// An installation access token. `Debug` hides the token.
#[derive(Clone)]
pub struct InstallationToken {
    pub installation: InstallationId,
    token: String,
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for InstallationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallationToken")
            .field("installation", &self.installation)
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl InstallationToken {
    pub fn new(
        installation: InstallationId,
        token: String,
        expires_at: DateTime<Utc>,
    ) -> InstallationToken {
        InstallationToken {
            installation,
            token,
            expires_at,
        }
    }

    pub(crate) fn secret(&self) -> &str {
        &self.token
    }

    /// Still usable for `margin` from `now`: a call started now should not meet an expired token.
    pub(crate) fn fresh_at(&self, now: DateTime<Utc>, margin: Duration) -> bool {
        let margin = chrono::Duration::from_std(margin).unwrap_or(chrono::Duration::MAX);
        now.checked_add_signed(margin)
            .is_some_and(|deadline| deadline < self.expires_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AppKey {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/keys/test-only-github-app.pem"
        );
        AppKey::from_file(Path::new(path)).expect("test key")
    }

    #[test]
    fn jwt_claims_follow_githubs_rules() {
        let creds = AppCredentials {
            app_id: AppId(42),
            key: key(),
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let jwt = creds.jwt(now).expect("jwt");
        let mut parts = jwt.split('.');
        let header = parts.next().expect("header");
        let claims = parts.next().expect("claims");
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header: serde_json::Value =
            serde_json::from_slice(&engine.decode(header).expect("b64")).expect("json");
        let claims: serde_json::Value =
            serde_json::from_slice(&engine.decode(claims).expect("b64")).expect("json");
        assert_eq!(header["alg"], "RS256");
        assert_eq!(claims["iat"], 1_000_000 - 60);
        assert!(claims["exp"].as_u64().expect("exp") <= 1_000_000 + 600);
        assert_eq!(claims["iss"], "42");
    }

    #[test]
    fn secrets_never_print() {
        let k = key();
        assert_eq!(format!("{k:?}"), "AppKey([redacted])");
        let t = InstallationToken::new(InstallationId(1), "ghs_secret".into(), Utc::now());
        assert!(!format!("{t:?}").contains("ghs_secret"));
    }

    #[test]
    fn bad_keys_name_their_source_not_their_bytes() {
        let err = AppKey::from_pem(b"-----BEGIN RSA PRIVATE KEY-----\nnotakey\n", "file x.pem")
            .expect_err("bad key");
        let msg = err.to_string();
        assert!(msg.contains("file x.pem"), "{msg}");
        assert!(!msg.contains("notakey"), "{msg}");
    }

    #[test]
    fn tokens_are_refreshed_before_expiry() {
        let now = Utc::now();
        let t = InstallationToken::new(
            InstallationId(1),
            "t".into(),
            now + chrono::Duration::minutes(10),
        );
        assert!(t.fresh_at(now, Duration::from_secs(300)));
        assert!(!t.fresh_at(now, Duration::from_secs(700)));
    }
}
