//! One-time codes for links (credential hand-offs, invitations, password resets): 256
//! random bits in the URL; only their SHA-256 is stored, so the database alone opens nothing.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new code and the hash to store.
pub fn new_code() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let code = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&code);
    (code, hash)
}

pub fn hash(code: &str) -> Vec<u8> {
    Sha256::digest(code.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_long_random_and_stored_hashed() {
        let (code, stored) = new_code();
        assert_eq!(code.len(), 43);
        assert_eq!(stored, hash(&code));
        assert_ne!(new_code().0, code);
    }
}
