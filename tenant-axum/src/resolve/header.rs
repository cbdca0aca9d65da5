//! [`HeaderResolver`]: the tenant in a request header.

use axum::http::HeaderName;
use axum::http::header::InvalidHeaderName;

use super::{Accept, RequestHead, ResolveError};
use crate::tenant_ref::{Source, TenantRef};

/// Reads the tenant from a header (`x-tenant-id` by default).
///
/// **Trusts the caller**: any client can send any tenant's id or slug in
/// a header. Use it only behind a check that the caller may act for that
/// tenant (a verified JWT, or a membership check), or behind a gateway
/// that sets the header itself and strips it from client requests.
#[derive(Debug, Clone)]
pub struct HeaderResolver {
    name: HeaderName,
    accept: Accept,
    max_len: usize,
}

impl Default for HeaderResolver {
    fn default() -> Self {
        Self::new(HeaderName::from_static("x-tenant-id"))
    }
}

impl HeaderResolver {
    /// Reads header `name`; accepts ids and slugs of at most 128 bytes.
    pub fn new(name: HeaderName) -> Self {
        Self {
            name,
            accept: Accept::IdOrSlug,
            max_len: 128,
        }
    }

    /// Reads the header with this name (checked: `x-tenant` is fine,
    /// `x tenant` is not).
    pub fn named(name: &str) -> Result<Self, InvalidHeaderName> {
        HeaderName::try_from(name).map(Self::new)
    }

    /// Which forms it accepts (ids, slugs or both).
    pub fn accept(mut self, accept: Accept) -> Self {
        self.accept = accept;
        self
    }

    /// The longest value read; longer ones are refused unread.
    pub fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// The header's name.
    pub fn name(&self) -> &HeaderName {
        &self.name
    }

    /// The tenant the header names; `None` when the header is absent.
    pub fn resolve(&self, head: &RequestHead<'_>) -> Result<Option<TenantRef>, ResolveError> {
        let mut values = head.headers().get_all(&self.name).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(ResolveError::RepeatedHeader {
                header: self.name.to_string(),
            });
        }
        if value.len() > self.max_len {
            return Err(ResolveError::TooLong {
                resolver: Source::Header,
                what: "header value",
                len: value.len(),
                max: self.max_len,
            });
        }
        let text = value.to_str().map_err(|_| ResolveError::HeaderNotText {
            header: self.name.to_string(),
        })?;
        self.accept.parse(text, Source::Header).map(Some)
    }
}
