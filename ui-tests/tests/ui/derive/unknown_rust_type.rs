// The derive sees tokens, not types: it asks for the SQL type it cannot infer.
use tenant_runtime::{TenantId, TenantScoped};

pub struct Money(i64);

#[derive(TenantScoped)]
#[tenant_table(name = "invoices")]
pub struct Invoice {
    pub id: i64,
    pub tenant_id: TenantId,
    pub total: Money,
}

fn main() {}
