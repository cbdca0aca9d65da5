//! The secrets behind an unforgeable tenant context.
//!
//! The application holds a [`ContextKey`] that the application role's SQL
//! can never read: the database keeps its copy in a table only the
//! migration owner's functions read. Each new connection proves it knows
//! the key and hands the server a fresh random [`SessionSecret`], both as
//! bind parameters (never in query text, so never in `pg_stat_activity`).
//! Each transaction then enters its tenant with a token: a MAC, under the
//! connection's secret, of the tenant and a counter that only goes up. A
//! token seen in `pg_stat_activity` is worthless elsewhere (another
//! connection has another secret) and later (its counter is spent).

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::tenant_id::TenantId;
use crate::user_id::UserId;

/// Domain separation: a proof of one kind is never a valid MAC of another.
const OPEN: &[u8] = b"tenancy/open/v1";
const ENTER: &[u8] = b"tenancy/enter/v2";

/// The smallest key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 32;

/// The application's secret for entering tenants, with the id the
/// database knows it by (two keys may be valid at once, for rotation).
///
/// Read it from the environment (`TENANT_CONTEXT_KEY=<id>:<hex>`) or a
/// secret store; `tenant context-key new` makes one. Its `Debug` and
/// `Display` never show the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ContextKey {
    id: i32,
    key: Vec<u8>,
}

impl ContextKey {
    /// A key from its id and bytes (at least [`MIN_KEY_LEN`]).
    pub fn new(id: i32, key: impl Into<Vec<u8>>) -> Result<Self, ContextKeyError> {
        let key = key.into();
        if key.len() < MIN_KEY_LEN {
            return Err(ContextKeyError::TooShort { bytes: key.len() });
        }
        Ok(Self { id, key })
    }

    /// A new random key with this id.
    pub fn generate(id: i32) -> Self {
        let mut key = vec![0; MIN_KEY_LEN];
        getrandom::fill(&mut key).expect("the operating system's random number generator works");
        Self { id, key }
    }

    /// The id the database knows the key by.
    pub fn id(&self) -> i32 {
        self.id
    }

    /// The key, hex-encoded, for writing it where it is kept (a secret
    /// store, the database's key table). Handle with care.
    pub fn expose_hex(&self) -> String {
        hex::encode(&self.key)
    }

    /// The key's bytes. Handle with care.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.key
    }

    /// `<id>:<hex>`, the form [`FromStr`] reads. Handle with care.
    pub fn expose_spec(&self) -> String {
        format!("{}:{}", self.id, self.expose_hex())
    }

    /// What a new connection sends with its secret: proof it knows the key.
    pub(crate) fn open_proof(&self, secret: &SessionSecret) -> [u8; 32] {
        mac(&self.key, &[OPEN, &secret.0])
    }
}

impl fmt::Debug for ContextKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContextKey {{ id: {}, key: <redacted> }}", self.id)
    }
}

impl FromStr for ContextKey {
    type Err = ContextKeyError;

    /// `<id>:<hex>`: the key id, a colon, the key as hex (64 digits or more).
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let (id, key) = spec.trim().split_once(':').ok_or(ContextKeyError::Format)?;
        let id: i32 = id.parse().map_err(|_| ContextKeyError::Format)?;
        let key = hex::decode(key).map_err(|_| ContextKeyError::Format)?;
        Self::new(id, key)
    }
}

/// A context key that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContextKeyError {
    /// Not `<id>:<hex>`.
    #[error(
        "a tenant context key is written <id>:<hex key>, e.g. 1:9f2c..(64 hex digits); `tenant context-key new` makes one"
    )]
    Format,
    /// Shorter than [`MIN_KEY_LEN`] bytes.
    #[error("a tenant context key needs at least {MIN_KEY_LEN} bytes, this one has {bytes}")]
    TooShort {
        /// Its length.
        bytes: usize,
    },
}

/// A connection's own secret, made fresh for every connection and sent
/// once, as a bind parameter.
#[derive(Clone)]
pub(crate) struct SessionSecret([u8; 32]);

impl SessionSecret {
    pub(crate) fn generate() -> Self {
        let mut secret = [0; 32];
        getrandom::fill(&mut secret).expect("the operating system's random number generator works");
        Self(secret)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The token that enters `tenant` (or none) for `user` (or none) as
    /// the `counter`th transaction of the connection. Each id is preceded
    /// by a presence byte, so "no user" is never the same message as some
    /// user's id.
    pub(crate) fn enter_mac(
        &self,
        tenant: Option<TenantId>,
        user: Option<UserId>,
        counter: i64,
    ) -> [u8; 32] {
        let tenant = tenant.map(|t| *t.as_uuid().as_bytes());
        let user = user.map(|u| *u.as_uuid().as_bytes());
        let field = |id: &Option<[u8; 16]>| -> Vec<u8> {
            match id {
                Some(bytes) => [&[1u8][..], bytes].concat(),
                None => vec![0],
            }
        };
        mac(
            &self.0,
            &[
                ENTER,
                &field(&tenant),
                &field(&user),
                &counter.to_be_bytes(),
            ],
        )
    }
}

impl fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionSecret(<redacted>)")
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
    for part in parts {
        m.update(part);
    }
    m.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_from_their_spec_and_never_print() {
        let key = ContextKey::generate(7);
        let again: ContextKey = key.expose_spec().parse().unwrap();
        assert_eq!(again, key);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.expose_hex()), "{shown}");
        assert!(shown.contains("redacted"));
        assert_eq!(
            "1:abcd".parse::<ContextKey>(),
            Err(ContextKeyError::TooShort { bytes: 2 })
        );
        for bad in ["", "abcd", "x:00", "1:zz", "1:abc"] {
            assert_eq!(
                bad.parse::<ContextKey>(),
                Err(ContextKeyError::Format),
                "{bad}"
            );
        }
    }

    /// The same MACs the database computes with pgcrypto (RFC 4231 test
    /// case 2 checks the HMAC itself).
    #[test]
    fn macs_are_hmac_sha256() {
        let rfc = mac(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(rfc),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let secret = SessionSecret([1; 32]);
        let tenant = TenantId::from_uuid(uuid::Uuid::from_bytes([2; 16]));
        let t = Some(tenant);
        assert_ne!(secret.enter_mac(t, None, 1), secret.enter_mac(t, None, 2));
        // The tenant's bytes as a user, or no user as a nil one, is another
        // message.
        let as_user = Some(UserId::new(*tenant.as_uuid()));
        assert_ne!(
            secret.enter_mac(t, None, 1),
            secret.enter_mac(None, as_user, 1)
        );
        let nil = Some(UserId::new(uuid::Uuid::nil()));
        assert_ne!(secret.enter_mac(t, None, 1), secret.enter_mac(t, nil, 1));
        let key = ContextKey::new(1, vec![3; 32]).unwrap();
        assert_ne!(key.open_proof(&secret), secret.enter_mac(t, None, 1));
    }
}
