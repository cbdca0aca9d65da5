// Several mistakes in one model: every one is reported in the same build.
use tenant_runtime::TenantScoped;

pub struct Money(i64);

#[derive(TenantScoped)]
#[tenant_table(name = "Invoices", unique(number), index(tenant_id, isued_at))]
pub struct Invoice {
    pub id: i64,
    pub tenant_id: String,
    pub number: String,
    #[tenant(column = "number")]
    pub reference: String,
    pub total: Money,
    #[tenant(generated)]
    pub issued_at: String,
}

fn main() {}
