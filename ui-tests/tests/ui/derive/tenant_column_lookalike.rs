// The derive goes by the type's name; a local type merely called `TenantId`
// is caught by the type checker instead.
use tenant_runtime::TenantScoped;

pub struct TenantId(pub String);

#[derive(TenantScoped)]
#[tenant_table(name = "projects")]
pub struct Project {
    pub id: i64,
    pub tenant_id: TenantId,
}

fn main() {}
