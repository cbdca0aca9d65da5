//! The service's own tables, one model each: every one is a tenant table,
//! so the only way to reach it is `Model::scoped(&tenant_tx)` and the
//! database filters it by the transaction's tenant as well. Users,
//! memberships and invitations are tenant-members'.

use serde::Serialize;
use tenant_runtime::{TenantId, TenantScoped};

/// A project; names are unique within a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "projects", unique(tenant_id, name))]
pub struct Project {
    /// Numbered by the database.
    #[tenant(primary_key, generated)]
    pub id: i64,
    /// Owner.
    pub tenant_id: TenantId,
    /// Unique within the tenant.
    pub name: String,
}

/// A task of a project of the same tenant (a composite foreign key, so it
/// can never point at another tenant's project).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "tasks", index(tenant_id, project_id))]
pub struct Task {
    /// Numbered by the database.
    #[tenant(primary_key, generated)]
    pub id: i64,
    /// Owner.
    pub tenant_id: TenantId,
    /// The project.
    #[tenant(references = "projects")]
    pub project_id: i64,
    /// What to do.
    pub title: String,
    /// Whether it is done.
    pub done: bool,
}

/// Names the models so a binary that calls it links their registrations
/// (the registry only sees models linked into the running binary).
pub fn link() {
    let _ = (
        <Project as tenant_runtime::TenantTable>::META,
        <Task as tenant_runtime::TenantTable>::META,
    );
    // Users, memberships and invitations.
    tenant_members::link();
}
