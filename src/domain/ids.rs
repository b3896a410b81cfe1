//! Ids of the product's records, one type each: a token id cannot be passed where an
//! account id is expected. All are UUIDs, stored as text.
//!
//! ```
//! use sesame::domain::AccountId;
//! fn tokens_of(_account: &AccountId) {}
//! tokens_of(&AccountId::generate());
//! ```
//!
//! The same call with a token's id does not compile:
//!
//! ```compile_fail,E0308
//! use sesame::domain::{AccountId, TokenId};
//! fn tokens_of(_account: &AccountId) {}
//! tokens_of(&TokenId::generate());
//! ```

use diesel::expression::AsExpression;
use diesel::sql_types::{Nullable, Text};
use std::fmt;

/// An id that may arrive from outside (a path, a form): a UUID or nothing, written in its
/// canonical form. Anything else never reaches the database (PostgreSQL would refuse a NUL
/// byte with an error).
pub trait RecordId: Sized {
    fn parse(raw: &str) -> Option<Self>;
}

/// The ids the product has no type for yet (notices, invitations, hand-off links).
impl RecordId for String {
    fn parse(raw: &str) -> Option<Self> {
        uuid::Uuid::parse_str(raw).ok().map(|id| id.to_string())
    }
}

macro_rules! record_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// A fresh id, time-ordered (UUID v7): new rows land at the end of every
            /// primary-key index instead of all over it, and inserts need no RETURNING.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        /// Hashes and compares as its text: a map keyed by ids is looked up with a `&str`,
        /// no copy made.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl RecordId for $name {
            fn parse(raw: &str) -> Option<Self> {
                String::parse(raw).map(Self)
            }
        }

        /// Read from an id column: what was stored is trusted.
        impl From<String> for $name {
            fn from(stored: String) -> Self {
                Self(stored)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'a> AsExpression<Text> for &'a $name {
            type Expression = <&'a str as AsExpression<Text>>::Expression;
            fn as_expression(self) -> Self::Expression {
                <&'a str as AsExpression<Text>>::as_expression(&self.0)
            }
        }

        impl<'a> AsExpression<Nullable<Text>> for &'a $name {
            type Expression = <&'a str as AsExpression<Nullable<Text>>>::Expression;
            fn as_expression(self) -> Self::Expression {
                <&'a str as AsExpression<Nullable<Text>>>::as_expression(&self.0)
            }
        }
    };
}

record_id!(
    /// A company's account: the boundary no user, token or page crosses.
    AccountId
);
record_id!(
    /// An API token.
    TokenId
);
record_id!(
    /// A person who signs in.
    UserId
);
