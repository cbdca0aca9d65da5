//! What `Model::scoped` and `Model::system` accept, with the compiler
//! message that says what to pass instead.

use super::mode::{SystemMode, TenantMode};
use super::transaction::Tx;

mod sealed {
    pub trait Sealed {}
    impl<M: crate::tx::Mode> Sealed for crate::tx::Tx<M> {}
    impl<T: Sealed + ?Sized> Sealed for &T {}
}

/// What `Model::scoped` accepts: only a [`TenantTx`](super::TenantTx).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tenant transaction, so it cannot scope queries to one tenant",
    label = "expected a `&TenantTx` here",
    note = "begin one for the tenant and pass a reference to it: `let tx = tenant_pool.begin(tenant_id).await?; Model::scoped(&tx)`, or use `tenant_pool.with_tenant(tenant_id, async |tx| ..)`",
    note = "a `TenantPool` connects as the application role: `TenantPool::connect(url).await?`",
    note = "for cross-tenant admin work use `Model::system(&system_tx)` with a `SystemTx` from a `SystemPool`"
)]
pub trait TenantScope: sealed::Sealed {
    /// The transaction.
    fn tenant_tx(&self) -> &Tx<TenantMode>;
}

impl TenantScope for Tx<TenantMode> {
    fn tenant_tx(&self) -> &Tx<TenantMode> {
        self
    }
}

/// So `Model::scoped(&tx)` reads the same whether `tx` is a transaction or
/// a reference to one (as extractors hand them out).
impl<T: TenantScope + ?Sized> TenantScope for &T {
    fn tenant_tx(&self) -> &Tx<TenantMode> {
        (**self).tenant_tx()
    }
}

/// What `Model::system` accepts: only a [`SystemTx`](super::SystemTx).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a system transaction",
    label = "expected a `&SystemTx` here",
    note = "cross-tenant work runs as the system role: `system_pool.begin().await?` gives a `SystemTx`",
    note = "for one tenant's rows use `Model::scoped(&tenant_tx)`"
)]
pub trait SystemScope: sealed::Sealed {
    /// The transaction.
    fn system_tx(&self) -> &Tx<SystemMode>;
}

impl SystemScope for Tx<SystemMode> {
    fn system_tx(&self) -> &Tx<SystemMode> {
        self
    }
}

impl<T: SystemScope + ?Sized> SystemScope for &T {
    fn system_tx(&self) -> &Tx<SystemMode> {
        (**self).system_tx()
    }
}
