//! What a person may do in their account.

use diesel::expression::AsExpression;
use diesel::sql_types::Text;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Creates, hands out and revokes tokens; manages people.
    Admin,
    /// Reviews tokens, read-only.
    Support,
    /// Receives credentials through hand-off links.
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Support => "support",
            Role::Member => "member",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Role::Admin),
            "support" => Some(Role::Support),
            "member" => Some(Role::Member),
            _ => None,
        }
    }

    /// Admins and support staff review tokens; members only receive them.
    pub fn can_review(self) -> bool {
        matches!(self, Role::Admin | Role::Support)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown role {0:?} in the database")]
pub struct UnknownRole(String);

/// Read straight from a `role` column (`#[diesel(deserialize_as = String)]`).
impl TryFrom<String> for Role {
    type Error = UnknownRole;
    fn try_from(text: String) -> Result<Self, UnknownRole> {
        Role::parse(&text).ok_or(UnknownRole(text))
    }
}

/// Written straight to a `role` column, as its name.
impl AsExpression<Text> for Role {
    type Expression = <&'static str as AsExpression<Text>>::Expression;
    fn as_expression(self) -> Self::Expression {
        <&'static str as AsExpression<Text>>::as_expression(self.as_str())
    }
}
