//! [`JwtError`]: why a bearer token was refused.

/// Which part of a compact token (`header.payload.signature`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPart {
    /// The JOSE header.
    Header,
    /// The claims.
    Payload,
    /// The signature.
    Signature,
}

impl std::fmt::Display for TokenPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenPart::Header => "header",
            TokenPart::Payload => "payload",
            TokenPart::Signature => "signature",
        })
    }
}

/// Why a token was refused. Every variant but
/// [`KeysUnavailable`](JwtError::KeysUnavailable) is the client's to fix
/// (a 401); that one is the key server's (a 503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// A token is required and the request has no `Authorization: Bearer`.
    #[error("no bearer token: send Authorization: Bearer <token>")]
    MissingToken,
    /// The token is longer than the configured limit (huge claims).
    #[error("the token is {len} bytes long, more than the {max} allowed")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not three dot-separated parts.
    #[error(
        "the token has {found} dot-separated parts, not 3 (header.payload.signature); encrypted tokens (JWE) are not accepted"
    )]
    SegmentCount {
        /// How many parts it has.
        found: usize,
    },
    /// A part is not unpadded base64url.
    #[error("the token's {part} is not unpadded base64url")]
    BadBase64 {
        /// Which part.
        part: TokenPart,
    },
    /// A part is not the JSON object it must be.
    #[error("the token's {part} is not a JSON object of the expected shape: {reason}")]
    BadJson {
        /// Which part.
        part: TokenPart,
        /// What the parser said.
        reason: String,
    },
    /// `alg: none`: an unsigned token, never accepted.
    #[error("the token is unsigned (alg none); only signed tokens are accepted")]
    AlgNone,
    /// The header has a `crit` list, whose extensions this verifier does
    /// not implement, so it must refuse the token (RFC 7515, 4.1.11).
    #[error("the token's header lists critical extensions ({crit}), which are not supported")]
    CriticalHeader {
        /// The `crit` value.
        crit: String,
    },
    /// An algorithm that is not in the allow list (or not known at all).
    #[error("the token's algorithm {alg} is not allowed here; allowed: {allowed}")]
    AlgorithmNotAllowed {
        /// The header's `alg`.
        alg: String,
        /// The allow list.
        allowed: String,
    },
    /// The token's algorithm does not fit the key type: an HMAC token
    /// against public keys (signed with the public key's bytes as the
    /// secret, the classic confusion attack), an RSA token against an EC
    /// key, a key declared for another algorithm.
    #[error("the token's algorithm {alg} does not fit {key}; refusing a key confusion")]
    KeyConfusion {
        /// The header's `alg`.
        alg: String,
        /// The key it was checked against.
        key: String,
    },
    /// The key set has several keys and the token does not say which.
    #[error("the token has no kid header, and the key set needs one to choose a key")]
    MissingKeyId,
    /// No key in the set has the token's `kid`.
    #[error("no key has the token's kid {kid:?}")]
    UnknownKeyId {
        /// The header's `kid`, cut to 64 characters.
        kid: String,
    },
    /// The signature does not verify with the key.
    #[error("the token's signature is invalid")]
    InvalidSignature,
    /// `exp` is in the past (beyond the leeway).
    #[error("the token has expired; get a new one")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("the token is not valid yet (nbf is in the future)")]
    NotYetValid,
    /// `aud` names none of the configured audiences.
    #[error("the token is for another audience")]
    WrongAudience,
    /// `iss` is none of the configured issuers.
    #[error("the token is from an issuer this service does not trust")]
    WrongIssuer,
    /// A claim the verifier requires (`exp`, and `aud`/`iss` when
    /// configured) is absent.
    #[error("the token has no {claim} claim, which is required")]
    MissingClaim {
        /// The claim's name.
        claim: String,
    },
    /// A registered claim has the wrong type (`exp` as a string, say).
    #[error("the token's {claim} claim has the wrong type")]
    InvalidClaim {
        /// The claim's name.
        claim: String,
    },
    /// The key could not be used (a JWK that does not parse, say).
    #[error("the token's key is unusable: {reason}")]
    UnusableKey {
        /// What went wrong.
        reason: String,
    },
    /// The JWK set could not be fetched and none is cached: the request
    /// can be retried later.
    #[error("the signing keys could not be fetched ({reason}); retry later")]
    KeysUnavailable {
        /// What went wrong with the fetch.
        reason: String,
    },
}

impl JwtError {
    /// The stable machine-readable code of this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            JwtError::MissingToken => "missing_token",
            JwtError::TooLarge { .. } => "token_too_large",
            JwtError::SegmentCount { .. } => "token_malformed",
            JwtError::BadBase64 { .. } => "token_bad_base64",
            JwtError::BadJson { .. } => "token_bad_json",
            JwtError::AlgNone => "token_unsigned",
            JwtError::CriticalHeader { .. } => "token_critical_header",
            JwtError::AlgorithmNotAllowed { .. } => "token_algorithm_not_allowed",
            JwtError::KeyConfusion { .. } => "token_key_confusion",
            JwtError::MissingKeyId => "token_missing_kid",
            JwtError::UnknownKeyId { .. } => "token_unknown_kid",
            JwtError::InvalidSignature => "token_bad_signature",
            JwtError::Expired => "token_expired",
            JwtError::NotYetValid => "token_not_yet_valid",
            JwtError::WrongAudience => "token_wrong_audience",
            JwtError::WrongIssuer => "token_wrong_issuer",
            JwtError::MissingClaim { .. } => "token_missing_claim",
            JwtError::InvalidClaim { .. } => "token_invalid_claim",
            JwtError::UnusableKey { .. } => "token_unusable_key",
            JwtError::KeysUnavailable { .. } => "keys_unavailable",
        }
    }
}
