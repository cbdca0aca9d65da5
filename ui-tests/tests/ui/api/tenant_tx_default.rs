// There is no empty or default TenantTx to start from.
use tenant_runtime::TenantTx;

fn empty() -> TenantTx {
    TenantTx::default()
}

fn main() {
    let _ = empty;
}
