// A condition on one model's column given to another model's query: the
// column constant carries its model, so this is a type error and not a
// statement that names a column the table does not have.
use tenant_runtime::{Error, TenantId, TenantScoped, TenantTx};

#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project {
    #[tenant(primary_key, generated)]
    pub id: i64,
    pub tenant_id: TenantId,
    pub name: String,
}

#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "tasks")]
pub struct Task {
    #[tenant(primary_key, generated)]
    pub id: i64,
    pub tenant_id: TenantId,
    pub title: String,
}

async fn wrong_table(tx: &TenantTx) -> Result<Vec<Task>, Error> {
    Task::scoped(tx).filter(Project::NAME.eq("apollo")).all().await
}

fn main() {
    let _ = wrong_table;
}
