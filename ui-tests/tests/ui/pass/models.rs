// Valid models: the shapes the derive cases get wrong, done right.
use sqlx::types::Uuid;
use tenant_runtime::{TenantId, TenantScoped, TenantTable};

#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "projects", unique(tenant_id, name), index(tenant_id, name))]
pub struct Project {
    #[tenant(primary_key, generated)]
    pub id: i64,
    pub tenant_id: TenantId,
    pub name: String,
}

// `global_unique` is the explicit escape hatch for a value unique across
// every tenant; the tenant column may be a plain `Uuid` under another name.
#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(
    name = "user_accounts",
    schema = "app",
    unique(org, email),
    global_unique(login),
    index(org, created_at)
)]
pub struct UserAccount {
    #[tenant(primary_key)]
    pub user_id: Uuid,
    #[tenant(tenant_id)]
    pub org: Uuid,
    pub email: String,
    pub login: String,
    #[tenant(column = "contact_email")]
    pub contact: Option<String>,
    #[tenant(generated, default = "now()")]
    pub created_at: sqlx::types::time::OffsetDateTime,
    #[tenant(generated, default = "'open'")]
    pub status: String,
}

#[derive(sqlx::Type)]
#[sqlx(transparent)]
pub struct Money(pub i64);

// A Rust type the derive cannot read gets an explicit SQL type; a column
// whose common values other tenants must not read out of EXPLAIN's
// estimates gets no planner statistics.
#[derive(TenantScoped)]
#[tenant_table(name = "invoices")]
pub struct Invoice {
    pub id: i64,
    pub tenant_id: TenantId,
    #[tenant(references = "projects")]
    pub project_id: i64,
    #[tenant(sql_type = "bigint")]
    pub total: Money,
    #[tenant(no_statistics)]
    pub customer: String,
}

// Names that need quotes are written as in SQL, in double quotes; the
// generated SQL quotes and escapes them.
#[derive(Debug, Clone, sqlx::FromRow, TenantScoped)]
#[tenant_table(name = "\"Order Items\"", schema = "\"Sales\"", unique(tenant_id, created_by))]
pub struct OrderItem {
    pub id: i64,
    pub tenant_id: TenantId,
    #[tenant(column = "\"createdBy\"")]
    pub created_by: String,
    #[tenant(column = "\"say \"\"hi\"\"\"")]
    pub greeting: Option<String>,
    #[tenant(references = "\"Sales\".\"Order Items\"")]
    pub parent_id: Option<i64>,
}

// A renamed or re-exported tenant-runtime is named with `crate = ".."`.
mod renamed {
    pub use tenant_runtime as rt;
}

#[derive(TenantScoped)]
#[tenant_table(name = "notes", crate = "renamed::rt")]
pub struct Note {
    pub id: i64,
    pub tenant_id: TenantId,
}

fn main() {
    assert_eq!(OrderItem::META.name, "Order Items");
    assert_eq!(OrderItem::META.schema, "Sales");
    assert_eq!(OrderItem::META.columns[2].name, "createdBy");
    assert_eq!(OrderItem::META.columns[3].name, "say \"hi\"");
    let find = OrderItem::META.sql.scoped.find;
    assert!(find.contains("\"say \"\"hi\"\"\" AS \"greeting\""), "{find}");
    assert!(find.contains("FROM \"Sales\".\"Order Items\""), "{find}");
    assert_eq!(Note::META.name, "notes");
    assert_eq!(Project::META.name, "projects");
    assert_eq!(UserAccount::META.tenant_column, "org");
    assert_eq!(Invoice::META.primary_key, "id");
    let without: Vec<&str> = Invoice::META.without_statistics().map(|c| c.name).collect();
    assert_eq!(without, ["customer"]);
}
