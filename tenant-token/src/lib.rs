#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Domain separation: a MAC of one kind is never a valid MAC of another.
mod domain {
    /// The proof a connection sends with its secret when it opens an
    /// extension session.
    pub(crate) const OPEN: &[u8] = b"tenancy/ext-open/v1";
    /// A session token's MAC.
    pub(crate) const SESSION: &[u8] = b"tenancy/ext-enter/v1";
    /// A bound token's MAC.
    pub(crate) const BOUND: &[u8] = b"tenancy/bound/v1";
}

/// A tenant's or a user's id: the 16 bytes of its UUID.
pub type Id = [u8; 16];

/// Why a token's text was refused before any MAC was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Not `s1.` or `b1.` followed by its fields.
    Format,
    /// An id that is not a UUID.
    Id,
    /// A counter or key id that is not a decimal number in range.
    Number,
    /// A MAC that is not 64 hex digits.
    Mac,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenError::Format => "not a tenant context token",
            TokenError::Id => "a tenant context token with an id that is not a UUID",
            TokenError::Number => "a tenant context token with a malformed number",
            TokenError::Mac => "a tenant context token with a malformed MAC",
        })
    }
}

impl std::error::Error for TokenError {}

/// A token entering `tenant` (or none) for `user` (or none) on one
/// connection, as the `counter`th on it. Its MAC is keyed by the
/// connection's own secret ([`SessionToken::sign`]).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken {
    /// The tenant entered, or none (a transaction with a user only, or one
    /// that only spends the counter).
    pub tenant: Option<Id>,
    /// The user the transaction acts for, or none.
    pub user: Option<Id>,
    /// Must exceed every counter used before on the connection.
    pub counter: i64,
    mac: [u8; 32],
}

impl SessionToken {
    /// The token under `secret`, the connection's session secret.
    pub fn sign(secret: &[u8], tenant: Option<Id>, user: Option<Id>, counter: i64) -> Self {
        let mac = Self::mac(secret, tenant, user, counter)
            .finalize()
            .into_bytes()
            .into();
        Self {
            tenant,
            user,
            counter,
            mac,
        }
    }

    fn mac(secret: &[u8], tenant: Option<Id>, user: Option<Id>, counter: i64) -> Hmac<Sha256> {
        let mut m = hmac(secret);
        m.update(domain::SESSION);
        update_id(&mut m, tenant);
        update_id(&mut m, user);
        m.update(&counter.to_be_bytes());
        m
    }

    /// Whether the MAC is this token's under `secret` (in constant time).
    pub fn verify(&self, secret: &[u8]) -> bool {
        Self::mac(secret, self.tenant, self.user, self.counter)
            .verify_slice(&self.mac)
            .is_ok()
    }

    /// Reads `s1.<tenant>.<user>.<counter>.<mac>` (an absent id is empty).
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        let mut parts = text.split('.');
        let (Some("s1"), Some(tenant), Some(user), Some(counter), Some(mac), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(TokenError::Format);
        };
        Ok(Self {
            tenant: parse_id(tenant)?,
            user: parse_id(user)?,
            counter: parse_number(counter)?,
            mac: parse_mac(mac)?,
        })
    }
}

impl fmt::Display for SessionToken {
    /// The text [`SessionToken::parse`] reads: hex digits, dashes, dots and
    /// digits only, so it goes into a SQL literal unescaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "s1.{}.{}.{}.{}",
            IdText(self.tenant),
            IdText(self.user),
            self.counter,
            hex::encode(self.mac)
        )
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionToken")
            .field("tenant", &IdText(self.tenant).to_string())
            .field("user", &IdText(self.user).to_string())
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

/// What a connection sends with its fresh secret when it opens an
/// extension session: proof that it holds the context key.
pub fn open_proof(key: &[u8], secret: &[u8]) -> [u8; 32] {
    let mut m = hmac(key);
    m.update(domain::OPEN);
    m.update(secret);
    m.finalize().into_bytes().into()
}

/// Whether `proof` is [`open_proof`] of `secret` under `key` (in constant
/// time).
pub fn verify_open_proof(key: &[u8], secret: &[u8], proof: &[u8]) -> bool {
    let mut m = hmac(key);
    m.update(domain::OPEN);
    m.update(secret);
    m.verify_slice(proof).is_ok()
}

