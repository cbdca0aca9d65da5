//! [`TenantId`]: the one type that means "a tenant".

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use uuid::Uuid;

/// A tenant's id: a UUID that is known to mean a tenant.
///
/// From untrusted input (a header, a path segment, a token claim) the way
/// in is [`TenantId::parse`] / [`FromStr`]; from a database row it is the
/// sqlx `Decode` impl. It renders as a lowercase hyphenated UUID, which is
/// why it can be put into the one-round-trip `BEGIN` statement unescaped:
/// its text is only hex digits and dashes.
///
/// Serde reads and writes it as the hyphenated string, and accepts exactly
/// what [`TenantId::parse`] accepts: a JSON body, a token claim or a query
/// string cannot smuggle in another form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Uuid);

/// A string that is not a tenant id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid tenant id {input:?}: expected a UUID such as 3f333df6-90a4-4fda-8dd3-9485d27cee36"
)]
pub struct ParseTenantIdError {
    input: String,
}

impl ParseTenantIdError {
    /// The text that failed to parse (cut to 64 characters).
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl TenantId {
    /// Parses a hyphenated UUID (any case).
    pub fn parse(input: &str) -> Result<Self, ParseTenantIdError> {
        // Only the hyphenated form: it is what tenants.id renders as, so a
        // slug or a simple-form string is caught here rather than looked up.
        if input.len() != 36 {
            return Err(Self::parse_error(input));
        }
        Uuid::try_parse(input)
            .map(Self)
            .map_err(|_| Self::parse_error(input))
    }

    fn parse_error(input: &str) -> ParseTenantIdError {
        ParseTenantIdError {
            input: input.chars().take(64).collect(),
        }
    }

    /// Wraps a UUID that is already known to be a tenant id (read from the
    /// tenants table, say).
    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// The UUID.
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl From<Uuid> for TenantId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl From<TenantId> for Uuid {
    fn from(id: TenantId) -> Self {
        id.0
    }
}

impl FromStr for TenantId {
    type Err = ParseTenantIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0.hyphenated())
    }
}

impl Serialize for TenantId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0.hyphenated())
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TenantIdVisitor;

        impl Visitor<'_> for TenantIdVisitor {
            type Value = TenantId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tenant id: a hyphenated UUID string")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<TenantId, E> {
                TenantId::parse(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(TenantIdVisitor)
    }
}

crate::uuid_sql::uuid_column!(TenantId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_hyphenated_uuids() {
        let id = TenantId::parse("3F333DF6-90A4-4FDA-8DD3-9485D27CEE36").unwrap();
        assert_eq!(id.to_string(), "3f333df6-90a4-4fda-8dd3-9485d27cee36");
        assert!(TenantId::parse("3f333df690a44fda8dd39485d27cee36").is_err());
        assert!(TenantId::parse("acme").is_err());
        let err = "x'; DROP TABLE tenants; --"
            .parse::<TenantId>()
            .unwrap_err();
        assert!(err.to_string().contains("expected a UUID"), "{err}");
    }

    #[test]
    fn display_is_sql_literal_safe() {
        let id = TenantId::from(Uuid::new_v4());
        assert!(
            id.to_string()
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == '-')
        );
    }

    #[test]
    fn serde_accepts_exactly_what_parse_accepts() {
        let id = TenantId::from(Uuid::new_v4());
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<TenantId>(&json).unwrap(), id);
        let hyphenated = "3f333df6-90a4-4fda-8dd3-9485d27cee36";
        for input in [
            hyphenated.to_owned(),
            hyphenated.to_uppercase(),
            hyphenated.replace('-', ""),
            format!("{{{hyphenated}}}"),
            format!("urn:uuid:{hyphenated}"),
            "nope".to_owned(),
            String::new(),
        ] {
            let parsed = TenantId::parse(&input).ok();
            let deserialized = serde_json::from_value::<TenantId>(input.clone().into()).ok();
            assert_eq!(parsed, deserialized, "{input:?}");
        }
        assert!(TenantId::parse(hyphenated).is_ok());
        assert!(TenantId::parse(&hyphenated.replace('-', "")).is_err());
        let err = serde_json::from_str::<TenantId>("\"acme\"").unwrap_err();
        assert!(err.to_string().contains("expected a UUID"), "{err}");
        assert!(serde_json::from_str::<TenantId>("42").is_err());
    }
}
