//! [`Resolvers`]: the configured resolvers, run in one fixed order.

use std::fmt;
use std::sync::Arc;

use super::custom::DynResolver;
use super::{
    ClaimResolver, CustomResolver, HeaderResolver, PathResolver, RequestHead, ResolveError,
    SubdomainResolver,
};
use crate::tenant_ref::{Resolved, Source, TenantRef};

/// How the answers of several resolvers combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The first resolver (in the fixed order) that names a tenant wins;
    /// the rest are not asked.
    #[default]
    FirstMatch,
    /// Every resolver is asked, and all that name a tenant must name the
    /// same one (compared by id, after slugs are looked up); otherwise the
    /// request is refused with [`ResolveError::Conflict`]. Use it when a
    /// URL and a token both name the tenant and must not disagree.
    AllAgree,
}

/// The resolvers a layer uses, asked in this fixed order whatever the
/// order they were added in:
///
/// 1. a claim of the verified JWT ([`ClaimResolver`]);
/// 2. custom resolvers ([`CustomResolver`]), in the order added;
/// 3. the path, `/t/{tenant}/..` ([`PathResolver`]);
/// 4. a header, `x-tenant-id` ([`HeaderResolver`]);
/// 5. the subdomain, `{tenant}.app.example.com` ([`SubdomainResolver`]).
///
/// Signed sources come first so that, in [`Mode::FirstMatch`], a
/// caller-chosen header or URL can never override what a verified token
/// says; then the most specific of the caller-chosen ones (the route's
/// own path, then a header) before the broadest (the host). A resolver
/// that finds malformed input stops the chain with its error; it is never
/// skipped in favour of the next one.
#[derive(Clone, Default)]
pub struct Resolvers {
    claim: Option<ClaimResolver>,
    custom: Vec<Arc<dyn DynResolver>>,
    path: Option<PathResolver>,
    header: Option<HeaderResolver>,
    subdomain: Option<SubdomainResolver>,
    mode: Mode,
}

impl fmt::Debug for Resolvers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let custom: Vec<_> = self.custom.iter().map(|c| c.name()).collect();
        f.debug_struct("Resolvers")
            .field("claim", &self.claim)
            .field("custom", &custom)
            .field("path", &self.path)
            .field("header", &self.header)
            .field("subdomain", &self.subdomain)
            .field("mode", &self.mode)
            .finish()
    }
}

impl Resolvers {
    /// No resolvers yet, [`Mode::FirstMatch`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the tenant from a verified JWT claim (replaces an earlier one).
    pub fn jwt_claim(mut self, resolver: ClaimResolver) -> Self {
        self.claim = Some(resolver);
        self
    }

    /// Adds a custom resolver, asked after the JWT claim and after custom
    /// resolvers added before it.
    pub fn custom(mut self, resolver: impl CustomResolver) -> Self {
        self.custom.push(Arc::new(resolver));
        self
    }

    /// Reads the tenant from the path (replaces an earlier one).
    pub fn path(mut self, resolver: PathResolver) -> Self {
        self.path = Some(resolver);
        self
    }

    /// Reads the tenant from a header (replaces an earlier one).
    pub fn header(mut self, resolver: HeaderResolver) -> Self {
        self.header = Some(resolver);
        self
    }

    /// Reads the tenant from the subdomain (replaces an earlier one).
    pub fn subdomain(mut self, resolver: SubdomainResolver) -> Self {
        self.subdomain = Some(resolver);
        self
    }

    /// How answers combine.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The mode answers combine in.
    pub fn current_mode(&self) -> Mode {
        self.mode
    }

    /// Whether no resolver is configured.
    pub fn is_empty(&self) -> bool {
        self.claim.is_none()
            && self.custom.is_empty()
            && self.path.is_none()
            && self.header.is_none()
            && self.subdomain.is_none()
    }

    /// Whether a JWT claim resolver is configured.
    pub(crate) fn reads_claims(&self) -> bool {
        self.claim.is_some()
    }

    /// Asks the resolvers in order. In [`Mode::FirstMatch`] the answer
    /// has at most one element; in [`Mode::AllAgree`] it has every answer,
    /// still to be compared once slugs are looked up.
    pub async fn resolve(&self, head: &RequestHead<'_>) -> Result<Vec<Resolved>, ResolveError> {
        let mut found = Vec::new();
        let first_only = self.mode == Mode::FirstMatch;
        let mut take = |source: Source, answer: Option<TenantRef>| {
            if let Some(tenant) = answer {
                found.push(Resolved { tenant, source });
            }
            first_only && !found.is_empty()
        };
        if let Some(r) = &self.claim
            && take(Source::Jwt, r.resolve(head)?)
        {
            return Ok(found);
        }
        for r in &self.custom {
            if take(Source::Custom(r.name()), r.resolve_boxed(head).await?) {
                return Ok(found);
            }
        }
        if let Some(r) = &self.path
            && take(Source::Path, r.resolve(head)?)
        {
            return Ok(found);
        }
        if let Some(r) = &self.header
            && take(Source::Header, r.resolve(head)?)
        {
            return Ok(found);
        }
        if let Some(r) = &self.subdomain {
            take(Source::Subdomain, r.resolve(head)?);
        }
        Ok(found)
    }

    /// The [`ResolveError::NoTenant`] for this set: says where it looks.
    pub fn no_tenant(&self) -> ResolveError {
        let mut places = Vec::new();
        if let Some(r) = &self.claim {
            places.push(format!("the token's {} claim", r.claim()));
        }
        for r in &self.custom {
            places.push(format!("what resolver {} reads", r.name()));
        }
        if let Some(r) = &self.path {
            places.push(format!("the path {}/<tenant>/..", r.prefix()));
        }
        if let Some(r) = &self.header {
            places.push(format!("the {} header", r.name()));
        }
        if let Some(r) = &self.subdomain {
            places.push(format!("the host <tenant>.{}", r.base()));
        }
        ResolveError::NoTenant {
            expected: format!("name the tenant in {}", places.join(", or ")),
        }
    }
}
