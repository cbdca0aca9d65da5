// Mistakes darling finds (unknown keys, a value of the wrong kind) are all
// reported at once too, each with its own span.
use tenant_runtime::{TenantId, TenantScoped};

#[derive(TenantScoped)]
#[tenant_table(name = 7, idnex(tenant_id, email))]
pub struct User {
    #[tenant(primary_key, genrated)]
    pub id: i64,
    pub tenant_id: TenantId,
    #[tenant(colum = "mail")]
    pub email: String,
}

fn main() {}
