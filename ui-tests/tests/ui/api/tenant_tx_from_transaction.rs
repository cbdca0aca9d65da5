// A plain sqlx transaction cannot be turned into a TenantTx: it never set
// the tenant.
use sqlx::{Postgres, Transaction};
use tenant_runtime::TenantTx;

fn wrap(tx: Transaction<'static, Postgres>) -> TenantTx {
    TenantTx::from(tx)
}

fn main() {
    let _ = wrap;
}
