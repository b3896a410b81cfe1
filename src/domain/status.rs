//! Where a token stands: the one rule the API check and every page share.

use chrono::NaiveDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    Active,
    /// Past its expiry, never revoked.
    Expired,
    Revoked,
}

impl TokenStatus {
    /// Active means neither revoked nor past its expiry; a revocation outranks an expiry.
    pub fn of(
        expires_at: NaiveDateTime,
        revoked_at: Option<NaiveDateTime>,
        now: NaiveDateTime,
    ) -> Self {
        match revoked_at {
            Some(_) => TokenStatus::Revoked,
            None if expires_at > now => TokenStatus::Active,
            None => TokenStatus::Expired,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Expired => "expired",
            TokenStatus::Revoked => "revoked",
        }
    }

    pub fn is_active(self) -> bool {
        self == TokenStatus::Active
    }

    pub fn is_revoked(self) -> bool {
        self == TokenStatus::Revoked
    }

    pub fn is_expired(self) -> bool {
        self == TokenStatus::Expired
    }
}

impl std::fmt::Display for TokenStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
