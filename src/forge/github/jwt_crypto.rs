//! jsonwebtoken's RS256 done by ring, which rustls already brings. jsonwebtoken's RustCrypto
//! backend signs with the `rsa` crate, which carries an open timing advisory
//! (RUSTSEC-2023-0071) with no fixed release. healbot signs its App JWT with RS256 and nothing
//! else (its tests verify the same), so that is all this provider does; every other algorithm
//! is an error, never a fallback.

use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{new_error, ErrorKind, Result};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{
    RsaKeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};

static RING_RS256: CryptoProvider = CryptoProvider {
    signer_factory,
    verifier_factory,
    jwk_utils: JwkUtils::new_unimplemented(),
};

/// Makes ring jsonwebtoken's provider for this process. Call it before the first JWT is
/// signed or verified; later calls change nothing.
pub fn install_jwt_crypto() {
    // `Err` means a provider is installed already: this one, by an earlier call.
    let _ = RING_RS256.install_default();
}

fn only_rs256(algorithm: &Algorithm) -> Result<()> {
    match algorithm {
        Algorithm::RS256 => Ok(()),
        _ => Err(new_error(ErrorKind::InvalidAlgorithm)),
    }
}

fn signer_factory(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    only_rs256(algorithm)?;
    // `from_rsa_pem` keeps the PKCS#1 RSAPrivateKey DER.
    let pair = RsaKeyPair::from_der(key.inner())
        .map_err(|e| new_error(ErrorKind::InvalidRsaKey(e.to_string())))?;
    Ok(Box::new(Rs256Signer(pair)))
}

fn verifier_factory(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    only_rs256(algorithm)?;
    match key.kind() {
        // `from_rsa_pem` keeps the PKCS#1 RSAPublicKey DER.
        DecodingKeyKind::SecretOrDer(der) => Ok(Box::new(Rs256Verifier(der.clone()))),
        DecodingKeyKind::RsaModulusExponent { .. } => Err(new_error(ErrorKind::InvalidKeyFormat)),
    }
}

struct Rs256Signer(RsaKeyPair);

impl signature::Signer<Vec<u8>> for Rs256Signer {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        let mut signature = vec![0; self.0.public().modulus_len()];
        self.0
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| signature::Error::new())?;
        Ok(signature)
    }
}

impl JwtSigner for Rs256Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

struct Rs256Verifier(Vec<u8>);

impl signature::Verifier<Vec<u8>> for Rs256Verifier {
    fn verify(
        &self,
        message: &[u8],
        signature: &Vec<u8>,
    ) -> std::result::Result<(), signature::Error> {
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.0)
            .verify(message, signature)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Rs256Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Header, Validation};

    const KEY: &[u8] = include_bytes!("../../../testdata/keys/test-only-github-app.pem");
    const PUBLIC: &[u8] = include_bytes!("../../../testdata/keys/test-only-github-app.pub.pem");

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Claims {
        iss: String,
        exp: u64,
    }

    #[test]
    fn rs256_tokens_sign_and_verify_and_a_changed_one_does_not() {
        install_jwt_crypto();
        let claims = Claims {
            iss: "42".into(),
            exp: 4_000_000_000,
        };
        let key = EncodingKey::from_rsa_pem(KEY).unwrap();
        let token = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap();
        let public = DecodingKey::from_rsa_pem(PUBLIC).unwrap();
        let validation = Validation::new(Algorithm::RS256);
        let decoded = jsonwebtoken::decode::<Claims>(&token, &public, &validation).unwrap();
        assert_eq!(decoded.claims.iss, "42");
        let forged = token.replacen(".ey", ".eyJ", 1);
        assert!(jsonwebtoken::decode::<Claims>(&forged, &public, &validation).is_err());
        // Nothing but RS256.
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"s"),
        );
        assert!(hs.is_err());
    }
}
