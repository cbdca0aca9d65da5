// Finders belong to one tenant's rows: a system transaction has none (a
// unique per tenant finds one row per tenant across them; filter instead).
use tenant_runtime::{Error, SystemTx, TenantId, TenantScoped};

#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "users", unique(tenant_id, email))]
pub struct User {
    #[tenant(primary_key, generated)]
    pub id: i64,
    pub tenant_id: TenantId,
    pub email: String,
}

async fn across(tx: &SystemTx) -> Result<Option<User>, Error> {
    User::system(tx).find_by_email("ada@example.com").await
}

fn main() {
    let _ = across;
}
