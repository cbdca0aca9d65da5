//! Tenant management for the system role: the tenants API
//! ([`Tenants`]: create, read, update, soft delete, restore) and the purge
//! of a deleted tenant's rows.

mod purge;
mod tenants;

pub use purge::{PurgeOptions, PurgeReport};
pub use tenants::{Tenant, TenantUpdate, Tenants, slug_from_name};
