//! Pools and transactions: [`Pool`] and [`Tx`], written once for both
//! [modes](mode) (one tenant's, and the system role's across tenants).

mod begin;
mod context;
mod mechanism;
pub mod mode;
mod pool;
mod roles;
mod scope;
mod session;
mod transaction;

pub use context::{ContextKey, ContextKeyError, MIN_KEY_LEN};
pub use mechanism::ContextMechanism;
pub use mode::{GlobalMode, Mode, SystemMode, TenantMode};
pub use pool::{CONTEXT_KEY_ENV, Pool, PoolOptions, PoolStatus, SystemPool, TenantPool};
pub use scope::{SystemScope, TenantScope};
pub use transaction::{GlobalTx, SystemTx, TenantTx, Tx, TxConnection};
