//! Pools and transactions: [`Pool`] and [`Tx`], written once for both
//! [modes](mode) (one tenant's, and the system role's across tenants).

pub mod mode;
mod pool;
mod roles;
mod scope;
mod session;
mod transaction;

pub use mode::{GlobalMode, Mode, SystemMode, TenantMode};
pub use pool::{Pool, PoolOptions, PoolStatus, SystemPool, TenantPool};
pub use scope::{SystemScope, TenantScope};
pub use transaction::{GlobalTx, SystemTx, TenantTx, Tx};
