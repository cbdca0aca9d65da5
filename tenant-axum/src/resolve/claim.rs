//! [`ClaimResolver`]: the tenant in a claim of the verified JWT.

use serde_json::Value;

use super::{Accept, RequestHead, ResolveError, cut};
use crate::tenant_ref::{Source, TenantRef};

/// Reads the tenant from a claim of the request's JWT (`tenant_id` by
/// default; `org` or a namespaced `https://example.com/org` work too: the
/// name is matched whole, dots and all).
///
/// The claim is only ever read from a token whose signature, expiry,
/// audience and issuer the layer's [`JwtVerifier`](crate::JwtVerifier)
/// has checked; there is no decode-only path. A request without a token,
/// or whose token has no such claim, lets the next resolver try.
#[derive(Debug, Clone)]
pub struct ClaimResolver {
    claim: String,
    accept: Accept,
}

impl Default for ClaimResolver {
    fn default() -> Self {
        Self::new("tenant_id")
    }
}

/// The longest claim value read.
const MAX_CLAIM: usize = 128;

impl ClaimResolver {
    /// Reads claim `claim`.
    pub fn new(claim: impl Into<String>) -> Self {
        Self {
            claim: claim.into(),
            accept: Accept::IdOrSlug,
        }
    }

    /// Which forms it accepts (ids, slugs or both).
    pub fn accept(mut self, accept: Accept) -> Self {
        self.accept = accept;
        self
    }

    /// The claim's name.
    pub fn claim(&self) -> &str {
        &self.claim
    }

    /// The tenant the token names; `None` without a token or claim.
    pub fn resolve(&self, head: &RequestHead<'_>) -> Result<Option<TenantRef>, ResolveError> {
        let Some(value) = head.claims().and_then(|c| c.get(&self.claim)) else {
            return Ok(None);
        };
        let Value::String(text) = value else {
            return Err(ResolveError::ClaimNotString {
                claim: self.claim.clone(),
            });
        };
        let invalid = || ResolveError::InvalidClaim {
            claim: self.claim.clone(),
            expected: self.accept.describe(),
            input: cut(text, 64),
        };
        if text.len() > MAX_CLAIM {
            return Err(invalid());
        }
        self.accept
            .parse(text, Source::Jwt)
            .map(Some)
            .map_err(|_| invalid())
    }
}
