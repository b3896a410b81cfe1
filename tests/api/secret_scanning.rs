//! The detection rules for tools people already run (docs/secret-scanning/): Yelp's real
//! `detect-secrets` with the plugin finds exactly the one real password among look-alikes,
//! as `sesame scan` does; the gitleaks rule's pattern matches the form.

use sesame::tokens::{password_format, secret};
use std::path::Path;
use std::process::Command;

const DOCS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/secret-scanning");

/// One real password on line 1, then three look-alikes with wrong checksums.
fn fixture(dir: &Path) -> String {
    let real = secret::generate_password().expose().to_string();
    let flip = |c: char| if c == '0' { '1' } else { '0' };
    let mut wrong_checksum = real.clone();
    let last = wrong_checksum.pop().unwrap();
    wrong_checksum.push(flip(last));
    let mut typo = real.clone().into_bytes();
    typo[20] = flip(char::from(typo[20])) as u8;
    let typo = String::from_utf8(typo).unwrap();
    let other = secret::generate_password().expose().to_string();
    let borrowed_checksum = format!("{}{}", &real[..43], &other[43..]);
    let look_alikes = [wrong_checksum, typo, borrowed_checksum];
    for look_alike in &look_alikes {
        assert!(!password_format::is_valid(look_alike), "{look_alike}");
    }
    let text = format!(
        "deploy with {real}\nexample one {}\nexample two {}\nexample three {}\n",
        look_alikes[0], look_alikes[1], look_alikes[2]
    );
    std::fs::write(dir.join("fixture.txt"), text).unwrap();
    real
}

/// In CI the tool must be there (`.ci/run` installs it); elsewhere its absence is said loudly.
fn detect_secrets_installed() -> bool {
    let found = Command::new("detect-secrets")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !crate::helpers::in_ci(),
            "detect-secrets is required in CI: pip install detect-secrets"
        );
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED the detect-secrets test: `detect-secrets` is not installed (pip install detect-secrets) ***\n"
        );
    }
    found
}

#[test]
fn detect_secrets_with_the_plugin_finds_only_the_real_password() {
    if !detect_secrets_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let output = Command::new("detect-secrets")
        .args([
            "scan",
            "--plugin",
            &format!("{DOCS}/sesame_detect_secrets.py"),
            "fixture.txt",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let findings = report["results"]["fixture.txt"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(findings.len(), 1, "exactly one finding: {findings:?}");
    assert_eq!(findings[0]["type"], "Sesame Tokens password");
    assert_eq!(findings[0]["line_number"], 1);
    // `sesame scan` agrees.
    let scan = sesame::scan::scan(&[dir.path().join("fixture.txt")]);
    assert_eq!(scan.findings.len(), 1);
    assert_eq!(scan.findings[0].line, 1);
}

/// gitleaks matches by pattern alone (it has no checksums): its rule finds the real
/// password and the look-alikes, and nothing shorter. Checked with Python's `re`, whose
/// syntax for this pattern is RE2's.
#[test]
fn the_gitleaks_rule_matches_the_password_form() {
    let rules = std::fs::read_to_string(format!("{DOCS}/gitleaks.toml")).unwrap();
    let pattern = rules
        .lines()
        .find_map(|line| line.strip_prefix("regex = '''")?.strip_suffix("'''"))
        .expect("the rule's regex");
    let dir = tempfile::tempdir().unwrap();
    let real = fixture(dir.path());
    let text = std::fs::read_to_string(dir.path().join("fixture.txt")).unwrap()
        + &format!("too short {}\n", &real[..45]);
    let output = Command::new("python3")
        .args([
            "-c",
            "import re, sys; print(len(re.findall(sys.argv[1], sys.stdin.read(), re.M)))",
            pattern,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .expect("python3 runs");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "4");
}
