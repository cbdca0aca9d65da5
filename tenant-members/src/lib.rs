#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

#[cfg(feature = "axum")]
mod extract;
mod role;

#[cfg(feature = "axum")]
pub use extract::{Member, RequireRole, min};
pub use role::{ParseRoleError, Role};

use tenant_runtime::{TenantId, TenantScoped};
use uuid::Uuid;

/// A user's membership of a tenant, with their role there: the table
/// `memberships`, a tenant table like any model (row-level security, the
/// tenant column filled from the transaction), plus the invariants of
/// `members.sql`, which emit-rls writes after it.
///
/// Read it through `Membership::scoped(&tx)` like any model; change it
/// in a transaction begun with `TenantPool::begin_as(tenant, user)`, so
/// the database knows who acts (see the crate docs for what it refuses).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "memberships", unique(tenant_id, user_id))]
pub struct Membership {
    /// The row's key.
    #[tenant(primary_key, generated)]
    pub id: i64,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The user (the id `begin_as` is given).
    pub user_id: Uuid,
    /// `owner`, `admin`, `member` or `viewer` (see [`Role`]).
    #[tenant(sql_type = "text")]
    pub role: String,
}

impl Membership {
    /// A new membership of `user` in `tenant` with `role`, to insert.
    pub fn new(tenant: TenantId, user: Uuid, role: Role) -> Self {
        Self {
            id: 0,
            tenant_id: tenant,
            user_id: user,
            role: role.as_str().to_owned(),
        }
    }

    /// The role, parsed (the database's CHECK admits only the four).
    pub fn role(&self) -> Result<Role, ParseRoleError> {
        self.role.parse()
    }
}

inventory::submit! {
    tenant_runtime::registry::Extension::new("public", "memberships", include_str!("members.sql"))
}

/// Keeps this crate's model and its SQL in a binary that links no other
/// item of it (see tenant-runtime's linking rule): call it from `main` of
/// the binary that runs `tenant_cli::main()`.
pub fn link() {}
