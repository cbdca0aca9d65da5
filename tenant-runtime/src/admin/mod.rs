//! Tenant management for the system role: the tenants API
//! ([`Tenants`]: create, read, update, soft delete, restore) and the purge
//! of a deleted tenant's rows, and the hook a library registers to make
//! a new tenant's first owner ([`OwnerMaker`]).

mod first_owner;
mod purge;
mod tenants;

pub use first_owner::{FirstOwner, MakeOwner, OwnerMaker, owner_makers};
pub use purge::{PurgeOptions, PurgeReport};
pub use tenants::{Tenant, TenantUpdate, Tenants, slug_from_name};