/// A token entering `tenant` (or none) for `user` (or none) in one
/// transaction of one backend: its MAC, under the context key, covers the
/// backend's pid and the transaction's start time in microseconds since
/// the Unix epoch, both read after `BEGIN`.
#[derive(Clone, PartialEq, Eq)]
pub struct BoundToken {
    /// The context key's id.
    pub key_id: i32,
    /// The tenant entered, or none.
    pub tenant: Option<Id>,
    /// The user the transaction acts for, or none.
    pub user: Option<Id>,
    mac: [u8; 32],
}

/// The transaction a [`BoundToken`] is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transaction {
    /// `pg_backend_pid()`.
    pub pid: i32,
    /// `transaction_timestamp()` in microseconds since the Unix epoch.
    pub start_micros: i64,
}

impl BoundToken {
    /// The token under the context key `key` (whose id is `key_id`).
    pub fn sign(
        key: &[u8],
        key_id: i32,
        tenant: Option<Id>,
        user: Option<Id>,
        tx: Transaction,
    ) -> Self {
        let mac = Self::mac(key, tenant, user, tx)
            .finalize()
            .into_bytes()
            .into();
        Self {
            key_id,
            tenant,
            user,
            mac,
        }
    }

    fn mac(key: &[u8], tenant: Option<Id>, user: Option<Id>, tx: Transaction) -> Hmac<Sha256> {
        let mut m = hmac(key);
        m.update(domain::BOUND);
        update_id(&mut m, tenant);
        update_id(&mut m, user);
        m.update(&tx.pid.to_be_bytes());
        m.update(&tx.start_micros.to_be_bytes());
        m
    }

    /// Whether the MAC is this token's under `key` for `tx` (in constant
    /// time).
    pub fn verify(&self, key: &[u8], tx: Transaction) -> bool {
        Self::mac(key, self.tenant, self.user, tx)
            .verify_slice(&self.mac)
            .is_ok()
    }

    /// Reads `b1.<key id>.<tenant>.<user>.<mac>`.
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        let mut parts = text.split('.');
        let (Some("b1"), Some(key_id), Some(tenant), Some(user), Some(mac), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(TokenError::Format);
        };
        Ok(Self {
            key_id: key_id.parse().map_err(|_| TokenError::Number)?,
            tenant: parse_id(tenant)?,
            user: parse_id(user)?,
            mac: parse_mac(mac)?,
        })
    }
}

impl fmt::Display for BoundToken {
    /// The text [`BoundToken::parse`] reads, and the SQL verifier splits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "b1.{}.{}.{}.{}",
            self.key_id,
            IdText(self.tenant),
            IdText(self.user),
            hex::encode(self.mac)
        )
    }
}

impl fmt::Debug for BoundToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundToken")
            .field("key_id", &self.key_id)
            .field("tenant", &IdText(self.tenant).to_string())
            .field("user", &IdText(self.user).to_string())
            .finish_non_exhaustive()
    }
}

fn hmac(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length")
}

/// Each id is preceded by a presence byte, so that no id stands for
/// "none" and a tenant is never read as a user.
fn update_id(m: &mut Hmac<Sha256>, id: Option<Id>) {
    match id {
        Some(bytes) => {
            m.update(&[1]);
            m.update(&bytes);
        }
        None => m.update(&[0]),
    }
}

/// An id as a canonical UUID (`8-4-4-4-12` lowercase hex), or nothing.
struct IdText(Option<Id>);

impl fmt::Display for IdText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(b) = self.0 else {
            return Ok(());
        };
        let h = hex::encode(b);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
}

fn parse_id(text: &str) -> Result<Option<Id>, TokenError> {
    if text.is_empty() {
        return Ok(None);
    }
    let b = text.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return Err(TokenError::Id);
    }
    let digits: String = text.chars().filter(|&c| c != '-').collect();
    let mut id = [0; 16];
    hex::decode_to_slice(&digits, &mut id).map_err(|_| TokenError::Id)?;
    Ok(Some(id))
}

