//! The public keys that sign leak reports, in GitHub's format
//! (`{"public_keys":[{"key_identifier","key","is_current"}]}`, PEM ECDSA P-256 keys), and
//! the check of a report's signature: ECDSA over SHA-256 of the raw body, DER, base64.
//! Every listed key is accepted, current or not: GitHub signs with a retired key for a
//! while after it rotates.

use anyhow::Context as _;
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;
use std::path::Path;

pub struct LeakReportKeys {
    keys: Vec<(String, VerifyingKey)>,
}

#[derive(Deserialize)]
struct KeyFile {
    public_keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
struct KeyEntry {
    key_identifier: String,
    key: String,
}

impl LeakReportKeys {
    /// The keys `SESAME_LEAK_REPORT_KEYS_FILE` names, if set.
    pub fn from_settings(settings: &crate::config::Settings) -> anyhow::Result<Option<Self>> {
        settings
            .leak_report_keys_file
            .as_deref()
            .map(Self::load)
            .transpose()
    }

    /// Reads the file at start: a server told to require signatures must not start
    /// without keys it can use.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "SESAME_LEAK_REPORT_KEYS_FILE: cannot read {}",
                path.display()
            )
        })?;
        Self::parse(&text)
            .with_context(|| format!("SESAME_LEAK_REPORT_KEYS_FILE: {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: KeyFile = serde_json::from_str(text)
            .context("expected {\"public_keys\":[{\"key_identifier\",\"key\",…}]}")?;
        let keys = file
            .public_keys
            .into_iter()
            .map(|entry| {
                let key = VerifyingKey::from_public_key_pem(&entry.key).with_context(|| {
                    format!(
                        "key {:?} is not a PEM ECDSA P-256 public key",
                        entry.key_identifier
                    )
                })?;
                Ok((entry.key_identifier, key))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        anyhow::ensure!(!keys.is_empty(), "the file lists no public key");
        Ok(Self { keys })
    }

    /// Whether `signature` (base64 of DER) is the key `identifier`'s over `body`.
    pub fn verify(&self, identifier: &str, signature: &str, body: &[u8]) -> bool {
        let Some((_, key)) = self.keys.iter().find(|(id, _)| id == identifier) else {
            return false;
        };
        let Ok(der) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
            return false;
        };
        let Ok(signature) = DerSignature::try_from(der.as_slice()) else {
            return false;
        };
        key.verify(body, &signature).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::SigningKey;
    use p256::pkcs8::{EncodePublicKey, LineEnding};

    fn key_file(identifier: &str, key: &SigningKey) -> String {
        let pem = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        serde_json::json!({"public_keys": [
            {"key_identifier": identifier, "key": pem, "is_current": true}
        ]})
        .to_string()
    }

    fn sign(key: &SigningKey, body: &[u8]) -> String {
        let signature: p256::ecdsa::Signature = key.sign(body);
        base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
    }

    #[test]
    fn only_the_named_keys_signature_over_this_body_passes() {
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let keys = LeakReportKeys::parse(&key_file("k1", &key)).unwrap();
        let body = br#"[{"token":"x","type":"sesame","url":"u","source":"s"}]"#;
        let signature = sign(&key, body);
        assert!(keys.verify("k1", &signature, body));
        assert!(!keys.verify("k2", &signature, body), "an unknown key");
        assert!(!keys.verify("k1", &signature, b"[]"), "another body");
        let other = SigningKey::random(&mut rand::rngs::OsRng);
        assert!(!keys.verify("k1", &sign(&other, body), body), "another key");
        assert!(!keys.verify("k1", "not base64!", body));
        assert!(!keys.verify("k1", "AAAA", body), "not DER");
    }

    #[test]
    fn a_file_without_usable_keys_is_refused() {
        assert!(LeakReportKeys::parse("{}").is_err());
        assert!(LeakReportKeys::parse(r#"{"public_keys":[]}"#).is_err());
        assert!(LeakReportKeys::parse(
            r#"{"public_keys":[{"key_identifier":"a","key":"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n","is_current":true}]}"#
        )
        .is_err());
    }
}
