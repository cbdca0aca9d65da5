//! [`ResolveError`]: a request that names its tenant badly.

use crate::runtime::ParseTenantIdError;
use crate::tenant_ref::{InvalidSlug, Resolved, Source};

/// Why a request's tenant could not be read. Each is answered with a 4xx:
/// the client sent something wrong, and the message says what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// No configured resolver found a tenant in the request.
    #[error("no tenant in the request: {expected}")]
    NoTenant {
        /// Where the configured resolvers look, to tell the client.
        expected: String,
    },
    /// The tenant header's value is not visible ASCII text.
    #[error("header {header} is not visible ASCII text; send a tenant id or slug")]
    HeaderNotText {
        /// The header's name.
        header: String,
    },
    /// The tenant header was sent more than once.
    #[error("header {header} was sent more than once; send it once")]
    RepeatedHeader {
        /// The header's name.
        header: String,
    },
    /// The value is longer than any tenant id or slug.
    #[error("the tenant {what} from {resolver} is {len} bytes long, more than the {max} allowed")]
    TooLong {
        /// Which resolver read it.
        resolver: Source,
        /// What was too long (header value, path segment, host).
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The resolver accepts only ids, and this is not one.
    #[error("the tenant from {resolver} is not a tenant id: {error}")]
    InvalidId {
        /// Which resolver read it.
        resolver: Source,
        /// Why it is not an id.
        error: ParseTenantIdError,
    },
    /// The resolver accepts only slugs, and this is not one.
    #[error("the tenant from {resolver} is not a slug: {error}")]
    InvalidSlug {
        /// Which resolver read it.
        resolver: Source,
        /// Why it is not a slug.
        error: InvalidSlug,
    },
    /// Neither a tenant id nor a slug.
    #[error(
        "the tenant from {resolver}, {input:?}, is neither a tenant id (a hyphenated UUID) nor a slug (lowercase letters and digits joined by single dashes)"
    )]
    InvalidTenantRef {
        /// Which resolver read it.
        resolver: Source,
        /// The text, cut to 64 characters.
        input: String,
    },
    /// The tenant path segment is missing or empty (`/t/`, `/t//projects`).
    #[error(
        "the path {path:?} has an empty tenant segment after {prefix}: use {prefix}/<tenant>/.."
    )]
    EmptyPathSegment {
        /// The configured prefix.
        prefix: String,
        /// The request path, cut to 128 characters.
        path: String,
    },
    /// The tenant path segment is `.` or `..`.
    #[error("the tenant path segment {segment:?} is a dot segment; name a tenant instead")]
    DotSegment {
        /// The segment.
        segment: String,
    },
    /// The tenant path segment is percent-encoded (`%2f`, `%61cme`):
    /// refused so that one tenant has exactly one spelling.
    #[error(
        "the tenant path segment {segment:?} is percent-encoded; tenant ids and slugs never need encoding"
    )]
    EncodedPathSegment {
        /// The segment, cut to 64 characters.
        segment: String,
    },
    /// The host is not a hostname (bad characters, bad port, empty labels).
    #[error("the host {host:?} is malformed: {reason}")]
    MalformedHost {
        /// The host as sent, cut to 128 characters.
        host: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The host has more than one label above the base domain
    /// (`a.b.app.example.com`).
    #[error(
        "the host {host:?} has a nested subdomain {subdomain:?}; tenants are one label above {base}"
    )]
    NestedSubdomain {
        /// The host, lowercased.
        host: String,
        /// Everything above the base domain.
        subdomain: String,
        /// The configured base domain.
        base: String,
    },
    /// The subdomain is an internationalized (punycode `xn--`) label,
    /// which no slug can be.
    #[error(
        "the subdomain {label:?} is an internationalized (punycode) label; tenant slugs are plain ASCII"
    )]
    InternationalizedLabel {
        /// The label.
        label: String,
    },
    /// The token's tenant claim is not a string.
    #[error(
        "the token's {claim} claim is not a string; the issuer must put a tenant id or slug there"
    )]
    ClaimNotString {
        /// The claim's name.
        claim: String,
    },
    /// The token's tenant claim is a string that names no tenant.
    #[error("the token's {claim} claim is not a tenant {expected}: {input:?}")]
    InvalidClaim {
        /// The claim's name.
        claim: String,
        /// "id", "slug" or "id or slug".
        expected: &'static str,
        /// The claim's text, cut to 64 characters.
        input: String,
    },
    /// Two resolvers named different tenants (in all-must-agree mode).
    #[error(
        "the request names two tenants: {} from {} and {} from {}; send one tenant",
        first.tenant, first.source, second.tenant, second.source
    )]
    Conflict {
        /// The first answer, in resolver order.
        first: Box<Resolved>,
        /// The first answer that disagrees with it.
        second: Box<Resolved>,
    },
    /// A custom resolver refused the request.
    #[error("resolver {resolver}: {message}")]
    Custom {
        /// The custom resolver's name.
        resolver: &'static str,
        /// What it said.
        message: String,
    },
}

impl ResolveError {
    /// A refusal from a custom resolver (answered with 400).
    pub fn custom(resolver: &'static str, message: impl Into<String>) -> Self {
        ResolveError::Custom {
            resolver,
            message: message.into(),
        }
    }
}

/// `text` cut to `max` characters, for error messages that quote input.
pub(crate) fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
