//! `sesame scan PATH…`: finds token passwords in a tree of files, by prefix and checksum
//! (`tokens::password_format`), for pre-commit hooks and CI. Skips `.git`, symbolic links
//! (no loops, nothing outside the tree) and binary files (a NUL byte in the first 8,000, as
//! git decides).

use crate::tokens::password_format;
use std::io::Read;
use std::path::{Path, PathBuf};

/// How much of a file's start decides whether it is binary.
const BINARY_PROBE: usize = 8000;

/// A password found: where, and the password itself (for `--revoke`; print it `masked`).
pub struct Finding {
    pub path: PathBuf,
    /// 1-based.
    pub line: usize,
    pub password: String,
}

impl Finding {
    /// `path:line: Sesame token password (checksum valid): sesame_AbCd****…`
    pub fn describe(&self) -> String {
        format!(
            "{}:{}: Sesame token password (checksum valid): {}",
            self.path.display(),
            self.line,
            password_format::masked(&self.password)
        )
    }
}

/// What a scan found, and the paths it could not read (each with why).
#[derive(Default)]
pub struct Scan {
    pub findings: Vec<Finding>,
    pub unreadable: Vec<(PathBuf, std::io::Error)>,
}

/// Scans every path given: files, and directories recursively, in name order.
pub fn scan(paths: &[PathBuf]) -> Scan {
    let mut scan = Scan::default();
    for path in paths {
        // A path named on the command line is followed even if it is a link.
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, &mut scan),
            Ok(_) => file(path, &mut scan),
            Err(e) => scan.unreadable.push((path.clone(), e)),
        }
    }
    scan
}

fn walk(dir: &Path, scan: &mut Scan) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return scan.unreadable.push((dir.to_path_buf(), e)),
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if entry.file_name() != ".git" {
                walk(&path, scan);
            }
        } else if kind.is_file() {
            file(&path, scan);
        }
    }
}

fn file(path: &Path, scan: &mut Scan) {
    let mut bytes = Vec::new();
    if let Err(e) = std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)) {
        return scan.unreadable.push((path.to_path_buf(), e));
    }
    if bytes[..bytes.len().min(BINARY_PROBE)].contains(&0) {
        return;
    }
    let text = String::from_utf8_lossy(&bytes);
    for (index, line) in text.lines().enumerate() {
        for range in password_format::find_in(line) {
            scan.findings.push(Finding {
                path: path.to_path_buf(),
                line: index + 1,
                password: line[range].to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(fill: char) -> String {
        password_format::assemble(&fill.to_string().repeat(password_format::RANDOM_CHARS))
    }

    #[test]
    fn finds_real_passwords_in_text_only_outside_git() {
        let dir = tempfile::tempdir().unwrap();
        let real = password('a');
        let mut look_alike = real.clone();
        look_alike.replace_range(10..11, "b");
        std::fs::create_dir_all(dir.path().join("src/.git")).unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(
            dir.path().join("src/config.env"),
            format!("# settings\nUSER=tok_x\nPASSWORD={real}\nOTHER={look_alike}\n"),
        )
        .unwrap();
        std::fs::write(dir.path().join(".git/objects"), &real).unwrap();
        std::fs::write(dir.path().join("src/.git/config"), &real).unwrap();
        let mut binary = b"\0\x01".to_vec();
        binary.extend_from_slice(real.as_bytes());
        std::fs::write(dir.path().join("image.png"), binary).unwrap();
        let scan = scan(&[dir.path().to_path_buf()]);
        assert!(scan.unreadable.is_empty());
        assert_eq!(scan.findings.len(), 1);
        let finding = &scan.findings[0];
        assert!(finding.path.ends_with("src/config.env"));
        assert_eq!(finding.line, 3);
        assert_eq!(finding.password, real);
        let shown = finding.describe();
        assert!(shown.ends_with(&password_format::masked(&real)), "{shown}");
        assert!(!shown.contains(&real), "the secret is masked: {shown}");
        assert!(shown.contains("config.env:3: Sesame token password (checksum valid)"));
    }

    #[test]
    fn a_missing_path_is_reported_not_skipped() {
        let scan = scan(&[PathBuf::from("/nonexistent/sesame-scan")]);
        assert_eq!(scan.unreadable.len(), 1);
        assert!(scan.findings.is_empty());
    }
}
