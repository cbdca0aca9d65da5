// A TenantTx cannot be assembled by hand: only TenantPool::begin makes one,
// after the database has accepted the tenant.
use tenant_runtime::{TenantId, TenantTx};

fn forge(tenant: TenantId) -> TenantTx {
    TenantTx { tenant }
}

fn main() {
    let _ = forge;
}
