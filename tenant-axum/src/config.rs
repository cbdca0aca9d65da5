//! [`ConfigError`]: a layer or resolver set up wrongly, found at start-up.

/// A configuration mistake, reported when the layer is built so that it
/// fails at start-up rather than on a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The path prefix cannot be matched unambiguously.
    #[error("path prefix {prefix:?} is invalid: {reason}")]
    InvalidPathPrefix {
        /// The prefix given.
        prefix: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The base domain is not a plain ASCII domain name.
    #[error("base domain {domain:?} is invalid: {reason}")]
    InvalidBaseDomain {
        /// The domain given.
        domain: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A JWT claim resolver was configured without a token verifier.
    #[error(
        "a JWT claim resolver needs verified tokens: give the layer a JwtVerifier with TenantLayer::builder(..).jwt(verifier)"
    )]
    ClaimWithoutVerifier,
    /// No resolver was configured, so no request could name a tenant.
    #[error("no tenant resolver is configured: add at least one to Resolvers")]
    NoResolvers,
    /// A JWT key could not be read.
    #[error("JWT key {what} is invalid: {reason}")]
    InvalidKey {
        /// Which key (RSA PEM, EC PEM, JWK kid ..).
        what: String,
        /// What the parser said.
        reason: String,
    },
    /// The JWK set URL is not an absolute http(s) URL.
    #[error("JWK set URL {url:?} is invalid: {reason}")]
    InvalidJwksUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An https JWK set URL, but this build has no TLS.
    #[error(
        "JWK set URL {url:?} is https, but this build has no TLS: enable tenant-axum's `rustls` feature, or pass a reqwest::Client built with TLS to JwksUrl::with_client"
    )]
    HttpsWithoutTls {
        /// The URL given.
        url: String,
    },
    /// A token verifier that would accept no token.
    #[error("the JWT verifier allows no algorithm: allow at least one that fits its keys")]
    NoAlgorithms,
}
