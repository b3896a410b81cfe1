//! Token credentials: generation, the keyed hash that checks them, and the encryption
//! that lets an admin retrieve them later.

use super::password_format;
use crate::keys::ServerKey;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const USERNAME_PREFIX: &str = "tok_";
const USERNAME_RANDOM_CHARS: usize = 20;
const NONCE_LEN: usize = 12;

/// A token password. It has no `Debug` or `Display`, so it cannot reach a log by accident.
pub struct Password(String);

impl Password {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

const BASE62: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Uniform base62 from the operating system's CSPRNG: 64 random bytes per system call,
/// keeping bytes below 248 (4 × 62) so every character is equally likely.
fn random_base62(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut bytes = [0u8; 64];
    while out.len() < len {
        rand::RngCore::fill_bytes(&mut OsRng, &mut bytes);
        for byte in bytes.iter().filter(|b| **b < 248).take(len - out.len()) {
            out.push(char::from(BASE62[usize::from(byte % 62)]));
        }
    }
    out
}

pub fn generate_username() -> String {
    format!("{USERNAME_PREFIX}{}", random_base62(USERNAME_RANDOM_CHARS))
}

/// A password of the recognisable form (`password_format`): 214 random bits from the
/// operating system's CSPRNG behind a prefix, with a checksum. Passwords made before it
/// (40 base62 characters) are checked the same way and keep working.
pub fn generate_password() -> Password {
    Password(password_format::assemble(&random_base62(
        password_format::RANDOM_CHARS,
    )))
}

#[derive(Debug, thiserror::Error)]
#[error("the stored credential cannot be decrypted with this server key")]
pub struct DecryptError;

/// Keys for checking and encrypting token passwords, derived from the server key. New
/// secrets use the current key; a previous key (during a rotation) is still accepted.
pub struct TokenCrypto {
    mac: Hmac<Sha256>,
    cipher: Aes256Gcm,
    previous: Option<Box<TokenCrypto>>,
}

impl TokenCrypto {
    pub fn new(key: &ServerKey) -> Self {
        let mac_key: [u8; 32] = key.derive("token password hmac v1");
        let enc_key: [u8; 32] = key.derive("token password aes-256-gcm v1");
        Self {
            mac: <Hmac<Sha256> as Mac>::new_from_slice(&mac_key)
                .expect("HMAC takes any key length"),
            cipher: Aes256Gcm::new_from_slice(&enc_key).expect("the key is 32 bytes"),
            previous: None,
        }
    }

    /// The current key, also accepting what the previous key protected.
    pub fn with_previous(mut self, previous: Option<&ServerKey>) -> Self {
        self.previous = previous.map(|key| Box::new(TokenCrypto::new(key)));
        self
    }

    /// HMAC-SHA-256 of the password: what the database keeps for checking.
    pub fn hash(&self, password: &str) -> Vec<u8> {
        let mut mac = self.mac.clone();
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// What the database may hold for this password: its hash under the current key and,
    /// during a rotation, under the previous one (a leak report finds the token by it).
    pub fn stored_forms(&self, password: &str) -> Vec<Vec<u8>> {
        let mut forms = vec![self.hash(password)];
        if let Some(previous) = &self.previous {
            forms.extend(previous.stored_forms(password));
        }
        forms
    }

    /// Constant-time comparison of a presented password with the stored hash.
    pub fn verify(&self, password: &str, stored: &[u8]) -> bool {
        let mut mac = self.mac.clone();
        mac.update(password.as_bytes());
        mac.verify_slice(stored).is_ok()
            || self
                .previous
                .as_ref()
                .is_some_and(|p| p.verify(password, stored))
    }

    /// AES-256-GCM with a random nonce; the token id is bound in as associated data so a
    /// ciphertext copied onto another row does not decrypt.
    pub fn encrypt(&self, token_id: &str, password: &Password) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: password.expose().as_bytes(),
                    aad: token_id.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of a short message cannot fail");
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&ciphertext);
        stored
    }

    pub fn decrypt(&self, token_id: &str, stored: &[u8]) -> Result<Password, DecryptError> {
        self.decrypt_current(token_id, stored)
            .or_else(|error| match &self.previous {
                Some(previous) => previous.decrypt(token_id, stored),
                None => Err(error),
            })
    }

    fn decrypt_current(&self, token_id: &str, stored: &[u8]) -> Result<Password, DecryptError> {
        if stored.len() <= NONCE_LEN {
            return Err(DecryptError);
        }
        let (nonce, ciphertext) = stored.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: token_id.as_bytes(),
                },
            )
            .map_err(|_| DecryptError)?;
        String::from_utf8(plain)
            .map(Password)
            .map_err(|_| DecryptError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crypto() -> TokenCrypto {
        TokenCrypto::new(&ServerKey::from_secret(b"0123456789abcdef0123456789abcdef"))
    }

    #[test]
    fn credentials_have_the_promised_shape() {
        let username = generate_username();
        assert!(username.starts_with("tok_"));
        assert_eq!(username.len(), 24);
        let password = generate_password();
        assert_eq!(password.expose().len(), 49);
        assert!(password.expose().starts_with("sesame_"));
        assert!(password_format::is_valid(password.expose()));
        assert_ne!(generate_password().expose(), password.expose());
    }

    #[test]
    fn every_base62_character_turns_up_evenly() {
        let mut counts = std::collections::HashMap::new();
        for _ in 0..2000 {
            let password = generate_password();
            let random = &password.expose()[7..7 + password_format::RANDOM_CHARS];
            for c in random.chars() {
                *counts.entry(c).or_insert(0u32) += 1;
            }
        }
        // 72,000 characters, about 1,160 each: a skewed mapping would leave some far off.
        assert_eq!(counts.len(), 62);
        assert!(
            counts.values().all(|n| (900..1450).contains(n)),
            "{counts:?}"
        );
    }

    #[test]
    fn the_hash_verifies_only_the_right_password() {
        let crypto = crypto();
        let stored = crypto.hash("right");
        assert!(crypto.verify("right", &stored));
        assert!(!crypto.verify("wrong", &stored));
        assert!(!crypto.verify("right", &stored[..31]));
    }

    #[test]
    fn encryption_round_trips_and_is_bound_to_the_token() {
        let crypto = crypto();
        let password = generate_password();
        let stored = crypto.encrypt("token-a", &password);
        assert!(!stored
            .windows(password.expose().len())
            .any(|w| w == password.expose().as_bytes()));
        assert_eq!(
            crypto.decrypt("token-a", &stored).unwrap().expose(),
            password.expose()
        );
        assert!(crypto.decrypt("token-b", &stored).is_err());
        let other_key = TokenCrypto::new(&ServerKey::from_secret(
            b"another key another key another key",
        ));
        assert!(other_key.decrypt("token-a", &stored).is_err());
    }
}
