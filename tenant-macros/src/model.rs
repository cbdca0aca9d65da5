//! The checked model: every name is a usable SQL name (held as the name
//! itself, without quotes), the tenant column and primary key are known,
//! and every column reference resolves.

/// A `#[derive(TenantScoped)]` struct after validation.
pub(crate) struct Model {
    pub(crate) ident: syn::Ident,
    /// `crate = ".."`, else `::tenant_runtime`.
    pub(crate) krate: Option<syn::Path>,
    pub(crate) schema: String,
    pub(crate) table: String,
    pub(crate) columns: Vec<Column>,
    /// Index into `columns`.
    pub(crate) tenant: usize,
    /// Index into `columns`.
    pub(crate) primary_key: usize,
    pub(crate) uniques: Vec<ColumnSet>,
    pub(crate) indexes: Vec<ColumnSet>,
}

/// One struct field and the column it maps to.
pub(crate) struct Column {
    pub(crate) field: syn::Ident,
    pub(crate) vis: syn::Visibility,
    pub(crate) ty: syn::Type,
    pub(crate) name: String,
    pub(crate) sql_type: String,
    pub(crate) nullable: bool,
    pub(crate) generated: bool,
    pub(crate) default: Option<String>,
    pub(crate) references: Option<Reference>,
    /// `#[tenant(no_statistics)]`: `SET STATISTICS 0`.
    pub(crate) no_statistics: bool,
}

/// The table a `references = ".."` names; no schema means the model's own.
pub(crate) struct Reference {
    pub(crate) schema: Option<String>,
    pub(crate) table: String,
    pub(crate) on_delete: tenant_sql::on_delete::OnDelete,
}

/// The columns of a `unique(..)` or `index(..)`, as SQL column names.
pub(crate) struct ColumnSet {
    pub(crate) columns: Vec<String>,
    pub(crate) global: bool,
}

impl Model {
    pub(crate) fn tenant_column(&self) -> &Column {
        &self.columns[self.tenant]
    }

    pub(crate) fn primary_key_column(&self) -> &Column {
        &self.columns[self.primary_key]
    }

    /// The column named `name` (one the statement builder listed).
    pub(crate) fn column(&self, name: &str) -> &Column {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .expect("the statement builder lists only the model's columns")
    }
}
