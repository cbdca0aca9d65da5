// find/update/delete need a key: no `id` field and none marked.
use tenant_runtime::{TenantId, TenantScoped};

#[derive(TenantScoped)]
#[tenant_table(name = "users")]
pub struct User {
    pub user_id: i64,
    pub tenant_id: TenantId,
}

fn main() {}
