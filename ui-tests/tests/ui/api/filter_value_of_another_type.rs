// A value compared with a column of another Rust type: refused where it is
// written, with the type the column wants.
use tenant_runtime::{Error, TenantId, TenantScoped, TenantTx};

#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "tasks")]
pub struct Task {
    #[tenant(primary_key, generated)]
    pub id: i64,
    pub tenant_id: TenantId,
    pub done: bool,
}

async fn wrong_value(tx: &TenantTx) -> Result<Vec<Task>, Error> {
    Task::scoped(tx).filter(Task::DONE.eq("yes")).all().await
}

fn main() {
    let _ = wrong_value;
}
