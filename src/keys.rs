//! The server key: from `SESAME_SECRET_KEY`, or generated once into the data directory (0600).
//! Every purpose gets its own subkey through HKDF, so no key is used for two things.

use crate::config::Settings;
use anyhow::Context;
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;
use std::io::Write;
use std::path::Path;

pub const KEY_FILE: &str = "secret.key";
/// The key before the last `sesame rotate-key`, kept so nothing becomes unreadable.
pub const PREVIOUS_KEY_FILE: &str = "secret.key.previous";

pub struct ServerKey {
    ikm: Vec<u8>,
}

impl ServerKey {
    pub fn load_or_generate(settings: &Settings) -> anyhow::Result<Self> {
        if let Some(secret) = &settings.secret_key {
            return Ok(Self::from_secret(secret.expose().as_bytes()));
        }
        let path = settings.data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim())
                    .with_context(|| format!("the key file {} is not hex", path.display()))?;
                anyhow::ensure!(
                    bytes.len() >= 32,
                    "the key file {} is too short",
                    path.display()
                );
                Ok(Self::from_secret(&bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                write_private(&path, hex::encode(bytes).as_bytes())?;
                tracing::info!(path = %path.display(), "generated a new server key; back it up: stored token credentials cannot be retrieved without it");
                Ok(Self::from_secret(&bytes))
            }
            Err(e) => {
                Err(e).with_context(|| format!("cannot read the key file {}", path.display()))
            }
        }
    }

    /// The previous key, if a rotation left one (`SESAME_PREVIOUS_SECRET_KEY`, or the
    /// previous key file when the key lives in the data directory).
    pub fn load_previous(settings: &Settings) -> anyhow::Result<Option<Self>> {
        if let Some(secret) = &settings.previous_secret_key {
            return Ok(Some(Self::from_secret(secret.expose().as_bytes())));
        }
        if settings.secret_key.is_some() {
            return Ok(None);
        }
        read_key_file(&settings.data_dir.join(PREVIOUS_KEY_FILE))
    }

    /// For `sesame rotate-key` with the key in the data directory: the current key file
    /// becomes the previous one and a new key is written. Returns (new, old). If a previous
    /// key file is already there, an earlier rotation did not finish: it is finished with
    /// the keys as they are. Both files stay on disk until the operator deletes the old one,
    /// so no failure here or later leaves a secret unreadable.
    pub fn rotate_files(settings: &Settings) -> anyhow::Result<(Self, Self)> {
        let current = settings.data_dir.join(KEY_FILE);
        let previous = settings.data_dir.join(PREVIOUS_KEY_FILE);
        if let Some(old) = read_key_file(&previous)? {
            let new = read_key_file(&current)?
                .context("the key file is missing; start the server once to make one")?;
            return Ok((new, old));
        }
        let old = read_key_file(&current)?.context("there is no key file to rotate")?;
        std::fs::rename(&current, &previous).context("cannot keep the old key file")?;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        write_private(&current, hex::encode(bytes).as_bytes())?;
        Ok((Self::from_secret(&bytes), old))
    }

    pub fn from_secret(secret: &[u8]) -> Self {
        Self {
            ikm: secret.to_vec(),
        }
    }

    /// A subkey of `N` bytes for one named purpose.
    pub fn derive<const N: usize>(&self, purpose: &str) -> [u8; N] {
        let mut out = [0u8; N];
        Hkdf::<Sha256>::new(Some(b"sesame-tokens"), &self.ikm)
            .expand(purpose.as_bytes(), &mut out)
            .expect("HKDF output length is small");
        out
    }
}

fn read_key_file(path: &Path) -> anyhow::Result<Option<ServerKey>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim())
                .with_context(|| format!("the key file {} is not hex", path.display()))?;
            anyhow::ensure!(
                bytes.len() >= 32,
                "the key file {} is too short",
                path.display()
            );
            Ok(Some(ServerKey::from_secret(&bytes)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read the key file {}", path.display())),
    }
}

/// Creates a file readable by its owner only.
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create the key file {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}
