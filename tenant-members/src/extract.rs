//! The request's membership, for tenant-axum handlers: [`Member`] and
//! [`RequireRole`].

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tenant_axum::{RequestTx, TenantError};
use tenant_runtime::{TenantId, UserId};

use crate::Role;

/// The authenticated user's membership of the request's tenant, read in
/// the request's own transaction with one statement (`SELECT role FROM
/// memberships WHERE user_id = $1`, the transaction's signed user, under
/// the tenant's row-level security): no extra transaction, no reset.
///
/// The user is the verified token's `sub` (a UUID), which the layer signs
/// into the transaction. No user, or no membership: 403 `not_a_member`. A
/// member removed since their token was issued is refused on their next
/// request, because the row is read every time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// The request's tenant.
    pub tenant: TenantId,
    /// The user.
    pub user: UserId,
    /// Their role there.
    pub role: Role,
}

impl<S: Send + Sync> FromRequestParts<S> for Member {
    type Rejection = TenantError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(member) = parts.extensions.get::<Member>() {
            return Ok(*member);
        }
        let request_tx = RequestTx::from_request_parts(parts, state).await?;
        let tenant = request_tx.tenant();
        let refused = |user: String| TenantError::MembershipRefused { tenant, user };
        let user = request_tx
            .user()
            .ok_or_else(|| refused("(none: the token's sub is not a user id)".into()))?;
        let tx = request_tx.get().await?;
        let role = crate::role_of_current_user(tx)
            .await?
            .ok_or_else(|| refused(user.to_string()))?;
        let member = Member { tenant, user, role };
        parts.extensions.insert(member);
        Ok(member)
    }
}

impl Member {
    /// Refuses with 403 `role_required` unless this member's role may do
    /// `permission` under `permissions` (the application's map):
    /// `member.require(&permissions, "invoices.refund")?`.
    pub fn require(
        &self,
        permissions: &crate::Permissions,
        permission: &str,
    ) -> Result<(), TenantError> {
        if permissions.allows(self.role, permission) {
            return Ok(());
        }
        Err(TenantError::RoleRequired {
            // Granted to no role: nobody may, which reads as owner-only.
            needed: permissions
                .least_role_for(permission)
                .unwrap_or(Role::Owner)
                .as_str(),
            role: self.role.as_str(),
        })
    }
}

/// The least role a route takes, as a type: `RequireRole<min::Admin>`.
pub mod min {
    use crate::Role;

    /// A role as a type.
    pub trait MinRole: Send + Sync + 'static {
        /// The role.
        const ROLE: Role;
    }

    /// At least [`Role::Viewer`]: any member.
    #[derive(Debug)]
    pub enum Viewer {}
    /// At least [`Role::Member`].
    #[derive(Debug)]
    pub enum Member {}
    /// At least [`Role::Admin`].
    #[derive(Debug)]
    pub enum Admin {}
    /// [`Role::Owner`].
    #[derive(Debug)]
    pub enum Owner {}

    impl MinRole for Viewer {
        const ROLE: Role = Role::Viewer;
    }
    impl MinRole for Member {
        const ROLE: Role = Role::Member;
    }
    impl MinRole for Admin {
        const ROLE: Role = Role::Admin;
    }
    impl MinRole for Owner {
        const ROLE: Role = Role::Owner;
    }
}

/// A [`Member`] whose role is at least `R`'s, else 403 `role_required`:
/// `async fn invite(admin: RequireRole<min::Admin>, ..)`.
#[derive(Debug)]
pub struct RequireRole<R: min::MinRole> {
    /// The member.
    pub member: Member,
    role: PhantomData<R>,
}

impl<R: min::MinRole, S: Send + Sync> FromRequestParts<S> for RequireRole<R> {
    type Rejection = TenantError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let member = Member::from_request_parts(parts, state).await?;
        if member.role < R::ROLE {
            return Err(TenantError::RoleRequired {
                needed: R::ROLE.as_str(),
                role: member.role.as_str(),
            });
        }
        Ok(RequireRole {
            member,
            role: PhantomData,
        })
    }
}
