//! [`JwtKeys`]: what signatures are checked against.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

use super::error::JwtError;
use crate::config::ConfigError;

/// The shortest HMAC secret accepted: 256 bits, as RFC 7518 3.2 asks for
/// HS256.
pub const MIN_HMAC_SECRET: usize = 32;

/// The keys a [`JwtVerifier`](super::JwtVerifier) checks signatures with.
///
/// A fixed key fixes the algorithm (`hs256` accepts only HS256). A JWK set
/// (static or fetched) holds public keys only, chosen by the token's `kid`;
/// an HMAC secret in a set is refused, so a public key can never double
/// as a shared secret. Keys a token carries itself (`jwk`, `jku`, `x5u`
/// headers) are never used.
#[derive(Clone)]
pub struct JwtKeys(pub(crate) Keys);

#[derive(Clone)]
pub(crate) enum Keys {
    Fixed {
        key: Arc<DecodingKey>,
        alg: Algorithm,
    },
    Set(Arc<KeySet>),
    #[cfg(feature = "jwks-url")]
    Url(super::JwksUrl),
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Keys::Fixed { alg, .. } => write!(f, "JwtKeys::Fixed({alg:?})"),
            Keys::Set(set) => write!(f, "JwtKeys::Set({} keys)", set.keys.len()),
            #[cfg(feature = "jwks-url")]
            Keys::Url(url) => write!(f, "JwtKeys::Url({url:?})"),
        }
    }
}

impl JwtKeys {
    /// A shared HMAC secret for HS256, at least [`MIN_HMAC_SECRET`] bytes.
    pub fn hs256(secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let secret = secret.as_ref();
        if secret.len() < MIN_HMAC_SECRET {
            return Err(ConfigError::InvalidKey {
                what: "HS256 secret".to_owned(),
                reason: format!(
                    "it is {} bytes; use at least {MIN_HMAC_SECRET} random bytes",
                    secret.len()
                ),
            });
        }
        let key = DecodingKey::from_secret(secret).map_err(|e| invalid("HS256 secret", &e))?;
        Ok(Self::fixed(key, Algorithm::HS256))
    }

    /// An RSA public key (PEM, `BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC
    /// KEY`) for RS256.
    pub fn rs256_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_rsa_pem(pem).map_err(|e| invalid("RS256 PEM", &e))?;
        Ok(Self::fixed(key, Algorithm::RS256))
    }

    /// A P-256 public key (PEM, `BEGIN PUBLIC KEY`) for ES256.
    pub fn es256_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_ec_pem(pem).map_err(|e| invalid("ES256 PEM", &e))?;
        Ok(Self::fixed(key, Algorithm::ES256))
    }

    /// A fixed JWK set (public keys with a `kid` each).
    pub fn jwk_set(set: &JwkSet) -> Result<Self, ConfigError> {
        KeySet::from_jwks(set, Strict::Yes).map(|s| Self(Keys::Set(Arc::new(s))))
    }

    /// A JWK set fetched from a URL and refreshed (see [`JwksUrl`](super::JwksUrl)).
    #[cfg(feature = "jwks-url")]
    pub fn jwks_url(url: super::JwksUrl) -> Self {
        Self(Keys::Url(url))
    }

    fn fixed(key: DecodingKey, alg: Algorithm) -> Self {
        Self(Keys::Fixed {
            key: Arc::new(key),
            alg,
        })
    }

    /// Whether these keys are an HMAC secret (else public keys).
    pub(crate) fn is_hmac(&self) -> bool {
        matches!(&self.0, Keys::Fixed { alg, .. } if alg.family() == AlgorithmFamily::Hmac)
    }

    /// The algorithms allowed unless the verifier is told otherwise.
    pub(crate) fn default_algorithms(&self) -> Vec<Algorithm> {
        match &self.0 {
            Keys::Fixed { alg, .. } => vec![*alg],
            _ => vec![Algorithm::RS256, Algorithm::ES256],
        }
    }

    /// What the keys are, for a key-confusion message.
    pub(crate) fn describe(&self) -> String {
        match &self.0 {
            Keys::Fixed { alg, .. } => format!("the configured {alg:?} key"),
            _ => "a set of public keys".to_owned(),
        }
    }

    /// The key to check a token of `alg` with `kid` against.
    pub(crate) async fn select(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Arc<DecodingKey>, JwtError> {
        match &self.0 {
            Keys::Fixed { key, alg: fixed } => {
                if fixed.family() == alg.family() {
                    Ok(key.clone())
                } else {
                    Err(confusion(alg, &self.describe()))
                }
            }
            Keys::Set(set) => set.select(alg, kid.ok_or(JwtError::MissingKeyId)?),
            #[cfg(feature = "jwks-url")]
            Keys::Url(url) => {
                let kid = kid.ok_or(JwtError::MissingKeyId)?;
                url.key_set(kid).await?.select(alg, kid)
            }
        }
    }
}

