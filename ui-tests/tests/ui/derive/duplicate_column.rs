// Two fields mapped to one column by `column = ".."`.
use tenant_runtime::{TenantId, TenantScoped};

#[derive(TenantScoped)]
#[tenant_table(name = "users")]
pub struct User {
    pub id: i64,
    pub tenant_id: TenantId,
    pub email: String,
    #[tenant(column = "email")]
    pub contact_email: String,
}

fn main() {}
