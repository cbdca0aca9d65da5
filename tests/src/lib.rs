//! Example models for the integration tests: projects, users, and tasks
//! that reference both. `cargo run --bin emit-rls` prints their DDL.

#![forbid(unsafe_code)]

pub mod generated;

pub use tenant_test_support::{bench, mechanism, session, setup, wire};

use tenant_runtime::{TenantId, TenantScoped};
use time::OffsetDateTime;

/// A tenant's project; names are unique within a tenant.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "projects", unique(tenant_id, name))]
pub struct Project {
    /// Numbered by the database.
    #[tenant(primary_key, generated)]
    pub id: i64,
    /// Owner.
    pub tenant_id: TenantId,
    /// Display name.
    pub name: String,
}

/// A member of a tenant; the same email may exist in two tenants.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "users", unique(tenant_id, email), index(tenant_id, created_at))]
pub struct User {
    /// Numbered by the database.
    #[tenant(primary_key, generated)]
    pub id: i64,
    /// Owner.
    pub tenant_id: TenantId,
    /// Login, unique per tenant.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Set by the database.
    #[tenant(generated, default = "now()")]
    pub created_at: OffsetDateTime,
}

/// A task in a project, maybe assigned to a user of the same tenant.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "tasks", index(tenant_id, done))]
pub struct Task {
    /// Numbered by the database.
    #[tenant(primary_key, generated)]
    pub id: i64,
    /// Owner.
    pub tenant_id: TenantId,
    /// The project, of the same tenant.
    #[tenant(references = "projects")]
    pub project_id: i64,
    /// The assignee, of the same tenant; unassigned when the user goes.
    #[tenant(column = "assignee_id", references = "users", on_delete = "set_null")]
    pub assignee: Option<i64>,
    /// What to do. Free text that repeats (recurring tasks), so its most
    /// common values would be in the planner's statistics, readable by
    /// every tenant through EXPLAIN: the planner keeps none for it.
    #[tenant(no_statistics)]
    pub title: String,
    /// Whether it is done.
    pub done: bool,
}

/// Makes a binary that calls it link this crate's model registrations
/// (see the linking rule in `tenant_runtime::registry`).
pub fn link() {}
