//! The kinds of transaction: one tenant's ([`TenantMode`]), the
//! application role's with no tenant ([`GlobalMode`], for tables that are
//! not tenant tables), and the system role's across tenants
//! ([`SystemMode`]). A [`Pool`](super::Pool) and a [`Tx`](super::Tx) carry
//! their mode in their type, so a system transaction can never be passed
//! where a tenant one is expected, and the code for all is written once.

use std::fmt;

use crate::tenant_id::TenantId;
use crate::user_id::UserId;

/// A kind of transaction. Sealed: the two modes are the only ones.
pub trait Mode: sealed::Sealed + Send + Sync + 'static {
    /// What a transaction of this mode is begun for: the tenant and the
    /// user, or nothing.
    type Context: Copy + Send + Sync + fmt::Debug + 'static;

    /// Whether the mode's role bypasses row-level security.
    #[doc(hidden)]
    const SYSTEM: bool;
}

/// One tenant's transaction: row-level security filters every statement
/// to that tenant. Logged in as the application role.
#[derive(Debug)]
pub enum TenantMode {}

/// The application role with no tenant: tenant tables fail closed with
/// "no tenant context"; tables that are not tenant tables work as usual.
/// Begun by [`TenantPool::begin_global`](super::TenantPool::begin_global),
/// on the tenant pool's connections.
#[derive(Debug)]
pub enum GlobalMode {}

/// Cross-tenant work (admin jobs, the tenants API, purges), logged in as
/// the system role, which bypasses row-level security and which the
/// application role can never switch to.
#[derive(Debug)]
pub enum SystemMode {}

impl Mode for TenantMode {
    type Context = (TenantId, Option<UserId>);
    const SYSTEM: bool = false;
}

impl Mode for GlobalMode {
    type Context = Option<UserId>;
    const SYSTEM: bool = false;
}

impl Mode for SystemMode {
    type Context = ();
    const SYSTEM: bool = true;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::TenantMode {}
    impl Sealed for super::GlobalMode {}
    impl Sealed for super::SystemMode {}
}
