//! [`UserId`]: the authenticated user a transaction acts for.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The id of the user a transaction acts for, as the application
/// authenticated them (a verified token's subject, say).
///
/// [`TenantPool::begin_as`](crate::TenantPool::begin_as) signs it into the
/// transaction's context with the tenant, so SQL run in the transaction
/// reads it (`tenancy.current_user_id()`, the view `tenancy.context`) and
/// cannot change it, exactly like the tenant. It renders as a lowercase
/// hyphenated UUID: only hex digits and dashes, so it goes into the begin
/// message unescaped. In SQL it is a `uuid` (a model field, a bound value,
/// a row read back), so every user id in the API can be a `UserId`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(Uuid);

impl UserId {
    /// The user with this UUID.
    pub const fn new(id: Uuid) -> Self {
        Self(id)
    }

    /// A new random (version 4) id: for a user the application creates,
    /// at sign-up say.
    pub fn new_v4() -> Self {
        Self(Uuid::new_v4())
    }

    /// The UUID, to bind in a query.
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl From<Uuid> for UserId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.0.hyphenated())
    }
}

impl FromStr for UserId {
    type Err = uuid::Error;

    /// Any form `uuid` parses; the id is rendered hyphenated whatever the
    /// input was, so no input form reaches SQL text.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

crate::uuid_sql::uuid_column!(UserId);

impl From<UserId> for Uuid {
    fn from(id: UserId) -> Self {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_hyphenated_whatever_the_input() {
        let id: UserId = "3F333DF690A44FDA8DD39485D27CEE36".parse().unwrap();
        assert_eq!(id.to_string(), "3f333df6-90a4-4fda-8dd3-9485d27cee36");
        assert!("not-a-uuid".parse::<UserId>().is_err());
    }
}