fn parse_number(text: &str) -> Result<i64, TokenError> {
    if text.is_empty() || !text.bytes().all(|c| c.is_ascii_digit()) {
        return Err(TokenError::Number);
    }
    text.parse().map_err(|_| TokenError::Number)
}

fn parse_mac(text: &str) -> Result<[u8; 32], TokenError> {
    let mut mac = [0; 32];
    hex::decode_to_slice(text, &mut mac).map_err(|_| TokenError::Mac)?;
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: Id = [0x11; 16];
    const U: Id = [0x22; 16];

    #[test]
    fn session_tokens_verify_under_their_secret_only() {
        let token = SessionToken::sign(b"secret", Some(T), None, 7);
        assert!(token.verify(b"secret"));
        assert!(!token.verify(b"other"));
        let text = token.to_string();
        assert_eq!(
            text,
            format!(
                "s1.11111111-1111-1111-1111-111111111111..7.{}",
                hex::encode(token.mac)
            )
        );
        assert_eq!(SessionToken::parse(&text), Ok(token.clone()));
        // Every field is under the MAC.
        let mut moved = token.clone();
        moved.counter = 8;
        assert!(!moved.verify(b"secret"));
        let mut as_user = token.clone();
        as_user.user = as_user.tenant.take();
        assert!(!as_user.verify(b"secret"));
    }

    #[test]
    fn bound_tokens_verify_in_their_transaction_only() {
        let tx = Transaction {
            pid: 42,
            start_micros: 1_700_000_000_000_000,
        };
        let token = BoundToken::sign(b"key", 3, Some(T), Some(U), tx);
        assert!(token.verify(b"key", tx));
        assert!(!token.verify(b"key", Transaction { pid: 43, ..tx }));
        assert!(!token.verify(
            b"key",
            Transaction {
                start_micros: tx.start_micros + 1,
                ..tx
            }
        ));
        assert!(!token.verify(b"other", tx));
        let text = token.to_string();
        assert!(text.starts_with("b1.3.11111111-"), "{text}");
        assert_eq!(BoundToken::parse(&text), Ok(token));
    }

    #[test]
    fn the_bound_mac_is_the_one_sql_recomputes() {
        // The SQL verifier builds the message from uuid_send, int4send
        // and int8send; this pins the bytes it must produce.
        let tx = Transaction {
            pid: 1,
            start_micros: 2,
        };
        let token = BoundToken::sign(&[7; 32], 1, Some([0; 16]), None, tx);
        let mut m = hmac(&[7; 32]);
        m.update(b"tenancy/bound/v1\x01");
        m.update(&[0; 16]);
        m.update(b"\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02");
        assert_eq!(token.mac, <[u8; 32]>::from(m.finalize().into_bytes()));
    }

    #[test]
    fn open_proofs_verify() {
        let proof = open_proof(b"key", b"secret");
        assert!(verify_open_proof(b"key", b"secret", &proof));
        assert!(!verify_open_proof(b"key", b"secreT", &proof));
        assert!(!verify_open_proof(b"key", b"secret", &proof[..31]));
    }

    #[test]
    fn malformed_tokens_are_refused_by_kind() {
        for (text, error) in [
            ("", TokenError::Format),
            ("s1.....", TokenError::Format),
            ("s2...1.", TokenError::Format),
            ("s1.x..1.00", TokenError::Id),
            ("s1...-1.00", TokenError::Number),
            ("s1...1.zz", TokenError::Mac),
        ] {
            assert_eq!(SessionToken::parse(text), Err(error), "{text:?}");
        }
        assert_eq!(BoundToken::parse("b1.x...00"), Err(TokenError::Number));
        assert_eq!(BoundToken::parse("s1...1.00"), Err(TokenError::Format));
    }

    proptest! {
        #[test]
        fn any_session_token_round_trips(tenant: Option<Id>, user: Option<Id>, counter in 0..i64::MAX) {
            let token = SessionToken::sign(b"k", tenant, user, counter);
            prop_assert_eq!(SessionToken::parse(&token.to_string()), Ok(token));
        }

        #[test]
        fn no_text_panics_the_parsers(text in "\\PC{0,120}") {
            let _ = SessionToken::parse(&text);
            let _ = BoundToken::parse(&text);
        }
    }
}
