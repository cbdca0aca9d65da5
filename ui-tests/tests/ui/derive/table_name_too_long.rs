// PostgreSQL silently truncates names past 63 bytes, so two models could collide.
use tenant_runtime::{TenantId, TenantScoped};

#[derive(TenantScoped)]
#[tenant_table(name = "user_accounts_with_a_name_that_goes_on_well_past_what_postgres_keeps")]
pub struct User {
    pub id: i64,
    pub tenant_id: TenantId,
}

fn main() {}
