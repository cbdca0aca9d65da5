// The database cannot fill a generated text column without a default.
use tenant_runtime::{TenantId, TenantScoped};

#[derive(TenantScoped)]
#[tenant_table(name = "users")]
pub struct User {
    pub id: i64,
    pub tenant_id: TenantId,
    #[tenant(generated)]
    pub status: String,
}

fn main() {}
