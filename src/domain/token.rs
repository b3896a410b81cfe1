//! What an admin says about a token: its name, description and allowed networks.

use super::networks::AllowedNetworks;
use std::fmt;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 1000;

/// A token's name: trimmed, 1 to 100 characters, no control characters. Unique among the
/// account's active tokens (the services check that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenName(String);

impl TokenName {
    /// The name, or what is wrong with it, in words for the form.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            Err("Enter a name.".into())
        } else if name.chars().count() > MAX_NAME_CHARS {
            Err(format!("Use at most {MAX_NAME_CHARS} characters."))
        } else if name.chars().any(char::is_control) {
            Err("The name cannot contain control characters.".into())
        } else {
            Ok(Self(name.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A description: at most 1,000 characters, line breaks and tabs allowed, trailing space
/// dropped. What is wrong with it, in words for the form.
pub fn check_description(raw: &str) -> Result<String, String> {
    let description = raw.trim_end();
    check_note(description, MAX_DESCRIPTION_CHARS, "description")?;
    Ok(description.to_string())
}

/// Free text an admin writes (a description, a reason to revoke): at most `max`
/// characters, and no control characters but line breaks and tabs. `what` names it in the
/// message.
pub fn check_note(text: &str, max: usize, what: &str) -> Result<(), String> {
    if text.chars().count() > max {
        Err(format!("Use at most {max} characters."))
    } else if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        Err(format!("The {what} cannot contain control characters."))
    } else {
        Ok(())
    }
}

/// Name, description and networks: what creating and updating a token share.
#[derive(Debug, Clone)]
pub struct TokenDetails {
    pub name: TokenName,
    pub description: String,
    pub networks: AllowedNetworks,
}
