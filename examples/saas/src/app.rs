//! The router: sign-up and the organisation switcher outside the tenant
//! layer; the organisation's API behind it, at `/..` and at
//! `/t/{tenant}/..`.

use axum::Router;
use axum::routing::get;
use tenant_axum::resolve::{ClaimResolver, Mode, PathResolver, Resolvers};
use tenant_axum::{ConfigError, TenantLayer};
use tenant_runtime::{SystemPool, TenantPool};

use crate::auth::{self, Accounts};

/// The service. API requests need a bearer token signed with `jwt_secret`
/// whose `sub` is a user id. The tenant is the token's `tenant_id` claim
/// or the `/t/{tenant}/..` path (by slug or id); when both are given they
/// must agree, else 400 `tenant_conflict`. Either way the user must be a
/// member there (403 `not_a_member`), except to accept an invitation.
/// `/signup`, `/me/organisations` and `/switch` work without a tenant;
/// `/health` answers without a token or a database.
pub fn router(
    pool: TenantPool,
    system: SystemPool,
    jwt_secret: &str,
) -> Result<Router, ConfigError> {
    let accounts = Accounts::new(pool.clone(), system, jwt_secret)?;
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
    let api = crate::routes::api(accounts.clone());
    Ok(Router::new()
        .nest("/t/{tenant}", api.clone())
        .merge(api)
        .layer(layer)
        .merge(crate::routes::accounts(accounts))
        .route("/health", get(|| async { "ok" })))
}
