//! The router: the API behind the tenant layer, at `/..` and at
//! `/t/{tenant}/..`.

use axum::Router;
use axum::routing::get;
use tenant_axum::resolve::{ClaimResolver, Mode, PathResolver, Resolvers};
use tenant_axum::{ConfigError, TenantLayer};
use tenant_runtime::TenantPool;

use crate::auth;

/// The service. Every API request needs a bearer token signed with
/// `jwt_secret`; its `tenant_id` claim names the tenant. Under
/// `/t/{tenant}/..` the path must name the same tenant (by slug or id),
/// else 400 `tenant_conflict`: the path alone never picks a tenant.
/// `/health` answers without a token or a database.
pub fn router(pool: TenantPool, jwt_secret: &str) -> Result<Router, ConfigError> {
    let layer = TenantLayer::builder(pool)
        .jwt(auth::verifier(jwt_secret)?)
        .require_token(true)
        .resolvers(
            Resolvers::new()
                .jwt_claim(ClaimResolver::new(auth::TENANT_CLAIM))
                .path(PathResolver::default())
                .mode(Mode::AllAgree),
        )
        .build()?;
    let api = crate::routes::api();
    Ok(Router::new()
        .nest("/t/{tenant}", api.clone())
        .merge(api)
        .layer(layer)
        .route("/health", get(|| async { "ok" })))
}
