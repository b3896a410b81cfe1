//! SQLite serves one server process (several share PostgreSQL): the proof that this is it.

use crate::config::DatabaseUrl;
use anyhow::Context;

/// SQLite serves one server process (several share PostgreSQL): a second `sesame serve` on
/// the same database file is refused, which is also what makes the API check cache safe.
pub fn acquire(url: &DatabaseUrl) -> anyhow::Result<Option<std::fs::File>> {
    let DatabaseUrl::Sqlite(path) = url else {
        return Ok(None);
    };
    let mut lock_path = path.clone().into_os_string();
    lock_path.push(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open the lock file {}", lock_path.to_string_lossy()))?;
    if file.try_lock().is_err() {
        anyhow::bail!(
            "another sesame server is already using {}: SQLite serves one process \
             (run several processes on PostgreSQL, see README)",
            path.display()
        );
    }
    Ok(Some(file))
}
