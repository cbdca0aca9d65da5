//! What the user wrote, parsed by darling and not yet checked.
//!
//! darling rejects unknown keys (with a "did you mean" suggestion) and values
//! of the wrong kind; everything that needs the whole struct in view (the
//! tenant column, column references in `unique(..)`) is checked in
//! [`crate::validate`].

use darling::ast::Data;
use darling::util::{Flag, Ignored, PathList, SpannedValue};
use darling::{FromDeriveInput, FromField};

/// `#[tenant_table(..)]` on the struct, plus the struct itself.
#[derive(FromDeriveInput)]
#[darling(attributes(tenant_table))]
pub(crate) struct ModelInput {
    pub(crate) ident: syn::Ident,
    pub(crate) data: Data<Ignored, FieldInput>,
    /// SQL table name, written as in SQL: `projects`, or `"Order Items"`
    /// in double quotes for a name that needs them.
    #[darling(default)]
    pub(crate) name: Option<SpannedValue<String>>,
    /// SQL schema (written like `name`); `public` when absent.
    #[darling(default)]
    pub(crate) schema: Option<SpannedValue<String>>,
    /// `unique(tenant_id, email)`: unique within a tenant.
    #[darling(multiple)]
    pub(crate) unique: Vec<SpannedValue<PathList>>,
    /// `global_unique(slug)`: unique across every tenant, on purpose.
    #[darling(multiple)]
    pub(crate) global_unique: Vec<SpannedValue<PathList>>,
    /// `index(tenant_id, created_at)`.
    #[darling(multiple)]
    pub(crate) index: Vec<SpannedValue<PathList>>,
    /// `crate = "my_runtime"`: the path of tenant-runtime when the
    /// dependency is renamed or re-exported.
    #[darling(default, rename = "crate")]
    pub(crate) krate: Option<syn::Path>,
}

/// `#[tenant(..)]` on a field.
#[derive(FromField)]
#[darling(attributes(tenant))]
pub(crate) struct FieldInput {
    pub(crate) ident: Option<syn::Ident>,
    /// The field's visibility, given to its generated `Column` constant.
    pub(crate) vis: syn::Visibility,
    pub(crate) ty: syn::Type,
    /// The single-column primary key.
    pub(crate) primary_key: Flag,
    /// Marks the tenant column when it is not named `tenant_id`.
    pub(crate) tenant_id: Flag,
    /// The database fills this column; inserts and updates leave it out.
    pub(crate) generated: Flag,
    /// SQL column name when it differs from the field name (written like
    /// the table's `name`).
    #[darling(default)]
    pub(crate) column: Option<SpannedValue<String>>,
    /// SQL type when it cannot be inferred from the Rust type.
    #[darling(default)]
    pub(crate) sql_type: Option<SpannedValue<String>>,
    /// SQL default expression, e.g. `now()`.
    #[darling(default)]
    pub(crate) default: Option<SpannedValue<String>>,
    /// Another tenant table this column points at; becomes a composite
    /// foreign key `(tenant, column) -> table(tenant, primary key)`.
    #[darling(default)]
    pub(crate) references: Option<SpannedValue<String>>,
    /// What deleting the referenced row does: `no_action` (the default),
    /// `restrict`, `cascade` or `set_null`.
    #[darling(default)]
    pub(crate) on_delete: Option<SpannedValue<String>>,
    /// The planner keeps no statistics on this column (`SET STATISTICS
    /// 0`), so EXPLAIN estimates cannot give its values away to other
    /// tenants.
    pub(crate) no_statistics: Flag,
}
