#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod cache_key;
mod config;
pub mod directory;
mod error;
mod extract;
pub mod job;
pub mod jwt;
mod layer;
pub mod resolve;
mod runtime;
mod tenant_ref;
mod tx;

pub use cache_key::{TenantKey, tenant_key};
pub use config::ConfigError;
pub use directory::{
    CachedDirectory, DirectoryError, MemoryDirectory, PgDirectory, TenantDirectory, TenantRecord,
};
pub use error::{RETRY_AFTER_SECS, TenantError};
pub use extract::Tenant;
pub use job::ForTenant;
#[cfg(feature = "jwks-url")]
pub use jwt::JwksUrl;
pub use jwt::{JwtError, JwtKeys, JwtVerifier, VerifiedClaims};
pub use layer::{
    InvalidRequestId, REQUEST_ID_HEADER, RequestId, TenantLayer, TenantLayerBuilder, TenantService,
};
pub use resolve::{Accept, ResolveError, Resolvers};
pub use tenant_ref::{InvalidSlug, MAX_SLUG_LEN, Resolved, Slug, Source, TenantRef};
pub use tx::RequestTx;

// The workspace README's examples are compiled as doctests in
// tenant-testing, where every crate they use is in reach.
