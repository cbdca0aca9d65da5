//! Custom resolvers: an async trait, and [`from_fn`] for closures.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use super::{RequestHead, ResolveError};
use crate::tenant_ref::TenantRef;

/// A resolver of your own: an API key looked up in a table, a cookie, a
/// gateway's mTLS identity in the request extensions, a default tenant.
///
/// Return `Ok(None)` to let the next resolver try, `Ok(Some(..))` to name
/// the tenant, or an error to refuse the request
/// ([`ResolveError::custom`] gives a 400 with your message).
///
/// ```
/// use tenant_axum::resolve::{CustomResolver, RequestHead, ResolveError};
/// use tenant_axum::{Slug, TenantRef};
///
/// /// Every request of this single-tenant deployment is for `acme`.
/// struct Fixed;
///
/// impl CustomResolver for Fixed {
///     fn name(&self) -> &'static str {
///         "fixed"
///     }
///
///     async fn resolve(&self, _: &RequestHead<'_>) -> Result<Option<TenantRef>, ResolveError> {
///         Ok(Some(TenantRef::Slug(Slug::parse("acme").expect("a valid slug"))))
///     }
/// }
/// ```
pub trait CustomResolver: Send + Sync + 'static {
    /// A short name, reported as [`Source::Custom`](crate::Source::Custom)
    /// and in errors.
    fn name(&self) -> &'static str;

    /// Looks at the request and names its tenant, or not.
    fn resolve(
        &self,
        head: &RequestHead<'_>,
    ) -> impl Future<Output = Result<Option<TenantRef>, ResolveError>> + Send;
}

/// A boxed resolve future.
pub(crate) type BoxResolve<'a> =
    Pin<Box<dyn Future<Output = Result<Option<TenantRef>, ResolveError>> + Send + 'a>>;

/// [`CustomResolver`] made object-safe, so the chain can hold several.
pub(crate) trait DynResolver: Send + Sync {
    fn name(&self) -> &'static str;
    fn resolve_boxed<'a>(&'a self, head: &'a RequestHead<'a>) -> BoxResolve<'a>;
}

impl<R: CustomResolver> DynResolver for R {
    fn name(&self) -> &'static str {
        CustomResolver::name(self)
    }

    fn resolve_boxed<'a>(&'a self, head: &'a RequestHead<'a>) -> BoxResolve<'a> {
        Box::pin(self.resolve(head))
    }
}

/// A [`CustomResolver`] made from a closure; see [`from_fn`].
#[derive(Clone)]
pub struct FnResolver<F> {
    name: &'static str,
    f: F,
}

impl<F> fmt::Debug for FnResolver<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnResolver")
            .field("name", &self.name)
            .finish()
    }
}

/// A resolver from a closure that reads what it needs from the request
/// and returns a future that owns it (so the future is `'static`).
///
/// ```
/// use tenant_axum::resolve::{self, RequestHead, ResolveError};
/// use tenant_axum::{Slug, TenantRef};
///
/// let by_cookie = resolve::from_fn("cookie", |head: &RequestHead<'_>| {
///     let cookie = head
///         .headers()
///         .get("cookie")
///         .and_then(|v| v.to_str().ok())
///         .and_then(|c| c.strip_prefix("org="))
///         .map(str::to_owned);
///     async move {
///         match cookie {
///             None => Ok(None),
///             Some(slug) => Slug::parse(&slug)
///                 .map(|s| Some(TenantRef::Slug(s)))
///                 .map_err(|e| ResolveError::custom("cookie", e.to_string())),
///         }
///     }
/// });
/// # let _ = by_cookie;
/// ```
pub fn from_fn<F, Fut>(name: &'static str, f: F) -> FnResolver<F>
where
    F: Fn(&RequestHead<'_>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<TenantRef>, ResolveError>> + Send + 'static,
{
    FnResolver { name, f }
}

impl<F, Fut> CustomResolver for FnResolver<F>
where
    F: Fn(&RequestHead<'_>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<TenantRef>, ResolveError>> + Send + 'static,
{
    fn name(&self) -> &'static str {
        self.name
    }

    fn resolve(
        &self,
        head: &RequestHead<'_>,
    ) -> impl Future<Output = Result<Option<TenantRef>, ResolveError>> + Send {
        (self.f)(head)
    }
}
