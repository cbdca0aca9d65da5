//! Users: one row per person, across tenants (the table `users`, made by
//! `members.sql`). The system role writes them (sign-up, after the
//! application verified the email); the application role reads its own row
//! and, inside a tenant, those of the tenant's members.

use tenant_runtime::tx::{Mode, SystemTx, TenantTx, Tx};
use tenant_runtime::{Error, UserId};
use time::OffsetDateTime;

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct User {
    /// The id `begin_as` signs into transactions (the token's `sub`).
    pub id: UserId,
    /// Verified by the application before the system role wrote it:
    /// invitations to it are accepted by this user only.
    pub email: String,
    /// Display name.
    pub name: String,
    /// When they signed up.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Creates the user `id` with `email` (unique, case-insensitively) and
/// `name`: sign-up, in a system transaction, once the application has
/// verified that the person owns the email. A taken email is
/// `Error::UniqueViolation` on `public.users`.
pub async fn create_user(
    tx: &SystemTx,
    id: UserId,
    email: &str,
    name: &str,
) -> Result<User, Error> {
    tx.raw("INSERT INTO public.users (id, email, name) VALUES ($1, $2, $3) RETURNING id, email, name, created_at")
        .bind(id)
        .bind(email.to_owned())
        .bind(name.to_owned())
        .fetch_one()
        .await
}

/// The user whose email is `email` (case-insensitively), if there is one:
/// in a system transaction, which sees every user.
pub async fn user_by_email(tx: &SystemTx, email: &str) -> Result<Option<User>, Error> {
    tx.static_select(
        "SELECT id, email, name, created_at FROM public.users WHERE lower(email) = lower($1)",
    )?
    .bind(email.to_owned())
    .fetch_optional()
    .await
}

/// The transaction's own user (`begin_as` / `begin_global_as`), or `None`
/// when it acts for nobody or the user has no row.
pub async fn current_user<M: Mode>(tx: &Tx<M>) -> Result<Option<User>, Error> {
    tx.static_select(
        "SELECT id, email, name, created_at FROM public.users WHERE id = tenancy.current_user_id()",
    )?
    .fetch_optional()
    .await
}

/// A member of the transaction's tenant, with their role there.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct TenantMember {
    /// The user.
    pub user_id: UserId,
    /// Their email.
    pub email: String,
    /// Their name.
    pub name: String,
    /// Their role in this tenant.
    pub role: String,
}

/// The members of the transaction's tenant with their user rows, by email.
pub async fn tenant_members(tx: &TenantTx) -> Result<Vec<TenantMember>, Error> {
    tx.static_select(
        "SELECT u.id AS user_id, u.email, u.name, m.role \
           FROM public.memberships m JOIN public.users u ON u.id = m.user_id \
          ORDER BY lower(u.email), u.id",
    )?
    .fetch_all()
    .await
}