/// Whether a key that cannot be used fails the whole set (a set given in
/// code) or is skipped with a warning (a fetched set, where one odd key
/// must not stop every login).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strict {
    Yes,
    No,
}

/// Public keys by `kid`, parsed once when the set is loaded.
#[derive(Default)]
pub(crate) struct KeySet {
    keys: HashMap<String, SetKey>,
}

struct SetKey {
    key: Arc<DecodingKey>,
    family: AlgorithmFamily,
    /// The JWK's own `alg`, when it declares one.
    alg: Option<Algorithm>,
}

impl KeySet {
    pub(crate) fn from_jwks(set: &JwkSet, strict: Strict) -> Result<Self, ConfigError> {
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            match SetKey::from_jwk(jwk) {
                Ok(Some((kid, key))) => {
                    keys.insert(kid, key);
                }
                Ok(None) => {}
                Err(e) if strict == Strict::No => {
                    tracing::warn!(error = %e, "skipping an unusable key of the fetched JWK set");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Self { keys })
    }

    #[cfg(feature = "jwks-url")]
    pub(crate) fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    fn select(&self, alg: Algorithm, kid: &str) -> Result<Arc<DecodingKey>, JwtError> {
        let key = self.keys.get(kid).ok_or_else(|| JwtError::UnknownKeyId {
            kid: super::cut(kid, 64),
        })?;
        if key.family != alg.family() {
            return Err(confusion(alg, &format!("key {kid:?} ({:?})", key.family)));
        }
        if let Some(declared) = key.alg.filter(|d| *d != alg) {
            return Err(confusion(
                alg,
                &format!("key {kid:?}, which is declared for {declared:?}"),
            ));
        }
        Ok(key.key.clone())
    }
}

impl SetKey {
    /// The key under its kid; `None` for keys that are not for verifying
    /// signatures (encryption keys), which a set may carry too.
    fn from_jwk(jwk: &Jwk) -> Result<Option<(String, SetKey)>, ConfigError> {
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            return Ok(None);
        }
        let kid = jwk
            .common
            .key_id
            .clone()
            .ok_or_else(|| ConfigError::InvalidKey {
                what: "JWK without kid".to_owned(),
                reason: "every key of a set needs a kid to be chosen by".to_owned(),
            })?;
        let what = || format!("JWK {kid:?}");
        let family = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa,
            AlgorithmParameters::EllipticCurve(_) => AlgorithmFamily::Ec,
            AlgorithmParameters::OctetKeyPair(_) => AlgorithmFamily::Ed,
            AlgorithmParameters::OctetKey(_) => {
                return Err(ConfigError::InvalidKey {
                    what: what(),
                    reason: "it is a shared secret (kty oct); a key set holds public keys only"
                        .to_owned(),
                });
            }
            _ => return Ok(None), // a key type this crate cannot verify with
        };
        let alg = match &jwk.common.key_algorithm {
            None => None,
            Some(declared) => match declared.to_string().parse::<Algorithm>() {
                Ok(alg) => Some(alg),
                Err(_) => return Ok(None), // an encryption algorithm (RSA-OAEP, ..)
            },
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| invalid(&what(), &e))?;
        let key = SetKey {
            key: Arc::new(key),
            family,
            alg,
        };
        Ok(Some((kid, key)))
    }
}

fn invalid(what: &str, e: &jsonwebtoken::errors::Error) -> ConfigError {
    ConfigError::InvalidKey {
        what: what.to_owned(),
        reason: e.to_string(),
    }
}

fn confusion(alg: Algorithm, key: &str) -> JwtError {
    JwtError::KeyConfusion {
        alg: format!("{alg:?}"),
        key: key.to_owned(),
    }
}
