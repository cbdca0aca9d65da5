//! Resolvers: where in a request the tenant is named.
//!
//! | resolver | reads | trusts the caller? |
//! | --- | --- | --- |
//! | [`ClaimResolver`] | a claim of the verified JWT | no: the issuer signed it |
//! | [`CustomResolver`] | whatever you decide | as much as your code does |
//! | [`PathResolver`] | `/t/{tenant}/..` | **yes** |
//! | [`HeaderResolver`] | `x-tenant-id: {tenant}` | **yes** |
//! | [`SubdomainResolver`] | `{tenant}.app.example.com` | **yes** |
//!
//! [`Resolvers`] composes them in exactly that order (see its docs). A
//! resolver that finds nothing lets the next one try; a resolver that
//! finds something malformed stops the request with a [`ResolveError`]
//! (a 4xx), so bad input is never silently skipped.

mod chain;
mod claim;
mod custom;
mod error;
mod header;
mod path;
mod subdomain;

pub use chain::{Mode, Resolvers};
pub use claim::ClaimResolver;
pub use custom::{CustomResolver, FnResolver, from_fn};
pub use error::ResolveError;
pub use header::HeaderResolver;
pub use path::PathResolver;
pub use subdomain::SubdomainResolver;

pub(crate) use error::cut;

use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Uri};

use crate::jwt::VerifiedClaims;
use crate::runtime::TenantId;
use crate::tenant_ref::{Slug, Source, TenantRef};

/// What a resolver may look at: the request's head (method, URI,
/// headers, extensions) and the verified token's claims, if any.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    parts: &'a Parts,
    claims: Option<&'a VerifiedClaims>,
}

impl<'a> RequestHead<'a> {
    /// A view of `parts`, with the claims of a token already verified.
    pub fn new(parts: &'a Parts, claims: Option<&'a VerifiedClaims>) -> Self {
        Self { parts, claims }
    }

    /// The request method.
    pub fn method(&self) -> &'a Method {
        &self.parts.method
    }

    /// The request URI (path and query as sent).
    pub fn uri(&self) -> &'a Uri {
        &self.parts.uri
    }

    /// The request headers.
    pub fn headers(&self) -> &'a HeaderMap {
        &self.parts.headers
    }

    /// The request extensions (what earlier layers put there).
    pub fn extensions(&self) -> &'a axum::http::Extensions {
        &self.parts.extensions
    }

    /// The verified token's claims, when the request carried a valid token.
    pub fn claims(&self) -> Option<&'a VerifiedClaims> {
        self.claims
    }
}

/// Which forms of tenant reference a resolver accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Accept {
    /// Only tenant ids (hyphenated UUIDs).
    Id,
    /// Only slugs.
    Slug,
    /// Either; text that parses as a tenant id is taken as one, so a slug
    /// that looks like a UUID cannot be named through this resolver.
    #[default]
    IdOrSlug,
}

impl Accept {
    fn describe(self) -> &'static str {
        match self {
            Accept::Id => "id",
            Accept::Slug => "slug",
            Accept::IdOrSlug => "id or slug",
        }
    }

    /// Reads `text` as this accepts it.
    pub(crate) fn parse(self, text: &str, source: Source) -> Result<TenantRef, ResolveError> {
        match self {
            Accept::Id => {
                TenantId::parse(text)
                    .map(TenantRef::Id)
                    .map_err(|error| ResolveError::InvalidId {
                        resolver: source,
                        error,
                    })
            }
            Accept::Slug => {
                Slug::parse(text)
                    .map(TenantRef::Slug)
                    .map_err(|error| ResolveError::InvalidSlug {
                        resolver: source,
                        error,
                    })
            }
            Accept::IdOrSlug => TenantId::parse(text)
                .map(TenantRef::Id)
                .or_else(|_| Slug::parse(text).map(TenantRef::Slug))
                .map_err(|_| ResolveError::InvalidTenantRef {
                    resolver: source,
                    input: cut(text, 64),
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f333df6-90a4-4fda-8dd3-9485d27cee36";

    #[test]
    fn accept_reads_each_form() {
        let id = TenantRef::Id(TenantId::parse(ID).unwrap());
        let slug = TenantRef::Slug(Slug::parse("acme").unwrap());
        assert_eq!(Accept::IdOrSlug.parse(ID, Source::Header), Ok(id.clone()));
        assert_eq!(
            Accept::IdOrSlug.parse("acme", Source::Header),
            Ok(slug.clone())
        );
        assert_eq!(Accept::Id.parse(ID, Source::Header), Ok(id));
        assert_eq!(Accept::Slug.parse("acme", Source::Header), Ok(slug));
        assert!(matches!(
            Accept::Id.parse("acme", Source::Path),
            Err(ResolveError::InvalidId {
                resolver: Source::Path,
                ..
            })
        ));
        assert!(matches!(
            Accept::Slug.parse("Acme", Source::Path),
            Err(ResolveError::InvalidSlug {
                resolver: Source::Path,
                ..
            })
        ));
        let err = Accept::IdOrSlug
            .parse("not a tenant", Source::Header)
            .unwrap_err();
        assert!(err.to_string().contains("neither a tenant id"), "{err}");
    }
}

#[cfg(test)]
mod resolver_tests;
