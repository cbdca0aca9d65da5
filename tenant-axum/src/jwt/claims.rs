//! [`VerifiedClaims`]: the claims of a token whose signature was checked.

use jsonwebtoken::Algorithm;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The claims of the request's bearer token, after its signature, expiry,
/// not-before, audience and issuer were checked. Only the verifier makes
/// them, so holding one means the token was valid.
///
/// The layer puts them in the request extensions; handlers extract them
/// (`claims: VerifiedClaims`, or `Option<VerifiedClaims>` when a token is
/// optional).
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedClaims {
    claims: Map<String, Value>,
    alg: Algorithm,
    kid: Option<String>,
}

impl VerifiedClaims {
    pub(crate) fn new(claims: Map<String, Value>, alg: Algorithm, kid: Option<String>) -> Self {
        Self { claims, alg, kid }
    }

    /// `sub`: the authenticated user, as the issuer names them.
    pub fn sub(&self) -> Option<&str> {
        self.str("sub")
    }

    /// `sub` as a user id, when it is a UUID: the user the tenant layer
    /// begins the request's transaction for (`TenantPool::begin_as`).
    pub fn user(&self) -> Option<crate::runtime::UserId> {
        self.sub()?.parse().ok()
    }

    /// `iss`: who issued the token.
    pub fn iss(&self) -> Option<&str> {
        self.str("iss")
    }

    /// `exp`, in seconds since the Unix epoch.
    pub fn exp(&self) -> Option<u64> {
        self.claims.get("exp").and_then(Value::as_u64)
    }

    /// A claim by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    /// A string claim by name (`None` when absent or not a string).
    pub fn str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// Every claim.
    pub fn all(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The claims as your own type.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(Value::Object(self.claims.clone()))
    }

    /// The algorithm the signature was checked with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The `kid` of the key that checked it, for a key set.
    pub fn key_id(&self) -> Option<&str> {
        self.kid.as_deref()
    }
}
