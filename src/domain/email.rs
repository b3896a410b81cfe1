//! E-mail addresses: checked once where they enter, then trusted.

use diesel::expression::AsExpression;
use diesel::sql_types::Text;
use std::fmt;

/// One deliverable mailbox, trimmed and lower-cased: the only form of an address the
/// product stores, compares or writes to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Enter an e-mail address like name@example.com.")]
pub struct InvalidEmail;

impl EmailAddress {
    /// How an address is written before it is checked (and shown again when refused).
    pub fn normalise(raw: &str) -> String {
        raw.trim().to_lowercase()
    }

    /// By lettre's RFC 5321 parser: no lists (`a@x.test,b@y.test`), no display names or
    /// brackets, no address literals (`x@[127.0.0.1]`), and a dotted domain.
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let email = Self::normalise(raw);
        let valid = email.len() <= 254
            && email.parse::<lettre::Address>().is_ok_and(|address| {
                let domain = address.domain();
                domain.contains('.') && !domain.starts_with(['.', '[']) && !domain.ends_with('.')
            });
        if valid {
            Ok(Self(email))
        } else {
            Err(InvalidEmail)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Read from an `email` column: every stored address was parsed on its way in.
impl From<String> for EmailAddress {
    fn from(stored: String) -> Self {
        Self(stored)
    }
}

/// Written straight to an `email` column.
impl<'a> AsExpression<Text> for &'a EmailAddress {
    type Expression = <&'a str as AsExpression<Text>>::Expression;
    fn as_expression(self) -> Self::Expression {
        <&'a str as AsExpression<Text>>::as_expression(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::EmailAddress;

    #[test]
    fn only_single_deliverable_mailboxes_are_addresses() {
        for good in [
            "a@x.test",
            "first.last+tag@mail.example.com",
            "o'neil@x.test",
        ] {
            assert!(EmailAddress::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "a@x.test,b@y.test",
            "bad<x>@x.test",
            "x@[127.0.0.1]",
            "Name <a@x.test>",
            "a@localhost",
            "a b@x.test",
            "@x.test",
            "a@x.test.",
            "a@.x.test",
            "a@x\u{0}.test",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn addresses_are_kept_trimmed_and_lower_cased() {
        let address = EmailAddress::parse("  Ada@Example.COM ").unwrap();
        assert_eq!(address.as_str(), "ada@example.com");
    }
}
