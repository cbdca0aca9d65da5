//! [`TenantScoped`]: the entry points of every tenant table.

use super::scoped::Scoped;
use super::system::System;
use crate::model::TenantTable;
use crate::tx::{SystemScope, TenantScope};

/// The entry points of every tenant table, for generic code
/// (`fn f<T: TenantScoped>(..)`). The derive also generates them as
/// inherent functions, so `Project::scoped(&tx)` needs no import; and a
/// struct without the derive that calls `scoped` is pointed at this trait,
/// that is, at `#[derive(TenantScoped)]`.
pub trait TenantScoped: TenantTable {
    /// This table's rows of the transaction's tenant.
    fn scoped<'tx, Tx: TenantScope + ?Sized>(tx: &'tx Tx) -> Scoped<'tx, Self> {
        Scoped::new(tx.tenant_tx())
    }

    /// This table's rows across tenants, for admin jobs.
    fn system<'tx, Tx: SystemScope + ?Sized>(tx: &'tx Tx) -> System<'tx, Self> {
        System::new(tx.system_tx())
    }
}

impl<T: TenantTable> TenantScoped for T {}
